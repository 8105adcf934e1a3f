#!/usr/bin/env bats
# fs-stat: pass-through, counts, latency and lag, summary formats, bad
# input, closed stdout, metrics.
load helper

PRELUDE='
import struct, sys, time
NOW = time.time_ns()
def frame(typ, body, ts=1767312000001000000, ing=0, key=1, seq=0, flags=0):
    body = body + b"\0" * (-len(body) % 8)
    return struct.pack("<IHBBqqQQ", 36 + len(body), typ, 1, flags, ts, ing, key, seq) + body
def txn(acct, amt, seq=0, **kw):
    return frame(5, struct.pack("<QQQqHBB4s4s4x", acct, 77, 88, amt, 5411,
                 1, 0, b"US", b"USD"), key=acct, seq=seq, **kw)
def trade(seq=0, **kw):
    return frame(1, struct.pack("<12sc3xqqQ8s16x", b"AAPL", b"B", 1, 1, 9, b"X"), seq=seq, **kw)
def wm():
    return frame(0x100, b"", flags=1)
out = sys.stdout.buffer
'
py() { python3 -c "$PRELUDE
$1"; }

# jget FILE KEY: a value from the --json summary line in FILE.
jget() {
	python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[-1]); v=d
for k in sys.argv[2].split("."): v=v[k]
print(v)' "$1" "$2"
}

@test "fs-stat: --help prints usage and exits 0" {
	run_t 10 fs-stat --help
	assert_status 0
	assert_match '^usage: fs-stat '
}

@test "fs-stat: --version names the tool" {
	run_t 10 fs-stat --version
	assert_status 0
	assert_match '^fs-stat \(finstream\) [0-9]'
}

@test "fs-stat: bad option or --every exits 2" {
	run_t 10 fs-stat --bogus
	assert_status 2
	assert_match "Try 'fs-stat --help'"
	run_t 10 fs-stat --every soon
	assert_status 2
	assert_match "fs-stat: bad --every 'soon'"
	run_t 10 fs-stat extra
	assert_status 2
}

@test "fs-stat: passes every byte through unchanged" {
	py 'out.write(b"".join(txn(i, i, seq=i) + (wm() if i % 100 == 0 else b"") for i in range(3000)) + trade())' >in.fsr
	fs-stat -q <in.fsr >out.fsr 2>err
	cmp in.fsr out.fsr
	if command -v fs-gen >/dev/null; then
		fs-gen --kind txn -n 20000 --seed 3 --fixed-ingest >g.fsr
		fs-gen --kind txn -n 20000 --seed 3 --fixed-ingest | fs-stat -q 2>/dev/null | cmp - g.fsr
	fi
}

@test "fs-stat: --json counts records, control, types and bytes" {
	py 'out.write(b"".join(txn(i, i, seq=i) for i in range(1000)) + wm() + wm() + trade() + trade() + trade())' >in.fsr
	fs-stat -q --json <in.fsr >/dev/null 2>sum.json
	[ "$(wc -l <sum.json)" -eq 1 ]
	[ "$(jget sum.json records)" = 1003 ]
	[ "$(jget sum.json control)" = 2 ]
	[ "$(jget sum.json frames)" = 1005 ]
	[ "$(jget sum.json bytes)" = "$(stat -c %s in.fsr)" ]
	[ "$(jget sum.json types.txn)" = 1000 ]
	[ "$(jget sum.json types.trade)" = 3 ]
	[ "$(jget sum.json types.watermark)" = 2 ]
	[ "$(jget sum.json status)" = ok ]
	# no ts_ingest set: no latency samples
	[ "$(jget sum.json latency_ns.count)" = 0 ]
}

@test "fs-stat: latency from ts_ingest and event-time lag" {
	# ts_ingest 2 s ago for 99 records, 4 s ago for 1; events 60 s ago
	py 'out.write(b"".join(txn(i, i, seq=i, ing=NOW - (4 if i == 0 else 2) * 10**9, ts=NOW - 60 * 10**9) for i in range(100)))' >in.fsr
	fs-stat -q --json <in.fsr >/dev/null 2>sum.json
	run python3 -c '
import json, sys
d = json.loads(open("sum.json").read())
l = d["latency_ns"]
assert l["count"] == 100, l
assert 1.9e9 < l["p50"] < 3e9, l
assert 1.9e9 < l["p99"] < 3e9, l
assert 3.9e9 < l["max"] < 5e9, l
assert 59e9 < d["event_lag_ns"] < 70e9, d
print("ok")'
	[ "$output" = ok ]
}

@test "fs-stat: the text summary" {
	py 'out.write(b"".join(txn(i, i, seq=i, ing=NOW - 10**6) for i in range(500)) + wm())' >in.fsr
	run_t 10 fs-stat -i in.fsr -o /dev/null
	assert_status 0
	[ "${#lines[@]}" -eq 2 ]
	[[ ${lines[0]} =~ ^fs-stat:\ 500\ records\ \(500\ txn,\ 1\ control\)\ 44\.0\ kB\ in\ [0-9.]+\ s:\ [0-9.]+\ [kM]?\ ?records/s,\ [0-9.]+\ [kMG]?B/s$ ]]
	[[ ${lines[1]} =~ ^fs-stat:\ latency\ p50\ [0-9.]+(us|ms|s)\ p90\ .*\ p99\ .*\ p999\ .*\ max\ .*\;\ event-time\ lag\ -?[0-9.]+(ms|s|min|h|d)$ ]]
}

@test "fs-stat: -q and a non-TTY stderr: only the summary" {
	py 'out.write(b"".join(txn(i, i, seq=i) for i in range(20000)))' >in.fsr
	fs-stat -q <in.fsr >out.fsr 2>err
	cmp in.fsr out.fsr
	[ "$(wc -l <err)" -eq 2 ]
	! grep -q $'\r' err
}

@test "fs-stat: --every prints status lines of each interval" {
	{ fs-gen -n 10; sleep 1.2; fs-gen -n 5; } |
		fs-stat -q --every 200ms >/dev/null 2>err
	cat err
	# the interval with the first records has their latency...
	grep -q '^fs-stat: 10 records; last [0-9.]*ms: .*records/s, latency p50 .* p99 .* max .*; event-time lag ' err
	# ...the quiet ones after it have none, though the total stays
	grep -q '^fs-stat: 10 records; last [0-9.]*ms: 0 records/s; event-time lag ' err
	grep -q '^fs-stat: 15 records' err
}

@test "fs-stat: --warmup leaves the first records out of the latency only" {
	{ fs-gen -n 10; sleep 1.2; fs-gen -n 5; } |
		fs-stat -q --json --warmup 500ms >out.bin 2>err
	cat err
	grep -q '"records":15,' err
	grep -q '"latency_ns":{"count":5,' err
	grep -q '"warmup_ns":500000000,"warmup_records":10,' err
	[ "$(fs-cat <out.bin | wc -l)" -eq 15 ]
	run_t 10 fs-stat --warmup never </dev/null
	assert_status 2
	assert_match "bad --warmup 'never'"
}

@test "fs-stat: empty input: exit 0, zero counts" {
	run_t 10 bash -c 'fs-stat --json </dev/null >out.bin'
	assert_status 0
	[ ! -s out.bin ]
	assert_match '"records":0,"control":0,"frames":0,"bytes":0'
}

@test "fs-stat: truncated last frame: good frames forwarded, exit 3" {
	py 'out.write(txn(1, 1) + txn(2, 2, seq=1))' >good.fsr
	{ cat good.fsr; head -c 50 good.fsr; } >in.fsr
	run_t 10 bash -c 'fs-stat --json <in.fsr >out.fsr'
	assert_status 3
	cmp good.fsr out.fsr
	assert_match "fs-stat: bad input '-': truncated frame: 50 of 88 bytes .*\(frame 3, byte offset 176\)"
	assert_match '"records":2,.*"status":"bad-input"'
}

@test "fs-stat: garbage and a 0xFFFFFFFF length exit 3" {
	printf 'garbage, not frames at all......' >g.bin
	run_t 10 bash -c 'fs-stat -q <g.bin >/dev/null'
	assert_status 3
	assert_match "fs-stat: bad input '-': .*\(frame 1, byte offset 0\)"
	py 'out.write(txn(1, 1) + b"\xff\xff\xff\xff" + b"\0" * 60)' >in.fsr
	run_t 10 bash -c 'fs-stat -q <in.fsr >out.fsr'
	assert_status 3
	assert_match "frame length 4294967295 is over the 16 MiB limit \(frame 2, byte offset 88\)"
	[ "$(stat -c %s out.fsr)" -eq 88 ]
}

@test "fs-stat: a closed stdout ends it quietly with 0" {
	py 'out.write(b"".join(txn(i, i, seq=i) for i in range(50000)))' >in.fsr
	run_t 20 bash -c 'fs-stat -q <in.fsr 2>err | head -c 100 >/dev/null; echo "rc=${PIPESTATUS[0]}"'
	[ "$output" = "rc=0" ]
	[ ! -s err ]
}

@test "fs-stat: --metrics writes Prometheus counters and the latency summary" {
	py 'out.write(b"".join(txn(i, i, seq=i, ing=NOW) for i in range(700)) + wm())' >in.fsr
	fs-stat -q --metrics m.prom <in.fsr >/dev/null 2>&1
	grep -Eq '^fs_stat_records_total(\{[^}]*\})? 700$' m.prom
	grep -Eq '^fs_stat_control_total(\{[^}]*\})? 1$' m.prom
	grep -Eq "^fs_stat_bytes_total(\\{[^}]*\\})? $(stat -c %s in.fsr)\$" m.prom
	grep -Eq '^fs_stat_latency_seconds\{.*quantile="0.99"\} [0-9]' m.prom
	grep -Eq '^fs_stat_latency_seconds_count(\{[^}]*\})? 700$' m.prom
	grep -Eq '^fs_stat_event_lag_seconds(\{[^}]*\})? [1-9]' m.prom
}
