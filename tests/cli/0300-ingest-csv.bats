#!/usr/bin/env bats
# fs-ingest, CSV: values through the schema table checked exactly by
# decoding frames in python (layouts from fs.h, hashes recomputed), RFC
# 4180 quoting, --map, bad rows in each --on-error mode, bad input,
# archives.
load helper

# dec: frames on stdin, one line each: "TYPE ts= key= seq= field=value".
# ts_ingest is printed as ing=ok when it lies within the last 10 minutes.
DEC=$(cat "$BATS_TEST_DIRNAME/decode-frames.py")
export DEC
dec() { python3 -c "$DEC"; }

# fnv TEXT: FNV-1a 64 of TEXT, the documented id hash.
fnv() {
	python3 -c '
import sys
h = 0xcbf29ce484222325
for c in sys.argv[1].encode():
    h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
print(h)' "$1"
}

TS1=1795492345000000000	# 2026-11-24T03:52:25Z

@test "ingest csv: every txn field exact, key and seq derived, ts_ingest now" {
	cat >t.csv <<-'EOF'
	ts_event,account,merchant,device,amount,mcc,channel,label,country,currency
	2026-11-24T03:52:25Z,123,m-77,9,12.50,5411,1,0,US,USD
	2026-11-24T03:52:25.5Z,ACC-9,42,,-0.00000001,,3,1,FR,EUR
	EOF
	run_t 10 bash -c 'fs-ingest -t txn -i t.csv | python3 -c "$DEC"'
	assert_status 0
	[ "${lines[0]}" = "txn ts=$TS1 key=123 seq=1 ing=ok account=123 merchant=$(fnv m-77) device=9 amount=1250000000 mcc=5411 channel=1 label=0 country=US currency=USD" ]
	[ "${lines[1]}" = "txn ts=1795492345500000000 key=$(fnv ACC-9) seq=2 ing=ok account=$(fnv ACC-9) merchant=42 device=0 amount=-1 mcc=0 channel=3 label=1 country=FR currency=EUR" ]
	[ ${#lines[@]} -eq 2 ]
}

@test "ingest csv: RFC 4180 quotes, embedded commas and newlines, CRLF, BOM" {
	printf '\xef\xbb\xbfts_event,account,amount,country,currency\r\n' >q.csv
	printf '"1795492345",1,"1.5","U\r\nS",""\r\n' >>q.csv
	printf '1795492345,2,2,"F""R","a,b"\r\n' >>q.csv
	printf '\r\n' >>q.csv
	printf '1795492345,"3",3,DE,X' >>q.csv	# no final newline
	run_t 10 bash -c 'fs-ingest -t txn -i q.csv -e skip | python3 -c "$DEC"; echo "rc=${PIPESTATUS[0]}"'
	assert_match "country=U.r.nS currency="
	assert_match 'seq=2 .* country=F"R currency=a,b'
	assert_match "seq=3 .*account=3 .*amount=300000000 .*country=DE currency=X"
	# "a,b" is 3 bytes and fits; nothing was skipped.
	[[ ! $output =~ skipped ]]
	[ "${lines[-1]}" = "rc=0" ]
}

@test "ingest csv: the line number of a row after a multi-line quoted cell" {
	printf 'ts_event,account,amount,country\n1,1,1,"A\nB"\n1,2,x,C\n' >m.csv
	run_t 10 fs-ingest -t txn -i m.csv -o out.fsr
	assert_status 3
	assert_match "^fs-ingest: m.csv:4: column 3 'amount': not a decimal number: 'x'$"
}

@test "ingest csv: --map, header case, --delimiter, tsv, --no-header" {
	printf 'When;Card;AMOUNT\n1795492345;7;3.25\n' >s.csv
	run_t 10 bash -c 'fs-ingest -t txn -d ";" -m When=ts_event -m Card=account -i s.csv | python3 -c "$DEC"'
	assert_status 0
	assert_match "^txn ts=$TS1 key=7 seq=1 ing=ok account=7 .*amount=325000000 "
	printf 'ts_event\taccount\tamount\tcountry\n1795492345\t8\t1\t"X\n' >s.tsv
	run_t 10 bash -c 'fs-ingest -f tsv -t txn -i s.tsv | python3 -c "$DEC"'
	assert_match 'account=8 .*country="X '
	printf '1795492345,0,5,6,7,8,9,1.5,10,2,1,GB,GBP\n' >n.csv
	run_t 10 bash -c 'fs-ingest --no-header -t txn -i n.csv | python3 -c "$DEC"'
	[ "$output" = "txn ts=$TS1 key=5 seq=6 ing=ok account=7 merchant=8 device=9 amount=150000000 mcc=10 channel=2 label=1 country=GB currency=GBP" ]
}

@test "ingest csv: --on-error fail keeps every good row before the bad one" {
	{
		echo ts_event,account,amount
		for i in $(seq 1 5000); do echo "1795492345,$i,$i.25"; done
		echo "1795492345,5001,12.3x"
		echo "1795492345,5002,1"
	} >big.csv
	run_t 10 fs-ingest -t txn -i big.csv -o out.fsr
	assert_status 3
	assert_match "^fs-ingest: big.csv:5002: column 3 'amount': not a decimal number: '12.3x'$"
	run_t 10 bash -c 'python3 -c "$DEC" <out.fsr | tail -1; python3 -c "$DEC" <out.fsr | wc -l'
	assert_match "seq=5000 .*account=5000 .*amount=500025000000 "
	[ "${lines[1]}" = 5000 ]
}

@test "ingest csv: --on-error skip counts bad rows on stderr" {
	printf 'ts_event,account,amount,mcc\n1,1,1,1\n1,2,2,70000\n1,3\n1,4,4,4,4\n1,5,5,5\n' >k.csv
	run_t 10 bash -c 'fs-ingest -t txn -i k.csv -e skip 2>err | python3 -c "$DEC"; cat err'
	assert_match "seq=1 .*account=1 "
	assert_match "seq=5 .*account=5 "
	[[ ! $output =~ account=2 ]]
	assert_match "fs-ingest: skipped 3 bad rows \(first: k.csv:3: column 4 'mcc': not an integer from 0 to 65535: '70000'\)"
}

@test "ingest csv: dead-letter file gets raw rows and reasons, and reads back" {
	printf 'ts_event,account,amount,country\n1,1,1,US\n1,2,"1,5",US\n1,3,3,TOOLONG\n1,4\n1,5,5,FR\n' >d.csv
	run_t 10 bash -c 'fs-ingest -t txn -i d.csv -e dead-letter:bad.csv 2>/dev/null | python3 -c "$DEC" | cut -d" " -f1-6'
	assert_status 0
	[ "${lines[0]}" = "txn ts=1000000000 key=1 seq=1 ing=ok account=1" ]
	[ "${lines[1]}" = "txn ts=1000000000 key=5 seq=5 ing=ok account=5" ]
	[ ${#lines[@]} -eq 2 ]
	run cat bad.csv
	[ "${lines[0]}" = "ts_event,account,amount,country,error" ]
	[ "${lines[1]}" = "1,2,\"1,5\",US,\"d.csv:3: column 3 'amount': not a decimal number: '1,5'\"" ]
	[ "${lines[2]}" = "1,3,3,TOOLONG,d.csv:4: column 4 'country': longer than 4 bytes: 'TOOLONG'" ]
	[ "${lines[3]}" = "1,4,\"d.csv:5: expected 4 cells, found 2\"" ]
	# The dead letters are CSV again: the error column is ignored.
	run_t 10 fs-ingest -t txn -i bad.csv -e skip -o /dev/null
	assert_status 0
	assert_match "ignoring 1 unknown column for type txn: 'error'"
	assert_match "skipped 3 bad rows"
}

@test "ingest csv: missing required column, at the header, nothing written" {
	printf 'ts_event,account\n1,2\n' >transactions.csv
	run_t 10 fs-ingest -t txn -i transactions.csv -o out.fsr
	assert_status 3
	[ "$output" = "fs-ingest: transactions.csv: missing column 'amount' for type txn (line 1)" ]
	[ ! -s out.fsr ]
	printf 'ts_event,account,amount,amt\n1,2,3,4\n' >dup.csv
	run_t 10 fs-ingest -t txn -m amt=amount -i dup.csv -o out.fsr
	assert_status 3
	assert_match "columns 3 'amount' and 4 'amount' both give field 'amount'"
}

@test "ingest csv: wrong kinds are refused with the value shown" {
	printf 'ts_event,account,amount\nyesterday,1,1\n' >w1.csv
	run_t 10 fs-ingest -t txn -i w1.csv -o /dev/null
	assert_status 3
	assert_match "w1.csv:2: column 1 'ts_event': not a timestamp: 'yesterday'"
	printf 'ts_event,account,amount\n1,1,1.123456789\n' >w2.csv
	run_t 10 fs-ingest -t txn -i w2.csv -o /dev/null
	assert_match "not a decimal number: '1.123456789'"
	printf 'ts_event,symbol,price,qty,side\n1,AAPL,1,-5,BS\n' >w3.csv
	run_t 10 fs-ingest -t trade -i w3.csv -o /dev/null
	assert_match "column 5 'side': not a single character: 'BS'"
	printf 'ts_event,account,amount\n1,,1\n' >w4.csv
	run_t 10 fs-ingest -t txn -i w4.csv -o /dev/null
	assert_match "column 2 'account': empty value for a required field"
}

@test "ingest csv: an unterminated quote names the line it opened on" {
	printf 'ts_event,account,amount\n1,1,1\n1,2,"2\n1,3,3\n' >u.csv
	run_t 10 fs-ingest -t txn -i u.csv -o out.fsr
	assert_status 3
	assert_match "u.csv:3: column 3 'amount': unterminated quoted field \(the quote opened on line 3 is never closed\)"
	run_t 10 bash -c 'python3 -c "$DEC" <out.fsr | wc -l'
	[ "$output" = 1 ]
}

@test "ingest csv: empty input, a header alone, blank lines: no records, exit 0" {
	: >empty.csv
	run_t 10 fs-ingest -t txn -i empty.csv -o out.fsr
	assert_status 0
	[ -z "$output" ] && [ ! -s out.fsr ]
	printf 'ts_event,account,amount\r\n\r\n\n' >hdr.csv
	run_t 10 fs-ingest -t txn -i hdr.csv -o out.fsr
	assert_status 0
	[ ! -s out.fsr ]
	run_t 10 bash -c 'fs-ingest -t txn </dev/null | wc -c'
	[ "$output" = 0 ]
}

@test "ingest csv: garbage binary input fails cleanly" {
	python3 -c 'import random, sys; random.seed(3); sys.stdout.buffer.write(bytes(random.randrange(256) for _ in range(20000)))' >g.bin
	run_t 10 fs-ingest -t txn -i g.bin -o out.fsr
	assert_status 3
	assert_match "^fs-ingest: g.bin:1: not a CSV header: binary data"
	printf 'ts_event,account,amount\n1,1,1\n\x00\x01\x02,\xff,\xfe\n' >g2.csv
	run_t 10 fs-ingest -t txn -i g2.csv -o out.fsr
	assert_status 3
	assert_match "g2.csv:3: column 1 'ts_event': not a timestamp: '.x00.x01.x02'"
	[ "$(stat -c %s out.fsr)" -eq 88 ]
}

@test "ingest csv: a 3 MB cell grows the buffer; a row over 16 MiB is refused" {
	python3 -c '
print("ts_event,account,amount,note")
print("1,1,1," + "x" * 3000000)
print("1,2,2,y")' >huge.csv
	run_t 20 bash -c 'fs-ingest -t txn -i huge.csv 2>/dev/null | python3 -c "$DEC" | cut -d" " -f1-6'
	[ "${lines[1]}" = "txn ts=1000000000 key=2 seq=2 ing=ok account=2" ]
	python3 -c '
print("ts_event,account,amount,note")
print("1,1,1,ok")
print("1,2,2," + "x" * (17 << 20))' >toobig.csv
	run_t 20 fs-ingest -t txn -i toobig.csv -o out.fsr
	assert_status 3
	assert_match "toobig.csv:3: a row longer than 16 MiB"
	[ "$(stat -c %s out.fsr)" -eq 88 ]
}

# mkarchives: d.tar.gz (two members, one a nested .csv.gz), d.zip, a
# plain d.tar and d.csv.gz, and bad.tar whose second header is garbage.
mkarchives() {
	python3 - <<-'EOF'
	import tarfile, zipfile, io, gzip
	a = b"ts_event,account,amount\n1,1,1.5\n"
	b = b"ts_event,account,amount\r\n2,2,2.5\r\n3,3,3.5\r\n"
	def tar(name, mode, members):
	    with tarfile.open(name, mode) as t:
	        for n, d in members:
	            ti = tarfile.TarInfo(n)
	            ti.size = len(d)
	            t.addfile(ti, io.BytesIO(d))
	tar("d.tar.gz", "w:gz", [("x/day1.csv", a), ("x/day2.csv.gz", gzip.compress(b))])
	tar("d.tar", "w", [("day2.csv", b)])
	with zipfile.ZipFile("d.zip", "w", zipfile.ZIP_DEFLATED) as z:
	    z.writestr("a.csv", a)
	    z.writestr("b.csv", b)
	open("d.csv.gz", "wb").write(gzip.compress(b))
	t = open("d.tar", "rb").read()
	open("bad.tar", "wb").write(t[:1024] + b"\x7fgarbage" * 300)
	EOF
}

@test "ingest csv: tar.gz with a nested csv.gz, zip, gz, from a file or stdin" {
	mkarchives
	run_t 10 bash -c 'fs-ingest -t txn -i d.tar.gz | python3 -c "$DEC" | cut -d" " -f4,6,9'
	assert_status 0
	[ "$output" = "$(printf 'seq=1 account=1 amount=150000000\nseq=2 account=2 amount=250000000\nseq=3 account=3 amount=350000000')" ]
	run_t 10 bash -c 'fs-ingest -t txn < d.zip | python3 -c "$DEC" | cut -d" " -f4,6'
	[ "$output" = "$(printf 'seq=1 account=1\nseq=2 account=2\nseq=3 account=3')" ]
	run_t 10 bash -c 'cat d.csv.gz | fs-ingest -t txn | python3 -c "$DEC" | cut -d" " -f4,6'
	[ "$output" = "$(printf 'seq=1 account=2\nseq=2 account=3')" ]
	# Member names in messages.
	python3 -c '
import tarfile, io
with tarfile.open("e.tar.gz", "w:gz") as t:
    for n, d in (("ok.csv", b"ts_event,account,amount\n1,1,1\n"),
                 ("bad.csv", b"ts_event,account,amount\n1,1,1\n1,2,zz\n")):
        ti = tarfile.TarInfo(n); ti.size = len(d); t.addfile(ti, io.BytesIO(d))'
	run_t 10 fs-ingest -t txn -i e.tar.gz -o out.fsr
	assert_status 3
	assert_match "^fs-ingest: e.tar.gz:bad.csv:3: column 3 'amount'"
	[ "$(stat -c %s out.fsr)" -eq 176 ]
}

@test "ingest csv: zstd archive" {
	command -v zstd >/dev/null || skip "no zstd"
	mkarchives
	zstd -q d.tar -o d.tar.zst
	run_t 10 bash -c 'fs-ingest -t txn -i d.tar.zst | python3 -c "$DEC" | cut -d" " -f4,6'
	[ "$output" = "$(printf 'seq=1 account=2\nseq=2 account=3')" ]
}

@test "ingest csv: a corrupt archive exits 3, records before it kept" {
	mkarchives
	run_t 10 fs-ingest -t txn -i bad.tar -o out.fsr
	assert_status 3
	assert_match "^fs-ingest: bad.tar: corrupt archive: "
	run_t 10 bash -c 'python3 -c "$DEC" <out.fsr | cut -d" " -f4,6'
	[ "$output" = "$(printf 'seq=1 account=2\nseq=2 account=3')" ]
	head -c 100 d.tar.gz >trunc.tar.gz
	run_t 10 fs-ingest -t txn -i trunc.tar.gz -o out.fsr
	assert_status 3
	assert_match "trunc.tar.gz: corrupt gzip data at compressed byte 100: truncated"
}

@test "ingest csv: usage errors exit 2, --help, --version, unopenable input" {
	run_t 10 fs-ingest -i x.csv
	assert_status 2
	assert_match "-t TYPE is required"
	assert_match "Try 'fs-ingest --help'"
	run_t 10 fs-ingest -t nosuch
	assert_status 2
	run_t 10 fs-ingest -t txn -f xml
	assert_status 2
	run_t 10 fs-ingest -t txn -m foo=nosuch
	assert_status 2
	assert_match "type txn has no field 'nosuch'"
	run_t 10 fs-ingest -t txn -e maybe
	assert_status 2
	run_t 10 fs-ingest -t json -f csv
	assert_status 2
	run_t 10 fs-ingest --help
	assert_status 0
	assert_match "usage: fs-ingest"
	run_t 10 fs-ingest --version
	assert_status 0
	run_t 10 fs-ingest -t txn -i /nonexistent.csv
	assert_status 1
	assert_match "cannot open '/nonexistent.csv'"
}

@test "ingest csv: -o FILE, --metrics, slow input is flushed as it comes" {
	printf 'ts_event,account,amount\n1,1,1\n1,2,x\n' >mx.csv
	run_t 10 fs-ingest -t txn -i mx.csv -e skip -o out.fsr --metrics m.prom
	assert_status 0
	[ "$(stat -c %s out.fsr)" -eq 88 ]
	grep -qE '^fs_ingest_rows_total({.*})? 2$' m.prom
	grep -qE '^fs_ingest_records_total({.*})? 1$' m.prom
	grep -qE '^fs_ingest_bad_rows_total({.*})? 1$' m.prom
	# The first record comes out while the producer still sleeps.
	start=$(date +%s%N)
	run_t 10 bash -c '{ printf "ts_event,account,amount\n1,1,1\n"; sleep 3; } | fs-ingest -t txn | { head -c 88 | wc -c; date +%s%N >stamp; }'
	[ "$output" = 88 ]
	[ $(( ($(cat stamp) - start) / 1000000 )) -lt 2500 ]
}

@test "ingest csv: SIGTERM stops reading, writes what it has, exits 0" {
	mkfifo in.fifo
	{ printf 'ts_event,account,amount\n1,1,1\n'; sleep 5; } >in.fifo 3>&- &
	prod=$!
	fs-ingest -t txn -i in.fifo -o sig.fsr 3>&- &
	pid=$!
	sleep 1
	kill -TERM $pid
	rc=0
	wait $pid || rc=$?
	kill $prod 2>/dev/null || true
	[ $rc -eq 0 ]
	[ "$(stat -c %s sig.fsr)" -eq 88 ]
}

@test "fs-ingest, fs-gen: binary records to a terminal are refused, exit 2" {
	command -v script >/dev/null || skip "script(1) not installed"
	printf 'ts_event,account,amount\n2026-01-01T00:00:00Z,1,2.50\n' >t.csv
	run_t 10 script -qec "fs-ingest -t txn -i t.csv" /dev/null
	assert_status 2
	assert_match "fs-ingest: refusing to write binary records to a terminal"
	run_t 10 script -qec "fs-gen -n 1" /dev/null
	assert_status 2
	assert_match "fs-gen: refusing to write binary records"
	run_t 10 bash -c 'fs-ingest -t txn -i t.csv | wc -c'
	assert_status 0
	[ "$output" -eq 88 ]
}
