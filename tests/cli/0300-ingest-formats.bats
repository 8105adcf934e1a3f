#!/usr/bin/env bats
# fs-ingest: JSON Lines, -t json, FIX tag=value, -t features with its
# SCHEMA record, and round trips through fs-cat.  Frames are decoded in
# python from the layouts in fs.h.
load helper

DEC=$(cat "$BATS_TEST_DIRNAME/decode-frames.py")
export DEC

fnv() {
	python3 -c '
import sys
h = 0xcbf29ce484222325
for c in sys.argv[1].encode():
    h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
print(h)' "$1"
}

TS1=1795492345000000000

@test "ingest jsonl: values exact, escapes, null, true, numbers as text" {
	cat >t.jsonl <<-'EOF'
	{"ts_event":"2026-11-24T03:52:25Z","account":"caf\u00e9","amount":12.345,"mcc":"5411","label":true,"country":null,"currency":"E\"R"}

	  {"ts_event": 1795492345, "account": 7, "amount": -0.5, "x": [1, {"a": 2}]}
	EOF
	run_t 10 bash -c 'fs-ingest -f jsonl -t txn -i t.jsonl 2>err | python3 -c "$DEC"; cat err'
	[ "${lines[0]}" = "txn ts=$TS1 key=$(fnv café) seq=1 ing=ok account=$(fnv café) merchant=0 device=0 amount=1234500000 mcc=5411 channel=0 label=1 country= currency=E\"R" ]
	[ "${lines[1]}" = "txn ts=$TS1 key=7 seq=2 ing=ok account=7 merchant=0 device=0 amount=-50000000 mcc=0 channel=0 label=0 country= currency=" ]
	[ "${lines[2]}" = "fs-ingest: t.jsonl:3: ignoring unknown key 'x' for type txn" ]
}

@test "ingest jsonl: malformed lines name line and byte; field errors the key" {
	cat >b.jsonl <<-'EOF'
	{"ts_event":1,"account":1,"amount":1}
	{"ts_event":1 "account":2}
	{"ts_event":1,"account":3,"amount":"1e3"}
	[1,2]
	{"ts_event":1,"account":4,"amount":1} x
	{"ts_event":1,"account":5,"amount":{"v":1}}
	{"ts_event":1,"account":6}
	{"type":"trade","ts_event":1,"account":7,"amount":1}
	{"ts_event":1,"account":"unterminated
	{"type":"txn","ts_event":1,"account":9,"amount":9}
	EOF
	run_t 10 bash -c 'fs-ingest -f jsonl -t txn -i b.jsonl -e dead-letter:dl.jsonl 2>/dev/null | python3 -c "$DEC" | cut -d" " -f1-6'
	assert_status 0
	[ "$output" = "$(printf 'txn ts=1000000000 key=1 seq=1 ing=ok account=1\ntxn ts=1000000000 key=9 seq=10 ing=ok account=9')" ]
	run python3 -c '
import json
for l in open("dl.jsonl"):
    print(json.loads(l)["error"])'
	[ "${lines[0]}" = "b.jsonl:2: byte 15: expected ',' or '}'" ]
	[ "${lines[1]}" = "b.jsonl:3: key 'amount': not a decimal number: '1e3'" ]
	[ "${lines[2]}" = "b.jsonl:4: byte 1: not a JSON object" ]
	[ "${lines[3]}" = "b.jsonl:5: byte 39: text after the object" ]
	[ "${lines[4]}" = "b.jsonl:6: key 'amount': a nested value where a scalar is expected" ]
	[ "${lines[5]}" = "b.jsonl:7: missing value for 'amount'" ]
	[ "${lines[6]}" = "b.jsonl:8: key 'type': a record of type 'trade', not txn" ]
	[ "${lines[7]}" = "b.jsonl:9: byte 25: unterminated string" ]
	run python3 -c '
import json
print(json.loads(open("dl.jsonl").readline())["raw"])'
	[ "$output" = '{"ts_event":1 "account":2}' ]
	run_t 10 fs-ingest -f jsonl -t txn -i b.jsonl -o out.fsr
	assert_status 3
	assert_match "^fs-ingest: b.jsonl:2: byte 15: expected ',' or '}'$"
	[ "$(stat -c %s out.fsr)" -eq 88 ]
}

@test "ingest jsonl: -t json keeps each object whole, header from its keys" {
	printf '%s\n' '{"ts_event":1795492345,"key":9,"user":{"id":[1,2,"x\"y"]}}' \
		'{"ts_event":"2026-11-24T03:52:25Z","v":null}' >j.jsonl
	run_t 10 bash -c 'fs-ingest -f jsonl -t json -i j.jsonl | python3 -c "$DEC"'
	assert_status 0
	[ "${lines[0]}" = 'json ts='$TS1' key=9 seq=1 ing=ok text={"ts_event":1795492345,"key":9,"user":{"id":[1,2,"x\"y"]}}' ]
	[ "${lines[1]}" = 'json ts='$TS1' key=0 seq=2 ing=ok text={"ts_event":"2026-11-24T03:52:25Z","v":null}' ]
	printf '{"ts_event":1,"a":[1,}\n' >bad.jsonl
	run_t 10 fs-ingest -f jsonl -t json -i bad.jsonl -o /dev/null
	assert_status 3
	assert_match "bad.jsonl:1: byte 22: expected a value"
}

# fixmsg SEP FIELD...: a FIX message with its 10= checksum.
fixmsg() {
	python3 -c '
import sys
sep = sys.argv[1]
body = "".join(f + sep for f in sys.argv[2:])
s = sum(1 if c == sep else ord(c) for c in body) % 256
sys.stdout.write(body + "10=%03d" % s + sep)' "$@"
}

@test "ingest fix: fills and orders, SOH and '|', checksums, other messages" {
	S=$'\x01'
	{
		fixmsg "$S" 8=FIX.4.4 9=120 35=8 34=12 55=AAPL 54=1 31=189.25 \
			32=100 17=EX123 11=ORD-9 60=20261124-03:52:25.123 30=XNAS 150=F
		echo
		fixmsg '|' 8=FIX.4.2 35=D 55=MSFT 54=2 38=50.0 44=410.5 40=2 \
			11=ORD-9 1=4711 60=20261124-03:52:26
		echo
		# A heartbeat and a fill on one line, a new-order ack, a log prefix.
		fixmsg "$S" 8=FIX.4.4 35=0
		fixmsg "$S" 8=FIX.4.4 35=8 55=IBM 54=2 31=1 32=3 60=20261124-03:52:27
		echo
		fixmsg "$S" 8=FIX.4.4 35=8 150=0 55=IBM
		echo
		printf 'recv: '
		fixmsg '|' 8=FIX.4.4 35=D 55=X 54=1 38=1 40=1 60=20261124-03:52:28
		echo
	} >a.fix
	run_t 10 bash -c 'fs-ingest -f fix -i a.fix 2>err | python3 -c "$DEC"; cat err'
	assert_status 0
	[ "${lines[0]}" = "trade ts=1795492345123000000 key=$(fnv AAPL) seq=12 ing=ok symbol=AAPL side=B price=18925000000 qty=100 trade_id=$(fnv EX123) venue=XNAS account=0 order_id=$(fnv ORD-9)" ]
	[ "${lines[1]}" = "order ts=1795492346000000000 key=$(fnv MSFT) seq=2 ing=ok symbol=MSFT side=S ord_type=L order_id=$(fnv ORD-9) account=4711 price=41050000000 qty=50" ]
	[ "${lines[2]}" = "trade ts=1795492347000000000 key=$(fnv IBM) seq=4 ing=ok symbol=IBM side=S price=100000000 qty=3 trade_id=0 venue= account=0 order_id=0" ]
	[ "${lines[3]}" = "order ts=1795492348000000000 key=$(fnv X) seq=6 ing=ok symbol=X side=B ord_type=M order_id=0 account=0 price=0 qty=1" ]
	[ "${lines[4]}" = "fs-ingest: skipped 2 FIX messages of other types (read: 35=8 fills, 35=D orders)" ]
	run_t 10 bash -c 'fs-ingest -f fix -t order -i a.fix 2>/dev/null | python3 -c "$DEC" | cut -d" " -f1'
	[ "$output" = "$(printf 'order\norder')" ]
}

@test "ingest fix: bad checksum, missing tag, bad value, not FIX" {
	{
		fixmsg '|' 8=FIX.4.4 35=8 55=A 54=1 31=1 32=1 60=20261124-03:52:25 |
			sed 's/10=\([0-9]*\)/10=999/'
		echo
		fixmsg '|' 8=FIX.4.4 35=8 55=A 54=1 32=1 60=20261124-03:52:25
		echo
		fixmsg '|' 8=FIX.4.4 35=8 55=A 54=9 31=1 32=1 60=20261124-03:52:25
		echo
		echo 'hello world'
		fixmsg '|' 8=FIX.4.4 35=8 55=A 54=1 31=x 32=1 60=20261124-03:52:25
		echo
	} >b.fix
	run_t 10 bash -c 'fs-ingest -f fix -i b.fix -e dead-letter:dl.txt -o /dev/null; cut -f2 dl.txt'
	assert_status 0
	assert_match "b.fix:1: checksum mismatch: 10=999, computed [0-9]{3}"
	assert_match "b.fix:2: missing tag 31 \(LastPx\) for trade"
	assert_match "b.fix:3: tag 54 \(Side\): unsupported value '9'"
	assert_match "b.fix:4: not a FIX message \(no 8=FIX\): 'hello world'"
	assert_match "b.fix:5: tag 31 \(LastPx\): not a decimal number: 'x'"
	run_t 10 fs-ingest -f fix -i b.fix -o /dev/null
	assert_status 3
	assert_match "^fs-ingest: b.fix:1: checksum mismatch"
	run_t 10 fs-ingest -f fix -t txn
	assert_status 2
}

@test "ingest features: float32 columns, empty cells NaN, SCHEMA first" {
	printf 'ts_event,amount_z,key,velocity_1h\n1795492345,1.5,42,\n1795492346,,,-2e-3\n1795492347,nan,7,3\n' >f.csv
	run_t 10 bash -c 'fs-ingest -t features -i f.csv | python3 -c "$DEC"'
	assert_status 0
	[[ ${lines[0]} =~ ^schema\ ts=0\ key=([0-9]+)\ seq=0\ ing=ok\ flags=1\ for=8\ sid=([0-9]+)\ kinds=\[7,\ 7\]\ names=amount_z,velocity_1h$ ]]
	sid=${BASH_REMATCH[2]}
	[ "${BASH_REMATCH[1]}" = "$sid" ]
	[ "${lines[1]}" = "features ts=$TS1 key=42 seq=1 ing=ok sid=$sid f=1.5,nan" ]
	[ "${lines[2]}" = "features ts=1795492346000000000 key=0 seq=2 ing=ok sid=$sid f=nan,$(python3 -c 'import struct; print(repr(struct.unpack("<f", struct.pack("<f", -2e-3))[0]))')" ]
	[ "${lines[3]}" = "features ts=1795492347000000000 key=7 seq=3 ing=ok sid=$sid f=nan,3.0" ]
	[ ${#lines[@]} -eq 4 ]
	# JSON Lines: the first object's keys are the columns.
	printf '%s\n' '{"type":"features","ts_event":1,"a":0.25,"b":null}' '{"ts_event":2,"b":4}' '{"ts_event":3,"c":1}' >f.jsonl
	run_t 10 bash -c 'fs-ingest -f jsonl -t features -i f.jsonl -e skip 2>err | python3 -c "$DEC" | cut -d" " -f1,2,7-; cat err'
	assert_match "^schema ts=0 for=8 sid=[0-9]+ kinds=\[7, 7\] names=a,b"
	assert_match "features ts=1000000000 f=0.25,nan"
	assert_match "features ts=2000000000 f=nan,4.0"
	assert_match "f.jsonl:3: key 'c': not a column of the schema set by line 1"
	printf 'ts_event,key\n1,2\n' >nof.csv
	run_t 10 fs-ingest -t features -i nof.csv -o /dev/null
	assert_status 3
	assert_match "no feature columns"
	printf 'ts_event,a\n1,x\n' >badf.csv
	run_t 10 fs-ingest -t features -i badf.csv -o /dev/null
	assert_status 3
	assert_match "badf.csv:2: column 2 'a': not a number: 'x'"
}

@test "ingest: fs-cat -f csv and -f jsonl round trips give the same records" {
	[ -x "$BUILD/bin/fs-cat" ] && [ -x "$BUILD/bin/fs-gen" ] ||
		skip "fs-cat or fs-gen not built"
	for k in txn trade quote book position bar; do
		fs-gen --kind $k -n 2000 --seed 3 >$k.fsr
		# Data records only; ts_ingest is restamped, so not compared.
		python3 -c "$DEC" <$k.fsr | grep -v '^type' |
			sed 's/ ing=[^ ]*//' >want
		fs-cat -f csv <$k.fsr | fs-ingest -t $k | python3 -c "$DEC" |
			sed 's/ ing=[^ ]*//' >got.csv
		fs-cat -f jsonl <$k.fsr | fs-ingest -f jsonl -t $k |
			python3 -c "$DEC" | sed 's/ ing=[^ ]*//' >got.jsonl
		[ "$(wc -l <want)" -eq 2000 ]
		cmp want got.csv
		cmp want got.jsonl
		# Byte for byte too, apart from ts_ingest.
		python3 -c '
import sys
a = open(sys.argv[1], "rb").read(); b = open(sys.argv[2], "rb").read()
def frames(d):
    o = 0; out = []
    while o < len(d):
        n = int.from_bytes(d[o:o+4], "little") + 4
        f = d[o:o+n]
        if not (f[7] & 1):
            out.append(f[:16] + f[24:])
        o += n
    return out
assert frames(a) == frames(b), sys.argv[1]' $k.fsr <(fs-cat -f csv <$k.fsr | fs-ingest -t $k)
	done
}

@test "ingest: --max-delay writes WATERMARKs after the rows that move event time" {
	# event times TS1 + 0, 1.5, 1, 3, 2.9, 4.2 s; watermark = latest - 0.5 s,
	# written each time it crosses a whole second
	{
		echo ts_event,account,amount
		for t in 25 26.5 26 28 27.9 29.2; do
			echo "2026-11-24T03:52:${t}Z,1,1"
		done
	} >t.csv
	s=1000000000
	run_t 10 bash -c 'fs-ingest -t txn -i t.csv --max-delay 500ms | python3 -c "$DEC" | cut -d" " -f1-4'
	assert_status 0
	[ "${#lines[@]}" -eq 9 ]
	[ "${lines[1]}" = "txn ts=$((TS1 + 3 * s / 2)) key=1 seq=2" ]
	[ "${lines[2]}" = "type256 ts=$((TS1 + s)) key=0 seq=0" ]
	[ "${lines[3]}" = "txn ts=$((TS1 + s)) key=1 seq=3" ]
	[ "${lines[5]}" = "type256 ts=$((TS1 + 5 * s / 2)) key=0 seq=1" ]
	[ "${lines[8]}" = "type256 ts=$((TS1 + 37 * s / 10)) key=0 seq=2" ]
	# --watermark-interval alone: delay 0, every 2 s
	run_t 10 bash -c 'fs-ingest -t txn -i t.csv --watermark-interval 2s | python3 -c "$DEC" | grep -c ^type256'
	[ "$output" = 2 ]
	# none unless asked; -t json writes them too
	run_t 10 bash -c 'fs-ingest -t txn -i t.csv | python3 -c "$DEC" | grep -c ^type256'
	[ "$output" = 0 ]
	printf '{"ts_event":%s}\n' 1795492345 1795492347 >w.jsonl
	run_t 10 bash -c 'fs-ingest -f jsonl -t json -i w.jsonl --max-delay 0s | python3 -c "$DEC" | cut -d" " -f1-2'
	[ "${lines[2]}" = "type256 ts=$((TS1 + 2 * s))" ]
	# fs-window takes them in: nothing late, every row counted
	run_t 10 bash -c 'fs-ingest -t txn -i t.csv --max-delay 500ms | fs-window --tumble 2s --agg count --max-delay 1s | fs-cat -f csv --no-header | cut -d, -f7'
	assert_status 0
	[ "$(echo $output)" = "1 3 2" ]
	run_t 10 fs-ingest -t txn -i t.csv --max-delay soon
	assert_status 2
	assert_match "bad --max-delay 'soon'"
	run_t 10 fs-ingest -t txn -i t.csv --watermark-interval 0s
	assert_status 2
}
