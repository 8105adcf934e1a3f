#!/usr/bin/env bats
# fs-window event time: watermarks, late events and --late, --lateness
# updates, --emit every, --idle-timeout, end-of-input flush, SIGINT
# drain, session merges.
load helper

load window-helper

@test "fs-window: end of input flushes every open window, then a WATERMARK" {
	printf 'txn 1 1 100\ntxn 3 1 200\ntxn 15 2 50\n' | mk >in.fsr
	run_t 10 bash -c 'fs-window --tumble 10s --max-delay 1h --agg \
		"count,sum(amount)" <in.fsr | show'
	assert_status 0
	[ "${lines[0]}" = "agg - key=1 0-10 count=2 sum_amount=3" ]
	[ "${lines[1]}" = "agg - key=2 10-20 count=1 sum_amount=0.5" ]
	[ "${lines[2]}" = "wm 15" ]
	[ "${#lines[@]}" -eq 3 ]
}

@test "fs-window: the watermark fires windows before the end of input" {
	printf 'txn 1 1 100\ntxn 3 1 200\nwm 10\ntxn 15 1 50\n' | mk >in.fsr
	run_t 10 bash -c 'fs-window --tumble 10s --max-delay 1h <in.fsr | show'
	assert_status 0
	[ "${lines[0]}" = "agg - key=1 0-10 count=2" ]
	[ "${lines[1]}" = "wm 10" ]
	[ "${lines[2]}" = "agg - key=1 10-20 count=1" ]
	[ "${lines[3]}" = "wm 15" ]
}

@test "fs-window: max event time minus --max-delay is a watermark too" {
	printf 'txn 1 1 100\ntxn 12 1 100\ntxn 13 1 100\ntxn 14.5 1 1\n' |
		mk >in.fsr
	run_t 10 bash -c 'fs-window --tumble 10s --max-delay 2s <in.fsr | show'
	assert_status 0
	# 12 - 2s = 10 passes the end of [0, 10) (9.999999999)
	[ "${lines[0]}" = "agg - key=1 0-10 count=1" ]
	[ "${lines[1]}" = "wm 10" ]
	[ "${lines[2]}" = "agg - key=1 10-20 count=3" ]
}

@test "fs-window: a late event goes to --late flagged LATE, and is counted" {
	printf 'txn 1 1 100\ntxn 12 1 100\ntxn 5 1 700\n' | mk >in.fsr
	run_t 10 fs-window --tumble 10s --late late.fsr --metrics m.prom \
		-i in.fsr -o out.fsr
	assert_status 0
	run_t 10 bash -c 'show <out.fsr'
	[ "${lines[0]}" = "agg - key=1 0-10 count=1" ]
	[ "${lines[2]}" = "agg - key=1 10-20 count=1" ]
	run_t 10 bash -c 'show <late.fsr'
	[ "$output" = "txn LATE 5 key=1" ]
	grep -q '^fs_window_late_records_total{tool="fs-window"} 1$' m.prom
}

@test "fs-window: without --late, late events are reported on stderr" {
	printf 'txn 1 1 100\ntxn 12 1 100\ntxn 5 1 700\ntxn 6 1 1\n' | mk >in.fsr
	run_t 10 fs-window --tumble 10s -i in.fsr -o out.fsr
	assert_status 0
	assert_match 'fs-window: 2 late records dropped \(keep them with --late URI\)'
}

@test "fs-window: --lateness re-emits updated results, then late is late" {
	printf 'txn 1 1 100\ntxn 12 1 100\ntxn 5 1 700\ntxn 20 1 1\ntxn 6 1 1\n' |
		mk >in.fsr
	run_t 10 bash -c 'fs-window --tumble 10s --lateness 5s --late late.fsr \
		--agg "count,sum(amount)" <in.fsr | show'
	assert_status 0
	[ "${lines[0]}" = "agg - key=1 0-10 count=1 sum_amount=1" ]
	[ "${lines[1]}" = "wm 12" ]
	[ "${lines[2]}" = "agg UPDATE key=1 0-10 count=2 sum_amount=8" ]
	[ "${lines[3]}" = "agg - key=1 10-20 count=1 sum_amount=1" ]
	[ "${lines[4]}" = "wm 20" ]
	[ "${lines[5]}" = "agg - key=1 20-30 count=1 sum_amount=0.01" ]
	run_t 10 bash -c 'show <late.fsr'
	[ "$output" = "txn LATE 6 key=1" ]
}

@test "fs-window: a late event for a new key within --lateness is not an update" {
	printf 'txn 1 1 100\ntxn 12 1 100\ntxn 5 2 700\n' | mk >in.fsr
	run_t 10 bash -c 'fs-window --tumble 10s --lateness 5s <in.fsr | show'
	assert_status 0
	[ "${lines[2]}" = "agg - key=2 0-10 count=1" ]
}

@test "fs-window: --emit every:D gives PARTIAL results, then the final one" {
	printf 'txn 1 1 100\ntxn 6 1 100\ntxn 11 1 100\ntxn 16 1 100\ntxn 21 1 1\n' |
		mk >in.fsr
	run_t 10 bash -c 'fs-window --tumble 20s --emit every:5s <in.fsr |
		show | grep ^agg'
	assert_status 0
	[ "${lines[0]}" = "agg PARTIAL key=1 0-20 count=2" ]
	[ "${lines[1]}" = "agg PARTIAL key=1 0-20 count=3" ]
	[ "${lines[2]}" = "agg PARTIAL key=1 0-20 count=4" ]
	[ "${lines[3]}" = "agg - key=1 0-20 count=4" ]
	[ "${lines[4]}" = "agg - key=1 20-40 count=1" ]
	[ "${#lines[@]}" -eq 5 ]
}

@test "fs-window: --idle-timeout closes windows while the input is quiet" {
	printf 'txn 10.5 1 100\n' | mk >in.fsr
	{ cat in.fsr; sleep 2; } |
		fs-window --tumble 1s --idle-timeout 200ms >out.fsr &
	sleep 1.4
	run show <out.fsr
	wait
	[ "${lines[0]}" = "agg - key=1 10-11 count=1" ]
	[ "${lines[1]}" = "wm 11" ] || [[ ${lines[1]} =~ ^wm\ 1[1-3] ]]
}

@test "fs-window: without --idle-timeout a quiet input holds windows open" {
	printf 'txn 10.5 1 100\n' | mk >in.fsr
	{ cat in.fsr; sleep 1.5; } | fs-window --tumble 1s >out.fsr &
	sleep 0.9
	[ ! -s out.fsr ]
	wait
	run show <out.fsr
	[ "${lines[0]}" = "agg - key=1 10-11 count=1" ]
}

@test "fs-window: SIGINT drains: open windows flushed, exit 0" {
	printf 'txn 1 1 100\ntxn 2 2 100\n' | mk >in.fsr
	mkfifo fifo
	fs-window --tumble 1m -i fifo -o out.fsr &
	pid=$!
	exec 8>fifo
	cat in.fsr >&8
	sleep 0.5
	kill -INT $pid
	rc=0
	wait $pid || rc=$?
	exec 8>&-
	[ $rc -eq 0 ]
	run show <out.fsr
	[ "${lines[0]}" = "agg - key=1 0-60 count=1" ]
	[ "${lines[1]}" = "agg - key=2 0-60 count=1" ]
}

@test "fs-window: sessions merge when a late event bridges them" {
	printf 'txn 0 1 100\ntxn 25 1 100\ntxn 8 1 100\ntxn 17 1 100\n' |
		mk >in.fsr
	run_t 10 bash -c 'fs-window --session 10s --lateness 1m <in.fsr |
		show | grep ^agg'
	assert_status 0
	[ "${lines[0]}" = "agg - key=1 0-10 count=1" ]
	[ "${lines[1]}" = "agg UPDATE key=1 0-18 count=2" ]
	[ "${lines[2]}" = "agg UPDATE key=1 0-35 count=4" ]
	[ "${#lines[@]}" -eq 3 ]
}

@test "fs-window: a session past its lateness sends the event to --late" {
	printf 'txn 0 1 100\ntxn 100 1 100\ntxn 3 1 100\n' | mk >in.fsr
	run_t 10 bash -c 'fs-window --session 10s --late late.fsr <in.fsr |
		show | grep ^agg'
	[ "${lines[0]}" = "agg - key=1 0-10 count=1" ]
	[ "${lines[1]}" = "agg - key=1 100-110 count=1" ]
	run_t 10 bash -c 'show <late.fsr'
	[ "$output" = "txn LATE 3 key=1" ]
}

@test "fs-window: hop and cumulate windows of one event" {
	printf 'txn 7 1 100\n' | mk >in.fsr
	run_t 10 bash -c 'fs-window --hop 10s/5s <in.fsr | show | grep ^agg'
	[ "${lines[0]}" = "agg - key=1 0-10 count=1" ]
	[ "${lines[1]}" = "agg - key=1 5-15 count=1" ]
	[ "${#lines[@]}" -eq 2 ]
	run_t 10 bash -c 'fs-window --cumulate 20s/5s <in.fsr | show | grep ^agg'
	[ "${lines[0]}" = "agg - key=1 0-10 count=1" ]
	[ "${lines[1]}" = "agg - key=1 0-15 count=1" ]
	[ "${lines[2]}" = "agg - key=1 0-20 count=1" ]
	[ "${#lines[@]}" -eq 3 ]
	run_t 10 bash -c 'fs-window --tumble 10s --offset 3s <in.fsr | show |
		grep ^agg'
	[ "$output" = "agg - key=1 3-13 count=1" ]
}

@test "fs-window: ohlc makes BAR records" {
	printf 'trade 1 AAPL 10 5\ntrade 3 AAPL 12 1\ntrade 2 AAPL 9 4\n' |
		mk >in.fsr
	run_t 10 bash -c 'fs-window --tumble 1m --agg ohlc,vwap,count <in.fsr |
		show'
	assert_status 0
	# open 10 (t=1), high 12, low 9, close 12 (t=3), volume 10,
	# count 3 (vwap 9.8 inside the BAR); no AGG: nothing else asked
	[ "${lines[0]}" = "bar - key=1 0-60 10 12 9 12 10 3" ]
	[ "${lines[1]}" = "wm 3" ]
}
