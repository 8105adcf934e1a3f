#!/usr/bin/env bats
# fs-var under --state (finstream(7) Checkpoints): its state is one
# snapshot row per checkpoint (partition -1, FS_CKPT_INSTANCE); a run
# SIGKILLed at random moments and restarted writes the same output as a
# clean run, alone (file source and sink) and in the middle of a pipe.
load helper

A="-q --method mc --paths 20000 --every 1h --window 100"

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
	{ fs-gen --kind position -n 200 --keys 10 --symbols 40 --fixed-ingest &&
	  fs-gen --kind bar -n 100000 --symbols 40 --fixed-ingest; } >in.fsr
	fs-var $A -i in.fsr -o clean.fsr
}

# kill_loop N CMD: start CMD in the background, SIGKILL it after a
# random 0.1-0.6 s, N times (fewer when a run ends first), then run it
# to the end.
kill_loop() {
	local n=$1 i pid
	shift
	for i in $(seq "$n"); do
		bash -c "$*" &
		pid=$!
		sleep "0.$((RANDOM % 500 + 100))"
		pkill -KILL -P "$pid" 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" || true
	done
	timeout 60 bash -c "$*"
}

@test "var checkpoint: file in, file out, killed 5 times: the same output" {
	kill_loop 5 "fs-var $A --state s.db --job j --checkpoint-interval 5ms \
		-i in.fsr -o out.fsr"
	cmp clean.fsr out.fsr
	# fs-var's snapshots are rows of partition -1
	[ "$(sqlite3 s.db "SELECT count(*) FROM snapshots WHERE stage =
		'fs-var' AND partition = -1")" -ge 1 ]
	[ "$(sqlite3 s.db "SELECT count(*) FROM snapshots WHERE stage =
		'fs-var' AND partition <> -1")" = 0 ]
}

@test "var checkpoint: fs-stat | fs-var | fs-stat, killed 5 times: the same output" {
	kill_loop 5 "fs-stat -q --state s.db --job p -i in.fsr \
		--checkpoint-interval 5ms | fs-var $A --state s.db --job p |
		fs-stat -q --state s.db --job p -o out.fsr"
	cmp clean.fsr out.fsr
}

@test "var checkpoint: a snapshot of another --window is refused (exit 3)" {
	run_t 30 fs-var $A --state s.db --job j -i in.fsr -o out.fsr
	assert_status 0
	run_t 30 fs-var -q --method mc --window 50 --state s.db --job j \
		-i in.fsr -o out.fsr
	assert_status 3
	assert_match "bad snapshot of stage 'fs-var'.*another --method or --window"
}

@test "var checkpoint: --backtest, killed 5 times: the same rows" {
	B="-q --method mc --paths 300 --every 1h --window 50 --backtest"
	fs-var $B -i in.fsr | fs-cat -f csv >clean.csv
	grep -q pof_lr clean.csv
	kill_loop 5 "fs-var $B --state s.db --job b --checkpoint-interval 5ms \
		-i in.fsr -o out.fsr"
	fs-cat -f csv -i out.fsr >out.csv
	cmp clean.csv out.csv
}
