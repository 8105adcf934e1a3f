#!/usr/bin/env bats
# fs-var --backtest: every row against var-oracle.py backtest (Kupiec
# and Christoffersen from their formulas, scipy.stats.chi2 and binom)
# fed with the VAR records of a run at every interval and the realised
# P&L from the CSV files; closed-form cases with no exception and with
# nothing but exceptions (0 log 0 = 0); the row form in fs-cat.
load helper

ORACLE=$BATS_TEST_DIRNAME/var-oracle.py

data() {
	/usr/bin/python3 "$ORACLE" gen . "$@" &&
	{ fs-ingest -t position -i pos.csv && fs-ingest -t bar -i bars.csv; } \
		>in.fsr
}

# bt METHOD BTWINDOW [fs-var options]: var.csv at every interval,
# bt.csv the backtest rows
bt() {
	local m=$1 bw=$2
	shift 2
	fs-var -q --method "$m" --window 30 "$@" <in.fsr |
		fs-cat -f csv --types var >var.csv &&
	fs-var -q --method "$m" --window 30 --backtest \
		--backtest-window "$bw" --every 7d "$@" <in.fsr |
		fs-cat -f csv --types agg >bt.csv
}

@test "var backtest: hist rows equal the oracle's Kupiec, Christoffersen, zone" {
	data --nbars 200
	bt hist 50 --confidence 0.9,0.99
	run_t 60 /usr/bin/python3 "$ORACLE" backtest . var.csv bt.csv \
		--bt-window 50
	assert_status 0
	# exceptions happen, and the window fills
	run_t 10 /usr/bin/python3 -c "
import pandas as pd
b = pd.read_csv('bt.csv')
assert b.exceptions.max() > 1 and b.intervals.max() == 50, b
assert set(b.zone) >= {0}, b.zone
"
	assert_status 0
	# the oracle fails with another window
	run_t 60 /usr/bin/python3 "$ORACLE" backtest . var.csv bt.csv \
		--bt-window 40
	assert_status 1
}

@test "var backtest: param and mc (250-interval default window)" {
	data --nbars 300 --nsym 3
	bt param 250
	run_t 60 /usr/bin/python3 "$ORACLE" backtest . var.csv bt.csv
	assert_status 0
	bt mc 250 --paths 2000
	run_t 60 /usr/bin/python3 "$ORACLE" backtest . var.csv bt.csv
	assert_status 0
}

# path SIGN: one symbol, close 100 exp(SIGN 0.001 t^2), one unit held
path() {
	/usr/bin/python3 -c "
import math
t0, day = 1767225600, 86400
print('ts_event,symbol,window_start,window_end,open,high,low,close')
for t in range(30):
    p = '%.8f' % (100 * math.exp($1 * 0.001 * t * t))
    print(f'{t0+(t+1)*day},AAA,{t0+t*day},{t0+(t+1)*day},{p},{p},{p},{p}')
" >p.csv
	{ printf 'ts_event,symbol,portfolio,qty\n1767225600,AAA,1,1\n' |
		fs-ingest -t position && fs-ingest -t bar -i p.csv; } >in.fsr
	fs-var -q --window 5 --backtest --backtest-window 20 \
		--confidence 0.99 <in.fsr |
		fs-cat -f csv --types agg --fields intervals,exceptions,pof_lr,pof_p,ind_lr,ind_p,cc_lr,cc_p,zone |
		tail -1
}
export -f path

@test "var backtest: no exception in 20: LR = -40 ln 0.99, green" {
	# the returns grow: each P&L beats every one of the window
	run_t 30 bash -c 'path 1'
	assert_status 0
	run_t 10 /usr/bin/python3 -c "
import math
n, x, pf, pp, il, ip, cl, cp, z = map(float, '$output'.split(','))
lr = -40 * math.log(0.99)
assert (n, x, z) == (20, 0, 0), '$output'
assert abs(pf - lr) < 1e-12 and abs(cl - lr) < 1e-12, (pf, lr)
assert abs(pp - math.erfc(math.sqrt(lr / 2))) < 1e-12
assert abs(cp - math.exp(-lr / 2)) < 1e-12
assert il == 0 and ip == 1
"
	assert_status 0
}

@test "var backtest: 20 exceptions in 20: LR = -40 ln 0.01, independence 0, red" {
	run_t 30 bash -c 'path -1'
	assert_status 0
	run_t 10 /usr/bin/python3 -c "
import math
n, x, pf, pp, il, ip, cl, cp, z = map(float, '$output'.split(','))
assert (n, x, z) == (20, 20, 2), '$output'
assert abs(pf - -40 * math.log(0.01)) < 1e-9, pf
assert il == 0 and ip == 1 and cl == pf
"
	assert_status 0
}

@test "var backtest: the oracle's binomial bands give Basel's 99%/250 table: green 0-4, yellow 5-9, red 10+" {
	# the oracle that checks fs-var's zones (first test) reproduces
	# the Basel table
	run_t 10 /usr/bin/python3 -c "
import sys
sys.path.insert(0, '$BATS_TEST_DIRNAME')
import importlib.util
spec = importlib.util.spec_from_file_location('o', '$ORACLE')
o = importlib.util.module_from_spec(spec); spec.loader.exec_module(o)
z = [o.bt_stats([1] * x + [0] * (250 - x), 0.01)['zone'] for x in range(13)]
assert z == [0] * 5 + [1] * 5 + [2] * 3, z
"
	assert_status 0
}

@test "var backtest: usage: --backtest-window 0 exits 2" {
	run_t 5 fs-var --backtest --backtest-window 0
	assert_status 2
	assert_match "backtest-window"
}
