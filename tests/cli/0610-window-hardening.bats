#!/usr/bin/env bats
# fs-window hardening: exact sums checked as each record is added (every
# window kind, sum, vwap, ohlc): a record that would overflow one is left
# out and named, every other record's results are written, exit 3;
# --features at every documented limit (merchants, devices, countries,
# history), its window sums past 64 bits, --state-ttl on both sides of
# its boundaries; the man page's window bounds.
load helper

load window-helper

BIG=9000000000000	# cents: 90,000,000,000.00, amount 9e18

@test "fs-window: tumble sum overflow: the record is left out and named, every other record counted, exit 3" {
	printf 'txn 0 3 100\ntxn 70 1 %s\ntxn 71 2 500\ntxn 72 1 %s\ntxn 73 4 100\n' \
		$BIG $BIG | mk >in.fsr
	run_t 10 fs-window --tumble 1m --agg 'count,sum(amount)' -i in.fsr \
		-o out.fsr
	assert_status 3
	assert_match "fs-window: bad input 'in.fsr': the exact sum 'sum_amount' would not fit in 64 bits \(key 1, window \[2026-01-01T00:01:00Z, 2026-01-01T00:02:00Z\), frame 4, byte offset 264\); the record is left out"
	assert_match "fs-window: 1 record left out"
	run show <out.fsr
	[ "${lines[0]}" = "agg - key=3 0-60 count=1 sum_amount=1" ]
	[ "${lines[1]}" = "wm 70" ]
	[ "${lines[2]}" = "agg - key=1 60-120 count=1 sum_amount=9e+10" ]
	[ "${lines[3]}" = "agg - key=2 60-120 count=1 sum_amount=5" ]
	[ "${lines[4]}" = "agg - key=4 60-120 count=1 sum_amount=1" ]
	[ "${lines[5]}" = "wm 73" ]
	[ "${#lines[@]}" -eq 6 ]
}

@test "fs-window: a sum overflowing on the second record: the first and the other key written" {
	# the reported case: key 1 twice at INT64_MAX, then key 2, whose
	# result in the same window was lost
	"$PY" -c 'import struct, sys
for acc, ts, amt in ((1, 0, 2**63 - 1), (1, 1, 2**63 - 1), (2, 2, 5 * 10**8)):
    sys.stdout.buffer.write(struct.pack("<IHBBqqQQ", 84, 5, 1, 0,
        1767312000 * 10**9 + ts, 0, acc, 0) + struct.pack(
        "<QQQqHBB4s4s4x", acc, 5, 7, amt, 5411, 0, 0, b"US", b"USD"))' \
		>in.fsr
	run_t 10 fs-window --tumble 1m --agg 'count,sum(amount)' -i in.fsr \
		-o out.fsr
	assert_status 3
	assert_match "frame 2, byte offset 88\)"
	run show <out.fsr
	[ "${lines[0]}" = "agg - key=1 86400-86460 count=1 sum_amount=9.22337e+10" ]
	[ "${lines[1]}" = "agg - key=2 86400-86460 count=1 sum_amount=5" ]
	[ "${lines[2]}" = "wm 86400.000000002" ]
	[ "${#lines[@]}" -eq 3 ]
}

@test "fs-window: avg of sums past 64 bits is exact, not an error" {
	printf 'txn 1 1 %s\ntxn 2 1 %s\ntxn 3 1 %s\n' $BIG $BIG $BIG | mk >in.fsr
	run_t 10 bash -c 'fs-window --tumble 1m --agg "count,avg(amount)" \
		<in.fsr | show'
	assert_status 0
	[ "${lines[0]}" = "agg - key=1 0-60 count=3 avg_amount=9e+10" ]
}

@test "fs-window: hop sum overflow: no window gets the bad record" {
	printf 'txn 30 1 %s\ntxn 90 1 %s\n' $BIG $BIG | mk >in.fsr
	run_t 10 fs-window --hop 2m/1m --agg 'count,sum(amount)' -i in.fsr \
		-o out.fsr
	assert_status 3
	assert_match "window \[2026-01-01T00:00:00Z, 2026-01-01T00:02:00Z\), frame 2, byte offset 88\)"
	run show <out.fsr
	[ "${lines[0]}" = "agg - key=1 -60-60 count=1 sum_amount=9e+10" ]
	[ "${lines[1]}" = "wm 90" ]
	[ "${lines[2]}" = "agg - key=1 0-120 count=1 sum_amount=9e+10" ]
	[ "${#lines[@]}" -eq 3 ]	# no [60, 180) holding the bad record
}

@test "fs-window: cumulate sum overflow names the frame, keeps the rest" {
	printf 'txn 30 1 %s\ntxn 40 2 7\ntxn 90 1 %s\n' $BIG $BIG | mk >in.fsr
	run_t 10 fs-window --cumulate 2m/1m --agg 'count,sum(amount)' \
		-i in.fsr -o out.fsr
	assert_status 3
	assert_match "\(key 1, window \[2026-01-01T00:00:00Z, 2026-01-01T00:02:00Z\), frame 3, byte offset 176\)"
	run show <out.fsr
	[ "${lines[0]}" = "agg - key=1 0-60 count=1 sum_amount=9e+10" ]
	[ "${lines[1]}" = "agg - key=2 0-60 count=1 sum_amount=0.07" ]
	[ "${lines[2]}" = "wm 90" ]
	[ "${lines[3]}" = "agg - key=1 0-120 count=1 sum_amount=9e+10" ]
	[ "${lines[4]}" = "agg - key=2 0-120 count=1 sum_amount=0.07" ]
	[ "${#lines[@]}" -eq 5 ]
}

@test "fs-window: a session merge that overflows is refused before merging" {
	printf 'txn 0 1 %s\ntxn 10 2 500\ntxn 100 1 %s\ntxn 50 1 100\n' \
		$BIG $BIG | mk >in.fsr
	run_t 10 fs-window --session 1m --max-delay 10m \
		--agg 'count,sum(amount)' -i in.fsr -o out.fsr
	assert_status 3
	assert_match "\(key 1, window \[2026-01-01T00:00:00Z, 2026-01-01T00:02:40Z\), frame 4, byte offset 264\)"
	run show <out.fsr
	[ "${lines[0]}" = "agg - key=1 0-60 count=1 sum_amount=9e+10" ]
	[ "${lines[1]}" = "agg - key=2 10-70 count=1 sum_amount=5" ]
	[ "${lines[2]}" = "agg - key=1 100-160 count=1 sum_amount=9e+10" ]
	[ "${lines[3]}" = "wm 100" ]
	[ "${#lines[@]}" -eq 4 ]
}

@test "fs-window: vwap's price x qty past 128 bits is bad input, named" {
	printf 'trade 0 AAA 90000000000 9000000000000000000
trade 1 BBB 10 5
trade 2 AAA 90000000000 9000000000000000000
trade 3 AAA 90000000000 9000000000000000000\n' | mk >in.fsr
	run_t 10 fs-window --tumble 1m --key symbol --agg 'count,vwap' \
		-i in.fsr -o out.fsr
	assert_status 3
	assert_match "the exact sum of price x qty of 'vwap' would not fit in 128 bits \(key [0-9]+, window .*, frame 4, byte offset 312\)"
	run show <out.fsr
	[[ ${lines[0]} =~ ^agg\ -\ key=[0-9]+\ 0-60\ count=2\ vwap=9e\+10$ ]]
	[[ ${lines[1]} =~ ^agg\ -\ key=[0-9]+\ 0-60\ count=1\ vwap=10$ ]]
	[ "${lines[2]}" = "wm 3" ]
	[ "${#lines[@]}" -eq 3 ]
}

@test "fs-window: an ohlc volume past 64 bits is bad input; other bars kept" {
	printf 'trade 0 AAA 10 5000000000000000000\ntrade 1 BBB 20 5
trade 2 AAA 11 5000000000000000000\n' | mk >in.fsr
	run_t 10 fs-window --tumble 1m --key symbol --agg ohlc -i in.fsr \
		-o out.fsr
	assert_status 3
	assert_match "the volume or vwap of 'ohlc' would not fit in 64 bits \(key [0-9]+, window .*, frame 3, byte offset 208\)"
	run show <out.fsr
	[[ ${lines[0]} =~ ^bar\ -\ key=[0-9]+\ 0-60\ 10\ 10\ 10\ 10\ 5000000000000000000\ 1$ ]]
	[[ ${lines[1]} =~ ^bar\ -\ key=[0-9]+\ 0-60\ 20\ 20\ 20\ 20\ 5\ 1$ ]]
	[ "${lines[2]}" = "wm 2" ]
	[ "${#lines[@]}" -eq 3 ]
}

@test "fs-window --features: window sums past 64 bits are exact" {
	printf 'txn 0 1 %s\ntxn 1 1 %s\ntxn 2 1 1\ntxn 3 1 %s\n' $BIG $BIG $BIG |
		mk >in.fsr
	run_t 10 bash -c 'fs-window --features fraud-v1 <in.fsr |
		fs-cat -f csv --fields seq,amount_sum_1m,amount_sum_1h,amount_sum_24h'
	assert_status 0
	[ "${lines[3]}" = "2,1.8e+11,1.8e+11,1.8e+11" ]
	[ "${lines[4]}" = "3,1.8e+11,1.8e+11,1.8e+11" ]
}

@test "fs-window --features: 4,098 merchants of one account (was SIGABRT)" {
	"$PY" -c 'import struct, sys
T0 = 1767312000 * 10**9
for i in range(4098):
    sys.stdout.buffer.write(struct.pack("<IHBBqqQQ", 84, 5, 1, 0,
        T0 + i * 3600 * 10**9, 0, 1, i) + struct.pack(
        "<QQQqHBB4s4s4x", 1, 1000 + i, 7, 10**8, 5411, 0, 0, b"US", b"USD"))' \
		>in.fsr
	run_t 60 fs-window --features fraud-v1 -i in.fsr -o out.fsr
	assert_status 0
	run_t 10 bash -c 'fs-cat -f csv --fields merchant_is_new <out.fsr |
		sort | uniq -c'
	[[ $output =~ 4098\ 1 ]]
}

# One account, in event-time order, one TXN every 9 s: N of them drive
# every per-account table to its cap: merchants past 8192 (every 7th TXN
# repeats the last merchant), devices past 1024, countries past 255, the
# history past 4096 within 24 hours; amounts near 9e10 make the window
# sums pass 64 bits.  A reference of the documented limits, in python,
# checks every feature but the z-score (the pandas oracle checks it).
@test "fs-window --features: every per-account limit at its maximum" {
	"$PY" - <<'EOF' >in.fsr
import struct, sys
T0, N = 1767312000 * 10**9, 9700
out = sys.stdout.buffer
for i in range(N):
    mer = 1000 + (i - 1 if i % 7 == 6 else i)
    body = struct.pack("<QQQqHBB4s4s4x", 1, mer, 1 + i % 1100,
                       (90000000000 + i) * 10**8, 5411, 0, 0,
                       b"C%03d" % (i % 300), b"USD")
    out.write(struct.pack("<IHBBqqQQ", 84, 5, 1, 0, T0 + i * 9 * 10**9,
                          0, 1, i) + body)
EOF
	run_t 300 fs-window --features fraud-v1 -i in.fsr -o out.fsr
	assert_status 0
	run_t 120 "$PY" - <<'EOF'
import math, struct, sys
from collections import Counter, deque
import numpy as np
data = open("out.fsr", "rb").read()
names, rows, off = None, [], 0
while off < len(data):
    ln, typ = struct.unpack_from("<IH", data, off)
    body = data[off + 40: off + 4 + ln]
    if typ == 0x102:
        nc = struct.unpack_from("<HHI", body)[1]
        names = [x.decode() for x in body[8 + nc:].split(b"\0")[:nc]]
    elif typ == 8:
        nc = struct.unpack_from("<I", body)[0]
        rows.append(dict(zip(names, struct.unpack_from("<%df" % nc, body, 8))))
    off += 4 + ln
N = 9700
assert len(rows) == N, len(rows)
NS = 10**9
hist = deque()          # (ts, amount, merchant, country) of H, capped
seen_cty, seen_dev = [], set()
bad = Counter()
def f32(x):
    return float(np.float32(x))
for i in range(N):
    t = i * 9 * NS
    mer = 1000 + (i - 1 if i % 7 == 6 else i)
    cty, dev, amt = i % 300, 1 + i % 1100, (90000000000 + i) * 10**8
    while hist and (hist[0][0] <= t - 86400 * NS or len(hist) > 4095):
        hist.popleft()
    want = {}
    for wn, w in (("1m", 60), ("1h", 3600), ("24h", 86400)):
        h = [e for e in hist if e[0] > t - w * NS]
        want["txn_count_" + wn] = len(h)
        want["amount_sum_" + wn] = f32(sum(e[1] for e in h) / 10**8)
        if wn != "1m":
            want["distinct_merchants_" + wn] = len({e[2] for e in h})
            want["distinct_countries_" + wn] = len({e[3] for e in h
                                                    if e[3] in seen_cty})
    want["merchant_is_new"] = int(i % 7 != 6)
    want["country_is_new"] = int(cty not in seen_cty)
    want["device_is_new"] = int(dev not in seen_dev)
    want["secs_since_prev"] = 9.0 if i else math.nan
    if cty not in seen_cty and len(seen_cty) < 255:
        seen_cty.append(cty)
    if dev not in seen_dev and len(seen_dev) < 1024:
        seen_dev.add(dev)
    hist.append((t, amt, mer, cty))
    for k, v in want.items():
        g = rows[i][k]
        if not (g == v or (math.isnan(v) and math.isnan(g))):
            if not bad[k]:
                print("row %d %s: got %r, want %r" % (i, k, g, v))
            bad[k] += 1
print("mismatches:", dict(bad))
top = {k: max(r[k] for r in rows) for k in
       ("txn_count_24h", "distinct_countries_24h", "distinct_merchants_24h")}
print("maxima:", top)
assert not bad
assert top["txn_count_24h"] == 4095 and top["distinct_countries_24h"] == 255
EOF
	assert_status 0
}

@test "fs-window --features: empty merchant, device and country cells are values" {
	printf 'ts_event,account,amount,merchant,device,country
2026-01-02T00:00:00Z,1,1,,,
2026-01-02T00:00:01Z,1,1,,,
2026-01-02T00:00:02Z,1,1,5,6,US
2026-01-02T00:00:03Z,1,1,,,\n' >in.csv
	run_t 10 bash -c 'fs-ingest -t txn -i in.csv |
		fs-window --features fraud-v1 | fs-cat -f csv --fields \
		seq,distinct_merchants_1h,distinct_countries_1h,merchant_is_new,country_is_new,device_is_new'
	assert_status 0
	[ "${lines[1]}" = "1,0,0,1,1,1" ]
	[ "${lines[2]}" = "2,1,1,0,0,0" ]
	[ "${lines[3]}" = "3,1,1,1,1,1" ]
	[ "${lines[4]}" = "4,2,2,0,0,0" ]
}

# --state-ttl 1h: an own gap of 1h less 1 ns keeps the history, exactly
# 1h starts afresh, whatever the other accounts do.
@test "fs-window --features --state-ttl: the account's own gap decides, both sides of D" {
	printf 'txn 0 1 100 7\ntxn 0.000000001 2 100 7\ntxn 3599.999999999 1 100 7
txn 3600 3 100 7\ntxn 3600.000000001 2 100 7\ntxn 3600.000000001 1 100 7\n' |
		mk >in.fsr
	run_t 10 bash -c 'fs-window --features fraud-v1 --state-ttl 1h <in.fsr |
		fs-cat -f csv --fields key,txn_count_24h,merchant_is_new'
	assert_status 0
	[ "${lines[1]}" = "1,0,1" ]
	[ "${lines[2]}" = "2,0,1" ]
	[ "${lines[3]}" = "1,1,0" ]	# own gap 1h - 1ns: kept
	[ "${lines[4]}" = "3,0,1" ]
	[ "${lines[5]}" = "2,0,1" ]	# own gap 1h: afresh
	[ "${lines[6]}" = "1,2,0" ]	# own gap 2ns: kept
}

# Memory goes once an account's latest event is D behind the watermark
# (largest event time - --max-delay): at 1h + 0 it is freed, at 1h + 1ns
# of --max-delay not yet; an account 1ns short of D is kept, and keeps
# its history although the stream has moved D past its latest.
@test "fs-window --features --state-ttl: memory is freed D behind the watermark, not before" {
	printf 'txn 0 1 100 7\ntxn 0.000000001 2 100 7\ntxn 3600 3 100 7\n' |
		mk >in.fsr
	run_t 10 fs-window --features fraud-v1 --state-ttl 1h --metrics m.prom \
		-i in.fsr -o out.fsr
	assert_status 0
	grep -q '^fs_window_state_keys{tool="fs-window"} 2$' m.prom
	grep -q '^fs_window_expired_keys_total{tool="fs-window"} 1$' m.prom
	run_t 10 fs-window --features fraud-v1 --state-ttl 1h --max-delay 1ns \
		--metrics m2.prom -i in.fsr -o out.fsr
	assert_status 0
	grep -q '^fs_window_state_keys{tool="fs-window"} 3$' m2.prom
	grep -q '^fs_window_expired_keys_total{tool="fs-window"} 0$' m2.prom
	printf 'txn 3600 2 100 7\ntxn 3600 1 100 7\n' | mk >>in.fsr
	run_t 10 bash -c 'fs-window --features fraud-v1 --state-ttl 1h <in.fsr |
		fs-cat -f csv --fields key,txn_count_24h,merchant_is_new'
	assert_status 0
	[ "${lines[4]}" = "2,1,0" ]	# own gap 1h - 1ns, stream 1h on: kept
	[ "${lines[5]}" = "1,0,1" ]	# own gap 1h: afresh
}

@test "fs-window(1): windows are half-open, [start, end)" {
	run mandoc -Tascii -O width=1000 "$TOP/man/fs-window.1"
	assert_match 'All windows are half-open, \[start, end\), in event time'
	! [[ $output =~ \[start,\ end\] ]]
}
