#!/usr/bin/env bats
# Exactly-once with Kafka (finstream(7) Checkpoints): a Kafka source
# records per-partition offsets in the checkpoint store and seeks back
# to them; a Kafka sink writes one transaction per checkpoint with a
# COMMIT marker in each partition.  The fraud pipeline
#   Kafka -> fs-window --features -> fs-score-gpu --device cpu -> file
#   Kafka -> fs-window --features -> fs-score-gpu --device cpu -> Kafka
# with random SIGKILLs of its stages and restarts gives the records of a
# clean run, the same records in the same order per key (the source
# reads 4 partitions, whose interleaving differs from run to run).
# kcat, the independent client, reads the Kafka output; tests/cli/
# kafka-verify.py keeps the records whose transaction's COMMIT marker is
# there: on a real broker (read_committed) that must be every record,
# on fs-devbroker (no transactions) it drops what aborted transactions
# left.
load helper

M=$TOP/models/fraud-v1.json

setup_file() {
	kafka_setup in1:4 in2:4 out2-0:4 out2-1:4 out2-2:4 out2-3:4 \
		in3:1 out3:2 in4:4
}

teardown_file() {
	kafka_teardown
}

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
	kafka_env
	X=(-X fetch.wait.max.ms=10)
}

# fraud IN SINK: the pipeline under --state s.db (pids in pid.N,
# statuses in st), reading topic IN to its end.
fraud() {
	rm -f pid.1 pid.2
	IN=$1 sh -c 'echo $$ >pid.1; exec fs-window -e -X fetch.wait.max.ms=10 \
		--features fraud-v1 --state s.db --job f \
		-i "kafka://$BS/$IN" --checkpoint-interval 100ms' 2>>err |
	SINK=$2 sh -c 'echo $$ >pid.2; exec fs-score-gpu -m "$M" \
		--device cpu -j 1 --state s.db --job f -o "$SINK"' 2>>err
	echo "${PIPESTATUS[*]}" >st
}

# chaos IN SINK: run fraud, SIGKILL a random stage at a random moment,
# restart, until 5 kills landed; then run it to its end.  A job that
# ends before 5 kills starts afresh: a new store, and a new output (SINK
# is a file, or kafka:TOPIC for topics TOPIC-0, TOPIC-1, ...); the
# output used is in $SINK_USED.
chaos() {
	local kills=0 tries=0 gen=0 bg pid sink
	export BS M
	sink_at() {
		case $1 in
		kafka:*) echo "kafka://$BS/$(kafka_topic "${1#kafka:}-$2")" ;;
		*) echo "$1" ;;
		esac
	}
	sink=$(sink_at "$2" $gen)
	while [ $kills -lt 5 ] && [ $tries -lt 60 ]; do
		tries=$((tries + 1))
		fraud "$(kafka_topic "$1")" "$sink" &
		bg=$!
		for _ in $(seq 500); do
			[ -s pid.1 ] && [ -s pid.2 ] && break
			sleep 0.01
		done
		sleep "0.$(printf %03d $((RANDOM % 400)))"
		pid=$(cat pid.$((RANDOM % 2 + 1)) 2>/dev/null) || pid=none
		if grep -q '^[^ ]* ([^)]*) [RSD]' /proc/"$pid"/stat \
		    2>/dev/null && kill -KILL "$pid" 2>/dev/null; then
			kills=$((kills + 1))
		fi
		wait $bg || true
		if [ $kills -lt 5 ] && [ "$(cat st 2>/dev/null)" = "0 0" ] &&
		   [ $gen -lt 3 ]; then	# ran to its end: afresh
			gen=$((gen + 1))
			rm -rf s.db s.db-wal s.db-shm s.db.snapshots
			[ "${2#kafka:}" != "$2" ] || rm -f "$2"
			sink=$(sink_at "$2" $gen)
			kills=0
		fi
	done
	echo "# kills $kills in $tries runs" >&3
	timeout 120 bash -c "M='$M' BS='$BS'; $(declare -f fraud); fraud $(kafka_topic "$1") $sink"
	[ "$(cat st)" = "0 0" ] || { cat err >&2; return 1; }
	[ $kills -ge 5 ]
	SINK_USED=$sink
}

# clean N SEED IN: N transactions into topic IN; the clean run's scores
# (from a file, without checkpoints) in clean.csv.
clean() {
	fs-gen -n "$1" --seed "$2" --keys 20000 --fixed-ingest -o in.fsr
	fs-stat -q -i in.fsr -o "kafka://$BS/$(kafka_topic "$3")"
	fs-window --features fraud-v1 -i in.fsr |
		fs-score-gpu -m "$M" --device cpu -j 1 |
		fs-cat --types score,alert -f csv >clean.csv
	[ "$(wc -l <clean.csv)" -eq $(($1 + 1)) ]
}

@test "exactly-once Kafka -> fraud pipeline -> file: random SIGKILLs and restarts give the clean run's scores" {
	clean 200000 21 in1
	chaos in1 out.fsr
	fs-cat --types score,alert -f csv -i out.fsr >out.csv
	same_per_key clean.csv out.csv
	# positions of the 4 partitions in each checkpoint
	[ "$(sqlite3 s.db "SELECT count(DISTINCT partition) FROM positions WHERE source = 'kafka:$(kafka_topic in1)'")" = 4 ]
}

@test "exactly-once Kafka -> fraud pipeline -> Kafka: the committed output is the clean run's" {
	clean 200000 22 in2
	chaos in2 kafka:out2
	kafka_verify "${SINK_USED##*/}" >verify.out 2>verify.err || { cat verify.err >&2; return 1; }
	echo "# $(cat verify.err)" >&3
	fs-cat --types score,alert -f csv -i verified.fsr >out.csv
	same_per_key clean.csv out.csv
	if kafka_real; then
		# read_committed showed nothing of an aborted transaction
		grep -q '^orphans 0$' verify.out
	fi
}

# replay_cut TOOL: TOOL (fs-stat -e or fs-replay) reads topic in4 to
# all.fsr under --state s.db; then the store is made to hold what a
# crash leaves when checkpoint n (nothing read) is complete and n + 1,
# which read partitions 2 and 3 to their ends and 0 and 1 not at all,
# is pending.  The restart replays to n + 1's cut: partitions 0 and 1
# reach their ends during the replay with their records still to come
# after the cut, which must not end the input.
replay_cut() {
	local t=$(kafka_topic in4) n hi
	"$@" --state s.db --job r -i "kafka://$BS/$t" -o all.fsr
	n=$(sqlite3 s.db "SELECT max(id) FROM checkpoints WHERE job = 'r'")
	mapfile -t hi < <(sqlite3 s.db "SELECT position FROM positions
		WHERE job = 'r' AND id = $n AND source = 'kafka:$t'
		ORDER BY partition")
	[ ${#hi[@]} = 4 ]
	[ "${hi[0]}" -gt 0 ]
	[ "${hi[1]}" -gt 0 ]
	sqlite3 s.db "UPDATE positions SET position = 0
			WHERE id = $n AND source = 'kafka:$t';
		UPDATE sinks SET length = 0 WHERE id = $n;
		INSERT INTO checkpoints VALUES ('r', $n + 1, 'pending', 1, NULL);
		INSERT INTO positions VALUES ('r', $n + 1, 'kafka:$t', 0, 0),
			('r', $n + 1, 'kafka:$t', 1, 0),
			('r', $n + 1, 'kafka:$t', 2, ${hi[2]}),
			('r', $n + 1, 'kafka:$t', 3, ${hi[3]})"
	run_t 60 "$@" --state s.db --job r -i "kafka://$BS/$t" -o all.fsr
	assert_status 0
	cmp <(fs-cat -f csv --types txn -i in.fsr | sort) \
	    <(fs-cat -f csv --types txn -i all.fsr | sort)
}

@test "exactly-once Kafka source: a replay cut at the start of some partitions and the end of others ends only at the end" {
	fs-gen -n 100000 --seed 25 --keys 2000 -o in.fsr
	fs-stat -q -i in.fsr -o "kafka://$BS/$(kafka_topic in4)"
	replay_cut fs-stat -q -e "${X[@]}" --checkpoint-interval 1h
	rm -f s.db* all.fsr
	replay_cut fs-replay --keep-ingest "${X[@]}" --checkpoint-interval 1h
}

@test "exactly-once Kafka sink: a crash after the commit and before the store completes writes nothing twice" {
	fs-gen -n 30000 --seed 23 --fixed-ingest -o in.fsr
	fs-stat -q -i in.fsr -o "kafka://$BS/$(kafka_topic in3)"
	fs-window -e "${X[@]}" --state s.db --job c --tumble 1m --agg count \
		-i "kafka://$BS/$(kafka_topic in3)" -o "kafka://$BS/$(kafka_topic out3)" --checkpoint-interval 1h
	kafka_verify "$(kafka_topic out3)" >verify.out
	cp verified.fsr want.fsr
	# the store forgets the last completion, as a crash between the
	# Kafka commit and the store's update would leave it
	last=$(sqlite3 s.db "SELECT max(id) FROM checkpoints WHERE status = 'complete'")
	sqlite3 s.db "UPDATE checkpoints SET status = 'pending' WHERE id = $last"
	run_t 60 fs-window -e "${X[@]}" --state s.db --job c --tumble 1m \
		--agg count -i "kafka://$BS/$(kafka_topic in3)" -o "kafka://$BS/$(kafka_topic out3)" \
		--checkpoint-interval 1h
	assert_status 0
	kafka_verify "$(kafka_topic out3)" >verify.out
	cmp <(fs-cat -f csv -i want.fsr) <(fs-cat -f csv -i verified.fsr)
	[ "$(sqlite3 s.db "SELECT status FROM checkpoints WHERE id = $last")" = complete ]
}

@test "exactly-once Kafka sink: a second instance with the same transactional.id fences the first (real broker)" {
	kafka_real || skip "fs-devbroker does not fence (librdkafka's mock has no transactions)"
	fs-gen -n 1000 --seed 24 -o in.fsr
	fs-stat -q -i in.fsr -o "kafka://$BS/$(kafka_topic in3)"
	# the first instance waits on its input, inside a transaction
	mkfifo f1
	fs-stat -q --state s.db --job z -i f1 -o "kafka://$BS/$(kafka_topic out3)" 2>err1 &
	local p1=$!
	exec 7>f1
	cat in.fsr >&7
	sleep 2
	run_t 60 fs-stat -q --state s.db --job z -i in.fsr -o "kafka://$BS/$(kafka_topic out3)"
	assert_status 0
	exec 7>&-
	wait $p1 || true
	grep -q 'fenced' err1 || { cat err1 >&2; return 1; }
}
