#!/usr/bin/env bats
# What every tool's endpoints share (libcommon io.c, endpoint.c,
# metrics.c): stop signals end any wait; a failed side output is an
# error after the main output is flushed; one file is never both an
# input and an output; --metrics writes only regular files; an input
# that cannot be read is a failure (exit 1), not bad data (exit 3).
load helper

M=$TOP/models/fraud-v1.json

# term_while_waiting OUT CMD...: run CMD with stdin from a pipe that
# gets 1000 records and then stays open and silent; once CMD has
# written them all, send SIGTERM.  Sets status and ms (signal to exit).
term_while_waiting() {
	local out=$1; shift
	set +e
	mkfifo in.fifo
	{ fs-gen -n 1000 --seed 3; sleep 60; } > in.fifo &
	local feeder=$!
	"$@" < in.fifo > "$out" 2> err &
	local pid=$! i
	for i in $(seq 100); do		# until the tool waits on the timer
		sleep 0.1
		[ -s "$out" ] && break
	done
	sleep 0.3
	local t0=$(date +%s%N)
	kill -TERM "$pid"
	local left=50
	while kill -0 "$pid" 2>/dev/null && [ $left -gt 0 ]; do
		sleep 0.02; left=$((left - 1))
	done
	ms=$((($(date +%s%N) - t0) / 1000000))
	if kill -KILL "$pid" 2>/dev/null; then
		status=137
	else
		wait "$pid"; status=$?
	fi
	stop_feeder "$feeder"
	echo "# exit $status ${ms} ms after SIGTERM" >&3
	set -e
}

# stop_feeder PID: end a feeder subshell and its sleep.
stop_feeder() {
	pkill -P "$1" sleep 2>/dev/null || true
	kill "$1" 2>/dev/null || true
	return 0
}

# term_in SECONDS: SIGTERM $pid after SECONDS; sets status and ms.
term_in() {
	set +e
	sleep "$1"
	local t0=$(date +%s%N)
	kill -TERM "$pid"
	timeout 5 tail --pid="$pid" -f /dev/null
	ms=$((($(date +%s%N) - t0) / 1000000))
	wait "$pid"; status=$?
	echo "# exit $status ${ms} ms after SIGTERM" >&3
	set -e
}

@test "signals: fs-stat --every 10s ends on SIGTERM and flushes" {
	term_while_waiting out.fsr fs-stat -q --every 10s
	assert_status 0
	[ "$(fs-cat -i out.fsr | wc -l)" -eq 1000 ]
}

@test "signals: fs-window --idle-timeout 10s ends on SIGTERM and fires" {
	term_while_waiting out.fsr fs-window --tumble 1m --agg count \
		--idle-timeout 10s
	assert_status 0
	[ "$(fs-cat -i out.fsr --types agg | wc -l)" -gt 0 ]
}

@test "signals: fs-window --features ends on SIGTERM with every row" {
	term_while_waiting out.fsr fs-window --features fraud-v1
	assert_status 0
	[ "$(fs-cat -i out.fsr --types features | wc -l)" -eq 1000 ]
}

@test "signals: fs-score-gpu --linger 10s ends on SIGTERM, scores the partial batch" {
	mkfifo feat.fifo
	{ fs-gen -n 1000 --seed 3 | fs-window --features fraud-v1
	  sleep 60; } > feat.fifo &
	local feeder=$!
	fs-score-gpu -m "$M" --device cpu --batch 4096 --linger 10s \
		< feat.fifo > out.fsr 2> err &
	pid=$!
	term_in 1.5
	stop_feeder "$feeder"
	assert_status 0
	[ "$ms" -lt 3000 ]
	[ "$(fs-cat -i out.fsr --types score | wc -l)" -eq 1000 ]
}

@test "signals: fs-cat ends on SIGTERM while its input is silent" {
	term_while_waiting out.csv fs-cat -f csv
	assert_status 0
	[ "$(wc -l < out.csv)" -eq 1001 ]
}

@test "signals: fs-ingest ends on SIGTERM while its input is silent" {
	mkfifo csv.fifo
	{ printf 'ts_event,account,amount\n2026-01-02T00:00:00Z,1,5\n'
	  sleep 60; } > csv.fifo &
	local feeder=$!
	fs-ingest -t txn < csv.fifo > out.fsr 2> err &
	pid=$!
	term_in 1
	stop_feeder "$feeder"
	assert_status 0
	[ "$ms" -lt 3000 ]
	[ "$(fs-cat -i out.fsr | wc -l)" -eq 1 ]
}

@test "signals: fs-gen --rate 1 ends on SIGTERM in its sleep" {
	fs-gen -n 100 --rate 1 > out.fsr &
	pid=$!
	term_in 1.5
	assert_status 0
	[ "$ms" -lt 3000 ]
	[ "$(fs-cat -i out.fsr | wc -l)" -ge 1 ]
}

# side_reader_quits: a FIFO 'side' whose reader takes 100 bytes and goes.
side_reader_quits() {
	mkfifo side
	( head -c 100 < side > /dev/null ) &
}

@test "side output: --alerts whose reader goes away is exit 1, scores before it kept" {
	fs-gen -n 100000 --seed 5 | fs-window --features fraud-v1 > feat.fsr
	side_reader_quits
	run_t 60 fs-score-gpu -m "$M" --device cpu -i feat.fsr --threshold 0 \
		--alerts side -o main.fsr
	assert_status 1
	assert_match "fs-score-gpu: cannot write 'side': Broken pipe"
	n=$(fs-cat --types score -i main.fsr | wc -l)
	[ "$n" -gt 0 ]
	# main.fsr is whole frames: fs-cat read it without error
	fs-cat -i main.fsr > /dev/null
}

@test "side output: --late whose reader goes away is exit 1, results before it kept" {
	fs-gen -n 200000 --disorder 30s --seed 5 > dis.fsr
	side_reader_quits
	run_t 60 fs-window --tumble 1s --late side -i dis.fsr -o w.fsr
	assert_status 1
	assert_match "fs-window: cannot write 'side': Broken pipe"
	[ "$(fs-cat --types agg -i w.fsr | wc -l)" -gt 0 ]
}

@test "side output: a dead-letter file whose reader goes away is exit 1, good rows before it kept" {
	python3 -c "
print('ts_event,account,amount')
for i in range(200000): print('2026-01-02T00:00:00Z,%d,%s' % (i, '1.5' if i % 2 else 'bad'))" > half.csv
	side_reader_quits
	run_t 60 fs-ingest -t txn -i half.csv --on-error dead-letter:side -o ing.fsr
	assert_status 1
	assert_match "fs-ingest: cannot write dead-letter file 'side': Broken pipe"
	[ "$(fs-cat -i ing.fsr | wc -l)" -gt 0 ]
	run_t 60 fs-ingest -t txn -i half.csv --on-error dead-letter:/dev/full -o ing.fsr
	assert_status 1
	[ "$(fs-cat -i ing.fsr | wc -l)" -gt 0 ]
}

@test "same file: a dead-letter file that is the input is refused, the input kept" {
	printf 'ts_event,account,amount\n2026-01-02T00:00:00Z,1,x\n' > in.csv
	size=$(stat -c %s in.csv)
	run_t 10 fs-ingest -t txn -i in.csv --on-error dead-letter:in.csv -o /dev/null
	assert_status 2
	[ "$(stat -c %s in.csv)" -eq "$size" ]
}

@test "side output: a full disk on -o is exit 1, not quiet" {
	[ -w /dev/full ] || skip "no /dev/full"
	run_t 20 sh -c 'fs-gen -n 100000 | fs-stat -q -o /dev/full'
	assert_status 1
	assert_match "fs-stat: cannot write '/dev/full': No space left on device"
}

@test "side output: a closed stdout still ends the tool quietly" {
	run_t 20 bash -c 'fs-gen -n 2000000 | fs-stat -q | head -c 100 > /dev/null; echo "${PIPESTATUS[1]}"'
	assert_status 0
	[ "$output" = 0 ]
}

@test "same file: -i F -o F is refused with exit 2 and F kept, in every tool" {
	fs-gen -n 1000 > x.fsr
	fs-gen -n 1000 | fs-window --features fraud-v1 > f.fsr
	size=$(stat -c %s x.fsr); fsize=$(stat -c %s f.fsr)
	for c in "fs-stat -q" "fs-window --tumble 1m" "fs-cat -f csv"; do
		run_t 10 $c -i x.fsr -o x.fsr
		assert_status 2
		assert_match "refusing to use 'x.fsr' as an (in|out)put: it is the same file as the (in|out)put 'x.fsr'"
		[ "$(stat -c %s x.fsr)" -eq "$size" ]
	done
	run_t 10 fs-score-gpu -m "$M" --device cpu -i f.fsr -o f.fsr
	assert_status 2
	[ "$(stat -c %s f.fsr)" -eq "$fsize" ]
	run_t 10 fs-ingest -t txn -i x.fsr -o x.fsr
	assert_status 2
	[ "$(stat -c %s x.fsr)" -eq "$size" ]
}

@test "same file: --late F -o F, --alerts F -o F and -o F < F are refused" {
	fs-gen -n 1000 > x.fsr
	size=$(stat -c %s x.fsr)
	run_t 10 fs-window --tumble 1m -i x.fsr --late o.fsr -o o.fsr
	assert_status 2
	fs-gen -n 1000 | fs-window --features fraud-v1 > f.fsr
	run_t 10 fs-score-gpu -m "$M" --device cpu -i f.fsr --alerts a.fsr -o a.fsr
	assert_status 2
	fsize=$(stat -c %s f.fsr)
	run_t 10 fs-score-gpu -m "$M" --device cpu -i f.fsr -o /dev/null \
		--save-reference f.fsr
	assert_status 2
	[ "$(stat -c %s f.fsr)" -eq "$fsize" ]
	run_t 10 sh -c 'fs-stat -q -o x.fsr < x.fsr'
	assert_status 2
	[ "$(stat -c %s x.fsr)" -eq "$size" ]
	ln x.fsr hard.fsr
	run_t 10 fs-stat -q -i x.fsr -o hard.fsr
	assert_status 2
	[ "$(stat -c %s x.fsr)" -eq "$size" ]
	run_t 10 fs-stat -q -i x.fsr --metrics x.fsr -o /dev/null
	assert_status 2
	[ "$(stat -c %s x.fsr)" -eq "$size" ]
}

@test "same file: distinct files and /dev/null both ways still work" {
	fs-gen -n 100 > x.fsr
	run_t 10 fs-stat -q -i x.fsr -o y.fsr
	assert_status 0
	cmp x.fsr y.fsr
	run_t 10 fs-stat -q -i /dev/null -o /dev/null
	assert_status 0
}

@test "an output file is truncated only when written: a run refused at start keeps it" {
	fs-gen -n 100 > keep.fsr
	run_t 10 fs-cat -f csv -i /nonexistent -o keep.fsr
	assert_status 1
	[ "$(fs-cat -i keep.fsr | wc -l)" -eq 100 ]
	: | fs-stat -q -o keep.fsr
	[ ! -s keep.fsr ]
}

@test "--metrics: a FIFO, a symlink, a directory or a device is refused with exit 2" {
	mkfifo fifo; echo KEEP > target.txt; ln -s target.txt link; mkdir dir
	for m in fifo link dir /dev/null; do
		run_t 10 sh -c "fs-gen -n 10 | fs-stat -q --metrics $m > /dev/null"
		assert_status 2
		assert_match "fs-stat: refusing to write metrics to '$m': it is (a FIFO|a symbolic link|a directory|a device)"
	done
	[ -p fifo ] && [ -L link ] && [ -d dir ] && [ -c /dev/null ]
	[ "$(cat target.txt)" = KEEP ]
	for t in "fs-gen -n 10" "fs-window --tumble 1m -i /dev/null" "fs-cat -i /dev/null" \
		 "fs-score-gpu -m $M --device cpu -i /dev/null" "fs-ingest -t txn -i /dev/null"; do
		run_t 10 $t --metrics fifo -o /dev/null
		assert_status 2
		[ -p fifo ]
	done
}

@test "--metrics: a regular file is written and replaced" {
	run_t 10 sh -c 'fs-gen -n 10 | fs-stat -q --metrics m.prom > /dev/null'
	assert_status 0
	grep -q '^fs_stat_records_total{tool="fs-stat"} 10$' m.prom
}

@test "read error: a directory as input is exit 1 in every tool" {
	mkdir d
	for c in "fs-cat" "fs-stat -q" "fs-window --tumble 1m" \
		 "fs-score-gpu -m $M --device cpu" "fs-ingest -t txn"; do
		run_t 10 $c -i d -o /dev/null
		assert_status 1
		assert_match "^fs-[a-z-]+: cannot read 'd'.*: Is a directory$"
	done
}

@test "same file: the model, a reference, --metrics or a dead-letter file as another output is refused, files kept" {
	cp "$M" m.json
	fs-gen -n 100 --seed 2 | fs-window --features fraud-v1 > f.fsr
	for a in "-o m.json" "--alerts m.json" "--save-reference m.json" "--metrics m.json"; do
		run_t 10 fs-score-gpu -m m.json --device cpu -i f.fsr $a
		assert_status 2
		cmp m.json "$M"
	done
	fs-score-gpu -m m.json --device cpu -i f.fsr -o /dev/null --save-reference r.txt
	cp r.txt r.keep
	run_t 10 fs-score-gpu -m m.json --device cpu -i f.fsr --reference r.txt -o r.txt
	assert_status 2
	cmp r.txt r.keep
	run_t 10 fs-score-gpu -m m.json --device cpu -i f.fsr -o /dev/null \
		--save-reference s.txt --metrics ./s.txt
	assert_status 2
	fs-gen -n 10 > g.fsr
	run_t 10 fs-gen -n 10 -o g.fsr --metrics "$PWD/g.fsr"
	assert_status 2
	[ "$(fs-cat -i g.fsr | wc -l)" -eq 10 ]
	printf 'ts_event,account,amount\n2026-01-02T00:00:00Z,1,x\n' > b.csv
	run_t 10 fs-ingest -t txn -i b.csv -e dead-letter:g.fsr -o g.fsr
	assert_status 2
	[ "$(fs-cat -i g.fsr | wc -l)" -eq 10 ]
	run_t 10 fs-ingest -t txn -i b.csv -e dead-letter:m.prom --metrics m.prom -o /dev/null
	assert_status 2
	# devices are no files to lose: /dev/null twice is fine
	run_t 10 fs-window --tumble 1m -i g.fsr -o /dev/null --late /dev/null
	assert_status 0
}

@test "--metrics: written at the end also when stdout closes early" {
	echo old > m.prom
	run_t 20 bash -c 'fs-gen -n 1000000 --metrics m.prom | head -c 1000 > /dev/null'
	grep -q '^fs_gen_records_total{tool="fs-gen"} [1-9]' m.prom
	echo old > s.prom
	run_t 20 bash -c 'fs-gen -n 1000000 | fs-stat -q --metrics s.prom | head -c 1000 > /dev/null'
	grep -q '^fs_stat_records_total{tool="fs-stat"} [1-9]' s.prom
}

@test "signals: SIGTERM while opening a FIFO nobody opens is a quiet exit 0" {
	mkfifo lonely
	for c in "fs-cat -i lonely" "fs-stat -q -o lonely" \
		 "fs-window --tumble 1m --late lonely" "fs-ingest -t txn -i lonely"; do
		$c < /dev/null > /dev/null 2> err &
		pid=$!
		term_in 0.5
		[ "$status" -eq 0 ] || { echo "$c: exit $status: $(cat err)"; return 1; }
		[ ! -s err ] || { echo "$c: $(cat err)"; return 1; }
	done
}
