#!/usr/bin/env bats
# fs-ingest as a checkpointed source (finstream(7) Checkpoints):
# CSV with bad rows -> fs-ingest --state -e dead-letter:FILE -> fs-window
# -> fs-stat -o file, with random SIGKILLs and restarts, writes what a
# run without checkpoints writes, in the main output and in the
# dead-letter file.  fs-ingest records the byte offset of the next row;
# a restart seeks there (the header read again).
load helper

# The input: fs-gen's transactions as CSV, with rows of 3 cells and rows
# of 14 among them (bad rows, dead-lettered).
setup_file() {
	fs-gen -n 600000 --keys 300 --seed 9 --disorder 3s --event-rate 2000 \
		--fixed-ingest | fs-cat -f csv |
		awk 'NR > 1 && NR % 50000 == 0 { print "bad,row,here" }
		     NR > 1 && NR % 70001 == 0 { $0 = $0 ",extra" }
		     { print }' >"$BATS_FILE_TMPDIR/in.csv"
}

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
	IN=$BATS_FILE_TMPDIR/in.csv
	export IN
}

# The aggregates of an output as CSV, without ts_ingest (the clock of
# the run that made them).
aggs() {
	fs-cat --types agg -f csv -i "$1" | cut -d, -f1,3-
}

# pipe: fs-ingest | fs-window | fs-stat, checkpointed (the commands
# spelled out: chaos runs the last one in a shell of its own)
pipe() {
	rm -f pid.1 pid.2 pid.3
	sh -c 'echo $$ >pid.1; exec fs-ingest -t txn -i "$IN" \
		-e dead-letter:out.dead --state s.db --job j \
		--checkpoint-interval 3ms' 2>>err |
	sh -c 'echo $$ >pid.2; exec fs-window --tumble 1s --max-delay 500ms \
		-a "count,sum(amount)" --state s.db --job j' 2>>err |
	sh -c 'echo $$ >pid.3; exec fs-stat -q --state s.db --job j \
		-o out.fsr' 2>>err
	echo "${PIPESTATUS[*]}" >st
}

@test "exactly-once: fs-ingest -e dead-letter -> fs-window -> file, SIGKILLs: output and dead letters equal a clean run" {
	fs-ingest -t txn -i "$IN" -e dead-letter:clean.dead 2>/dev/null |
		fs-window --tumble 1s --max-delay 500ms \
		-a "count,sum(amount)" 2>/dev/null >clean.fsr
	aggs clean.fsr >clean.csv
	[ "$(wc -l <clean.dead)" = 21 ]	# header and 20 bad rows
	[ "$(wc -l <clean.csv)" -gt 50000 ]
	chaos 40 || { cat st >&3; grep -v "^fs-stat:" err >&3; false; }
	aggs out.fsr >out.csv
	cmp clean.csv out.csv
	cmp clean.dead out.dead
	# the position: the input's size at the end; the dead-letter file's
	# length recorded
	[ "$(sqlite3 s.db "SELECT max(position) FROM positions WHERE
		partition = 0 AND source LIKE 'fs-ingest %/in.csv -f csv%'")" \
		= "$(stat -c %s "$IN")" ]
	[ "$(sqlite3 s.db "SELECT length FROM sinks WHERE sink =
		'$(realpath out.dead)' ORDER BY id DESC LIMIT 1")" = \
		"$(stat -c %s out.dead)" ]
}

# A stage that SIGTERM stops while its output pipe is full: the sink
# starts reading only after a while.
stop_mid_run() {
	local in=$1 p
	rm -f pid.1
	sh -c 'echo $$ >pid.1; exec fs-ingest -t txn -i "$0" \
		-e dead-letter:out.dead --state s.db --job t' "$in" 2>>err |
		{ sleep 1; exec fs-stat -q --state s.db --job t -o out.fsr; } &
	p=$!
	sleep 0.5
	kill -TERM "$(cat pid.1)"
	timeout 30 tail --pid="$(cat pid.1)" -f /dev/null
	wait $p
}

@test "fs-ingest --state: SIGTERM ends with a final checkpoint (exit 0); the next run goes on from it" {
	fs-ingest -t txn -i "$IN" -e dead-letter:clean.dead -o clean.fsr \
		2>/dev/null
	run stop_mid_run "$IN"
	assert_status 0
	local n
	n=$(sqlite3 s.db "SELECT position FROM positions WHERE partition = 0
		ORDER BY id DESC LIMIT 1")
	[ "$n" -gt 0 ] && [ "$n" -lt "$(stat -c %s "$IN")" ]
	[ "$(sqlite3 s.db "SELECT count(*) FROM positions")" -le 8 ]
	run_t 60 fs-ingest -t txn -i "$IN" -e dead-letter:out.dead \
		--state s.db --job t -o out.fsr
	assert_status 0
	[ "$(fs-cat -f csv -i clean.fsr | cut -d, -f1,3- | md5sum)" = \
		"$(fs-cat -f csv -i out.fsr | cut -d, -f1,3- | md5sum)" ]
	cmp clean.dead out.dead
}

@test "fs-ingest --state: a gzip input is read again and resumed at the decoded offset" {
	gzip -1 -c "$IN" >in.csv.gz
	fs-ingest -t txn -i in.csv.gz -e dead-letter:clean.dead -o clean.fsr \
		2>/dev/null
	run stop_mid_run in.csv.gz
	assert_status 0
	run_t 60 fs-ingest -t txn -i in.csv.gz -e dead-letter:out.dead \
		--state s.db --job t -o out.fsr
	assert_status 0
	[ "$(fs-cat -f csv -i clean.fsr | cut -d, -f1,3- | md5sum)" = \
		"$(fs-cat -f csv -i out.fsr | cut -d, -f1,3- | md5sum)" ]
	cmp clean.dead out.dead
}

@test "fs-ingest --state: another input or other options are refused; stdin, pipes and archives too" {
	head -1000 "$IN" >small.csv
	head -2000 "$IN" >other.csv
	run_t 30 fs-ingest -t txn -i small.csv --state s.db --job k \
		-o out.fsr
	assert_status 0
	run_t 30 fs-ingest -t txn -i other.csv --state s.db --job k \
		-o out2.fsr
	assert_status 1
	assert_match "cannot resume 'fs-ingest .*/other.csv .*no position for it"
	run_t 30 fs-ingest -t txn -m amount=amount -i small.csv \
		--state s.db --job k -o out2.fsr
	assert_status 1
	assert_match "no position for it"
	run_t 30 fs-ingest -t txn --state s.db --job k -o out2.fsr <small.csv
	assert_status 2
	assert_match "stdin cannot be read again"
	mkfifo f
	run_t 30 fs-ingest -t txn -i f --state s.db --job k -o out2.fsr
	assert_status 2
	assert_match "regular input file"
	tar cf small.tar small.csv
	run_t 30 fs-ingest -t txn -i small.tar --state s.db --job a \
		-o out3.fsr
	assert_status 2
	assert_match "is an archive"
}
