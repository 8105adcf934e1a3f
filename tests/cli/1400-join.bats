#!/usr/bin/env bats
# fs-join: lookup, temporal and interval joins against a pandas oracle
# (join-oracle.py: merge, merge_asof, an interval merge) on disordered
# data with versions at exactly a left time, duplicate table keys and
# keys on one side only; CSV and SQLite tables; SIGHUP reload; bad
# input and usage errors; inputs without watermarks; a lookup join
# killed and restarted under --state equals a clean run.
load helper

ORACLE="$BATS_TEST_DIRNAME/join-oracle.py"
PY=/usr/bin/python3	# with python3-pandas

# data SEED: left.fsr, right.fsr (watermarks: --max-delay 2s) and
# table.csv from join-oracle.py gen.
data() {
	$PY "$ORACLE" gen . "$1"
	fs-ingest -t trade --max-delay 2s -i left.csv -o left.fsr
	fs-ingest -t quote --max-delay 2s -i right.csv -o right.fsr
}

@test "fs-join --lookup: CSV table equals pandas merge (last duplicate wins), inner and outer" {
	data 1
	run_t 20 bash -c 'fs-join --lookup table.csv --on symbol \
		--fields tier,limit,note <left.fsr >in.fsr'
	assert_status 0
	assert_match "800 left records: [0-9]+ matched, [0-9]+ unmatched \(dropped\); table 5 rows, 1 duplicate keys"
	fs-cat -f csv <in.fsr >in.csv
	$PY "$ORACLE" lookup . in.csv
	# the left header is carried: ts_event, key and seq of the trades
	[ "$(fs-cat -f csv <in.fsr | cut -d, -f1,3,4 | sed 1d | sort | head -1)" \
	  = "$(fs-cat -f csv --types trade <left.fsr | cut -d, -f1,3,4 | sed 1d | sort | head -1)" ]
	run_t 20 bash -c 'fs-join -q --lookup table.csv --on symbol \
		--fields tier,limit,note --outer left <left.fsr | fs-cat -f csv >out.csv'
	assert_status 0
	$PY "$ORACLE" lookup . out.csv outer
	[ "$(head -1 out.csv)" = "ts_event,ts_ingest,key,seq,symbol,side,price,qty,trade_id,venue,account,order_id,tier,limit,note,matched" ]
}

@test "fs-join --on LEFT=RIGHT: a table whose key column has another name gives the same rows" {
	data 5
	fs-join -q --lookup table.csv --on symbol --fields tier,note <left.fsr >a.fsr
	sed '1s/^symbol,/sym,/' table.csv >t2.csv
	fs-join -q --lookup t2.csv --on symbol=sym --fields tier,note <left.fsr >b.fsr
	cmp a.fsr b.fsr
	run_t 10 fs-join --lookup t2.csv --on symbol --fields tier </dev/null -t trade
	assert_status 3
	assert_match "line 1: no key column 'symbol'"
	run_t 10 fs-join --lookup t2.csv --on symbol= --fields tier </dev/null
	assert_status 2
	assert_match "fs-join: --on: 'symbol=' is not FIELD or LEFT=RIGHT"
}

@test "fs-join --temporal: a JSON right side (fs-ingest -t json), --on account=acct, equals pandas merge_asof, inner and outer" {
	$PY "$ORACLE" gen-json . 5
	fs-ingest -t trade --max-delay 2s -i left.csv -o left.fsr
	fs-ingest -t json -f jsonl --max-delay 2s -i right.jsonl -o right.fsr
	run_t 20 bash -c 'fs-join --temporal --left left.fsr --right right.fsr \
		--on account=acct --fields tier,desk | fs-cat -f csv >t.csv'
	assert_status 0
	assert_match "800 left, 300 right records"
	$PY "$ORACLE" temporal-json . t.csv
	run_t 20 bash -c 'fs-join -q --temporal --left left.fsr --right right.fsr \
		--on account=acct --fields tier,desk --outer left | fs-cat -f csv >o.csv'
	assert_status 0
	$PY "$ORACLE" temporal-json . o.csv outer
}

@test "fs-join: a JSON right side's bad records exit 3 naming input and frame; its needs are usage errors" {
	fs-gen -n 100 --seed 1 --merchants 3 -o l.fsr
	printf '%s\n' '{"ts_event":1,"merchant":"7","tier":2,"desk":"EQ"}' \
		'{"ts_event":2,"merchant":"7","tier":"high"}' >r1.jsonl
	printf '%s\n' '{"ts_event":1,"merchant":"7","tier":2,"desk":"EQ"}' \
		'{"ts_event":2,"merchant":7,"desk":"ABCDEFGHIJ"}' >r2.jsonl
	printf '%s\n' '{"ts_event":1,"merchant":"7","tier":2}' \
		'{"ts_event":2,"tier":3}' >r3.jsonl
	for i in 1 2 3; do
		fs-ingest -t json -f jsonl --max-delay 0 -i r$i.jsonl -o r$i.fsr
	done
	run_t 10 fs-join --within 1s --left l.fsr --right r1.fsr --on merchant --fields tier,desk
	assert_status 3
	assert_match "fs-join: right input 'r1.fsr', frame 2: member 'tier' is not of the kind its first value set"
	run_t 10 fs-join --within 1s --left l.fsr --right r2.fsr --on merchant --fields tier,desk
	assert_status 3
	assert_match "frame 2: member 'desk' is longer than a joined row's 8-byte code"
	run_t 10 fs-join --within 1s --left l.fsr --right r3.fsr --on merchant --fields tier
	assert_status 3
	assert_match "frame 2: no string or number member 'merchant' \(the --on key\)"
	run_t 10 fs-join --within 1s --left l.fsr --right r1.fsr --on merchant
	assert_status 2
	assert_match "fs-join: --fields is required with a JSON right input"
	run_t 10 fs-join --within 1s --left r1.fsr --right r1.fsr --on merchant --fields tier
	assert_status 3
	assert_match "cannot join json records: their body is not of fixed layout \(left input, frame 1\)"
}

@test "fs-join --within --on order_id: orders and their fills (fs-gen --kind order) equal a pandas interval merge" {
	fs-gen --kind order -n 20000 --seed 3 --disorder 3s \
		--watermark-interval 100ms -o of.fsr
	fs-replay -i of.fsr --types order --keep-ingest -o orders.fsr
	fs-replay -i of.fsr --types trade --keep-ingest -o fills.fsr
	run_t 20 bash -c 'fs-join -q --left orders.fsr --right fills.fsr \
		--on order_id --within 2s --fields price,qty,trade_id |
		fs-cat -f csv >p.csv'
	assert_status 0
	fs-cat -f csv -i orders.fsr >o.csv
	fs-cat -f csv -i fills.fsr >f.csv
	$PY "$ORACLE" pairs o.csv f.csv order_id 2000000000 p.csv \
		price qty trade_id
	# most fills are within 2 s of their order; the disorder moves some out
	[ "$(wc -l <p.csv)" -gt 3000 ]
	[ "$(wc -l <p.csv)" -le "$(wc -l <f.csv)" ]
}

@test "fs-join --lookup: an SQLite table gives what its CSV gives" {
	data 2
	sqlite3 t.db '.import --csv table.csv t'
	fs-join -q --lookup table.csv --on symbol --fields tier,note <left.fsr >a.fsr
	fs-join -q --lookup 'sqlite:t.db?table=t' --on symbol --fields tier,note <left.fsr >b.fsr
	cmp a.fsr b.fsr
	run_t 10 fs-join --lookup 'sqlite:t.db?table=nope' --on symbol --fields tier </dev/null -t trade
	assert_status 3
	assert_match "cannot load 'sqlite:t.db\?table=nope': no such table: nope"
}

@test "fs-join --temporal: equals pandas merge_asof (a version at exactly the left time wins), inner and outer" {
	for seed in 3 4; do
		data $seed
		run_t 20 bash -c 'fs-join --temporal --left left.fsr \
			--right right.fsr --on symbol --fields bid,ask >t.fsr'
		assert_status 0
		fs-cat -f csv <t.fsr >t.csv
		$PY "$ORACLE" temporal . t.csv
		# watermarks come out, rising
		fs-cat -f csv --control --types watermark <t.fsr | sed 1d | cut -d, -f1 >wm
		[ -s wm ]
		sort -c wm
		run_t 20 bash -c 'fs-join -q --temporal --left left.fsr \
			--right right.fsr --on symbol --fields bid,ask \
			--outer left | fs-cat -f csv >o.csv'
		$PY "$ORACLE" temporal . o.csv outer
	done
	# the exact-time rule is exercised: some trades sit on a quote time
	[ "$($PY - <<-'EOF'
	import pandas as pd
	l = pd.read_csv("left.csv"); r = pd.read_csv("right.csv")
	print(len(set(l.ts_event) & set(r.ts_event)) > 10)
	EOF
	)" = True ]
}

@test "fs-join --within: equals a pandas interval merge, inner and outer, D = 0, 1s, 5s" {
	data 5
	for d in 0:0 1s:1000000000 5s:5000000000; do
		run_t 20 bash -c "fs-join -q --within ${d%%:*} --left left.fsr \
			--right right.fsr --on symbol --fields bid,ask |
			fs-cat -f csv >w.csv"
		assert_status 0
		$PY "$ORACLE" within . w.csv "${d#*:}"
		run_t 20 bash -c "fs-join -q --within ${d%%:*} --left left.fsr \
			--right right.fsr --on symbol --fields bid,ask \
			--outer left | fs-cat -f csv >w.csv"
		$PY "$ORACLE" within . w.csv "${d#*:}" outer
	done
}

@test "fs-join: inputs through pipes (process substitution) give what the files give" {
	data 6
	fs-join -q --temporal --left left.fsr --right right.fsr --on symbol \
		--fields bid,ask -o want.fsr
	run_t 20 bash -c 'fs-join -q --temporal --left <(cat left.fsr) \
		--right <(sleep 0.2; cat right.fsr) --on symbol --fields bid,ask \
		-o got.fsr'
	assert_status 0
	cmp <(fs-cat -f csv -i want.fsr) <(fs-cat -f csv -i got.fsr)
	fs-join -q --within 1s --left left.fsr --right right.fsr --on symbol \
		--fields bid -o want.fsr
	run_t 20 bash -c 'fs-join -q --within 1s --left <(cat left.fsr) \
		--right <(cat right.fsr) --on symbol --fields bid -o got.fsr'
	assert_status 0
	cmp <(fs-cat -f csv -i want.fsr | sort) <(fs-cat -f csv -i got.fsr | sort)
}

@test "fs-join --temporal: state stays bounded; late records are counted" {
	fs-gen --kind trade -n 200k --symbols 50 --disorder 100ms -o l.fsr
	fs-gen --kind quote -n 200k --symbols 50 --seed 2 -o r.fsr
	run_t 30 fs-join --temporal --left l.fsr --right r.fsr --on symbol \
		--fields bid,ask --metrics m.prom -o /dev/null
	assert_status 0
	assert_match "200000 left, 200000 right records: 1999[0-9][0-9] matched"
	# of 200000 versions of 50 keys, those of the last watermark
	# interval (1s: ~20 a key) are kept, not the rest
	v=$(awk '$1 ~ /^fs_join_right_versions[{]/ { print $2 }' m.prom)
	[ -n "$v" ]
	[ "$v" -le 2000 ]
	# a left record behind the left watermark is late, and counted
	printf 'ts_event,seq,symbol,price,qty\n10s,1,A,1,1\n20s,2,A,1,1\n5s,3,A,1,1\n' >ll.csv
	printf 'ts_event,symbol,bid,ask\n1s,A,1,2\n3s,A,1,2\n30s,A,1,2\n' >rr.csv
	fs-ingest -t trade --max-delay 1s -i ll.csv -o ll.fsr
	fs-ingest -t quote --max-delay 1s -i rr.csv -o rr.fsr
	run_t 10 fs-join --temporal --left ll.fsr --right rr.fsr --on symbol \
		--fields bid -o /dev/null
	assert_status 0
	assert_match "late 1 left"
}

@test "fs-join: SIGHUP reloads the table without stopping; a bad table is refused and the old one kept" {
	printf 'symbol,tier\nAAA,1\n' >t.csv
	printf 'ts_event,seq,symbol,price,qty\n1s,1,AAA,1,1\n' >a.csv
	printf 'ts_event,seq,symbol,price,qty\n2s,2,AAA,1,1\n' >b.csv
	printf 'ts_event,seq,symbol,price,qty\n3s,3,AAA,1,1\n' >c.csv
	for f in a b c; do fs-ingest -t trade -i $f.csv -o $f.fsr; done
	mkfifo in
	fs-join --lookup t.csv --on symbol --fields tier -i in -o out.fsr 2>err &
	pid=$!
	{ sleep 30; kill $pid; } 2>/dev/null &
	wd=$!
	exec 5>in
	cat a.fsr >&5
	for _ in $(seq 200); do [ -s out.fsr ] && break; sleep 0.05; done
	printf 'symbol,tier\nAAA,2\nAAA,3\n' >t.csv
	kill -HUP $pid
	for _ in $(seq 100); do grep -q reloaded err && break; sleep 0.05; done
	grep -q "reloaded 't.csv': 2 rows" err
	cat b.fsr >&5
	for _ in $(seq 200); do
		[ "$(fs-cat -f csv --types agg <out.fsr | wc -l)" = 3 ] && break
		sleep 0.05
	done
	printf 'symbol,tier\n,5\n' >t.csv
	kill -HUP $pid
	for _ in $(seq 100); do grep -q keeping err && break; sleep 0.05; done
	grep -q "cannot reload 't.csv': t.csv:2: empty key 'symbol'; keeping the table loaded before" err
	cat c.fsr >&5
	exec 5>&-
	wait $pid
	kill $wd 2>/dev/null || true
	[ "$(fs-cat -f csv --types agg <out.fsr | cut -d, -f4,13)" = "$(printf 'seq,tier\n1,1\n2,3\n3,3')" ]
}

@test "fs-join: a truncated frame: the rows before it out, exit 3 naming frame and offset" {
	data 6
	head -c $(( $(stat -c %s left.fsr) - 20 )) left.fsr >cut.fsr
	run_t 10 bash -c 'fs-join -q --lookup table.csv --on symbol \
		--fields tier <cut.fsr >o.fsr'
	assert_status 3
	assert_match "frame [0-9]+.*offset [0-9]+|offset [0-9]+.*frame [0-9]+"
	[ "$(fs-cat -f csv --types agg <o.fsr | sed 1d | wc -l)" -gt 100 ]
	run_t 10 bash -c 'fs-join -q --temporal --left cut.fsr \
		--right right.fsr --on symbol --fields bid >o2.fsr'
	assert_status 3
	assert_match "frame [0-9]+"
}

@test "fs-join: usage errors exit 2; an unknown field is named with the type's fields" {
	data 7
	run_t 10 fs-join --lookup table.csv --on colour --fields tier -i left.fsr
	assert_status 2
	assert_match "fs-join: --on: trade has no field 'colour' \(its fields: ts_event, ts_ingest, key, seq, symbol, side, price, qty, trade_id, venue, account, order_id\)"
	run_t 10 fs-join --temporal --left left.fsr --right right.fsr --on symbol --fields mid
	assert_status 2
	assert_match "fs-join: --fields: quote has no field 'mid' \(its fields: .*bid, ask"
	run_t 10 fs-join --lookup table.csv --on symbol
	assert_status 2
	assert_match "--fields is required"
	run_t 10 fs-join --lookup table.csv --temporal --on symbol --fields tier
	assert_status 2
	run_t 10 fs-join --within 1s --left left.fsr --on symbol
	assert_status 2
	run_t 10 fs-join --within 1s --left a --right b --on symbol --outer right
	assert_status 2
	run_t 10 fs-join --lookup nope.csv --on symbol --fields x
	assert_status 1
	assert_match "cannot open 'nope.csv'"
	run_t 10 fs-join --lookup table.csv --on symbol --fields nope -i left.fsr
	assert_status 3
	assert_match "no column 'nope'"
}

@test "fs-join --temporal: inputs without watermarks are an error, at the end or after --idle-timeout" {
	data 8
	fs-ingest -t quote -i right.csv -o nowm.fsr
	run_t 20 fs-join --temporal --left left.fsr --right nowm.fsr --on symbol --fields bid -o /dev/null
	assert_status 3
	assert_match "the right input 'nowm.fsr' ended without a WATERMARK record"
	# a right input that stays open and sends none: a bounded wait
	mkfifo r
	{ cat nowm.fsr; sleep 20; } >r &
	feeder=$!
	run_t 15 fs-join --temporal --left left.fsr --right r --on symbol \
		--fields bid --idle-timeout 1s -o /dev/null
	kill $feeder 2>/dev/null || true
	assert_status 3
	assert_match "no WATERMARK on the right input 'r' in 1s while left records wait"
}

@test "fs-join --lookup --state: killed and restarted, the output equals a clean run" {
	printf 'merchant,tier\n50000001,1\n50000002,2\n50000003,3\n' >m.csv
	fs-gen -n 600k --merchants 5 --event-rate 5000 --fixed-ingest -o in.fsr
	fs-join -q --lookup m.csv --on merchant --fields tier -i in.fsr -o clean.fsr
	kills=0 tries=0
	while [ $kills -lt 3 ] && [ $tries -lt 40 ]; do
		tries=$((tries + 1))
		rm -f pid
		sh -c 'exec fs-stat -q --state s.db --job j -i in.fsr \
			--checkpoint-interval 2ms' 2>>err |
		sh -c 'echo $$ >pid; exec fs-join -q --state s.db --job j \
			--lookup m.csv --on merchant --fields tier -o out.fsr' 2>>err &
		bg=$!
		for _ in $(seq 200); do [ -s pid ] && break; sleep 0.01; done
		sleep "0.0$((RANDOM % 6 + 2))"
		p=$(cat pid)
		if grep -q '^[^ ]* ([^)]*) [RSD]' /proc/"$p"/stat 2>/dev/null &&
		    kill -KILL "$p" 2>/dev/null; then
			kills=$((kills + 1))
		else
			kills=0
			rm -f s.db s.db-wal s.db-shm out.fsr
		fi
		wait $bg || true
	done
	echo "kills $kills in $tries runs" >&3
	[ $kills -ge 3 ]
	run_t 30 bash -c 'fs-stat -q --state s.db --job j -i in.fsr \
		--checkpoint-interval 2ms | fs-join -q --state s.db --job j \
		--lookup m.csv --on merchant --fields tier -o out.fsr'
	assert_status 0
	cmp clean.fsr out.fsr
	[ "$(sqlite3 s.db "SELECT count(*) FROM snapshots WHERE stage = 'fs-join' AND partition = -1")" -ge 1 ]
}

@test "fs-join --temporal and --within --state: killed and restarted, the rows equal a clean run's (barriers aligned)" {
	fs-gen --kind trade -n 300k --symbols 500 --fixed-ingest \
		--disorder 50ms -o l.fsr
	fs-gen --kind quote -n 300k --symbols 500 --seed 2 --fixed-ingest \
		-o r.fsr
	for kind in "--temporal --fields bid,ask --checkpoint-interval 2ms" \
	    "--within 100ms --outer left --fields bid --checkpoint-interval 2ms"; do
		rm -rf s.db s.db-wal s.db-shm s.db.snapshots out.fsr
		fs-join -q $kind --left l.fsr --right r.fsr --on symbol \
			-o clean.fsr
		kills=0
		for _ in 1 2 3 4 5; do
			fs-join -q $kind --left l.fsr --right r.fsr \
				--on symbol --state s.db --job j \
				-o out.fsr 2>>err &
			p=$!
			sleep "0.0$((RANDOM % 8 + 1))"
			kill -KILL $p 2>/dev/null && kills=$((kills + 1))
			wait $p || true
		done
		echo "$kind: kills $kills" >&3
		[ $kills -ge 3 ]
		run_t 60 fs-join -q $kind --left l.fsr --right r.fsr \
			--on symbol --state s.db --job j -o out.fsr
		assert_status 0
		fs-cat -f csv --types agg -i clean.fsr >want
		fs-cat -f csv --types agg -i out.fsr >got
		[ "$(wc -l <want)" -gt 290000 ]
		case $kind in	# --temporal: in order; --within: as found
		--temporal*) cmp want got ;;
		*) cmp <(sort want) <(sort got) ;;
		esac
		[ "$(sqlite3 s.db "SELECT count(*) FROM snapshots WHERE stage = 'fs-join'")" -ge 1 ]
	done
}
