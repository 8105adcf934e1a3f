#!/usr/bin/env bash
# bench/limit.sh - fs-limit's figures, printed as Markdown on stdout
# (progress on stderr):
#
#   (a) flat out: fs-limit over N records of `fs-gen --kind order`
#       (orders of 10000 accounts and their fills, about 3 orders to a
#       fill) from a file to /dev/null, against fs-stat passing the same
#       file through (the cost of reading and writing the frames alone)
#       and the Python oracle of the tests on the first 100k records;
#       target > 3M orders/s
#   (b) p99 latency at 1M records/s paced input (fs-gen --rate 1000000):
#       fs-stat's now - ts_ingest after fs-limit, against fs-stat
#       straight after fs-gen; the added p99, whole run and in steady
#       state (--warmup 1s), and once the tables hold every account and
#       symbol (SETTLE_N records, --warmup 5s: 10000 accounts x 100
#       symbols fill the position table over the first ~5M records);
#       target < 50 us added
#
# Best of $RUNS wall times; latency the median of $RUNS runs' p99.
#
#   N=5M        records for (a)
#   LAT_N=3M    paced records for (b)
#   SETTLE_N=10M  paced records for (b) with the tables full
#   RUNS=3
set -u
. "$(dirname "$0")/lib.sh"
N=${N:-5M}
LAT_N=${LAT_N:-3M}
need fs-gen fs-limit fs-stat
load0=$(load)
rows=$(count "$N")
lat_rows=$(count "$LAT_N")
SETTLE_N=${SETTLE_N:-10M}
settle_rows=$(count "$SETTLE_N")
mkdir -p "$work"

lim=$work/limits.csv
cat >"$lim" <<'EOF'
account,symbol,max_qty,max_notional,price_band,max_gross,max_net,max_exposure,max_rate
*,*,5000,1000000,0.05,2000000,500000,500000000,50
7,*,1000,,,,,50000000,20
EOF
fsr=$work/limit-order-$N.fsr
if [ ! -s "$fsr" ]; then
	echo "making $fsr" >&2
	fs-gen --kind order -n "$rows" --seed 7 -o "$fsr.tmp" &&
		mv "$fsr.tmp" "$fsr" || die "cannot make $fsr"
fi


# (a) flat out.
echo "(a) fs-limit flat out over $N records" >&2
summary=$(fs-limit --limits "$lim" -i "$fsr" -o /dev/null 2>&1 >/dev/null)
orders=$(sed -n 's/^fs-limit: \([0-9]*\) orders:.*/\1/p' <<<"$summary")
[ -n "$orders" ] || die "no summary from fs-limit: $summary"
t_lim=$(best "fs-limit -q --limits $lim -i $fsr -o /dev/null")
t_rej=$(best "fs-limit -q --limits $lim -i $fsr -o /dev/null \
	--rejects /dev/null")
t_stat=$(best "fs-stat -q -i $fsr -o /dev/null 2>/dev/null")
py_rows=100000
[ "$rows" -lt $py_rows ] && py_rows=$rows
oracle=tests/cli/limit-oracle.py
# the oracle reads a text table: make one of the first py_rows records
head_tab=$work/limit-head.txt
python3 - "$fsr" "$py_rows" >"$head_tab" <<'EOF' || die "cannot make $head_tab"
import struct, sys
d = open(sys.argv[1], "rb").read()
o = n = 0
S = 10**8
def px(v):
    return "%d.%08d" % (v // S, v % S)
while o < len(d) and n < int(sys.argv[2]):
    ln, ty, ver, fl, ts = struct.unpack_from("<IHBBq", d, o)
    b = d[o + 40:o + 4 + ln]
    if ty == 4:
        sym, side, ot, oid, acct, p, q = struct.unpack_from("<12sccxxQQqq", b)
        print("order", ts, acct, sym.rstrip(b"\0").decode(), side.decode(),
              ot.decode(), px(p), q)
        n += 1
    elif ty == 1:
        sym, side, p, q, tid, ven, acct, oid = struct.unpack_from("<12sc3xqqQ8sQQ", b)
        print("trade", ts, acct, sym.rstrip(b"\0").decode(), side.decode(),
              px(p), q)
        n += 1
    o += 4 + ln
EOF
py_orders=$(grep -c '^order' "$head_tab")
t_py=$(best "python3 $oracle expect $lim $head_tab >/dev/null")

# (b) latency.
echo "(b) latency at 1M records/s paced, $LAT_N records" >&2
gen="fs-gen --kind order -n $lat_rows --rate 1000000"
chk="fs-limit -q --limits $lim --rejects /dev/null"
st="fs-stat -q --json -o /dev/null"
base_all=$(lat "$gen | $st")
lim_all=$(lat "$gen | $chk | $st")
base_warm=$(lat "$gen | $st --warmup 1s")
lim_warm=$(lat "$gen | $chk | $st --warmup 1s")
add_all=$(added "$lim_all" "$base_all")
add_warm=$(added "$lim_warm" "$base_warm")
echo "(b) the same, $SETTLE_N records, --warmup 5s" >&2
gen2="fs-gen --kind order -n $settle_rows --rate 1000000"
base_full=$(lat "$gen2 | $st --warmup 5s")
lim_full=$(lat "$gen2 | $chk | $st --warmup 5s")
add_full=$(added "$lim_full" "$base_full")

r_lim=$(rate "$orders" "$t_lim")
r_rej=$(rate "$orders" "$t_rej")
r_stat=$(rate "$orders" "$t_stat")
r_py=$(rate "$py_orders" "$t_py")
cat <<EOF
# fs-limit benchmark

$(machine "$load0")
Input: \`fs-gen --kind order -n $N --seed 7\`: $rows records, $orders of
them orders (the rest fills), $(du -h "$fsr" | cut -f1); limits:
every account and symbol has every limit (\`$lim\`), so every order
goes through every check.  fs-limit is one process on one core.

## (a) Flat out

Best of $RUNS wall times, output to \`/dev/null\`.

| what | command | M orders/s |
|---|---|---|
| fs-limit | \`fs-limit --limits L -i F -o /dev/null\` | $r_lim |
| fs-limit, rejects written | \`... --rejects /dev/null\` | $r_rej |
| fs-stat, frames through, no checks | \`fs-stat -q -i F -o /dev/null\` | $r_stat |
| Python oracle (tests), first $py_rows records | \`limit-oracle.py expect\` | $r_py |

Target > 3M orders/s: $(verdict "$r_lim" 3).

## (b) Latency at 1M records/s paced

\`$gen | $chk | fs-stat\`, the p99 of now \- ts_ingest (median of
$RUNS runs), against \`$gen | fs-stat\`:

| | p99 gen \| fs-stat (us) | p99 gen \| fs-limit \| fs-stat (us) | added p99 (us) |
|---|---|---|---|
| whole run | $(us "$base_all") | $(us "$lim_all") | $add_all |
| steady state (--warmup 1s) | $(us "$base_warm") | $(us "$lim_warm") | $add_warm |
| tables full ($SETTLE_N records, --warmup 5s) | $(us "$base_full") | $(us "$lim_full") | $add_full |

Target < 50 us added: $(verdict "$add_full" 50 le) (tables full).
While the tables grow (the first ~5M records here), each doubling's
next slots are populated by a background thread on the other core,
which the three processes of the pipeline share with it.
EOF
