#!/usr/bin/env bats
# fs-ingest hardening: damaged and truncated archives give every whole row
# before the damage; feature tables without ts_event; --epoch-unit; --tz.

load helper

DMG=$BATS_TEST_DIRNAME/damage.py

# Inputs of about 4000 rows in each format: t.csv, t.jsonl, t.fix.
texts() {
	fs-gen -n 4000 --fixed-ingest | fs-cat -f csv >t.csv
	fs-gen -n 4000 --fixed-ingest | fs-cat -f jsonl >t.jsonl
	fs-gen -n 4000 --kind trade --fixed-ingest | fs-cat -f csv |
		awk -F, 'NR > 1 { t = $1; gsub(/[-Z]/, "", t);
			sub(/T/, "-", t); sub(/\.[0-9]*/, "", t)
			printf "8=FIX.4.4|35=8|34=%d|55=%s|54=%d|31=%s|32=%s|" \
			       "17=%s|30=%s|60=%s|\n", NR, $5,
			       $6 == "B" ? 1 : 2, $7, $8, $9, $10, t }' >t.fix
}

# check_damage FMT HEADER TYPE...: for each kind of archive and damage,
# fs-ingest writes exactly the rows damage.py decodes intact (LO) and no
# more than it decodes whole (HI: garbage that still parses), exits 3
# and names the file.
check_damage() {
	local fmt=$1 hdr=$2 kind how lohi got
	shift 2
	texts
	for kind in gz zst xz tar.gz zip; do
		for how in 0.05 0.4 -30000; do
			/usr/bin/python3 "$DMG" pack $kind t.$fmt d.$kind $how
			lohi=$(/usr/bin/python3 "$DMG" count $kind d.$kind \
			       t.$fmt $hdr)
			run bash -c "fs-ingest -f $fmt $* -i d.$kind 2>err |
				     fs-cat | wc -l; cat err"
			got=${lines[0]}
			echo "$kind $how: oracle $lohi, got $got: $output"
			[ "$got" -ge "${lohi% *}" ] && [ "$got" -le "${lohi#* }" ]
			assert_match "d\.$kind"
			run fs-ingest -f $fmt "$@" -i d.$kind -o /dev/null
			assert_status 3
		done
	done
	# A truncated tar: the rows before the cut.
	/usr/bin/python3 "$DMG" pack tar t.$fmt d.tar -300000
	lohi=$(/usr/bin/python3 "$DMG" count tar d.tar t.$fmt $hdr)
	run bash -c "fs-ingest -f $fmt $* -i d.tar 2>/dev/null | fs-cat | wc -l"
	[ "$output" = "${lohi% *}" ]
	# Not seekable: zip and gzip read through a pipe.
	/usr/bin/python3 "$DMG" pack zip t.$fmt d.zip 0.4
	lohi=$(/usr/bin/python3 "$DMG" count zip d.zip t.$fmt $hdr)
	run bash -c "cat d.zip | fs-ingest -f $fmt $* 2>/dev/null |
		     fs-cat | wc -l"
	[ "$output" -ge "${lohi% *}" ] && [ "$output" -le "${lohi#* }" ]
	/usr/bin/python3 "$DMG" pack gz t.$fmt d.gz -30000
	lohi=$(/usr/bin/python3 "$DMG" count gz d.gz t.$fmt $hdr)
	run bash -c "cat d.gz | fs-ingest -f $fmt $* 2>/dev/null |
		     fs-cat | wc -l"
	[ "$output" = "${lohi% *}" ]
}

@test "ingest damaged archives: CSV rows before the damage" {
	check_damage csv 1 -t txn
	# The rows written are the file's rows (ts_ingest aside).
	/usr/bin/python3 "$DMG" pack gz t.csv d.gz 0.4
	fs-ingest -t txn -i d.gz 2>/dev/null | fs-cat -f csv |
		cut -d, -f1,3- >got.csv
	n=$(wc -l <got.csv)
	[ "$n" -gt 1000 ]
	head -n "$n" t.csv | cut -d, -f1,3- | cmp - got.csv
}

@test "ingest damaged archives: JSON Lines rows before the damage" {
	check_damage jsonl 0 -t txn
}

@test "ingest damaged archives: FIX messages before the damage" {
	check_damage fix 0
}

@test "ingest damaged archives: a partial row at the damage is no record" {
	printf 'ts_event,account,amount\n1795492345,1,1.5\n1795492346,2,2.25\n' >p.csv
	printf '8=FIX.4.4|35=8|55=A|54=1|31=1|32=1|60=20261124-03:52:25|\n8=FIX.4.4|35=8|55=B|54=1|31=2|32=1|60=20261124-03:52:26|\n' >p.fix
	# Stored blocks: the .gz holds the text as it is, then an 8-byte
	# trailer; cut it inside the last row, where what is left would
	# still parse ("2.2", "60=20261124-03:52:26").
	/usr/bin/python3 "$DMG" pack gz0 p.csv p.gz 0.99
	/usr/bin/python3 "$DMG" pack gz0 p.csv p.csv.gz -$(($(stat -c %s p.gz) - 11))
	run bash -c 'fs-ingest -t txn -i p.csv.gz 2>err | fs-cat -f csv |
		     cut -d, -f1,5,8; cat err'
	[ "${lines[1]}" = "2026-11-24T03:52:25Z,1,1.5" ]
	[ "${#lines[@]}" -eq 3 ]	# the header, one record, the error
	assert_match "p\.csv\.gz: corrupt gzip data at compressed byte [0-9]+: truncated.*read to p\.csv\.gz:2"
	run fs-ingest -t txn -i p.csv.gz -o /dev/null
	assert_status 3
	/usr/bin/python3 "$DMG" pack gz0 p.fix p.gz 0.99
	/usr/bin/python3 "$DMG" pack gz0 p.fix p.fix.gz -$(($(stat -c %s p.gz) - 10))
	run bash -c 'fs-ingest -f fix -i p.fix.gz 2>/dev/null | fs-cat -f csv | cut -d, -f5'
	[ "$output" = "$(printf 'symbol\nA')" ]
}

@test "ingest features: a pandas to_csv table, no ts_event, scores" {
	fs-gen -n 2000 --seed 3 | fs-window --features fraud-v1 |
		fs-cat -f csv >w.csv
	# The feature table as pandas writes it: with and without its index.
	/usr/bin/python3 - <<-'PY'
	import pandas as pd, xgboost as xgb
	df = pd.read_csv('w.csv').drop(columns=['ts_event', 'ts_ingest',
	                                        'key', 'seq', 'label'])
	df.to_csv('noidx.csv', index=False)
	df.to_csv('idx.csv')
	b = xgb.Booster(model_file='$TOP/models/fraud-v1.json'.replace(
	    '$TOP', __import__('os').environ['TOP']))
	p = b.predict(xgb.DMatrix(df.astype('float32')))
	open('want.txt', 'w').write(''.join('%.5f\n' % v for v in p))
	PY
	for f in noidx idx; do
		run bash -c "fs-ingest -t features -i $f.csv |
			fs-score-gpu --device cpu -m '$TOP/models/fraud-v1.json' |
			fs-cat -f csv"
		assert_status 0
		printf '%s\n' "${lines[@]}" >got.csv
		# ts_event is the ingest time; seq the row number.
		/usr/bin/python3 - <<-'PY'
		import pandas as pd
		g = pd.read_csv('got.csv')
		w = [float(x) for x in open('want.txt')]
		assert len(g) == len(w) == 2000, (len(g), len(w))
		assert (g.ts_event == g.ts_ingest).all()
		assert list(g.seq) == list(range(1, 2001))
		d = (g.score - w).abs().max()
		assert d < 1e-5, d
		PY
	done
	# The index column is no feature: the same columns either way.
	run bash -c 'fs-ingest -t features -i idx.csv | fs-cat -f csv | head -1'
	[ "$output" = "ts_event,ts_ingest,key,seq,$(head -1 noidx.csv)" ]
	# A ts_event column, when there is one, is still read.
	printf 'ts_event,f1\n1795492345,2.5\n' | fs-ingest -t features |
		fs-cat -f csv | grep -q '^2026-11-24T03:52:25Z,'
}

# ts_ns: ts_event of fs-cat -f csv's lines as ns since the epoch.
TS_NS='
import sys, datetime as dt
for l in sys.stdin.read().split()[1:]:
    t = l.split(",")[0].rstrip("Z")
    s, _, f = t.partition(".")
    d = dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=dt.timezone.utc)
    print(int(d.timestamp()) * 10**9 + int((f + "0" * 9)[:9]))
'

@test "ingest --epoch-unit: s, ms, us, ns against python's datetime" {
	vals="1795492345 9224000000 1795492345123 1795492345123456 1795492345123456789 -86400 5s 250ms"
	for u in s ms us ns; do
		{ echo ts_event,account,amount
		  for v in $vals; do echo "$v,1,1"; done; } >e.csv
		run bash -c "fs-ingest -t txn --epoch-unit $u -e skip -i e.csv 2>/dev/null |
			fs-cat -f csv | /usr/bin/python3 -c '$TS_NS'"
		assert_status 0
		want=$(/usr/bin/python3 - "$u" $vals <<-'PY'
		import sys, datetime as dt
		unit = {'s': 10**9, 'ms': 10**6, 'us': 10**3, 'ns': 1}
		epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
		for v in sys.argv[2:]:
		    for suf in ('ms', 's'):
		        if v.endswith(suf):
		            ns = int(v[:-len(suf)]) * unit[suf]
		            break
		    else:
		        ns = int(v) * unit[sys.argv[1]]
		    # What python's datetime can hold, fs-ingest too (int64 ns).
		    try:
		        epoch + dt.timedelta(microseconds=ns // 1000)
		    except OverflowError:
		        continue
		    if -2**63 <= ns < 2**63:
		        print(ns)
		PY
		)
		echo "unit $u: got $output, want $want"
		[ "$output" = "$want" ]
	done
	# Without the option the unit is told by magnitude, and 9224000000
	# (seconds: past 2262) is refused.
	run bash -c 'printf "ts_event,account,amount\n9224000000,1,1\n" |
		     fs-ingest -t txn -o /dev/null'
	assert_status 3
	assert_match "not a timestamp: '9224000000'"
	run fs-ingest -t txn --epoch-unit h -i e.csv
	assert_status 2
}

@test "ingest --tz: zoneless times around DST shifts against python zoneinfo" {
	/usr/bin/python3 - <<-'PY'
	import datetime as dt
	from zoneinfo import ZoneInfo
	utc = dt.timezone.utc
	rows, want = [], []
	for zone in ('America/New_York', 'Europe/London', 'Australia/Sydney',
	             'Australia/Lord_Howe', 'UTC'):
	    z = ZoneInfo(zone)
	    # The shifts of 2026: where the offset of an hour differs from
	    # the hour before.
	    t = dt.datetime(2026, 1, 1, tzinfo=utc)
	    marks = [t]
	    while t.year == 2026:
	        n = t + dt.timedelta(hours=1)
	        if n.astimezone(z).utcoffset() != t.astimezone(z).utcoffset():
	            marks.append(n)
	        t = n
	    for m in marks:
	        wall = m.astimezone(z).replace(tzinfo=None)
	        for k in range(-9, 10):
	            w = wall + dt.timedelta(minutes=15 * k, seconds=k % 7,
	                                    microseconds=1000 * k * k)
	            s = w.isoformat(sep=' ' if k % 2 else 'T')
	            u = w.replace(tzinfo=z, fold=0).astimezone(utc)
	            ns = int((u - dt.datetime(1970, 1, 1, tzinfo=utc)) /
	                     dt.timedelta(microseconds=1)) * 1000
	            rows.append((zone, s, ns))
	with open('tz.txt', 'w') as f:
	    for r in rows:
	        f.write('%s %s,%d\n' % r)
	PY
	[ "$(wc -l <tz.txt)" -gt 200 ]
	for zone in $(cut -d' ' -f1 tz.txt | sort -u); do
		{ echo ts_event,account,amount
		  grep "^$zone " tz.txt | cut -d' ' -f2- | cut -d, -f1 |
			sed 's/$/,1,1/'; } >z.csv
		run bash -c "fs-ingest -t txn --tz $zone -i z.csv | fs-cat -f csv |
			/usr/bin/python3 -c '$TS_NS'"
		assert_status 0
		want=$(grep "^$zone " tz.txt | cut -d, -f2)
		[ "$output" = "$want" ] || { echo "$zone:"; diff <(echo "$output") <(echo "$want"); false; }
	done
	# An explicit zone or offset, and epoch numbers, keep theirs; a date
	# alone is local midnight; FIX UTCTimestamps are UTC.
	{ echo ts_event,account,amount
	  printf '%s,1,1\n' 2026-07-01T12:00:00Z 2026-07-01T12:00:00+02:00 \
		1795492345 2026-07-01 2026-07-01T12:00:00; } |
		fs-ingest -t txn --tz America/New_York | fs-cat -f csv |
		cut -d, -f1 >got.txt
	printf 'ts_event\n2026-07-01T12:00:00Z\n2026-07-01T10:00:00Z\n2026-11-24T03:52:25Z\n2026-07-01T04:00:00Z\n2026-07-01T16:00:00Z\n' |
		diff - got.txt
	echo '8=FIX.4.4|35=8|55=A|54=1|31=1|32=1|60=20261124-03:52:25|' |
		fs-ingest -f fix --tz Asia/Tokyo | fs-cat -f csv | cut -d, -f1 |
		grep -qx '2026-11-24T03:52:25Z'
	# Without --tz zoneless times are UTC.
	printf 'ts_event,account,amount\n2026-07-01T12:00:00,1,1\n' |
		fs-ingest -t txn |
		fs-cat -f csv | grep -q '^2026-07-01T12:00:00Z,'
	run fs-ingest -t txn --tz Mars/Olympus_Mons -i z.csv
	assert_status 2
	assert_match "unknown --tz 'Mars/Olympus_Mons'"
	run fs-ingest -t txn --tz ../../etc/passwd -i z.csv
	assert_status 2
}

@test "ingest: the largest time (pandas Timestamp.max) is a record, not a crash" {
	printf 'ts_event,account,amount\n2026-01-02T00:00:00Z,1,1\n2262-04-11T23:47:16.854775807Z,2,1\n9223372036854775807,3,1\n' >max.csv
	run_t 10 bash -c 'fs-ingest -t txn -i max.csv | fs-cat -f csv --fields ts_event,account'
	assert_status 0
	[ "${lines[2]}" = "2262-04-11T23:47:16.854775807Z,2" ]
	[ "${lines[3]}" = "2262-04-11T23:47:16.854775807Z,3" ]
	run_t 10 bash -c 'fs-ingest -t txn -i max.csv --max-delay 1s | fs-cat --types txn | wc -l'
	assert_status 0
	[ "$output" -eq 3 ]
}

@test "ingest features: pandas booleans (True, False) are 1 and 0" {
	/usr/bin/python3 -c '
import pandas as pd
pd.DataFrame({"x": [1.5, 2.0], "is_foreign": [True, False]}).to_csv("b.csv")'
	run_t 10 bash -c 'fs-ingest -t features -i b.csv | fs-cat -f csv --fields x,is_foreign'
	assert_status 0
	[ "${lines[1]}" = "1.5,1" ]
	[ "${lines[2]}" = "2,0" ]
}

@test "ingest: gzip on a slow pipe gives each row as it comes; SIGTERM keeps the rows read" {
	/usr/bin/python3 - <<-'PY'
	import zlib
	z = zlib.compressobj(6, zlib.DEFLATED, 31)
	out = z.compress(b"ts_event,account,amount\n2026-01-02T00:00:00Z,1,1\n")
	out += z.flush(zlib.Z_SYNC_FLUSH)
	open("head.gz", "wb").write(out)
	PY
	mkfifo gz.fifo
	{ cat head.gz; sleep 60; } > gz.fifo &
	feeder=$!
	fs-ingest -t txn < gz.fifo > out.fsr &
	pid=$!
	for i in $(seq 50); do [ -s out.fsr ] && break; sleep 0.1; done
	[ -s out.fsr ]		# the row came out while the pipe stayed open
	kill -TERM "$pid"
	wait "$pid"
	pkill -P "$feeder" sleep || true
	[ "$(fs-cat -i out.fsr | wc -l)" -eq 1 ]
}
