#!/usr/bin/env bash
# bench/join.sh - fs-join's figures, printed as Markdown on stdout
# (progress on stderr):
#
#   (a) --lookup: N card transactions (fs-gen, 1M merchants) joined with
#       a 1M-row merchant table (CSV), file to /dev/null; the table's
#       load (an empty input with -t txn) timed apart and taken off;
#       peers on the same data, same run: pandas merge (the frames
#       already in DataFrames) and sqlite3 (a JOIN over tables already
#       loaded, rows to /dev/null); target >= 5M events/s
#   (b) --temporal: N trades against N quotes of 100k symbols (fs-gen,
#       watermarks every second of event time); events/s counted on
#       both inputs and on the left alone; peers: pandas merge_asof,
#       sqlite3's correlated "latest quote at or before" subquery over
#       an index (on the first SQ_N trades); target >= 2M events/s
#   (c) p99 added latency at 1M records/s paced (fs-gen --rate 1000000
#       | fs-join --lookup -t txn | fs-stat, against fs-gen | fs-stat,
#       and against fs-gen | fs-stat | fs-stat, a stage that only passes
#       frames on; median of $RUNS runs' p99, --warmup 2s: the table
#       loads at start)
#
#   N=2M LAT_N=3M SQ_N=200k RUNS=3
set -u
. "$(dirname "$0")/lib.sh"
N=${N:-2M}
LAT_N=${LAT_N:-3M}
SQ_N=${SQ_N:-200k}
need fs-gen fs-join fs-stat fs-cat
load0=$(load)
rows=$(count "$N")
lat_rows=$(count "$LAT_N")
sq_rows=$(count "$SQ_N")
mkdir -p "$work"
PY=/usr/bin/python3


# ---- data ----
tab=$work/join-merchants-1M.csv
if [ ! -s "$tab" ]; then
	echo "making $tab" >&2
	awk 'BEGIN { print "merchant,tier,score"
		for (i = 0; i < 1000000; i++)
			printf "%d,%d,%d.%02d\n", 50000000 + i, i % 5,
			       i % 1000, i % 100 }' >"$tab"
fi
txn=$work/join-txn-$N.fsr
[ -s "$txn" ] || fs-gen -n "$rows" --merchants 1000000 \
	--watermark-interval 0 --seed 3 -o "$txn" || die "cannot make $txn"
trd=$work/join-trade-$N.fsr
qte=$work/join-quote-$N.fsr
[ -s "$trd" ] || fs-gen --kind trade -n "$rows" --symbols 100000 \
	--seed 4 -o "$trd" || die "cannot make $trd"
[ -s "$qte" ] || fs-gen --kind quote -n "$rows" --symbols 100000 \
	--seed 5 -o "$qte" || die "cannot make $qte"

# ---- (a) lookup ----
echo "(a) fs-join --lookup, $N records, 1M-row table" >&2
look="fs-join -q --lookup $tab --on merchant --fields tier,score"
t_load=$(best "$look -t txn </dev/null >/dev/null")
t_look=$(best "$look -i $txn -o /dev/null")
t_stat=$(best "fs-stat -q -i $txn -o /dev/null 2>/dev/null")
fs-cat -f csv --fields merchant,amount -i "$txn" >"$work/join-txn.csv"
db=$work/join.db
rm -f "$db"
sqlite3 "$db" <<EOF || die "sqlite3 load"
CREATE TABLE m(merchant INTEGER PRIMARY KEY, tier INTEGER, score REAL);
CREATE TABLE t(merchant INTEGER, amount REAL);
.import --csv --skip 1 $tab m
.import --csv --skip 1 $work/join-txn.csv t
EOF
t_sq=$(best "sqlite3 $db 'SELECT t.merchant, t.amount, m.tier, m.score \
	FROM t JOIN m USING (merchant)' >/dev/null")
pd_look=$($PY - "$tab" "$work/join-txn.csv" "$RUNS" <<'EOF'
import sys, time
import pandas as pd
m = pd.read_csv(sys.argv[1])
t = pd.read_csv(sys.argv[2])
best = None
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter_ns()
    j = t.merge(m, on="merchant", how="inner")
    d = time.perf_counter_ns() - t0
    best = d if best is None or d < best else best
print(best)
EOF
) || die "pandas merge"

# ---- (b) temporal ----
echo "(b) fs-join --temporal, $N trades x $N quotes, 100k symbols" >&2
t_tmp=$(best "fs-join -q --temporal --left $trd --right $qte --on symbol \
	--fields bid,ask -o /dev/null")
fs-cat -f csv --epoch --fields ts_event,symbol,price -i "$trd" \
	>"$work/join-trade.csv"
fs-cat -f csv --epoch --fields ts_event,symbol,bid,ask -i "$qte" \
	>"$work/join-quote.csv"
pd_tmp=$($PY - "$work/join-trade.csv" "$work/join-quote.csv" "$RUNS" <<'EOF'
import sys, time
import pandas as pd
l = pd.read_csv(sys.argv[1], keep_default_na=False)
r = pd.read_csv(sys.argv[2], keep_default_na=False)
best = None
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter_ns()
    j = pd.merge_asof(l.sort_values("ts_event"), r.sort_values("ts_event"),
                      on="ts_event", by="symbol")
    d = time.perf_counter_ns() - t0
    best = d if best is None or d < best else best
print(best)
EOF
) || die "pandas merge_asof"
head -n $((sq_rows + 1)) "$work/join-trade.csv" >"$work/join-trade-sq.csv"
sqlite3 "$db" <<EOF || die "sqlite3 load (b)"
DROP TABLE IF EXISTS tr; DROP TABLE IF EXISTS q;
CREATE TABLE tr(ts INTEGER, symbol TEXT, price REAL);
CREATE TABLE q(ts INTEGER, symbol TEXT, bid REAL, ask REAL);
.import --csv --skip 1 $work/join-trade-sq.csv tr
.import --csv --skip 1 $work/join-quote.csv q
CREATE INDEX q_sym_ts ON q(symbol, ts);
EOF
t_sqt=$(best "sqlite3 $db 'SELECT tr.*, (SELECT bid FROM q WHERE \
	q.symbol = tr.symbol AND q.ts <= tr.ts ORDER BY q.ts DESC LIMIT 1) \
	FROM tr' >/dev/null")

# ---- (c) latency ----
echo "(c) latency at 1M records/s paced, $LAT_N records" >&2
gen="fs-gen -n $lat_rows --merchants 1000000 --rate 1000000"
st="fs-stat -q --json -o /dev/null --warmup 2s"
base=$(lat "$gen | $st")
# a stage that only passes frames on: what a third process costs here
pass=$(lat "$gen | fs-stat -q 2>/dev/null | $st")
joined=$(lat "$gen | $look -t txn | $st")
add=$(awk -v a="$joined" -v b="$base" 'BEGIN { printf "%.1f", (a - b) / 1e3 }')

r_look=$(rate "$rows" $((t_look - t_load)))
r_look_all=$(rate "$rows" "$t_look")
r_stat=$(rate "$rows" "$t_stat")
r_pd=$(rate "$rows" "$pd_look")
r_sq=$(rate "$rows" "$t_sq")
r_tmp2=$(rate $((2 * rows)) "$t_tmp")
r_tmp=$(rate "$rows" "$t_tmp")
r_pdt2=$(rate $((2 * rows)) "$pd_tmp")
r_sqt=$(rate "$sq_rows" "$t_sqt")
cat <<EOF
# fs-join benchmark

$(machine "$load0")
fs-join is one process on one core.

## (a) --lookup against a 1M-row table

\`fs-gen -n $N --merchants 1000000\` card transactions joined on
\`merchant\` with a 1M-row CSV table (\`tier\`, \`score\`); best of
$RUNS wall times.  The table loads in $(us "$t_load") us ($(us "$t_load" | awk '{ printf "%.2f", $1 / 1e6 }') s),
taken off the fs-join figure.

| what | M events/s |
|---|---|
| fs-join --lookup (table load taken off) | $r_look |
| fs-join --lookup, load included | $r_look_all |
| fs-stat, frames through, no join | $r_stat |
| pandas merge (DataFrames in memory) | $r_pd |
| sqlite3 JOIN on the primary key (tables loaded) | $r_sq |

Target >= 5M events/s: $(verdict "$r_look" 5).

## (b) --temporal, 100k keys

\`fs-gen --kind trade\` and \`--kind quote\`, $N each, 100k symbols,
joined on \`symbol\` with \`bid,ask\` as of each trade's time.

| what | M events/s (both inputs) | M left records/s |
|---|---|---|
| fs-join --temporal | $r_tmp2 | $r_tmp |
| pandas merge_asof (sorts included, in memory) | $r_pdt2 | $(rate "$rows" "$pd_tmp") |
| sqlite3 latest-at-or-before subquery ($SQ_N trades) | | $r_sqt |

Target >= 2M events/s: $(verdict "$r_tmp2" 2) (both inputs counted),
$(verdict "$r_tmp" 2) (left only).

## (c) Latency at 1M records/s paced

p99 of now - ts_ingest (median of $RUNS runs, --warmup 2s):

| pipeline | p99 (us) |
|---|---|
| \`fs-gen ... --rate 1000000 \| fs-stat\` | $(us "$base") |
| \`fs-gen ... \| fs-stat \| fs-stat\` (a pass-through stage) | $(us "$pass") |
| \`fs-gen ... \| fs-join --lookup ... -t txn \| fs-stat\` | $(us "$joined") |

Added by fs-join: $add us (against the pass-through stage: $(awk -v a="$joined" -v b="$pass" 'BEGIN { printf "%.1f", (a - b) / 1e3 }') us).
EOF
