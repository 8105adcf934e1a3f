#!/usr/bin/env bash
# bench/score.sh - fs-score-gpu against python3-xgboost, as Markdown on
# stdout (progress on stderr).
#
#   CPU: rows/s of a 100-tree depth-6 binary:logistic model on 20
#        features, fs-score-gpu --device cpu -j $THREADS on a FEATURES
#        file (read, score, write SCOREs to /dev/null) against
#        Booster.predict (and inplace_predict) on the same rows with the
#        same thread count (target: >= 2x).
#   GPU: rows/s at --batch 1k, 8k, 64k and the p99 batch latency (device
#        time: copy in, kernel, copy out), where a CUDA device is
#        present; skipped, saying why, elsewhere.
#
#   N=1M        rows (k, M suffixes)
#   THREADS=    threads for both sides (default: the number of cores)
#   RUNS=3      runs per command; the best counts
set -u
. "$(dirname "$0")/lib.sh"
load0=$(load)
N=${N:-1M}
THREADS=${THREADS:-$(nproc)}
PY=python3
/usr/bin/python3 -c 'import xgboost' 2>/dev/null && PY=/usr/bin/python3

command -v fs-score-gpu >/dev/null || die "fs-score-gpu not found in $B/bin"
$PY -c 'import numpy, xgboost' 2>/dev/null ||
	die "needs python3-numpy and python3-xgboost"
rows=$(count "$N")
mkdir -p "$work"
model=$work/score-model.json
data=$work/score-$N.fsr

# The model, the rows as FEATURES records and as a .npy for xgboost.
echo "making $model and $data" >&2
$PY - "$rows" "$model" "$data" <<'EOF' || die "cannot make the data"
import sys
import numpy as np
import xgboost as xgb
n, model, data = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = np.random.default_rng(7)
names = ["f%d" % i for i in range(20)]
Xt = rng.standard_normal((20000, 20)).astype(np.float32)
y = (Xt[:, 0] + Xt[:, 1] * Xt[:, 2] + rng.standard_normal(20000) > 0.5)
b = xgb.train({"max_depth": 6, "objective": "binary:logistic", "eta": 0.1,
               "nthread": 2, "seed": 7},
              xgb.DMatrix(Xt, y.astype(int), feature_names=names), 100)
b.save_model(model)
X = rng.standard_normal((n, 20)).astype(np.float32)
X[rng.random((n, 20)) < 0.05] = np.nan
np.save(data + ".npy", X)
import struct
hdr = struct.Struct("<IHBBqqQQ")
sch = struct.pack("<HHI", 8, 20, 1) + bytes([7]) * 20
sch += b"".join(s.encode() + b"\0" for s in names)
sch += b"\0" * ((-len(sch)) % 8)
dt = np.dtype([("len", "<u4"), ("type", "<u2"), ("ver", "u1"), ("fl", "u1"),
               ("te", "<i8"), ("ti", "<i8"), ("key", "<u8"), ("seq", "<u8"),
               ("nc", "<u4"), ("sid", "<u4"), ("v", "<f4", (20,))])
rec = np.zeros(n, dtype=dt)
rec["len"], rec["type"], rec["ver"] = 40 + 8 + 80 - 4, 8, 1
rec["seq"], rec["nc"], rec["sid"], rec["v"] = np.arange(n), 20, 1, X
with open(data, "wb") as f:
    f.write(hdr.pack(36 + len(sch), 0x102, 1, 1, 0, 0, 0, 0) + sch)
    f.write(rec.tobytes())
EOF

# best CMD: smallest wall time in ns of $RUNS runs of CMD.
best() {
	local i t0 t1 d min=0
	for ((i = 0; i < RUNS; i++)); do
		t0=$(date +%s%N)
		bash -o pipefail -c "$1" 2>"$work/score-stats.txt" ||
			die "failed: $1: $(cat "$work/score-stats.txt")"
		t1=$(date +%s%N)
		d=$((t1 - t0))
		if [ $min -eq 0 ] || [ $d -lt $min ]; then
			min=$d
			cp "$work/score-stats.txt" "$work/score-best.txt"
		fi
	done
	echo $min
}

mrate() {
	awk -v r="$1" -v ns="$2" 'BEGIN { printf "%.2f", r / (ns / 1e9) / 1e6 }'
}

# stat FIELD: a figure of the best run's --stats line.
stat() {
	case $1 in
	busy) sed -n 's/.*scoring busy [0-9.]* s, \([0-9]*\) rows.*/\1/p' ;;
	p99) sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' ;;
	esac <"$work/score-best.txt"
}

# Correctness first: the tool's scores against predict.
echo "checking scores against Booster.predict" >&2
fs-score-gpu -m "$model" --device cpu -i "$data" -o "$work/score-out.fsr" \
	2>/dev/null || die "fs-score-gpu failed"
maxdiff=$($PY - "$model" "$data" "$work/score-out.fsr" <<'EOF'
import sys
import numpy as np
import xgboost as xgb
b = xgb.Booster(model_file=sys.argv[1])
X = np.load(sys.argv[2] + ".npy")
raw = open(sys.argv[3], "rb").read()
# skip the forwarded SCHEMA frame, then 128-byte SCOREs, score at 40
first = int.from_bytes(raw[:4], "little") + 4
s = np.frombuffer(raw[first:], dtype=np.uint8).reshape(-1, 128)
got = s[:, 40:48].copy().view("<f8").ravel()
want = b.predict(xgb.DMatrix(X, feature_names=b.feature_names))
print("%.3g" % np.abs(got - want).max())
EOF
)

# One round: the tool once, then xgboost once (predict and inplace_predict,
# seconds); rounds alternate so both see the same load.  Best of $RUNS.
cat >"$work/score-xgb.py" <<'EOF'
import sys, time
import numpy as np
import xgboost as xgb
b = xgb.Booster(model_file=sys.argv[1])
X = np.load(sys.argv[2] + ".npy")
t = int(sys.argv[3])
b.set_param({"nthread": t})
d = xgb.DMatrix(X, nthread=t, feature_names=b.feature_names)
t0 = time.perf_counter()
b.predict(d)  # a fresh DMatrix each run: no cached result
tp = time.perf_counter() - t0
t0 = time.perf_counter()
b.inplace_predict(X)
ti = time.perf_counter() - t0
print("%.6f %.6f %s" % (tp, ti, xgb.__version__))
EOF
t_fs=0 xg_p=0 xg_i=0
for ((r = 0; r < RUNS; r++)); do
	echo "cpu round $((r + 1)): fs-score-gpu and xgboost, $THREADS threads" >&2
	t=$(RUNS=1 best "fs-score-gpu -m $model --device cpu -j $THREADS --stats -i $data -o /dev/null")
	if [ $t_fs -eq 0 ] || [ "$t" -lt $t_fs ]; then
		t_fs=$t
		cp "$work/score-best.txt" "$work/score-cpu.txt"
	fi
	read -r p i xg_ver < <($PY "$work/score-xgb.py" "$model" "$data" \
		"$THREADS") || die "xgboost failed"
	xg_p=$(awk -v a="$p" -v b="$xg_p" 'BEGIN { print (b == 0 || a < b ? a : b) }')
	xg_i=$(awk -v a="$i" -v b="$xg_i" 'BEGIN { print (b == 0 || a < b ? a : b) }')
done
cp "$work/score-cpu.txt" "$work/score-best.txt"
busy=$(stat busy)
xg_pred=$(awk -v n="$rows" -v t="$xg_p" 'BEGIN { printf "%.2f", n / t / 1e6 }')
xg_inpl=$(awk -v n="$rows" -v t="$xg_i" 'BEGIN { printf "%.2f", n / t / 1e6 }')
r_fs=$(mrate "$rows" "$t_fs")
r_busy=$(awk -v b="$busy" 'BEGIN { printf "%.2f", b / 1e6 }')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
verdict() { awk -v r="$1" 'BEGIN { print (r >= 2 ? "met" : "**not met**") }'; }
x1=$(ratio "$r_fs" "$xg_pred")
x2=$(ratio "$r_fs" "$xg_inpl")

cat <<EOF
# Scoring benchmark (fs-score-gpu)

$(machine "$load0")
Model: XGBoost binary:logistic, 100 trees, depth 6, 20 features
(python3-xgboost $xg_ver). $rows rows, 5% missing values. Best of $RUNS
rounds; each round runs fs-score-gpu, then xgboost, so both see the same
load.
fs-score-gpu's scores differ from \`Booster.predict\` by at most $maxdiff.

## CPU, $THREADS threads

| tool | what is timed | M rows/s | fs-score-gpu / it | target |
|---|---|---:|---:|---|
| fs-score-gpu --device cpu -j $THREADS | whole run: read FEATURES file, score, write SCOREs | $r_fs | 1.0 | |
| (same run) | scoring only (\`--stats\` busy time) | $r_busy | | |
| xgboost Booster.predict, nthread=$THREADS | predict on a fresh DMatrix (not its construction) | $xg_pred | $x1 | >= 2x: $(verdict "$x1") |
| xgboost Booster.inplace_predict, nthread=$THREADS | predict from the numpy array | $xg_inpl | $x2 | |

EOF

# GPU, where there is one.
ver=$(fs-score-gpu --version)
if ! grep -q '^features: cuda' <<<"$ver"; then
	echo "## GPU"
	echo
	echo "Skipped: this build lacks CUDA support (no nvcc at build time)."
	exit 0
fi
if grep -q '^cuda device: no' <<<"$ver"; then
	echo "## GPU"
	echo
	echo "Skipped: no CUDA device on this machine ($(sed -n 's/^cuda device: //p' <<<"$ver"))."
	exit 0
fi
dev=$(sed -n 's/^cuda device: //p' <<<"$ver")
cat <<EOF
## GPU: $dev

Device rows/s: rows over the summed device time of the batches (copy in,
kernel, copy out, CUDA events); whole run: rows over the wall time of the
run, reading and writing included. p99: of the per-batch device time.

| batch | device M rows/s | whole run M rows/s | p99 batch ms | target |
|---:|---:|---:|---:|---|
EOF
for bt in 1024 8192 65536; do
	echo "gpu: batch $bt" >&2
	t=$(best "fs-score-gpu -m $model --device gpu --batch $bt --stats -i $data -o /dev/null")
	dr=$(awk -v b="$(stat busy)" 'BEGIN { printf "%.1f", b / 1e6 }')
	p99=$(stat p99)
	tgt=""
	[ $bt = 8192 ] && tgt="p99 < 1 ms: $(awk -v p="$p99" 'BEGIN { print (p < 1 ? "met" : "**not met**") }')"
	[ $bt = 65536 ] && tgt="> 100 M rows/s: $(awk -v r="$dr" 'BEGIN { print (r > 100 ? "met" : "**not met**") }')"
	echo "| $bt | $dr | $(mrate "$rows" "$t") | $p99 | $tgt |"
done
