#!/usr/bin/env bash
# bench/var.sh - fs-var's time per VaR update, side by side with numpy
# computing the same thing in the same run, printed as Markdown:
#
#   500 symbols, a 250-day window, one portfolio of all 500; UPDATES
#   daily updates after the window fills.  fs-var's time per update is
#   (wall of the run with every update - wall of the same run with no
#   update: --every longer than the data) / UPDATES, so reading and
#   ingesting the bars is not counted; numpy's is the mean over the
#   same updates of its loop body (P = R @ v, then numpy.quantile
#   and the tail mean for hist, the EWMA of P^2 as a dot product with the weights for ewma: the same
#   algorithm fs-var uses), the data already in memory.
#
#   mc: --paths PATHS over the same 500 symbols, updates every
#   MC_EVERY of the same data; paths/s = PATHS x updates / (wall of
#   the mc run - wall of the run with no update), on the CPU (the
#   build's only mc path; bench/gpu-var.sh is for a CUDA build).
#
#   SYMS=500 WINDOW=250 UPDATES=1000 RUNS=3 PATHS=100000 MC_EVERY=400d
set -u
. "$(dirname "$0")/lib.sh"
SYMS=${SYMS:-500}
WINDOW=${WINDOW:-250}
UPDATES=${UPDATES:-1000}
PATHS=${PATHS:-100000}
MC_EVERY=${MC_EVERY:-400d}
need fs-var fs-ingest
load0=$(load)
mkdir -p "$work"
d=$work/var
mkdir -p "$d"
nbars=$((WINDOW + UPDATES))

python3 - "$d" "$SYMS" "$nbars" <<'PY' || die "cannot make the data"
import sys
import numpy as np
d, n, nb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(1)
r = rng.normal(0, 0.01, (nb, n))
px = np.round(100 * np.cumprod(1 + r, axis=0), 8)
np.save(f"{d}/px.npy", px)
qty = rng.integers(-1000, 1000, n)
np.save(f"{d}/qty.npy", qty)
t0, day = 1767225600, 86400
with open(f"{d}/pos.csv", "w") as f:
    f.write("ts_event,symbol,portfolio,qty\n")
    for i in range(n):
        f.write(f"{t0},S{i:04d},1,{qty[i]}\n")
with open(f"{d}/bars.csv", "w") as f:
    f.write("ts_event,symbol,window_start,window_end,open,high,low,close\n")
    for t in range(nb):
        ws, we = t0 + t * day, t0 + (t + 1) * day
        for i in range(n):
            p = f"{px[t, i]:.8f}"
            f.write(f"{we},S{i:04d},{ws},{we},{p},{p},{p},{p}\n")
PY
{ fs-ingest -t position -i "$d/pos.csv" && fs-ingest -t bar -i "$d/bars.csv"; } \
	>"$d/in.fsr" || die "fs-ingest failed"

# per_update METHOD: fs-var's ns per update.
per_update() {
	local all one
	all=$(best "fs-var -q --method $1 --window $WINDOW -i $d/in.fsr -o /dev/null")
	one=$(best "fs-var -q --method $1 --window $WINDOW --every 100000d -i $d/in.fsr -o /dev/null")
	echo $(((all - one) / UPDATES))
}
hist_ns=$(per_update hist)
ewma_ns=$(per_update ewma)
# mc: the updates a run makes, and its paths per second
mc="fs-var -q --method mc --paths $PATHS --every $MC_EVERY --window $WINDOW"
mc_upd=$($mc -i "$d/in.fsr" | fs-cat -f csv --no-header | wc -l)
mc_upd=$((mc_upd / 2))
[ "$mc_upd" -gt 0 ] || die "mc made no update"
mc_all=$(best "$mc -i $d/in.fsr -o /dev/null")
mc_one=$(best "fs-var -q --method mc --paths $PATHS --every 100000d --window $WINDOW -i $d/in.fsr -o /dev/null")
mc_ps=$((PATHS * mc_upd * 1000000000 / (mc_all - mc_one)))
read -r np_hist np_ewma < <(python3 - "$d" "$WINDOW" "$RUNS" <<'PY'
import sys, time
import numpy as np
d, w, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
px = np.load(f"{d}/px.npy"); qty = np.load(f"{d}/qty.npy")
ret = px[1:] / px[:-1] - 1
lam = 0.94
wts = (1 - lam) * lam ** np.arange(w - 1, -1, -1.0)
wts[0] = lam ** (w - 1)
def hist(r, v):
    p = r @ v
    q = np.quantile(p, [0.01, 0.025])
    return [(-x, -p[p <= x].mean()) for x in q]
def ewma(r, v):
    p = r @ v
    s = np.sqrt(wts @ (p * p))
    return s * 2.326, s * 1.96
best = {}
for name, f in (("hist", hist), ("ewma", ewma)):
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        n = 0
        for k in range(w - 1, len(ret)):
            f(ret[k - w + 1:k + 1], qty * px[k + 1]); n += 1
        ns = (time.perf_counter_ns() - t0) / n
        best[name] = min(best.get(name, ns), ns)
print(int(best["hist"]), int(best["ewma"]))
PY
)
cat <<MD
## fs-var: time per VaR update

$(machine "$load0")
$SYMS symbols, a $WINDOW-day window, one portfolio of all $SYMS,
$UPDATES daily updates, confidence 0.99 and 0.975; best of $RUNS runs.

| method | fs-var per update | numpy per update (same algorithm) | numpy / fs-var |
|---|---:|---:|---:|
| hist | $((hist_ns / 1000)) us | $((np_hist / 1000)) us | $(ratio "$np_hist" "$hist_ns") |
| ewma | $((ewma_ns / 1000)) us | $((np_ewma / 1000)) us | $(ratio "$np_ewma" "$ewma_ns") |

mc, $PATHS paths over $SYMS symbols, $mc_upd updates, on the CPU:
$((mc_ps / 1000)) thousand paths/s ($(((mc_all - mc_one) / mc_upd / 1000000)) ms per update).
MD
