#!/usr/bin/env bats
# fs-var --scenarios FILE: every row against var-oracle.py scenarios
# (position values x shocks, from the same CSV files); a symbol never
# priced is left out and counted; bad files exit 2 naming the line.
load helper

ORACLE=$BATS_TEST_DIRNAME/var-oracle.py

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	/usr/bin/python3 "$ORACLE" gen . --nbars 60 &&
	{ fs-ingest -t position -i pos.csv && fs-ingest -t bar -i bars.csv; } \
		>in.fsr
	cat >sc.csv <<-EOF
	scenario,symbol,shock
	crash,*,-0.2
	crash,S000,-0.4
	rally, * , 0.1
	# only one symbol; S009 is never priced
	one,S001,-0.5
	one,S009,-0.9
	EOF
}

@test "var scenarios: rows equal the oracle's P&L per scenario and portfolio" {
	fs-var -q --window 30 --every 7d --scenarios sc.csv <in.fsr |
		fs-cat -f csv --types agg >rows.csv
	run_t 60 /usr/bin/python3 "$ORACLE" scenarios . sc.csv rows.csv
	assert_status 0
	# the rows come before the window fills, one per portfolio a week
	[ "$(wc -l <rows.csv)" = $((2 * 9 + 1)) ]
	# the oracle fails on another file
	sed 's/-0.4/-0.3/' sc.csv >sc2.csv
	run_t 60 /usr/bin/python3 "$ORACLE" scenarios . sc2.csv rows.csv
	assert_status 1
}

@test "var scenarios: columns in fs-cat are named after the scenarios" {
	run_t 30 bash -c "fs-var -q --scenarios sc.csv <in.fsr |
		fs-cat -f csv --types agg | head -1"
	assert_status 0
	assert_match "^ts_event,ts_ingest,key,seq,portfolio,value,left_out,crash,rally,one$"
}

@test "var scenarios: a position with no price is left out and counted" {
	fs-ingest -t position >extra.fsr <<-EOF
	ts_event,symbol,portfolio,qty
	1767225600,NOPX,2,10
	EOF
	run_t 30 bash -c "cat extra.fsr in.fsr | fs-var -q --scenarios sc.csv |
		fs-cat -f csv --types agg --fields portfolio,left_out | sort -u"
	assert_status 0
	assert_match "1,0"
	assert_match "2,1"
}

# bad TEXT WHAT: a file of TEXT exits 2 with WHAT
bad() {
	printf '%b' "$1" >b.csv
	run_t 10 fs-var --scenarios b.csv -i in.fsr -o /dev/null
	assert_status 2
	assert_match "bad --scenarios 'b.csv': $2"
}

@test "var scenarios: bad files exit 2 naming the line" {
	bad 'scenario,symbol,shock,colour\n' "unknown column 'colour'.*\(line 1\)"
	bad 'scenario,symbol\n' "no column 'shock' \(line 1\)"
	bad 'scenario,symbol,shock\na,S000,-0.1\nb,,1\n' "no symbol \(line 3\)"
	bad 'scenario,symbol,shock\na,S000,\n' "no shock \(line 2\)"
	bad 'scenario,symbol,shock\na,S000,1\n\na,S000,2\n' \
		"scenario 'a' shocks symbol 'S000' twice \(first at line 2\) \(line 4\)"
	bad 'scenario,symbol,shock\na,*,1\na,*,2\n' "scenario 'a' shocks symbol '\*' twice"
	bad 'scenario,symbol,shock\na,S000,1,2\n' "4 fields, 3 expected \(line 2\)"
	bad 'scenario,symbol,shock\na,S000,big\n' "bad shock 'big'.*\(line 2\)"
	bad 'scenario,symbol,shock\nvalue,S000,1\n' "a scenario may not be named 'value'"
	bad 'scenario,symbol,shock\n' "no scenarios \(line 1\)"
	run_t 10 fs-var --scenarios nonexistent.csv
	assert_status 1
}
