#!/usr/bin/env bats
# Aligned checkpoints of a file -> pipes -> file pipeline (finstream(7)
# Checkpoints): the output equals what a run without checkpoints makes
# (the input itself through fs-stat; fs-cat's CSV of the input), even
# when stages are SIGKILLed at random moments and the pipeline is
# restarted; the store is read back with sqlite3 (the independent
# client): each complete checkpoint's sink length equals its source
# position, since the stages between pass every data byte through.
load helper

# q SQL: one query on s.db.
q() {
	sqlite3 s.db "$1"
}

# pipe SINK...: source | stage | sink, each stage's pid in pid.N; the
# exit statuses in st.
pipe() {
	rm -f pid.1 pid.2 pid.3
	sh -c 'echo $$ >pid.1; exec fs-stat -q --state s.db --job j \
		-i in.fsr --checkpoint-interval 5ms' 2>>err |
	sh -c 'echo $$ >pid.2; exec fs-stat -q --state s.db --job j \
		--stage mid' 2>>err |
	sh -c 'echo $$ >pid.3; exec "$@"' sink "$@" 2>>err
	echo "${PIPESTATUS[*]}" >st
}

@test "exactly-once: file -> fs-stat | fs-stat -> file: output is the input; checkpoints record positions and lengths" {
	fs-gen -n 200000 --fixed-ingest -o in.fsr
	run_t 20 bash -c 'fs-stat -q --state s.db --job j -i in.fsr \
		--checkpoint-interval 2ms 2>/dev/null | fs-stat -q \
		--state s.db --job j -o out.fsr 2>/dev/null'
	assert_status 0
	cmp in.fsr out.fsr
	# every checkpoint complete, the last at the end of the input
	[ "$(q "SELECT count(*) FROM checkpoints WHERE status <> 'complete'")" = 0 ]
	[ "$(q "SELECT count(*) FROM checkpoints")" -ge 1 ]
	[ "$(q "SELECT length FROM sinks ORDER BY id DESC LIMIT 1")" = "$(stat -c %s in.fsr)" ]
	[ "$(q "SELECT count(*) FROM positions p JOIN sinks s USING (job, id) WHERE p.position <> s.length")" = 0 ]
	[ "$(q "SELECT DISTINCT source FROM positions")" = "$(realpath in.fsr)" ]
	[ "$(q "SELECT DISTINCT sink FROM sinks")" = "$(realpath out.fsr)" ]
	run_t 10 fs-checkpoint list --state s.db --job j
	assert_status 0
	assert_match "j +[0-9]+ +complete"
	# the store keeps the 3 newest complete checkpoints
	[ "$(q "SELECT count(*) FROM checkpoints")" -le 3 ]
	# one tool reading and writing files is source and sink at once
	run_t 20 fs-stat -q --state s2.db -i in.fsr -o one.fsr
	assert_status 0
	cmp in.fsr one.fsr
	[ "$(sqlite3 s2.db "SELECT job || ' ' || length FROM sinks")" = "default $(stat -c %s in.fsr)" ]
}

@test "exactly-once: SIGKILL of random stages at random moments, restarts: byte-identical output" {
	fs-gen -n 2000000 --fixed-ingest -o in.fsr
	chaos 40 fs-stat -q --state s.db --job j -o out.fsr
	cmp in.fsr out.fsr
	[ "$(q "SELECT count(*) FROM positions p JOIN sinks s USING (job, id) JOIN checkpoints c USING (job, id) WHERE c.status = 'complete' AND p.position <> s.length")" = 0 ]
	# restarted runs resumed: more than one run wrote a checkpoint (the
	# store keeps the 3 newest complete ones)
	[ "$(q "SELECT max(id) FROM checkpoints WHERE status = 'complete'")" -gt 5 ]
	[ "$(q "SELECT count(*) FROM checkpoints WHERE status = 'complete'")" -le 3 ]
}

@test "exactly-once: the same with fs-cat -f csv as a text sink" {
	fs-gen -n 1000000 --fixed-ingest -o in.fsr
	fs-cat -f csv -i in.fsr -o clean.csv
	chaos 40 fs-cat -f csv --state s.db --job j -o out.csv
	cmp clean.csv out.csv
}

@test "exactly-once: running a finished job again leaves its output as it was" {
	fs-gen -n 100000 --fixed-ingest -o in.fsr
	fs-cat -f csv -i in.fsr -o clean.csv
	for i in 1 2 3; do
		run_t 20 bash -c 'fs-stat -q --state s.db --job j -i in.fsr \
			2>/dev/null | fs-stat -q --state s.db --job j \
			-o out.fsr 2>/dev/null'
		assert_status 0
		cmp in.fsr out.fsr
		run_t 20 bash -c 'fs-stat -q --state c.db --job j -i in.fsr \
			2>/dev/null | fs-cat -f csv --state c.db --job j \
			-o out.csv'
		assert_status 0
		cmp clean.csv out.csv
	done
	[ "$(q "SELECT count(*) FROM checkpoints WHERE status = 'complete'")" -ge 3 ]
	[ "$(q "SELECT count(DISTINCT length) FROM sinks")" = 1 ]
}

@test "exactly-once: SIGTERM of the source drains, commits a final checkpoint and exits 0; a restart finishes the job" {
	fs-gen -n 1000000 --fixed-ingest -o in.fsr
	# the sink starts late, so the source is blocked on a full pipe
	sh -c 'echo $$ >pid.1; exec fs-stat -q --state s.db --job j \
		-i in.fsr --checkpoint-interval 1h' 2>/dev/null |
		(sleep 1; exec fs-stat -q --state s.db --job j -o out.fsr \
		 2>/dev/null) &
	bg=$!
	for _ in $(seq 100); do [ -s pid.1 ] && break; sleep 0.01; done
	sleep 0.3
	kill -TERM "$(cat pid.1)"
	wait $bg
	# one checkpoint: the final one, at a prefix of the input
	[ "$(q "SELECT count(*) FROM checkpoints WHERE status = 'complete'")" = 1 ]
	len=$(stat -c %s out.fsr)
	[ "$len" -gt 0 ] && [ "$len" -lt "$(stat -c %s in.fsr)" ]
	[ "$(q "SELECT length FROM sinks")" = "$len" ]
	[ "$(q "SELECT position FROM positions")" = "$len" ]
	cmp -n "$len" in.fsr out.fsr
	run_t 20 bash -c 'fs-stat -q --state s.db --job j -i in.fsr \
		2>/dev/null | fs-stat -q --state s.db --job j -o out.fsr \
		2>/dev/null'
	assert_status 0
	cmp in.fsr out.fsr
}

# term_stage N: source | window | sink, paced; SIGTERM stage N mid-run;
# every stage must exit 0 after a final checkpoint; a restart finishes
term_stage() {
	fs-gen -n 300000 --keys 500 --seed 3 --fixed-ingest -o in.fsr
	fs-window --features fraud-v1 -i in.fsr 2>/dev/null |
		fs-cat --types features -f csv >clean.csv
	rm -f pid.1 pid.2 pid.3 st s.db*
	{
		sh -c 'echo $$ >pid.1; exec fs-stat -q --state s.db --job j \
			-i in.fsr --checkpoint-interval 20ms' 2>>err |
		/usr/bin/python3 "$TOP/tests/cli/pace.py" 4000000 |
		sh -c 'echo $$ >pid.2; exec fs-window --features fraud-v1 \
			--state s.db --job j' 2>>err |
		sh -c 'echo $$ >pid.3; exec fs-stat -q --state s.db --job j \
			-o out.fsr' 2>>err
		echo "${PIPESTATUS[*]}" >st
	} &
	local bg=$! t0 t1
	for _ in $(seq 300); do
		[ -s pid.1 ] && [ -s pid.2 ] && [ -s pid.3 ] && break
		sleep 0.01
	done
	sleep 1
	t0=$(date +%s%N)
	kill -TERM "$(cat pid.$1)"
	wait $bg
	t1=$(date +%s%N)
	echo "# SIGTERM to stage $1: all ended in $(( (t1 - t0) / 1000000 )) ms" >&3
	[ "$(cat st)" = "0 0 0 0" ] || { cat st err >&3; false; }
	# stopped mid-run, at a final checkpoint the sink completed
	[ "$(q "SELECT count(*) FROM stops")" = 1 ]
	len=$(stat -c %s out.fsr)
	[ "$len" -gt 0 ]
	[ "$(q "SELECT length FROM sinks ORDER BY id DESC LIMIT 1")" = "$len" ]
	[ "$(q "SELECT position FROM positions ORDER BY id DESC LIMIT 1")" -lt "$(stat -c %s in.fsr)" ]
	run_t 60 bash -c 'fs-stat -q --state s.db --job j -i in.fsr \
		2>/dev/null | fs-window --features fraud-v1 --state s.db \
		--job j 2>/dev/null | fs-stat -q --state s.db --job j \
		-o out.fsr 2>/dev/null'
	assert_status 0
	[ "$(q "SELECT count(*) FROM stops")" = 0 ]	# the start cleared it
	fs-cat --types features -f csv -i out.fsr >out.csv
	cmp clean.csv out.csv
}

@test "exactly-once: SIGTERM of a stage between drains the pipeline: a final checkpoint, every stage exits 0" {
	term_stage 2
}

@test "exactly-once: SIGTERM of the sink drains the pipeline the same way" {
	term_stage 3
}

@test "exactly-once: a sink whose committed output is gone, or a checkpoint without this input, is an error" {
	fs-gen -n 1000 -o in.fsr
	fs-stat -q --state s.db --job j -i in.fsr -o out.fsr 2>/dev/null
	: >out.fsr
	run_t 10 fs-stat -q --state s.db --job j -i in.fsr -o out.fsr
	assert_status 1
	assert_match "cannot resume '?out.fsr'?: it has 0 bytes"
	cp in.fsr other.fsr
	run_t 10 fs-stat -q --state s.db --job j -i other.fsr -o out2.fsr
	assert_status 1
	assert_match "no position for it"
	# an output the checkpoint does not know: an empty one goes on from
	# it (a rescaled instance's), one with data is refused, kept as is
	cp in.fsr full.fsr
	run_t 10 fs-stat -q --state s.db --job j -i in.fsr -o full.fsr
	assert_status 1
	assert_match "cannot resume '?full.fsr'?: checkpoint [0-9]+ of job 'j' has no length for it"
	cmp in.fsr full.fsr
	run_t 10 fs-stat -q --state s.db --job j -i in.fsr -o new.fsr
	assert_status 0
	[ ! -s new.fsr ]	# the job was done: nothing after its end
}
