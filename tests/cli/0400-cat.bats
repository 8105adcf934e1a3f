#!/usr/bin/env bats
# fs-cat: formats, quoting, field and type selection, dynamic schemas,
# control records, bad input, --follow, round trips.
load helper

# Python helpers that build frames: struct.pack('<IHBBqqQQ') + body.
PRELUDE='
import struct, sys
TS = 1767312000001000000  # 2026-01-02T00:00:00.001Z
def frame(typ, body, ts=TS, ing=0, key=1, seq=0, flags=0, ln=None):
    body = body + b"\0" * (-len(body) % 8)
    if ln is None:
        ln = 36 + len(body)
    return struct.pack("<IHBBqqQQ", ln, typ, 1, flags, ts, ing, key, seq) + body
def txn(acct, amt, seq=0, country=b"US", cur=b"USD", mcc=5411, ch=1, label=0):
    return frame(5, struct.pack("<QQQqHBB4s4s4x", acct, 77, 88, amt, mcc,
                 ch, label, country, cur), key=acct, seq=seq)
def trade(sym, price, qty, seq=0):
    return frame(1, struct.pack("<12sc3xqqQ8s16x", sym, b"B", price, qty, 99,
                 b"XNAS"), seq=seq)
def wm(ts=TS):
    return frame(0x100, b"", ts=ts, flags=1)
def schema(for_type, sid, cols):
    b = struct.pack("<HHI", for_type, len(cols), sid)
    b += bytes(k for _, k in cols) + b"".join(n.encode() + b"\0" for n, _ in cols)
    return frame(0x102, b, flags=1, key=sid)
def score(seq, expl):
    b = struct.pack("<dQBB6x", 0.875, 42, 1, len(expl))
    for f, v in expl:
        b += struct.pack("<If", f, v)
    b += b"\0" * (8 * (8 - len(expl)))
    return frame(9, b, seq=seq)
def jsonrec(text, seq=0):
    t = text.encode()
    return frame(13, struct.pack("<I", len(t)) + t, seq=seq)
F32, I64, FIX, TS_K, F64 = 7, 1, 8, 9, 6
out = sys.stdout.buffer
'
py() { python3 -c "$PRELUDE
$1"; }

# same_frames A B: the data frames of A and B are byte-identical once
# ts_ingest is zeroed (control frames are left out of both).
same_frames() {
	python3 - "$1" "$2" <<-'EOT'
	import struct, sys
	def frames(path):
	    b, at, out = open(path, "rb").read(), 0, []
	    while at < len(b):
	        n = struct.unpack_from("<I", b, at)[0] + 4
	        f = bytearray(b[at:at + n])
	        at += n
	        if f[7] & 1:
	            continue
	        f[16:24] = bytes(8)
	        out.append(bytes(f))
	    return out
	a, b = frames(sys.argv[1]), frames(sys.argv[2])
	assert len(a) == len(b), (len(a), len(b))
	for i, (x, y) in enumerate(zip(a, b)):
	    assert x == y, "frame %d differs:\n%s\n%s" % (i, x.hex(), y.hex())
	print("same", len(a))
	EOT
}

# Two txns (one with quoting trouble), a watermark, a trade.
mixed() {
	py 'out.write(txn(123, 1250000000) + txn(124, -1, seq=1, country=b"F,", cur=b"E\"R") + wm() + trade(b"AAPL", 18912000000, 100, seq=2))'
}

# SCHEMA + FEATURES, SCHEMA + AGG, SCORE with explanations, FEATURES
# with no SCHEMA.
dynamic() {
	py 'out.write(schema(8, 3, [("amt_z", F32), ("n_1h", F32)]))
out.write(frame(8, struct.pack("<IIff", 2, 3, 0.1, -2.5), seq=1))
out.write(schema(11, 4, [("count", I64), ("sum_amount", FIX), ("window_end", TS_K), ("mean", F64)]))
out.write(frame(11, struct.pack("<IIqqqd", 4, 4, 3, 1250000000, 1767312060000000000, 0.25), seq=2))
out.write(score(3, [(1, 0.5), (7, -0.25)]))
out.write(frame(8, struct.pack("<IIf", 1, 9, 1.5), seq=5))'
}

H=2026-01-02T00:00:00.001Z
Z=1970-01-01T00:00:00Z

@test "fs-cat: --help prints usage and exits 0" {
	run_t 10 fs-cat --help
	assert_status 0
	assert_match '^usage: fs-cat '
	assert_match '--fields LIST'
}

@test "fs-cat: --version names the tool" {
	run_t 10 fs-cat --version
	assert_status 0
	assert_match '^fs-cat \(finstream\) [0-9]'
}

@test "fs-cat: bad option, format, type, field, limit exit 2" {
	run_t 10 fs-cat --bogus
	assert_status 2
	assert_match "Try 'fs-cat --help'"
	run_t 10 fs-cat -f xml
	assert_status 2
	assert_match "fs-cat: unknown format 'xml'"
	run_t 10 fs-cat --types txn,nope
	assert_status 2
	assert_match "unknown record type 'nope' \(valid: trade,quote"
	run_t 10 fs-cat --types txn --fields amount,amout
	assert_status 2
	assert_match "unknown field 'amout' \(valid: ts_event,.*,amount,"
	run_t 10 fs-cat -n 0
	assert_status 2
	run_t 10 fs-cat extra-arg
	assert_status 2
}

@test "fs-cat: text format" {
	mixed >in.fsr
	run_t 10 fs-cat -i in.fsr
	assert_status 0
	[ "${lines[0]}" = "txn $H ts_ingest=$Z key=123 seq=0 account=123 merchant=77 device=88 amount=12.5 mcc=5411 channel=1 label=0 country=US currency=USD" ]
	[ "${lines[1]}" = "txn $H ts_ingest=$Z key=124 seq=1 account=124 merchant=77 device=88 amount=-0.00000001 mcc=5411 channel=1 label=0 country=F, currency=\"E\\\"R\"" ]
	[ "${lines[2]}" = "trade $H ts_ingest=$Z key=1 seq=2 symbol=AAPL side=B price=189.12 qty=100 trade_id=99 venue=XNAS account=0 order_id=0" ]
	[ "${#lines[@]}" -eq 3 ]
}

@test "fs-cat: csv with RFC 4180 quoting and a header per type change" {
	mixed >in.fsr
	fs-cat -f csv <in.fsr >out.csv
	cat >want.csv <<-EOT
	ts_event,ts_ingest,key,seq,account,merchant,device,amount,mcc,channel,label,country,currency
	$H,$Z,123,0,123,77,88,12.5,5411,1,0,US,USD
	$H,$Z,124,1,124,77,88,-0.00000001,5411,1,0,"F,","E""R"
	ts_event,ts_ingest,key,seq,symbol,side,price,qty,trade_id,venue,account,order_id
	$H,$Z,1,2,AAPL,B,189.12,100,99,XNAS,0,0
	EOT
	diff want.csv out.csv
	# a CSV reader agrees on the quoted values
	run python3 -c 'import csv,sys; r=list(csv.reader(open("out.csv"))); print(r[2][11], r[2][12])'
	[ "$output" = 'F, E"R' ]
}

@test "fs-cat: tsv and --no-header" {
	mixed >in.fsr
	run_t 10 fs-cat -f tsv --no-header --types txn -i in.fsr
	assert_status 0
	[ "${lines[0]}" = "$(printf '%s\t' $H $Z 123 0 123 77 88 12.5 5411 1 0 US)USD" ]
	[ "${lines[1]}" = "$(printf '%s\t' $H $Z 124 1 124 77 88 -0.00000001 5411 1 0 F,)\"E\"\"R\"" ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "fs-cat: jsonl keeps exact decimals and parses as JSON" {
	mixed >in.fsr
	fs-cat -f jsonl <in.fsr >out.jsonl
	run head -1 out.jsonl
	[ "$output" = "{\"type\":\"txn\",\"ts_event\":\"$H\",\"ts_ingest\":\"$Z\",\"key\":123,\"seq\":0,\"account\":123,\"merchant\":77,\"device\":88,\"amount\":12.5,\"mcc\":5411,\"channel\":1,\"label\":0,\"country\":\"US\",\"currency\":\"USD\"}" ]
	run python3 -c '
import json, decimal
rows = [json.loads(l, parse_float=decimal.Decimal) for l in open("out.jsonl")]
print(len(rows), rows[1]["amount"], rows[1]["currency"], rows[2]["type"], rows[2]["price"])'
	[ "$output" = '3 -1E-8 E"R trade 189.12' ]
}

@test "fs-cat: --fields picks and orders columns, --types filters" {
	mixed >in.fsr
	run_t 10 fs-cat -f csv --fields amount,country,seq -i in.fsr
	assert_status 0
	[ "$output" = "$(printf 'amount,country,seq\n12.5,US,0\n-0.00000001,"F,",1\nseq\n2')" ]
	run_t 10 fs-cat -f jsonl --types trade --fields price,symbol -i in.fsr
	assert_status 0
	[ "$output" = '{"type":"trade","price":189.12,"symbol":"AAPL"}' ]
}

@test "fs-cat: --epoch prints nanoseconds" {
	mixed >in.fsr
	run_t 10 fs-cat -f jsonl --epoch --types trade --fields ts_event,ts_ingest -i in.fsr
	assert_status 0
	[ "$output" = '{"type":"trade","ts_event":1767312000001000000,"ts_ingest":0}' ]
}

@test "fs-cat: control records only with --control" {
	mixed >in.fsr
	run_t 10 fs-cat -f jsonl --fields seq -i in.fsr
	[ "${#lines[@]}" -eq 3 ]
	run_t 10 fs-cat -f jsonl --control --fields ts_event -i in.fsr
	assert_status 0
	[ "${lines[2]}" = "{\"type\":\"watermark\",\"ts_event\":\"$H\"}" ]
	run_t 10 fs-cat --types watermark -i in.fsr
	[ "$output" = "watermark $H ts_ingest=$Z key=1 seq=0" ]
}

@test "fs-cat: FEATURES and AGG through their SCHEMA, explanation names" {
	dynamic >in.fsr
	fs-cat -f csv <in.fsr >out.csv
	cat >want.csv <<-EOT
	ts_event,ts_ingest,key,seq,amt_z,n_1h
	$H,$Z,1,1,0.1,-2.5
	ts_event,ts_ingest,key,seq,count,sum_amount,window_end,mean
	$H,$Z,1,2,3,12.5,2026-01-02T00:01:00Z,0.25
	ts_event,ts_ingest,key,seq,score,model_id,decision,explain,class
	$H,$Z,1,3,0.875,42,1,n_1h:+0.5;f7:-0.25,0
	ts_event,ts_ingest,key,seq,f0
	$H,$Z,1,5,1.5
	EOT
	diff want.csv out.csv
	run_t 10 fs-cat -f jsonl --types agg --fields count,sum_amount,window_end,mean -i in.fsr
	[ "$output" = '{"type":"agg","count":3,"sum_amount":12.5,"window_end":"2026-01-02T00:01:00Z","mean":0.25}' ]
	run_t 10 fs-cat --types schema --fields for,schema_id,columns -i in.fsr
	[ "${lines[1]}" = "schema for=agg schema_id=4 columns=count:i64,sum_amount:fix,window_end:ts,mean:f64" ]
}

@test "fs-cat: a field in no type nor SCHEMA is an error at the end" {
	dynamic >in.fsr
	run_t 10 fs-cat --fields nosuch -i in.fsr
	assert_status 2
	assert_match "fs-cat: unknown field 'nosuch'"
}

@test "fs-cat: JSON bodies: raw in jsonl, quoted in csv" {
	py 'out.write(jsonrec("{\"a\": \"x,y\",\n \"b\": [1, 2]}"))' >in.fsr
	fs-cat -f jsonl -i in.fsr >out.jsonl
	run python3 -c 'import json; r = json.loads(open("out.jsonl").read()); print(r["json"]["a"], r["json"]["b"])'
	[ "$output" = 'x,y [1, 2]' ]
	fs-cat -f csv --fields seq,json -i in.fsr >out.csv
	run python3 -c 'import csv; r = list(csv.reader(open("out.csv"))); print(repr(r[1][1]))'
	[ "$output" = "'{\"a\": \"x,y\",\\n \"b\": [1, 2]}'" ]
}

@test "fs-cat: -n stops after N records" {
	py 'out.write(b"".join(txn(1, i, seq=i) for i in range(100)))' >in.fsr
	run_t 10 fs-cat -n 3 -f csv --no-header --fields seq -i in.fsr
	assert_status 0
	[ "$output" = "$(printf '0\n1\n2')" ]
}

@test "fs-cat: empty input prints nothing, exit 0" {
	run_t 10 fs-cat -f csv </dev/null
	assert_status 0
	[ -z "$output" ]
}

@test "fs-cat: garbage input exits 3 naming the frame" {
	head -c 1000 /dev/urandom >g.bin
	printf 'this is not a record stream, just text\n' >>g.bin
	run_t 10 fs-cat -i g.bin
	assert_status 3
	assert_match "fs-cat: bad input 'g.bin': .*\(frame 1, byte offset 0\)"
}

@test "fs-cat: truncated last frame: good records printed, exit 3" {
	py 'out.write(txn(1, 100000000) + txn(2, 200000000, seq=1) + txn(3, 1)[:50])' >in.fsr
	run_t 10 fs-cat -f csv --no-header --fields seq,amount -i in.fsr -o out.txt
	assert_status 3
	[ "$(cat out.txt)" = "$(printf '0,1\n1,2')" ]
	assert_match "truncated frame: 50 of 88 bytes .*\(frame 3, byte offset 176\)"
}

@test "fs-cat: frame length 0xFFFFFFFF exits 3" {
	py 'out.write(txn(1, 1) + b"\xff\xff\xff\xff" + b"\0" * 60)' >in.fsr
	run_t 10 fs-cat -f csv --no-header --fields account -i in.fsr -o out.txt
	assert_status 3
	[ "$(cat out.txt)" = 1 ]
	assert_match "frame length 4294967295 is over the 16 MiB limit \(frame 2, byte offset 88\)"
}

@test "fs-cat: a body too short for its type exits 3" {
	py 'out.write(txn(1, 1) + frame(5, b"\0" * 8))' >in.fsr
	run_t 10 fs-cat -f csv --no-header --fields account -i in.fsr -o out.txt
	assert_status 3
	[ "$(cat out.txt)" = 1 ]
	assert_match "fs-cat: cannot print txn record: body shorter than its type \(frame 2, byte offset 88"
}

# A bad record of each kind that is checked while printing, after good
# records of the same types: the output is exactly the good records'
# (complete lines, no header row nor any part of the bad one), exit 3.
@test "fs-cat: a bad record prints nothing of itself, in every format" {
	local kind fmt
	py 'out.write(jsonrec("{\"a\":1}", seq=6))' >json.fsr
	dynamic >good.fsr
	cat json.fsr >>good.fsr
	for kind in json features agg schema txn; do
		case $kind in
		json) py 'out.write(frame(13, struct.pack("<I", 1000) + b"{\"a\":1}", seq=7))' ;;
		features) py 'out.write(frame(8, struct.pack("<II", 100, 3), seq=7))' ;;
		agg) py 'out.write(frame(11, struct.pack("<IIq", 1, 4, 3), seq=7))' ;;
		schema) py 'out.write(frame(0x102, b"\xff\xff\xff\xff", flags=1))' ;;
		txn) py 'out.write(frame(5, b"\0" * 8, seq=7))' ;;
		esac >bad1.fsr
		cat good.fsr bad1.fsr json.fsr >bad.fsr
		for fmt in text csv tsv jsonl; do
			fs-cat --control -f $fmt -i good.fsr >want.txt
			run_t 10 fs-cat --control -f $fmt -i bad.fsr -o out.txt
			assert_status 3
			assert_match "fs-cat: cannot print $kind record: .* \(frame 8, byte offset [0-9]+"
			cmp want.txt out.txt || { echo "$kind $fmt:"; cat out.txt; return 1; }
			[ "$(tail -c 1 out.txt | od -An -c | tr -d ' ')" = '\n' ]
		done
	done
}

@test "fs-cat: unknown record type is skipped with one warning" {
	py 'out.write(frame(77, b"") + frame(77, b"") + txn(5, 1))' >in.fsr
	run_t 10 fs-cat -f csv --no-header --fields account -i in.fsr
	assert_status 0
	assert_match "skipping records of unknown type 77"
	[ "${lines[-1]}" = "5" ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "fs-cat: a closed stdout ends it quietly with 0" {
	py 'out.write(b"".join(txn(i, i, seq=i) for i in range(50000)))' >in.fsr
	run_t 20 bash -c 'fs-cat -f csv -i in.fsr 2>err | head -1; echo "rc=${PIPESTATUS[0]}"'
	[ "${lines[1]}" = "rc=0" ]
	[ ! -s err ]
}

@test "fs-cat: --follow prints records appended later, ends on SIGINT" {
	py 'out.write(txn(1, 1))' >in.fsr
	fs-cat --follow -f csv --no-header --fields account -i in.fsr >out.txt &
	pid=$!
	sleep 0.5
	py 'out.write(txn(2, 2, seq=1))' >>in.fsr
	for _ in $(seq 50); do [ "$(wc -l <out.txt)" -ge 2 ] && break; sleep 0.1; done
	kill -INT $pid
	wait $pid
	[ "$(cat out.txt)" = "$(printf '1\n2')" ]
}

@test "fs-cat: fs-gen output reads back in mlr with the same rows" {
	command -v fs-gen >/dev/null || skip "fs-gen not built"
	fs-gen --kind txn -n 2000 --seed 7 --fixed-ingest >g.fsr
	fs-cat -f csv -i g.fsr >g.csv
	run mlr --icsv --ojson stats1 -a count,sum -f amount g.csv
	assert_match '"amount_count": 2000'
	fs-cat -f jsonl -i g.fsr >g.jsonl
	run python3 -c '
import json, csv
j = [json.loads(l) for l in open("g.jsonl")]
c = list(csv.DictReader(open("g.csv")))
assert len(j) == len(c) == 2000
for a, b in zip(j, c):
    assert str(a["amount"]) == b["amount"] or float(a["amount"]) == float(b["amount"]), (a, b)
    assert a["ts_event"] == b["ts_event"] and str(a["account"]) == b["account"]
print("ok")'
	[ "$output" = ok ]
}

@test "fs-cat: csv round trip through fs-ingest reproduces the frames" {
	command -v fs-gen >/dev/null || skip "fs-gen not built"
	command -v fs-ingest >/dev/null || skip "fs-ingest not built"
	fs-gen --kind txn -n 3000 --seed 7 >g.fsr
	fs-cat -f csv -i g.fsr | fs-ingest -f csv -t txn >back.fsr
	run same_frames g.fsr back.fsr
	[ "$output" = "same 3000" ]
	fs-cat -f jsonl -i back.fsr >back.jsonl
	fs-cat -f jsonl -i g.fsr >want.jsonl
	# ts_ingest is restamped on ingest: compare everything else
	sed 's/"ts_ingest":"[^"]*",//' want.jsonl >a
	sed 's/"ts_ingest":"[^"]*",//' back.jsonl >b
	diff a b
}

@test "fs-cat: jsonl round trip through fs-ingest reproduces the frames" {
	command -v fs-gen >/dev/null || skip "fs-gen not built"
	command -v fs-ingest >/dev/null || skip "fs-ingest not built"
	fs-gen --kind trade -n 3000 --seed 7 >g.fsr
	fs-cat -f jsonl -i g.fsr | fs-ingest -f jsonl -t trade >back.fsr
	run same_frames g.fsr back.fsr
	[ "$output" = "same 3000" ]
	fs-cat -f csv -i back.fsr >back.csv
	fs-cat -f csv --fields ts_event,key,seq,symbol,side,price,qty,trade_id,venue -i g.fsr >a
	mlr --icsv --ocsv cut -o -f ts_event,key,seq,symbol,side,price,qty,trade_id,venue back.csv >b
	diff a b
}

# Floats print as "%.*g" at the fewest digits, 6 (float) or 15 (double) at
# least, that read back (strtof, strtod), checked against Python's own
# formatting (its dtoa, not glibc's printf) over random bit patterns,
# short decimals, exact binary fractions (ties) and whole numbers.
@test "fs-cat: floats and doubles print as Python's %g loop says" {
	py '
import random, math
random.seed(11)
def vals(bits):
    for i in range(3000):
        yield struct.unpack("<f" if bits == 32 else "<d",
                            random.getrandbits(bits).to_bytes(bits // 8, "little"))[0]
        yield float("%.*e" % (random.randint(0, 8), random.uniform(1, 10))) * 10.0 ** random.randint(-45, 38 if bits == 32 else 300)
        yield math.ldexp(random.getrandbits(random.randint(1, 24 if bits == 32 else 53)) | 1, -random.randint(1, 40))
        yield float(random.randint(-10**7, 10**7))
f32 = [v for v in vals(32) if abs(v) < 3.4e38]
f64 = [v for v in vals(64)]
out.write(schema(8, 1, [("f%d" % i, F32) for i in range(100)]))
out.write(schema(11, 2, [("d%d" % i, F64) for i in range(100)]))
for i in range(0, len(f32) - 99, 100):
    out.write(frame(8, struct.pack("<II100f", 100, 1, *f32[i:i + 100])))
for i in range(0, len(f64) - 99, 100):
    out.write(frame(11, struct.pack("<II100d", 100, 2, *f64[i:i + 100])))
' >in.fsr
	fs-cat -f csv --no-header -i in.fsr >out.csv
	python3 - in.fsr out.csv <<-'EOT'
	import ctypes, math, struct, sys
	libc = ctypes.CDLL(None)
	libc.strtof.restype = ctypes.c_float
	libc.strtof.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
	def g(v, lo, hi, back):
	    if math.isnan(v):
	        return "nan"
	    if math.isinf(v):
	        return "-inf" if v < 0 else "inf"
	    for p in range(lo, hi + 1):
	        s = "%.*g" % (p, v)
	        if back(s) == v:
	            return s
	    return s
	def f32(v):
	    if abs(v) < 1e6 and v == int(v) and not (v == 0 and math.copysign(1, v) < 0):
	        return str(int(v))
	    return g(v, 6, 9, lambda s: libc.strtof(s.encode(), None))
	def f64(v):
	    if abs(v) < 2.0 ** 53 and v == int(v) and not (v == 0 and math.copysign(1, v) < 0):
	        return str(int(v))
	    return g(v, 15, 17, float)
	b = open(sys.argv[1], "rb").read()
	lines = open(sys.argv[2]).read().split("\n")
	rows = [l.split(",")[4:] for l in lines if l]
	at, n = 0, 0
	want = []
	while at < len(b):
	    ln, typ = struct.unpack_from("<IH", b, at)
	    if typ in (8, 11):
	        cnt = struct.unpack_from("<I", b, at + 40)[0]
	        fmt = "<%d%s" % (cnt, "f" if typ == 8 else "d")
	        vs = struct.unpack_from(fmt, b, at + 48)
	        want.append([(f32 if typ == 8 else f64)(v) for v in vs])
	    at += ln + 4
	assert len(rows) == len(want) > 200, (len(rows), len(want))
	for w, r in zip(want, rows):
	    assert len(w) == len(r), (len(w), len(r))
	    for x, y in zip(w, r):
	        assert x == y, (x, y)
	        n += 1
	print("checked", n)
	EOT
}
