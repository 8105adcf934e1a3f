#!/usr/bin/env bash
# bench/gpu-check.sh - the checks that need an NVIDIA GPU, in one run
# from a fresh checkout: build with nvcc, then
#   1. GPU == CPU within 1e-6 on every model kind: XGBoost depths 2-10,
#      LightGBM (zero-as-missing, averaged), logistic, categorical
#      (XGBoost sets, LightGBM bitsets), multi-class, every objective,
#      models/fraud-v1.json (tests/oracle/test_score.py, test_score_models.py
#      and the kernels-emu-models.py models scored through fs-score-gpu);
#   2. bench/score.sh's GPU section: rows/s at --batch 1k, 8k, 64k and the
#      p99 batch latency (N rows, default 1M; RUNS=1).
# Prints a short summary; exits 0 with "SKIP" where the build has no CUDA
# or no device is seen, 1 when a check fails.
#
#   B=build-gpu   build folder;  N=1M rows for the benchmark;  NOBENCH=1
set -u
cd "$(dirname "$0")/.." || exit 1
B=${B:-build-gpu}
export B
log=$B/gpu-check.log
mkdir -p "$B"
: >"$log"

echo "gpu-check: building in $B (make B=$B all)"
if ! make -j"$(nproc)" B="$B" all >>"$log" 2>&1; then
	echo "gpu-check: FAIL: the build failed (see $log)"
	tail -20 "$log"
	exit 1
fi
ver=$("$B/bin/fs-score-gpu" --version)
if ! grep -q '^features: .*cuda' <<<"$ver"; then
	echo "gpu-check: SKIP: this build lacks CUDA support (no nvcc)"
	exit 0
fi
dev=$(sed -n 's/^cuda device: //p' <<<"$ver")
case $dev in
no*|"")
	echo "gpu-check: SKIP: no CUDA device ($dev)"
	exit 0
	;;
esac
echo "gpu-check: device: $dev"

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
fail=0

# 1. oracle tests (their GPU checks run when a device is present)
for t in tests/oracle/test_score.py tests/oracle/test_score_models.py; do
	out=$($PY "$t" 2>&1)
	echo "$out" >>"$log"
	nok=$(grep -c '^ok' <<<"$out")
	bad=$(grep '^not ok' <<<"$out")
	gpu=$(grep '^ok.* - gpu' <<<"$out" | grep -vc SKIP)
	if [ -n "$bad" ]; then
		fail=1
		echo "gpu-check: FAIL: $t:"
		echo "$bad" | head -20
	else
		echo "gpu-check: ok: $t ($nok checks, $gpu of them GPU == CPU)"
	fi
done

# the kernel-emulation models and fraud-v1, GPU against CPU
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
$PY tests/unit/kernels-emu-models.py "$dir" >>"$log" 2>&1
cp models/fraud-v1.json "$dir/"
out=$(PATH=$B/bin:$PATH $PY - "$dir" <<'EOF'
import glob, os, subprocess, sys
import numpy as np
sys.path.insert(0, "tests/oracle")
from test_score import features_frames, read_frames, run, schema
bad = 0
for fn in sorted(glob.glob(os.path.join(sys.argv[1], "*.json")) +
                 glob.glob(os.path.join(sys.argv[1], "*.txt"))):
    if fn.endswith("gen.log"):
        continue
    names = subprocess.run(
        [sys.executable, "-c", "import json,sys\n"
         "t=open(sys.argv[1]).read()\n"
         "if t.startswith('tree'):\n"
         " print(next(l for l in t.split('\\n') if l.startswith('feature_names=')).split('=',1)[1])\n"
         "else:\n"
         " j=json.loads(t.replace('NaN','0'))\n"
         " print(' '.join(j['learner']['feature_names'] if 'learner' in j else j['feature_names']))",
         fn], capture_output=True, text=True).stdout.split()
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20000, len(names))).astype(np.float32) * 3
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, ::3] = np.round(X[:, ::3] * 5)     # category-like columns
    data = schema(names) + features_frames(X)
    r = []
    for dev in ("cpu", "gpu"):
        p = run(["-m", fn, "--device", dev, "--batch", "8192"], data)
        r.append([f[6][:20] for f in read_frames(p.stdout) if f[0] == 9])
    c = np.frombuffer(b"".join(x[:8] for x in r[0]), "<f8")
    g = np.frombuffer(b"".join(x[:8] for x in r[1]), "<f8")
    ok = len(c) == len(g) == len(X) and np.all(np.abs(c - g) <= 1e-6)
    ok = ok and [x[18:20] for x in r[0]] == [x[18:20] for x in r[1]]
    d = float(np.max(np.abs(c - g))) if len(c) == len(g) and len(c) else -1
    print("%s %s max|gpu-cpu| %g" % ("ok" if ok else "not ok",
                                     os.path.basename(fn), d))
    bad += not ok
sys.exit(1 if bad else 0)
EOF
) || fail=1
echo "$out" >>"$log"
n=$(grep -c '^ok' <<<"$out")
if grep -q '^not ok' <<<"$out"; then
	echo "gpu-check: FAIL: emulation models, GPU != CPU:"
	grep '^not ok' <<<"$out"
else
	echo "gpu-check: ok: $n emulation models and fraud-v1, GPU == CPU"
fi

# 2. the GPU benchmark
if [ -z "${NOBENCH:-}" ]; then
	md=$(N=${N:-1M} RUNS=1 bash bench/score.sh 2>>"$log")
	echo "$md" >>"$log"
	echo "gpu-check: bench/score.sh GPU section:"
	sed -n '/^## GPU/,$p' <<<"$md" | grep -E '^## GPU|^\| *[0-9]'
fi
[ $fail = 0 ] && echo "gpu-check: PASS (log: $log)" ||
	echo "gpu-check: FAIL (log: $log)"
exit $fail
