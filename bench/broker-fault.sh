#!/usr/bin/env bash
# bench/broker-fault.sh - recovery of the transactional Kafka sink from a
# broker fault, printed as Markdown on stdout (progress on stderr).
#
# fs-devbroker (librdkafka's mock cluster, 3 brokers, a control FIFO)
# holds one topic of 8 partitions a trial.  The pipeline
#
#   fs-stat -q --state S --job bf --stage src --checkpoint-interval CI \
#       -i txn.fsr |
#   tests/cli/pace.py RATE |
#   fs-stat -q --state S --job bf --stage sink -o kafka://B/TOPIC
#
# writes N transactions (fs-gen --kind txn -n N --seed 5 --fixed-ingest)
# at RATE bytes/s, one Kafka transaction per checkpoint (finstream(7)
# Checkpoints).  AT seconds into the run, broker K is taken down
# (`down K` on the control FIFO) for DOWN seconds, then brought back
# (`up K`); the leaders of the 8 partitions are brokers 1 2 3 1 2 3 1 2,
# and trial i takes down broker ((i - 1) mod 3) + 1, so that the trials
# hit different partition leaders and, in one of them, the transaction
# coordinator.  A poller reads the store every 50 ms and
# keeps the completion time of every checkpoint (the store keeps only
# the 3 newest).  Per trial:
#
#   down->ckpt  from `down` to the first checkpoint completed after it
#               (none before `up`: the output stalled for the outage)
#   up->ckpt    from `up` to the first checkpoint completed after it:
#               the recovery time
#   stall       the longest gap between two successive completions
#               around the fault (no output became visible meanwhile)
#   gap         the median gap between completions away from the fault
#   exit        the pipeline's statuses
#   lost / dup  input records missing from / repeated in what kcat reads
#               of the committed transactions (tests/cli/kafka-verify.py)
#
#   N=300k  RATE=4000000  CI=200ms  AT=2  DOWN=2  TRIALS=3
#   SINK_X="-X PROP=VALUE ..."   more librdkafka properties for the sink
#               (e.g. -X reconnect.backoff.max.ms=500)
set -u
. "$(dirname "$0")/lib.sh"
N=${N:-300k}
RATE=${RATE:-4000000}
CI=${CI:-200ms}
AT=${AT:-2}
DOWN=${DOWN:-2}
TRIALS=${TRIALS:-3}
SINK_X=${SINK_X:-}
read -ra sink_x <<<"$SINK_X"
need fs-gen fs-stat fs-cat fs-devbroker
command -v kcat >/dev/null || die "kcat not found"
command -v sqlite3 >/dev/null || die "sqlite3 not found"
load0=$(load)
mkdir -p "$work"
w=$(mktemp -d "$work/broker-fault.XXXXXX")
n=$(count "$N")
bpid=
cleanup() {
	[ -n "$bpid" ] && kill "$bpid" 2>/dev/null
	rm -rf "$w"
}
trap cleanup EXIT

echo "making $n records" >&2
fs-gen --kind txn -n "$n" --seed 5 --fixed-ingest -o "$w/in.fsr" ||
	die "fs-gen failed"
fs-cat --types txn -f csv -i "$w/in.fsr" | sort >"$w/in.csv"

topics=()
for ((i = 1; i <= TRIALS; i++)); do
	topics+=(-t "bf$i:8")
done
fs-devbroker -q --brokers 3 "${topics[@]}" --control "$w/ctl" \
	--bootstrap-file "$w/bs" </dev/null >"$w/ctl.out" 2>"$w/devbroker.err" &
bpid=$!
for _ in $(seq 200); do [ -s "$w/bs" ] && break; sleep 0.05; done
[ -s "$w/bs" ] || die "fs-devbroker did not start: $(cat "$w/devbroker.err")"
bs=$(cat "$w/bs")

# trial I BROKER: one run; a Markdown row on stdout.
trial() {
	local i=$1 k=$2 d=$w/t$1 pp poll t0 tdown tup tend st leads
	mkdir -p "$d"
	for p in 0 1 2 3 4 5 6 7; do	# leaders 1 2 3 1 2 3 1 2
		echo "leader bf$i $p $((p % 3 + 1))" >"$w/ctl"
	done
	sleep 0.2
	leads=$(kcat -b "$bs" -L -t "bf$i" -m 5 |
		grep -c "leader $k,")
	t0=$(date +%s%N)
	(
		fs-stat -q --state "$d/s.db" --job bf --stage src \
			--checkpoint-interval "$CI" -i "$w/in.fsr" |
		"$top/tests/cli/pace.py" "$RATE" |
		timeout 300 fs-stat -q --state "$d/s.db" --job bf \
			--stage sink "${sink_x[@]}" -o "kafka://$bs/bf$i"
		echo "${PIPESTATUS[*]}" >"$d/st"
	) 2>"$d/err" &
	pp=$!
	(
		while kill -0 $pp 2>/dev/null; do
			sqlite3 "$d/s.db" "SELECT id, completed_ns FROM \
checkpoints WHERE status = 'complete'" 2>/dev/null
			sleep 0.05
		done
		sqlite3 "$d/s.db" "SELECT id, completed_ns FROM checkpoints \
WHERE status = 'complete'"
	) >"$d/poll" &
	poll=$!
	sleep "$AT"
	tdown=$(date +%s%N)
	echo "down $k" >"$w/ctl"
	sleep "$DOWN"
	tup=$(date +%s%N)
	echo "up $k" >"$w/ctl"
	wait $pp
	tend=$(date +%s%N)
	wait $poll
	st=$(cat "$d/st")
	timeout 120 kcat -C -b "$bs" -t "bf$i" -e -q -f '%p %o %S %h\n%s' |
		"$top/tests/cli/kafka-verify.py" "$d/v.fsr" >/dev/null 2>&1
	fs-cat --types txn -f csv -i "$d/v.fsr" | sort >"$d/out.csv"
	echo "trial $i: broker $k down, exit $st" >&2
	/usr/bin/python3 - "$d/poll" "$t0" "$tdown" "$tup" "$tend" \
		"$w/in.csv" "$d/out.csv" "$k" "$leads" "$st" <<-'PY'
	import collections, statistics, sys
	poll, t0, tdown, tup, tend = sys.argv[1], *map(int, sys.argv[2:6])
	done = {}
	for line in open(poll):
	    if "|" in line:
	        i, ns = line.strip().split("|")
	        done[int(i)] = int(ns)
	ts = sorted(done.values())
	ms = lambda ns: "%.0f" % (ns / 1e6)
	after = lambda t: next((x for x in ts if x > t), None)
	a_down, a_up = after(tdown), after(tup)
	gaps = [(b - a, a, b) for a, b in zip(ts, ts[1:])]
	near = [g for g in gaps if g[2] > tdown and g[1] < (a_up or tend)]
	calm = [g[0] for g in gaps if g not in near]
	stall = max((g[0] for g in near), default=0)
	def rows(p):
	    return collections.Counter(open(p).read().splitlines()[1:])
	want, got = rows(sys.argv[6]), rows(sys.argv[7])
	lost = sum((want - got).values())
	dup = sum((got - want).values())
	print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d |" % (
	    sys.argv[8], sys.argv[9], len(ts),
	    ms(a_down - tdown) + (" (after up)" if a_down and a_down > tup
	                          else "") if a_down else "none",
	    ms(a_up - tup) if a_up else "none", ms(stall),
	    ms(statistics.median(calm)) if calm else "-",
	    ms(tup - tdown), ms(tend - t0), sys.argv[10], lost, dup))
	PY
}

cat <<EOF
# Broker faults: recovery of the transactional Kafka sink

$(machine "$load0")

fs-devbroker (librdkafka $(fs-devbroker --version 2>&1 |
	sed -n 's/.*librdkafka \([0-9.]*\).*/\1/p' | head -1) mock cluster),
3 brokers, one topic of 8 partitions a trial; $n transactions
($(du -m "$w/in.fsr" | cut -f1) MB) paced at $RATE bytes/s
through \`tests/cli/pace.py\` into \`fs-stat --state ... -o kafka://\`
(one transaction per checkpoint, --checkpoint-interval $CI); broker K
down $AT s into the run, up $DOWN s later. Times in ms, from the
checkpoint store's completed_ns (polled every 50 ms) and the wall clock
of the \`down\`/\`up\` commands. \`bench/broker-fault.sh\`${SINK_X:+,
sink properties \`$SINK_X\`}.

| broker down | partitions it led | checkpoints | down->ckpt | up->ckpt (recovery) | stall | gap (calm, median) | down for | run | exit | lost | dup |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|
EOF
for ((i = 1; i <= TRIALS; i++)); do
	trial "$i" $(((i - 1) % 3 + 1))
done
cat <<EOF

down->ckpt: from \`down\` to the first checkpoint completed after it
("after up": none completed during the outage). up->ckpt: from \`up\`
to the first checkpoint completed after it, the recovery time. stall:
the longest time between two successive completions around the fault,
while no new output became visible to read_committed readers. lost/dup:
input records missing from, or repeated in, the records of the
committed transactions that kcat reads back.
EOF
