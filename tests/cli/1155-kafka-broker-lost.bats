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
# started one, or FS_TEST_KAFKA=real), not the ASan run; bats 1.8 takes a skip in
# setup_file for a failure, so setup() skips
needs() {
	[ "${SAN:-0}" != 1 ] &&		# the brokers' side: once is enough
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

# leader_of TOPIC PARTITION: the node leading it
leader_of() {
	kcat -L -b "$BS" -t "$1" 2>/dev/null |
		sed -n "s/.*partition $2, leader \([0-9]*\),.*/\1/p"
}

# done_max: the newest checkpoint the sink completed (after its Kafka
# commit), 0 before the first
done_max() {
	sqlite3 s.db "SELECT ifnull(max(id), 0) FROM checkpoints WHERE
		status = 'complete'" 2>/dev/null || echo 0
}

@test "broker lost mid-run: the transaction coordinator's node is killed; output goes on, exactly once" {
	fs-gen -n 40000 --keys 2000 --seed 41 --fixed-ingest \
		--watermark-interval 0 -o all.fsr
	timeout 60 fs-window --max-delay 1d --features fraud-v1 -i all.fsr \
		-o clean.fsr 2>/dev/null
	# the source, paced to last about 10 s
	(/usr/bin/python3 "$TOP/tests/cli/pace.py" 400000 <all.fsr |
		fs-stat -q -o "kafka://$BS/lin" 2>prod.err) &
	local prod=$! k0 node t0 t1 i n st=0
	timeout 120 fs-window "${X[@]}" --max-delay 1d --features fraud-v1 \
		--state s.db --job j --checkpoint-interval 200ms \
		-i "kafka://$BS/lin" -o "kafka://$BS/lout" 2>win.err &
	local win=$!
	for ((i = 0; i < 300; i++)); do
		[ "$(done_max)" -gt 2 ] && break
		sleep 0.1
	done
	sleep 1
	# the transactions' coordinator: the leader of __transaction_state
	node=$(leader_of __transaction_state 0)
	[ -n "$node" ]
	k0=$(done_max)
	t0=$(date +%s%N)
	echo "stop $node" >"$D/ctl"
	# a checkpoint begun after the kill commits: the sink goes on
	for ((i = 0; i < 1200; i++)); do
		[ "$(done_max)" -ge $((k0 + 2)) ] && break
		sleep 0.05
	done
	t1=$(date +%s%N)
	[ "$(done_max)" -ge $((k0 + 2)) ]
	grep -q "stopped $node" "$D/broker.out"
	echo "# node $node (the transaction coordinator) killed after" \
		"checkpoint $k0; checkpoint $((k0 + 2)) committed" \
		"$(( (t1 - t0) / 1000000 )) ms later" >&3
	# the node comes back (kcat, below, is slow while one is down)
	echo "start $node" >"$D/ctl"
	for ((i = 0; i < 600; i++)); do
		grep -q "started $node" "$D/broker.out" && break
		sleep 0.1
	done
	wait "$prod"
	# every input record's features committed (beside WATERMARKs)
	for ((i = 0; i < 300; i++)); do
		kafka_verify lout got.fsr >verify.out 2>/dev/null
		n=$(sed -n 's/^kept \([0-9]*\).*/\1/p' verify.out | head -1)
		[ "${n:-0}" -ge 40000 ] && break
		sleep 0.2
	done
	kill -TERM "$win"
	wait "$win" || st=$?
	[ "$st" -eq 0 ] || { sed "s/^/# /" win.err >&3; false; }
	kafka_verify lout got.fsr
	fs-cat --types features -f csv -i clean.fsr >clean.csv
	fs-cat --types features -f csv -i got.fsr >got.csv
	[ "$(wc -l <clean.csv)" = 40001 ]
	same_per_key clean.csv got.csv
}
