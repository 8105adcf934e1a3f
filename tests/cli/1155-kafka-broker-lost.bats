#!/usr/bin/env bats
# A broker lost mid-run: the pipeline goes on with the others.  A real
# three-node Apache Kafka cluster (scripts/kafka-broker -n 3, topics
# replicated three times); the exactly-once fraud stage reads a paced
# topic and writes a transactional one; mid-run the node that
# coordinates its transactions is SIGKILLed (scripts/kafka-broker
# --control) and stays down.  Committed output keeps coming, the stage
# ends on SIGTERM with exit 0, and what a read_committed client (kcat)
# reads equals one clean run, key by key.  Needs java (the real broker;
# fs-devbroker's mock cannot choose a transaction coordinator).
load helper

# what the test needs: kcat, and real Kafka where the tests run (tests/run
# started one, or FS_TEST_KAFKA=real); bats 1.8 takes a skip in
# setup_file for a failure, so setup() skips
needs() {
	command -v kcat >/dev/null && command -v java >/dev/null &&
	    { [ -n "${KAFKA_BROKERS:-}" ] || [ "${FS_TEST_KAFKA:-}" = real ]; }
}

setup_file() {
	needs || return 0
	local d=$BATS_FILE_TMPDIR i
	"$TOP/scripts/kafka-broker" -q -n 3 -t lin:4 -t lout:4 \
		--control "$d/ctl" -b "$d/bs" --watch-pid $$ </dev/null \
		>"$d/broker.out" 2>"$d/broker.err" 3>&- &
	echo $! >"$d/broker.pid"
	for ((i = 0; i < 1800; i++)); do
		[ -s "$d/bs" ] && break
		kill -0 "$(cat "$d/broker.pid")" 2>/dev/null || break
		sleep 0.1
	done
	[ -s "$d/bs" ] || {
		cat "$d/broker.err" >&2
		return 1
	}
}

teardown_file() {
	local f=$BATS_FILE_TMPDIR/broker.pid p i
	if [ ! -f "$f" ]; then
		return
	fi
	p=$(cat "$f")
	kill -TERM "$p" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
}

setup() {
	needs || skip "needs kcat and real Kafka (a three-node cluster of its own)"
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
	D=$BATS_FILE_TMPDIR
	BS=$(cat "$D/bs")
	X=(-X fetch.wait.max.ms=10)
}

# committed: records of lout in committed transactions so far
committed() {
	timeout 30 kcat -C -b "$BS" -t lout -e -q -X isolation.level=read_committed \
		-f 'x\n' 2>/dev/null | wc -l
}

# leader_of TOPIC PARTITION: the node leading it
leader_of() {
	kcat -L -b "$BS" -t "$1" 2>/dev/null |
		sed -n "s/.*partition $2, leader \([0-9]*\),.*/\1/p"
}

@test "broker lost mid-run: the transaction coordinator's node is killed; output goes on, exactly once" {
	fs-gen -n 40000 --keys 2000 --seed 41 --fixed-ingest \
		--watermark-interval 0 -o all.fsr
	timeout 60 fs-window --max-delay 1d --features fraud-v1 -i all.fsr \
		-o clean.fsr 2>/dev/null
	# the source, paced to last about 10 s
	(/usr/bin/python3 "$TOP/tests/cli/pace.py" 400000 <all.fsr |
		fs-stat -q -o "kafka://$BS/lin" 2>prod.err) &
	local prod=$! n0 n1 n2 node t0 t1
	timeout 120 fs-window "${X[@]}" --max-delay 1d --features fraud-v1 \
		--state s.db --job j --checkpoint-interval 200ms \
		-i "kafka://$BS/lin" -o "kafka://$BS/lout" 2>win.err &
	local win=$!
	sleep 3
	n0=$(committed)
	[ "$n0" -gt 0 ]
	# the transactions' coordinator: the leader of __transaction_state
	node=$(leader_of __transaction_state 0)
	[ -n "$node" ]
	t0=$(date +%s%N)
	echo "stop $node" >"$D/ctl"
	for ((i = 0; i < 100; i++)); do
		grep -q "stopped $node" "$D/broker.out" && break
		sleep 0.1
	done
	grep -q "stopped $node" "$D/broker.out"
	# committed output goes on while the node is down: the first
	# transaction committed after the kill
	n0=$(committed)
	for ((i = 0; i < 600; i++)); do
		n1=$(committed)
		[ "$n1" -gt "$n0" ] && break
		sleep 0.05
	done
	t1=$(date +%s%N)
	[ "$n1" -gt "$n0" ]
	[ "$(leader_of __transaction_state 0)" != "$node" ]
	echo "# node $node (the coordinator) killed; committed output went" \
		"on after $(( (t1 - t0) / 1000000 )) ms" >&3
	wait "$prod"
	for ((i = 0; i < 600; i++)); do
		n2=$(committed)
		[ "$n2" -ge 40000 ] && break
		sleep 0.1
	done
	kill -TERM "$win"
	local st=0
	wait "$win" || st=$?
	[ "$st" -eq 0 ] || { sed "s/^/# /" win.err >&3; false; }
	kafka_verify lout got.fsr
	fs-cat --types features -f csv -i clean.fsr >clean.csv
	fs-cat --types features -f csv -i got.fsr >got.csv
	[ "$(wc -l <clean.csv)" = 40001 ]
	same_per_key clean.csv got.csv
}
