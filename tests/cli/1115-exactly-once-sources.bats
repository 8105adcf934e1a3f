#!/usr/bin/env bats
# fs-gen as a checkpointed source, and side outputs (--late) exactly
# once (finstream(7) Checkpoints): fs-gen -> fs-window --late -> file,
# with random SIGKILLs and restarts, writes what a run without
# checkpoints writes, in the main output and in the side file.  fs-gen
# records how many records it made; a restart makes the same stream from
# the seed and leaves out what the restored checkpoint covers.
load helper

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
}

GEN="fs-gen -n 150000 --keys 300 --seed 9 --disorder 3s --event-rate 2000
	--fixed-ingest"
WIN="fs-window --tumble 1s --max-delay 500ms -a count,sum(amount)"

# pipe: fs-gen | fs-window --late | fs-stat, checkpointed (the commands
# spelled out: chaos runs the last one in a shell of its own)
pipe() {
	rm -f pid.1 pid.2 pid.3
	sh -c 'echo $$ >pid.1; exec fs-gen -n 150000 --keys 300 --seed 9 \
		--disorder 3s --event-rate 2000 --fixed-ingest --state s.db \
		--job j --checkpoint-interval 5ms --rate 400000' 2>>err |
	sh -c 'echo $$ >pid.2; exec fs-window --tumble 1s --max-delay 500ms \
		-a "count,sum(amount)" --state s.db --job j \
		--late out.late.fsr' 2>>err |
	sh -c 'echo $$ >pid.3; exec fs-stat -q --state s.db --job j \
		-o out.fsr' 2>>err
	echo "${PIPESTATUS[*]}" >st
}

@test "exactly-once: fs-gen -> fs-window --late -> file, SIGKILLs: main and side outputs equal a clean run" {
	$GEN | $WIN --late clean.late.fsr 2>/dev/null >clean.fsr
	fs-cat --types agg -f csv -i clean.fsr >clean.csv
	fs-cat -f csv -i clean.late.fsr >clean.late.csv
	[ "$(wc -l <clean.late.csv)" -gt 100 ]	# late records there are
	chaos 300 || { cat st >&3; grep -v "^fs-stat:" err >&3; false; }
	fs-cat --types agg -f csv -i out.fsr >out.csv
	fs-cat -f csv -i out.late.fsr >out.late.csv
	cmp clean.csv out.csv
	cmp clean.late.csv out.late.csv
	# fs-gen's position: records made; the side file's length recorded
	[ "$(sqlite3 s.db "SELECT max(position) FROM positions WHERE
		source LIKE 'fs-gen --kind txn --seed 9 %'")" = 150000 ]
	[ "$(sqlite3 s.db "SELECT length FROM sinks WHERE sink =
		'$(realpath out.late.fsr)' ORDER BY id DESC LIMIT 1")" = \
		"$(stat -c %s out.late.fsr)" ]
}

@test "fs-gen --state: SIGTERM ends with a final checkpoint (exit 0); the next run goes on to -n" {
	fs-gen -n 300000 --seed 4 --fixed-ingest -o clean.fsr
	fs-gen -n 300000 --seed 4 --fixed-ingest --rate 100000 \
		--state s.db --job g -o out.fsr 2>/dev/null &
	local p=$! st=0
	sleep 1
	kill -TERM $p
	wait $p || st=$?
	[ "$st" = 0 ]
	local n
	n=$(sqlite3 s.db "SELECT position FROM positions ORDER BY id DESC LIMIT 1")
	[ "$n" -gt 0 ] && [ "$n" -lt 300000 ]
	run_t 30 fs-gen -n 300000 --seed 4 --fixed-ingest --state s.db \
		--job g -o out.fsr
	assert_status 0
	cmp clean.fsr out.fsr
	# another stream (another seed) is another source: refused
	run_t 30 fs-gen -n 300000 --seed 5 --fixed-ingest --state s.db \
		--job g -o out2.fsr
	assert_status 1
	assert_match "cannot resume 'fs-gen --kind txn --seed 5 .*no position for it"
}
