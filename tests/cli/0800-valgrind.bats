#!/usr/bin/env bats
# Every tool under valgrind (memcheck) on a small pipeline's data: no
# invalid reads or writes, no use of uninitialised memory, no leaks.
# Skipped in the SAN=1 build (sanitizers and valgrind do not mix).
load helper

VG=(valgrind -q --error-exitcode=9 --leak-check=full
    --errors-for-leak-kinds=definite)

setup_file() {
	[ "${SAN:-0}" = 1 ] && return 0
	cd "$BATS_FILE_TMPDIR" || return 1
	fs-gen --kind txn -n 5000 --seed 3 --fraud-rate 0.01 >txn.fsr
	fs-gen --kind trade -n 5000 --seed 3 --disorder 1s >trade.fsr
	fs-cat -f csv -i txn.fsr >txn.csv
	fs-window --features fraud-v1 -i txn.fsr >feat.fsr
}

setup() {
	[ "${SAN:-0}" = 1 ] && skip "sanitizer build"
	command -v valgrind >/dev/null || skip "valgrind not installed"
	cd "$BATS_FILE_TMPDIR" || return 1
}

@test "valgrind: fs-gen" {
	run_t 120 "${VG[@]}" fs-gen --kind book -n 3000 -o /dev/null
	assert_status 0
}

@test "valgrind: fs-ingest csv and jsonl" {
	run_t 120 "${VG[@]}" fs-ingest -f csv -t txn -i txn.csv -o /dev/null
	assert_status 0
	fs-cat -f jsonl -i txn.fsr >txn.jsonl
	run_t 120 "${VG[@]}" fs-ingest -f jsonl -t txn -i txn.jsonl -o /dev/null
	assert_status 0
}

@test "valgrind: fs-cat and fs-stat" {
	run_t 120 "${VG[@]}" fs-cat -f jsonl -i feat.fsr -o /dev/null
	assert_status 0
	run_t 120 "${VG[@]}" fs-stat -q -i txn.fsr -o /dev/null
	assert_status 0
}

@test "valgrind: fs-window aggregates, bars and features" {
	run_t 120 "${VG[@]}" fs-window --hop 10m/1m --key merchant \
		--agg 'count,sum(amount),distinct(account),quantile(amount,0.9)' \
		-i txn.fsr -o /dev/null
	assert_status 0
	run_t 120 "${VG[@]}" fs-window --tumble 1m --agg ohlc --late late.fsr \
		-i trade.fsr -o /dev/null
	assert_status 0
	run_t 120 "${VG[@]}" fs-window --features fraud-v1 -i txn.fsr -o /dev/null
	assert_status 0
}

@test "valgrind: fs-score-gpu on the CPU with explanations" {
	run_t 180 "${VG[@]}" fs-score-gpu --device cpu -m "$TOP/models/fraud-v1.json" \
		--threshold 0.5 --alerts alerts.fsr --explain 3 -i feat.fsr \
		-o /dev/null
	assert_status 0
}

@test "valgrind: fs-checkpoint" {
	fs-checkpoint init --state job.db
	sqlite3 job.db "INSERT INTO checkpoints VALUES ('j', 1, 'complete', 1, 2);
		INSERT INTO snapshots VALUES ('j', 1, 's', 0, zeroblob(1000))"
	run_t 120 "${VG[@]}" fs-checkpoint list --state job.db
	assert_status 0
	run_t 120 "${VG[@]}" fs-checkpoint show --state job.db --job j
	assert_status 0
	run_t 120 "${VG[@]}" fs-checkpoint export --state job.db --job j 1 -o x.db
	assert_status 0
}

@test "valgrind: fs-devbroker serving kcat, fault commands, SIGTERM" {
	command -v kcat >/dev/null || skip "kcat not installed"
	mkfifo ctl
	# the exit does not join librdkafka's threads (fs-devbroker(1)):
	# their stacks are "possibly lost", nothing is definitely lost
	"${VG[@]}" --show-leak-kinds=definite fs-devbroker -q --brokers 2 --topic t:2 \
		--bootstrap-file bs --control ctl > dev.out 2> dev.err &
	local pid=$! i
	for i in $(seq 300); do [ -s bs ] && break; sleep 0.1; done
	[ -s bs ]
	exec 7>ctl
	echo "rtt 1 5" >&7
	echo "down 2" >&7
	echo "up 2" >&7
	exec 7>&-
	run_t 60 kcat -L -b "$(cat bs)" -m 10
	assert_status 0
	kill -TERM "$pid"
	wait "$pid" || { cat dev.err >&2; return 1; }
	[ ! -s dev.err ] || { cat dev.err >&2; return 1; }
}

@test "valgrind: fs-archive write, verify, ls, prove, check-proof" {
	rm -rf arc
	run_t 120 "${VG[@]}" fs-archive write --dir arc --segment-size 200k \
		-i txn.fsr
	assert_status 0
	run_t 120 "${VG[@]}" fs-archive verify --dir arc
	assert_status 0
	run_t 120 "${VG[@]}" fs-archive ls --dir arc --json
	assert_status 0
	root=$(fs-archive ls --dir arc --json | head -1 |
		sed 's/.*"root":"\([0-9a-f]*\)".*/\1/')
	fs-archive prove --dir arc --seq 100 >proof.json
	run_t 120 "${VG[@]}" fs-archive prove --dir arc --seq 100
	assert_status 0
	run_t 120 "${VG[@]}" fs-archive check-proof proof.json --root "$root"
	assert_status 0
	run_t 120 "${VG[@]}" fs-archive prove --dir arc --from-size 1
	assert_status 0
}

@test "valgrind: fs-archive write --encrypt-pii, erase" {
	rm -rf parc k.db*
	export FS_MASTER_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
	run_t 120 "${VG[@]}" fs-archive write --dir parc --segment-size 200k \
		--encrypt-pii --keys k.db -i txn.fsr
	assert_status 0
	subj=$(fs-cat -f csv --no-header -n 1 -i txn.fsr | cut -d, -f5)
	run_t 120 "${VG[@]}" fs-archive erase --keys k.db --subject "$subj"
	assert_status 0
	run_t 120 "${VG[@]}" fs-archive erase --keys k.db --subject "$subj"
	assert_status 3
}
