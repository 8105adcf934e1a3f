#!/usr/bin/env bats
# fs-limit: pre-trade checks against a table of orders with the exact
# expected decision and reason, and against an independent Python
# oracle (limit-oracle.py, written from fs-limit(1)) on random order
# flows; limits from CSV and SQLite; SIGHUP reload keeps the state; bad
# limits files and bad input; checkpoints (kill and restart equals a
# clean run).
load helper

ORACLE="$BATS_TEST_DIRNAME/limit-oracle.py"

# Limits for the random flows (accounts 1-5, symbols S1-S4).
limits1() {
	cat <<-'EOF'
	account,symbol,max_qty,max_notional,price_band,max_gross,max_net,max_exposure,max_rate
	*,*,1500,150000,0.05,,,,
	1,*,,,,,,,3
	2,*,500,,0.02,,,300000,
	2,S1,,,,3000,1500,,
	*,S2,,50000,,,,,
	3,S3,,,0.1,2000,800,,
	*,S4,,,,,600,,
	4,*,,,,,,5000000,2
	EOF
}

# Tighter limits for after a reload.
limits2() {
	cat <<-'EOF'
	account,symbol,max_qty,max_notional,price_band,max_gross,max_net,max_exposure,max_rate
	*,*,900,100000,0.03,4000,,,
	2,*,,,,,,200000,
	EOF
}

# check_oracle OUT REJECTS LIMITS TABLE...: fs-limit's decisions are
# the oracle's.
check_oracle() {
	local out=$1 rej=$2
	shift 2
	python3 "$ORACLE" expect "$@" >want
	python3 "$ORACLE" decode "$out" "$rej" >got
	diff want got
	[ "$(wc -l <want)" -gt 100 ]
}

@test "fs-limit: --help, --version, usage errors" {
	run_t 10 fs-limit --help
	assert_status 0
	assert_match '^usage: fs-limit --limits SRC'
	run_t 10 fs-limit --version
	assert_status 0
	assert_match '^fs-limit \(finstream\) [0-9]'
	run_t 10 fs-limit </dev/null
	assert_status 2
	assert_match 'fs-limit: --limits is required'
	run_t 10 fs-limit --limits x.csv --bogus </dev/null
	assert_status 2
	run_t 10 fs-limit --limits nonexistent.csv </dev/null
	assert_status 1
	assert_match "bad limits 'nonexistent.csv': No such file"
}

@test "fs-limit: a table of orders, each with its exact decision and reason" {
	cat >l.csv <<-'EOF'
	# every account; then account 7, and account 7 in AAPL
	account,symbol,max_qty,max_notional,price_band,max_gross,max_net,max_exposure,max_rate
	*,*,1000,,0.05,,,,
	7,*,,,,,,50000,2
	7,AAPL,500,,,1200,400,,
	EOF
	T0=1767312000000000000
	T1=$((T0 + 1000000000))
	T2=$((T0 + 2000000000))
	cat >t.txt <<-EOF
	trade $T0 0 AAPL B 100 10
	order $T0 7 AAPL B L 100 600
	order $T0 7 AAPL B L 106 100
	order $T0 7 AAPL B L 104 300
	order $T0 7 AAPL S L 100 10
	order $T0 7 AAPL B L 100 10
	trade $T1 7 AAPL B 100 450
	order $T1 7 AAPL B L 100 10
	order $T1 7 AAPL S L 100 50
	order $T1 7 MSFT B L 50 200
	order $T1 8 MSFT B M 0 10
	order $T1 8 AAPL X L 100 10
	order $T2 8 AAPL B L 100 0
	order $T2 8 AAPL B L 100 2000
	order $T2 8 AAPL S M 0 100
	short $T2
	EOF
	python3 "$ORACLE" frames t.txt >in.fsr
	run_t 10 fs-limit --limits l.csv --rejects rej.fsr -i in.fsr -o out.fsr
	assert_status 0
	assert_match "fs-limit: 14 orders: 4 accepted, 10 rejected \(short_order 1, bad_side 1, bad_qty 1, max_qty 2, no_price 1, price_band 1, max_rate 1, max_net 1, max_exposure 1\); 1 fills"
	run_t 10 fs-cat -f csv --fields seq,account,reason,value,limit -i rej.fsr
	assert_status 0
	[ "$output" = "seq,account,reason,value,limit
1,7,max_qty,600,500
2,7,price_band,106,105
5,7,max_rate,3,2
7,7,max_net,460,400
9,7,max_exposure,55000,50000
10,8,no_price,0,0
11,8,bad_side,0,0
12,8,bad_qty,0,0
13,8,max_qty,2000,1000
15,0,short_order,0,0" ]
	run_t 10 fs-cat -f csv --types order --fields seq,symbol,side,qty -i out.fsr
	[ "$output" = "seq,symbol,side,qty
3,AAPL,B,300
4,AAPL,S,10
8,AAPL,S,50
14,AAPL,S,100" ]
	# the trades pass through unchanged; accepted orders are byte-equal
	python3 - <<-'EOF'
	d, o = open("in.fsr", "rb").read(), open("out.fsr", "rb").read()
	import struct
	def frames(b):
	    i, r = 0, []
	    while i < len(b):
	        n = struct.unpack_from("<I", b, i)[0] + 4
	        r.append(b[i:i + n]); i += n
	    return r
	fi, fo = frames(d), frames(o)
	keep = [fi[i] for i in (0, 3, 4, 6, 8, 14)]
	assert fo == keep, (len(fo), len(keep))
	EOF
	# the oracle agrees with the table
	python3 "$ORACLE" expect l.csv t.txt >want
	python3 "$ORACLE" decode out.fsr rej.fsr >got
	diff want got
}

@test "fs-limit: random order flows equal the Python oracle, from CSV and from SQLite" {
	limits1 >l.csv
	for seed in 1 2 3; do
		python3 "$ORACLE" random $seed 4000 >t.txt
		python3 "$ORACLE" frames t.txt >in.fsr
		run_t 20 fs-limit -q --limits l.csv --rejects rej.fsr \
			-i in.fsr -o out.fsr
		assert_status 0
		check_oracle out.fsr rej.fsr l.csv t.txt
		# every reason shows up somewhere
		[ "$(cut -d' ' -f3 want | sort -u | grep -c .)" -ge 12 ]
	done
	sqlite3 l.db '.import --csv l.csv lim'
	run_t 20 fs-limit -q --limits 'sqlite:l.db?table=lim' \
		--rejects rej2.fsr -i in.fsr -o out2.fsr
	assert_status 0
	cmp out.fsr out2.fsr
	cmp rej.fsr rej2.fsr
	# a NULL is an empty field
	sqlite3 l.db "UPDATE lim SET max_net = NULL WHERE max_net = ''"
	run_t 20 fs-limit -q --limits 'sqlite:l.db?table=lim' \
		--rejects rej2.fsr -i in.fsr -o out2.fsr
	cmp rej.fsr rej2.fsr
}

@test "fs-limit: SIGHUP reloads the limits and keeps positions, exposure and rates" {
	limits1 >l.csv
	limits2 >l2.csv
	python3 "$ORACLE" random 5 3000 >t1.txt
	python3 "$ORACLE" random 6 3000 >t2.txt
	python3 "$ORACLE" frames t1.txt >in1.fsr
	python3 "$ORACLE" frames t2.txt "$(wc -l <t1.txt)" >in2.fsr
	n1=$(grep -c -e '^order' -e '^short' t1.txt)
	mkfifo in
	# not under timeout(1): it would stand between kill -HUP and
	# fs-limit; a watchdog bounds the run instead
	fs-limit --limits l.csv --rejects rej.fsr -i in -o out.fsr 2>err &
	pid=$!
	{ sleep 60; kill $pid; } 2>/dev/null &
	wd=$!
	exec 5>in
	cat in1.fsr >&5
	for _ in $(seq 200); do
		[ "$(python3 "$ORACLE" decode out.fsr rej.fsr | wc -l)" = "$n1" ] && break
		sleep 0.05
	done
	# a bad file is refused; the limits in force stay
	echo 'account,symbol,max_qty' >l.csv
	echo '*,*,-1' >>l.csv
	kill -HUP $pid
	for _ in $(seq 100); do grep -q keeping err && break; sleep 0.05; done
	grep -q "keeping the limits in force: cannot reload 'l.csv': line 2: negative limit '-1' in column 'max_qty'" err
	cp l2.csv l.csv
	kill -HUP $pid
	for _ in $(seq 100); do grep -q reloaded err && break; sleep 0.05; done
	grep -q "reloaded limits from 'l.csv' (2 rows)" err
	cat in2.fsr >&5
	exec 5>&-
	wait $pid
	kill $wd 2>/dev/null || true
	limits1 >l1.csv
	check_oracle out.fsr rej.fsr l1.csv t1.txt l2.csv t2.txt
	# the state mattered: with a fresh start the second part differs
	python3 "$ORACLE" expect l2.csv t2.txt | cut -d' ' -f2- >fresh
	tail -n +$((n1 + 1)) want | cut -d' ' -f2- >kept
	! cmp -s fresh kept
}

@test "fs-limit: bad limits files exit 2 naming the line and the reason" {
	bad() {
		printf "$1" >b.csv
		run_t 10 fs-limit --limits b.csv </dev/null
		assert_status 2
		assert_match "^fs-limit: bad limits 'b.csv': $2"
	}
	bad 'account,symbol,max_qty,colour\n' \
		"line 1: unknown column 'colour' \(want account, symbol,"
	bad '# c\naccount,symbol,max_qty\n\n*,*,10\n7,*,-5\n' \
		"line 5: negative limit '-5' in column 'max_qty'"
	bad 'account,symbol,max_qty\n*,*,10\n7,AAPL,1\n7,AAPL,2\n' \
		"line 4: duplicate row for account and symbol of line 3"
	bad 'account,symbol,max_notional\n*,*,1.5x\n' \
		"line 2: bad number '1.5x' in column 'max_notional'"
	bad 'account,symbol,max_qty\n*,*\n' \
		"line 2: 2 fields, the header has 3"
	bad 'account,max_qty\n' "line 1: no 'symbol' column"
	bad 'account,symbol,max_rate\n7,AAPL,3\n' \
		"line 2: 'max_rate' is an account's limit"
	bad 'account,symbol,max_qty\n*,ABCDEFGHIJKLM,3\n' \
		"line 2: symbol 'ABCDEFGHIJKLM' not 1 to 12 bytes"
	bad '' "line 0: no header row"
	sqlite3 b.db "CREATE TABLE t (account, symbol, max_qty);
		INSERT INTO t VALUES ('*', '*', 10), ('7', '*', -1)"
	run_t 10 fs-limit --limits 'sqlite:b.db?table=t' </dev/null
	assert_status 2
	assert_match "row 2: negative limit '-1' in column 'max_qty'"
	run_t 10 fs-limit --limits 'sqlite:b.db?table=nope' </dev/null
	assert_status 2
	assert_match "no such table: nope"
}

@test "fs-limit: a truncated frame exits 3 after every good record before it" {
	limits1 >l.csv
	python3 "$ORACLE" random 7 3000 >t.txt
	python3 "$ORACLE" frames t.txt >good.fsr
	{ cat good.fsr; head -c 60 good.fsr; } >in.fsr
	run_t 10 fs-limit -q --limits l.csv --rejects rej.fsr -i in.fsr \
		-o out.fsr
	assert_status 3
	assert_match "truncated"
	fs-limit -q --limits l.csv --rejects rej0.fsr -i good.fsr -o out0.fsr
	cmp out.fsr out0.fsr
	cmp rej.fsr rej0.fsr
	# garbage in an order body is a reject, not a crash
	python3 - <<-'EOF'
	import os, struct
	r = open("/dev/urandom", "rb")
	with open("junk.fsr", "wb") as f:
	    for i in range(5000):
	        n = 8 * (i % 8)
	        f.write(struct.pack("<IHBBqqQQ", 36 + n, 4 if i % 3 else 1, 1,
	                            0, i, i, 0, i) + r.read(n))
	EOF
	run_t 10 fs-limit --limits l.csv --rejects rej.fsr -i junk.fsr \
		-o out.fsr
	assert_status 0
	assert_match "orders: "
}

@test "fs-limit: --state: killed and restarted, the output equals a clean run" {
	cat >l.csv <<-'EOF'
	account,symbol,max_qty,max_notional,price_band,max_gross,max_net,max_exposure,max_rate
	*,*,5000,1000000,0.05,200000,20000,50000000,100
	EOF
	fs-gen --kind order --keys 50 --symbols 20 -n 600k --event-rate 5000 \
		--fixed-ingest -o in.fsr
	fs-limit -q --limits l.csv -i in.fsr -o clean.fsr --rejects crej.fsr
	# 3 kills in a row that land on a running fs-limit, so the last
	# run restores a checkpoint in mid-stream; a run that ended before
	# its kill starts the job afresh
	kills=0 tries=0
	while [ $kills -lt 3 ] && [ $tries -lt 40 ]; do
		tries=$((tries + 1))
		rm -f pid
		sh -c 'exec fs-stat -q --state s.db --job j -i in.fsr \
			--checkpoint-interval 2ms' 2>>err |
		sh -c 'echo $$ >pid; exec fs-limit -q --state s.db --job j \
			--limits l.csv -o out.fsr --rejects rej.fsr' 2>>err &
		bg=$!
		for _ in $(seq 200); do [ -s pid ] && break; sleep 0.01; done
		sleep "0.0$((RANDOM % 6 + 2))"
		p=$(cat pid)
		if grep -q '^[^ ]* ([^)]*) [RSD]' /proc/"$p"/stat 2>/dev/null &&
		    kill -KILL "$p" 2>/dev/null; then
			kills=$((kills + 1))
		else
			kills=0
			rm -f s.db s.db-wal s.db-shm out.fsr rej.fsr
		fi
		wait $bg || true
	done
	echo "kills $kills in $tries runs" >&3
	[ $kills -ge 3 ]
	run_t 30 bash -c 'fs-stat -q --state s.db --job j -i in.fsr \
		--checkpoint-interval 2ms | fs-limit -q --state s.db --job j \
		--limits l.csv -o out.fsr --rejects rej.fsr'
	assert_status 0
	cmp clean.fsr out.fsr
	# the rejects, a side output, are exactly once too: cut at each
	# restart to the restored checkpoint's length (libcommon side files)
	cmp crej.fsr rej.fsr
	[ "$(sqlite3 s.db "SELECT count(*) FROM sinks WHERE sink = '$(realpath rej.fsr)'")" -ge 1 ]
	[ "$(sqlite3 s.db "SELECT count(*) FROM snapshots WHERE stage = 'fs-limit' AND partition = -1")" -ge 1 ]
}
