#!/usr/bin/env bats
# fs-window command line and bad input: --help, --version, usage errors
# (exit 2), malformed frames and records (exit 3, good results first),
# pass-through of other record types, closed stdout.
load helper

load window-helper

@test "fs-window: --help prints usage and exits 0" {
	run_t 10 fs-window --help
	assert_status 0
	assert_match '^usage: fs-window '
	assert_match 'fraud-v1'
}

@test "fs-window: --version names the tool" {
	run_t 10 fs-window --version
	assert_status 0
	assert_match '^fs-window \(finstream\) [0-9]'
}

@test "fs-window: a bad option exits 2 with a hint" {
	run_t 10 fs-window --bogus
	assert_status 2
	assert_match "Try 'fs-window --help'"
	run_t 10 fs-window --tumble 1m extra
	assert_status 2
	assert_match "unexpected argument 'extra'"
}

@test "fs-window: no window, or two, is a usage error" {
	run_t 10 fs-window </dev/null
	assert_status 2
	assert_match 'give a window'
	run_t 10 fs-window --tumble 1m --hop 1h/5m </dev/null
	assert_status 2
	assert_match 'give one of'
}

@test "fs-window: bad durations exit 2 and say which option" {
	for a in "--tumble 1x" "--tumble 0" "--tumble -5s" "--hop 1h" \
		"--hop 1h/0" "--session abc" "--max-delay soon" \
		"--lateness 1q" "--idle-timeout 0" "--emit sometimes" \
		"--emit every:" "--cumulate 1h/7m" "--hop 5m/1h" \
		"--tumble 1m --offset 2m" "--session 1m --offset 1s"; do
		run_t 10 fs-window $a </dev/null
		assert_status 2
		assert_match '^fs-window: '
	done
	run_t 10 fs-window --tumble 1x
	assert_match "fs-window: bad --tumble '1x': want a duration"
	run_t 10 fs-window --hop 5m/1h
	assert_match 'SLIDE must not exceed SIZE'
}

@test "fs-window: unknown aggregates and fields exit 2" {
	run_t 10 fs-window --tumble 1m --agg 'count,median(amount)' </dev/null
	assert_status 2
	assert_match "unknown aggregate 'median'"
	run_t 10 fs-window --tumble 1m --agg 'sum(nosuch)' </dev/null
	assert_status 2
	assert_match "unknown field 'nosuch'"
	run_t 10 fs-window --tumble 1m --agg 'sum' </dev/null
	assert_status 2
	assert_match 'needs a field'
	run_t 10 fs-window --tumble 1m --agg 'count(amount)' </dev/null
	assert_status 2
	assert_match 'takes no field'
	run_t 10 fs-window --tumble 1m --agg 'quantile(amount,1.5)' </dev/null
	assert_status 2
	assert_match 'quantile'
	run_t 10 fs-window --tumble 1m --agg 'count,count' </dev/null
	assert_status 2
	assert_match 'given twice'
	run_t 10 fs-window --tumble 1m --agg 'sum(amount' </dev/null
	assert_status 2
	run_t 10 fs-window --tumble 1m --key nosuch </dev/null
	assert_status 2
	assert_match "unknown field 'nosuch' for --key"
	run_t 10 fs-window --tumble 1m --type nosuch </dev/null
	assert_status 2
	run_t 10 fs-window --tumble 1m --type trade --agg 'sum(amount)' </dev/null
	assert_status 2
}

@test "fs-window: a field the input type lacks exits 2 naming the type" {
	printf 'txn 1 1 100\n' | mk >in.fsr
	run_t 10 fs-window --tumble 1m --agg 'sum(price)' -i in.fsr
	assert_status 2
	assert_match "type 'txn' has no such field"
	run_t 10 fs-window --tumble 1m --agg 'ohlc' -i in.fsr
	assert_status 2
	assert_match 'needs price, qty and symbol'
	run_t 10 fs-window --tumble 1m --agg 'sum(country)' -i in.fsr
	assert_status 2
	assert_match 'not numeric'
}

@test "fs-window: --features takes no window options; unknown sets exit 2" {
	run_t 10 fs-window --features fraud-v1 --tumble 1m </dev/null
	assert_status 2
	run_t 10 fs-window --features fraud-v9 </dev/null
	assert_status 2
	assert_match "unknown feature set 'fraud-v9'"
	run_t 10 fs-window --tumble 1m --state-ttl 1h </dev/null
	assert_status 2
	assert_match 'state-ttl applies to --features'
}

@test "fs-window: empty input: no output, exit 0" {
	run_t 10 fs-window --tumble 1m -i /dev/null -o out.fsr
	assert_status 0
	[ ! -s out.fsr ]
	run_t 10 fs-window --features fraud-v1 -i /dev/null -o out.fsr
	assert_status 0
	[ ! -s out.fsr ]
}

@test "fs-window: garbage input exits 3 naming the tool and the frame" {
	head -c 100 /dev/urandom >g.bin
	printf 'garbage bytes that are not frames at all\n' >>g.bin
	run_t 10 fs-window --tumble 1m -i g.bin -o out.fsr
	assert_status 3
	assert_match "^fs-window: bad input 'g.bin': .*frame 1, byte offset 0"
	run_t 10 fs-window --features fraud-v1 -i g.bin -o out.fsr
	assert_status 3
}

@test "fs-window: a truncated last frame: good windows out, exit 3" {
	printf 'txn 1 1 100\ntxn 2 2 100\ntxn 70 1 100\n' | mk >in.fsr
	head -c $((88 * 3 - 10)) in.fsr >trunc.fsr
	run_t 10 fs-window --tumble 1m -i trunc.fsr -o out.fsr
	assert_status 3
	assert_match 'truncated frame'
	run show <out.fsr
	[ "${lines[0]}" = "agg - key=1 0-60 count=1" ]
	[ "${lines[1]}" = "agg - key=2 0-60 count=1" ]
	run_t 10 fs-window --features fraud-v1 -i trunc.fsr -o out.fsr
	assert_status 3
	run show <out.fsr
	[ "${#lines[@]}" -eq 2 ]
}

@test "fs-window: a frame length of 0xFFFFFFFF exits 3, no hang" {
	printf 'txn 1 1 100\n' | mk >in.fsr
	printf '\377\377\377\377\005\000\001\000' >>in.fsr
	head -c 64 /dev/zero >>in.fsr
	run_t 10 fs-window --tumble 1m -i in.fsr -o out.fsr
	assert_status 3
	assert_match 'over the 16 MiB limit.*frame 2'
	run show <out.fsr
	[ "${lines[0]}" = "agg - key=1 0-60 count=1" ]
}

@test "fs-window: a record with a short body exits 3" {
	printf 'txn 1 1 100\n' | mk >in.fsr
	"$PY" -c 'import struct, sys; sys.stdout.buffer.write(struct.pack(
		"<IHBBqqQQ", 44, 5, 1, 0, 1767225602 * 10**9, 0, 1, 1) + bytes(8))' \
		>>in.fsr
	run_t 10 fs-window --tumble 1m -i in.fsr -o out.fsr
	assert_status 3
	assert_match "txn body of 8 bytes, expected 48 \(frame 2, byte offset 88\)"
	run show <out.fsr
	[ "${lines[0]}" = "agg - key=1 0-60 count=1" ]
	run_t 10 fs-window --features fraud-v1 -i in.fsr -o out.fsr
	assert_status 3
	assert_match 'txn body of 8 bytes'
}

@test "fs-window: an event time out of range exits 3" {
	"$PY" -c 'import struct, sys; sys.stdout.buffer.write(struct.pack(
		"<IHBBqqQQ", 84, 5, 1, 0, -2**63, 0, 1, 1) + bytes(48))' >in.fsr
	run_t 10 fs-window --tumble 1m -i in.fsr -o out.fsr
	assert_status 3
	assert_match 'event time .* out of range \(frame 1, byte offset 0\)'
}

@test "fs-window: an exact sum past 64 bits exits 3 after the good results" {
	printf 'txn 1 1 100\n' | mk >in.fsr
	"$PY" -c 'import struct, sys
for i in range(2):
    sys.stdout.buffer.write(struct.pack("<IHBBqqQQ", 84, 5, 1, 0,
        1767225600 * 10**9 + 120 * 10**9, 0, 2, i) + struct.pack(
        "<QQQqHBB4s4s4x", 2, 1, 1, 2**62 + 2**61, 1, 0, 0, b"US", b"USD"))' \
		>>in.fsr
	run_t 10 fs-window --tumble 1m --agg 'count,sum(amount)' -i in.fsr \
		-o out.fsr
	assert_status 3
	assert_match "exact sum 'sum_amount' would not fit in 64 bits \(key 2, \
window \[2026-01-01T00:02:00Z, 2026-01-01T00:03:00Z\), frame 3, byte offset 176\)"
	run show <out.fsr
	[ "${lines[0]}" = "agg - key=1 0-60 count=1 sum_amount=1" ]
	[ "${lines[1]}" = "wm 120" ]
	[ "${lines[2]}" = "agg - key=2 120-180 count=1 sum_amount=6.91753e+10" ]
	[ "${#lines[@]}" -eq 3 ]
}

@test "fs-window: other record types and control records pass through" {
	printf 'trade 1 AAPL 10 5\ntxn 2 1 100\ntrade 3 MSFT 10 5\n' | mk >in.fsr
	"$PY" -c 'import struct, sys; sys.stdout.buffer.write(struct.pack(
		"<IHBBqqQQ", 44, 0x101, 1, 1, 1767225600 * 10**9, 0, 0, 0) +
		struct.pack("<Q", 7))' \
		>>in.fsr
	run_t 10 bash -c 'fs-window --tumble 1m -t txn <in.fsr | show'
	assert_status 0
	[ "${lines[0]}" = "trade - 1 key=1" ]
	[ "${lines[1]}" = "trade - 3 key=1" ]
	[ "${lines[2]}" = "257 - 0 key=0" ]
	[ "${lines[3]}" = "agg - key=1 0-60 count=1" ]
	run_t 10 bash -c 'fs-window --features fraud-v1 <in.fsr | show'
	assert_status 0
	[ "${lines[0]}" = "trade - 1 key=1" ]
	[ "${lines[1]}" = "features - 2 key=1" ]
	[ "${lines[2]}" = "trade - 3 key=1" ]
	[ "${lines[3]}" = "257 - 0 key=0" ]
}

@test "fs-window: --key groups by a field; codes by their text" {
	printf 'txn 1 1 100 5\ntxn 2 2 100 5\ntxn 3 3 100 6\n' | mk >in.fsr
	run_t 10 bash -c 'fs-window --tumble 1m --key merchant \
		--agg "count,distinct(account)" <in.fsr | show | grep ^agg'
	[ "${lines[0]}" = "agg - key=5 0-60 count=2 distinct_account=2" ]
	[ "${lines[1]}" = "agg - key=6 0-60 count=1 distinct_account=1" ]
	printf 'trade 1 AAPL 10 5\ntrade 2 MSFT 10 5\n' | mk >t.fsr
	run_t 10 bash -c 'fs-window --tumble 1m --key symbol <t.fsr | show |
		grep ^agg'
	want=$("$PY" -c 'h = 0xcbf29ce484222325
for c in b"AAPL": h = ((h ^ c) * 0x100000001b3) % 2**64
print(h)')
	[ "${lines[0]}" = "agg - key=$want 0-60 count=1" ]
}

@test "fs-window: a closed stdout ends it quietly" {
	if ! command -v fs-gen >/dev/null; then skip "fs-gen not built"; fi
	run_t 30 bash -c 'fs-gen -n 200000 --keys 50000 |
		fs-window --tumble 1s | head -c 100 >/dev/null; echo "${PIPESTATUS[1]}"'
	assert_status 0
	[ "$output" = "0" ]
	run_t 30 bash -c 'fs-gen -n 200000 | fs-window --features fraud-v1 |
		head -c 100 >/dev/null; echo "${PIPESTATUS[1]}"'
	[ "$output" = "0" ]
}

@test "fs-window: --metrics writes the counters" {
	printf 'txn 1 1 100\ntxn 70 1 100\n' | mk >in.fsr
	run_t 10 fs-window --tumble 1m --metrics m.prom -i in.fsr -o out.fsr
	assert_status 0
	grep -q '^fs_window_records_in_total{tool="fs-window"} 2$' m.prom
	grep -q '^fs_window_results_total{tool="fs-window"} 2$' m.prom
	grep -q '^fs_window_windows_fired_total{tool="fs-window"} 2$' m.prom
}
