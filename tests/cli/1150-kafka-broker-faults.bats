#!/usr/bin/env bats
# Broker faults under the transactional Kafka sink (finstream(7)
# Endpoints and Checkpoints).  fs-devbroker (librdkafka's mock cluster,
# 3 brokers, a control FIFO of this file's own) takes brokers down and
# up while the pipeline
#   fs-stat --state (file source) | pace.py | fs-stat --state -o kafka://
# writes one transaction per checkpoint.  tests/cli/pace.py is a slow
# link (bytes per second) so that the run lasts while the fault happens.
# kcat, the independent client, reads the topic back; tests/cli/
# kafka-verify.py keeps the records of the transactions whose COMMIT
# marker is there.  The mock has no transactions: what it checks is that
# the committed transactions hold every input record once, in order per
# key.  bench/broker-fault.sh measures the recovery times.
load helper

setup_file() {
	local d=$BATS_FILE_TMPDIR i
	fs-devbroker -q --brokers 3 -t down1:8 -t alldown:8 -t lost:8 \
		--control "$d/ctl" --bootstrap-file "$d/bs" </dev/null \
		>"$d/ctl.out" 2>"$d/devbroker.err" 3>&- &
	echo $! >"$d/devbroker.pid"
	for ((i = 0; i < 200; i++)); do
		[ -s "$d/bs" ] && break
		sleep 0.05
	done
	[ -s "$d/bs" ] || { cat "$d/devbroker.err" >&2; return 1; }
}

teardown_file() {
	local p
	p=$(cat "$BATS_FILE_TMPDIR/devbroker.pid" 2>/dev/null) || return 0
	kill "$p" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.02
	done
	kill -9 "$p" 2>/dev/null || true
}

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
	command -v kcat >/dev/null || skip "kcat not installed"
	BS=$(cat "$BATS_FILE_TMPDIR/bs")
	CTL=$BATS_FILE_TMPDIR/ctl
}

teardown() {
	# whatever a failed test left down comes back for the next one
	echo "up all" >"$CTL" 2>/dev/null || true
}

# ctl CMD...: one control command (its reply goes to ctl.out).
ctl() {
	echo "$*" >"$CTL"
}

# leaders TOPIC: partition p led by broker p % 3 + 1 (1 2 3 1 2 3 1 2).
leaders() {
	for p in 0 1 2 3 4 5 6 7; do
		ctl leader "$1" $p $((p % 3 + 1))
	done
	sleep 0.2
}

# job TOPIC TIMEOUT [-X ...]: the pipeline, the input in.fsr paced at
# 4 MB/s, into kafka://BS/TOPIC under --state s.db; its statuses in st,
# the sink's stderr in err.
job() {
	local topic=$1 t=$2 -
	shift 2
	set +e		# a failing stage is what st records
	fs-stat -q --state s.db --job bf --stage src \
		--checkpoint-interval 200ms -i in.fsr |
		"$TOP/tests/cli/pace.py" 4000000 |
		timeout "$t" fs-stat -q --state s.db --job bf --stage sink \
			"$@" -o "kafka://$BS/$topic" 2>>err
	echo "${PIPESTATUS[*]}" >st
}

# verify TOPIC: kcat reads TOPIC; the records of the committed
# transactions (verified.fsr) are those of in.fsr, once each, in the
# same order per key.
verify() {
	kafka_verify "$1" >verify.out || return 1
	fs-cat --types txn -f csv -i in.fsr >want.csv
	fs-cat --types txn -f csv -i verified.fsr >got.csv
	same_per_key want.csv got.csv
}

@test "broker faults: a broker down for 2 s and back mid-run loses nothing, repeats nothing" {
	fs-gen --kind txn -n 150000 --seed 41 --fixed-ingest -o in.fsr
	leaders down1
	job down1 90 &
	local bg=$! t0 t1
	sleep 1
	t0=$(date +%s%N)
	ctl down 1
	sleep 2
	ctl up 1
	t1=$(date +%s%N)
	wait $bg
	[ "$(cat st)" = "0 0 0" ] || { cat st err >&2; return 1; }
	verify down1
	# the fault hit the run: a checkpoint completed after it
	[ "$(sqlite3 s.db "SELECT count(*) FROM checkpoints WHERE status = \
'complete' AND completed_ns > $t1")" -ge 1 ]
	echo "# $(tr '\n' ' ' <verify.out)" >&3
}

@test "broker faults: all brokers down past the message timeout end the sink (exit 1, the reason), not a hang; a restart completes the job exactly once" {
	fs-gen --kind txn -n 150000 --seed 42 --fixed-ingest -o in.fsr
	leaders alldown
	local X=(--connect-timeout 3s -X message.timeout.ms=3000
		 -X transaction.timeout.ms=3000) bg t0 ms
	job alldown 60 "${X[@]}" &
	bg=$!
	sleep 1
	t0=$(date +%s%N)
	ctl down all
	wait $bg
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	ctl up all
	echo "# down all: the sink ended $ms ms later: $(cat st)" >&3
	# the sink failed (not the timeout's 124), saying why, within
	# the timeouts and some
	[ "$(cut -d' ' -f3 st)" = 1 ] || { cat st err >&2; return 1; }
	grep -q "^fs-stat: cannot .*Kafka topic 'alldown'.*: .*timed out" err ||
		{ cat err >&2; return 1; }
	[ "$ms" -lt 20000 ]
	# not all of it was committed, and what was is not all of in.fsr
	run verify alldown
	[ "$status" -ne 0 ]
	: >err
	job alldown 90 "${X[@]}"
	[ "$(cat st)" = "0 0 0" ] || { cat st err >&2; return 1; }
	verify alldown
	echo "# $(tr '\n' ' ' <verify.out)" >&3
}

@test "broker faults: brokers unreachable at start: retries up to --connect-timeout, then exit 4 naming them; back in time, the job runs" {
	fs-gen --kind txn -n 2000 --seed 43 --fixed-ingest -o in.fsr
	ctl down all
	sleep 0.2
	local t0 ms
	t0=$(date +%s%N)
	run_t 30 fs-stat -q --state s.db --job bf --connect-timeout 2s \
		-i in.fsr -o "kafka://$BS/lost"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	assert_status 4
	assert_match "^fs-stat: cannot reach Kafka brokers '$BS'"
	[ "$ms" -ge 1900 ] && [ "$ms" -lt 10000 ]
	# brokers back 1.5 s into a 10 s --connect-timeout: it goes on
	(sleep 1.5; ctl up all) &
	run_t 60 fs-stat -q --state s.db --job bf --connect-timeout 10s \
		-i in.fsr -o "kafka://$BS/lost"
	wait
	assert_status 0
	verify lost
}
