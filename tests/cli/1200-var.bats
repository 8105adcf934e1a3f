#!/usr/bin/env bats
# fs-var: every method against numpy/scipy/pandas (var-oracle.py, from
# the definitions in fs-var(1)), Monte Carlo convergence, the fs-window
# ohlc chain, missing prices, too few bars, bad input, usage.
load helper

ORACLE=$BATS_TEST_DIRNAME/var-oracle.py
export ORACLE

# data [ARGS]: generate prices and positions in ., ingest them to in.fsr
data() {
	/usr/bin/python3 "$ORACLE" gen . "$@" &&
	{ fs-ingest -t position -i pos.csv && fs-ingest -t bar -i bars.csv; } \
		>in.fsr
}

# oracle METHOD WINDOW [fs-var and oracle options...]
oracle() {
	local m=$1 w=$2
	shift 2
	fs-var --method "$m" --window "$w" -q "$@" <in.fsr |
		fs-cat -f csv >out.csv || return 1
	/usr/bin/python3 "$ORACLE" check . "$m" "$w" out.csv ${ORACLE_ARGS:-}
}
export -f oracle

# run_oracle ARGS: oracle ARGS under a time limit, in run
run_oracle() {
	run_t 60 bash -c 'oracle "$@"' oracle "$@"
}

@test "var: --help prints usage to stdout and exits 0; --version" {
	run_t 5 fs-var --help
	assert_status 0
	assert_match "usage: fs-var \[--method"
	run_t 5 fs-var --version
	assert_status 0
	assert_match "fs-var"
}

@test "var: usage errors exit 2 naming the option" {
	run_t 5 fs-var --method nope
	assert_status 2
	assert_match "bad --method 'nope'"
	run_t 5 fs-var --confidence 0.99,1.5
	assert_status 2
	assert_match "bad --confidence"
	run_t 5 fs-var --window 1
	assert_status 2
	run_t 5 fs-var --dof 5
	assert_status 2
	assert_match "--dof needs --method mc"
}

@test "var: hist equals numpy.quantile (linear) and the tail mean, components add up" {
	data
	run_oracle hist 30 --components
	assert_status 0
}

@test "var: param equals z sqrt(v'Sigma v) with numpy.cov (ddof 1)" {
	data
	run_oracle param 30 --components --confidence 0.99,0.975,0.95
	assert_status 0
}

@test "var: ewma equals pandas ewm(alpha=1-lambda, adjust=False); --horizon scales by sqrt(H)" {
	data --nsym 3 --nbars 60
	run_oracle ewma 40 --components
	assert_status 0
	ORACLE_ARGS="--lambda 0.9 --horizon 10" run_oracle ewma 40 \
		--lambda 0.9 --horizon 10
	assert_status 0
	run fs-cat -f csv out.csv
	fs-var --method ewma --window 40 --horizon 10 -q <in.fsr |
		fs-cat -f csv | grep -q ',10d,ewma,'
}

@test "var: cornish-fisher equals the modified VaR formula (scipy skew, kurtosis, quad for ES)" {
	data
	run_oracle cornish-fisher 30 --components
	assert_status 0
}

@test "var: the oracle check fails on another method's numbers" {
	data
	fs-var --method hist --window 30 -q <in.fsr | fs-cat -f csv >out.csv
	run_t 60 /usr/bin/python3 "$ORACLE" check . param 30 out.csv
	assert_status 1
}

@test "var: mc converges to param within 2% at 200000 paths, seeded" {
	data
	ORACLE_ARGS="--tol 0.02" run_oracle mc 30 --paths 200000 \
		--every 10d
	assert_status 0
	# far from it with few paths
	ORACLE_ARGS="--tol 0.02" run_oracle mc 30 --paths 50 --every 10d
	assert_status 1
	# the same seed, the same numbers; another seed, others
	fs-var --method mc --window 30 --paths 1000 --seed 3 -q <in.fsr >a
	fs-var --method mc --window 30 --paths 1000 --seed 3 -q <in.fsr >b
	fs-var --method mc --window 30 --paths 1000 --seed 4 -q <in.fsr >c
	cmp <(fs-cat -f csv --fields var,es -i a) <(fs-cat -f csv --fields var,es -i b)
	run cmp -s <(fs-cat -f csv --fields var,es -i a) <(fs-cat -f csv --fields var,es -i c)
	assert_status 1
}

@test "var: mc with a singular covariance says so and still converges" {
	data --dup
	run_t 60 bash -c "fs-var --method mc --window 30 --paths 200000 \
		--every 20d <in.fsr 2>err >o; cat err"
	assert_status 0
	assert_match "singular \(rank 3 of 4\): a pivoted Cholesky"
	fs-cat -f csv -i o >out.csv
	run_t 60 /usr/bin/python3 "$ORACLE" check . mc 30 out.csv --tol 0.02
	assert_status 0
}

@test "var: mc --dof draws Student-t with the same covariance: ES/VaR above normal's" {
	data
	fs-var --method mc --window 30 --paths 100000 --dof 3 --every 20d \
		--confidence 0.999 -q <in.fsr | fs-cat -f csv --fields var,es >t.csv
	fs-var --method mc --window 30 --paths 100000 --every 20d \
		--confidence 0.999 -q <in.fsr | fs-cat -f csv --fields var,es >n.csv
	run_t 10 /usr/bin/python3 -c "
import pandas as pd
t, n = pd.read_csv('t.csv'), pd.read_csv('n.csv')
assert len(t) == len(n) > 0
assert ((t.es / t['var']) > (n.es / n['var']) * 1.05).all(), (t, n)
"
	assert_status 0
}

@test "var: bars from trades: fs-gen | fs-window --tumble 1d --agg ohlc | fs-var" {
	run_t 60 bash -c "set -o pipefail
		{ fs-gen --kind position -n 8 --keys 2 --symbols 4 &&
		  fs-gen --kind trade -n 100000 --symbols 4 --event-rate 0.05 |
		  fs-window --tumble 1d --agg ohlc,sum\(qty\); } |
		fs-var --window 10 --method param | fs-cat -f csv"
	assert_status 0
	assert_match ",1d,param,100000,,10,0,"
	assert_match "0 positions left out .* [1-9][0-9]* other records ignored"
}

@test "var: a position with no price is left out, counted, said once" {
	data --nsym 3
	fs-ingest -t position >extra.fsr <<EOF
ts_event,symbol,portfolio,qty
1767225600,NOPX,1,10
1767225600,NOPX,2,10
EOF
	run_t 30 bash -c "cat extra.fsr in.fsr | fs-var --window 30 2>err |
		fs-cat -f csv --fields portfolio,left_out,symbol | sort -u; cat err"
	assert_status 0
	assert_match "1,1,"
	assert_match "2,1,"
	[ "$(grep -c "no price for symbol 'NOPX'" <<<"$output")" = 1 ]
	assert_match "positions left out \(no price\)"
}

@test "var: too few bars: no record, the count in the summary" {
	data --nsym 2 --nbars 20
	run_t 30 bash -c "fs-var --window 30 <in.fsr 2>err | fs-cat; cat err"
	assert_status 0
	[[ ! $output =~ ^var ]]
	assert_match "0 VAR records .* 40 portfolio updates held back for fewer than 30 returns"
}

@test "var: --every 7d writes a record per portfolio and level each week" {
	data --nbars 100
	fs-var --window 30 --every 7d -q <in.fsr |
		fs-cat -f csv --fields ts_event >t.csv
	run_t 10 /usr/bin/python3 -c "
import pandas as pd
t = pd.to_datetime(pd.read_csv('t.csv').ts_event)
assert len(t) > 0 and len(t) % 4 == 0, len(t)
d = t.drop_duplicates().diff().dropna()
assert (d == pd.Timedelta('7d')).all(), d
"
	assert_status 0
}

@test "var: bad input: a truncated frame and a BAR of the wrong size exit 3" {
	data --nsym 2 --nbars 40
	head -c $(($(stat -c %s in.fsr) - 5)) in.fsr >trunc.fsr
	run_t 10 fs-var --window 10 -q -i trunc.fsr -o out.fsr
	assert_status 3
	assert_match "truncated"
	/usr/bin/python3 -c "
import struct, sys
body = b'AAA'.ljust(12, b'\0') + bytes(36)   # a trade-sized body
sys.stdout.buffer.write(struct.pack('<IHBBqqQQ', 36 + len(body), 7, 1, 0,
                                    0, 0, 0, 0) + body)" >short.fsr
	run_t 10 fs-var -q -i short.fsr
	assert_status 3
	assert_match "a BAR record with a body of 48 bytes, 88 expected \(frame 1"
	# other types are not an error: ignored and counted
	fs-gen --kind txn -n 100 >txn.fsr
	run_t 10 fs-var -i txn.fsr
	assert_status 0
	assert_match "100 other records ignored"
}
