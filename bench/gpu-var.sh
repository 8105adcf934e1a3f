#!/usr/bin/env bash
# bench/gpu-var.sh - fs-var --method mc paths/s on the GPU (--gpu) and on
# the CPU in one run, and the ratio GPU/CPU, as Markdown.  For a CUDA
# build (make finds nvcc) on a machine with an NVIDIA GPU; it stops
# when fs-var says the paths are not drawn on a device.
#
#   The data of bench/var.sh (500 symbols, one portfolio of all 500,
#   made by it when missing); PATHS paths per update, an update every
#   MC_EVERY; paths/s = PATHS x updates / (wall - wall of the same run
#   with no update).  The VaRs of the two runs agree within 2% (the
#   draws differ, their distribution does not).
#
#   PATHS=100000 MC_EVERY=400d WINDOW=250 RUNS=3
set -u
. "$(dirname "$0")/lib.sh"
PATHS=${PATHS:-100000}
MC_EVERY=${MC_EVERY:-400d}
WINDOW=${WINDOW:-250}
need fs-var fs-cat
load0=$(load)
d=$work/var
[ -s "$d/in.fsr" ] || bash bench/var.sh >/dev/null ||
	die "bench/var.sh could not make the data"
mc="fs-var -q --method mc --paths $PATHS --window $WINDOW"
fs-var --method mc --gpu --paths 1000 --every 100000d -i "$d/in.fsr" \
	-o /dev/null 2>"$d/gpu.err"
grep -q "mc paths on the CPU" "$d/gpu.err" && die "$(head -1 "$d/gpu.err")"
dev=$(sed -n 's/^fs-var: --gpu: mc paths on //p' "$d/gpu.err")
[ -n "$dev" ] || die "no device named: $(cat "$d/gpu.err")"

$mc --every "$MC_EVERY" -i "$d/in.fsr" | fs-cat -f csv --no-header \
	--fields var >"$d/cpu.csv"
$mc --gpu --every "$MC_EVERY" -i "$d/in.fsr" | fs-cat -f csv --no-header \
	--fields var >"$d/gpu.csv"
upd=$(($(wc -l <"$d/cpu.csv") / 2))
[ "$upd" -gt 0 ] || die "mc made no update"
paste -d, "$d/cpu.csv" "$d/gpu.csv" | awk -F, '{
	r = $2 / $1; if (r < 0.98 || r > 1.02) bad = bad " " $1 "/" $2 }
	END { if (bad != "") { print "GPU and CPU VaR differ:" bad; exit 1 } }' ||
	die "the GPU's VaR is not the CPU's"
none=$(best "$mc --every 100000d -i $d/in.fsr -o /dev/null")
cpu=$(best "$mc --every $MC_EVERY -i $d/in.fsr -o /dev/null")
gpu=$(best "$mc --gpu --every $MC_EVERY -i $d/in.fsr -o /dev/null")
cpu_ps=$((PATHS * upd * 1000000000 / (cpu - none)))
gpu_ps=$((PATHS * upd * 1000000000 / (gpu - none)))
cat <<MD
## fs-var mc: GPU against CPU

$(machine "$load0")
GPU: $dev.
$PATHS paths over 500 symbols per update, $upd updates; best of $RUNS runs.

| path | paths/s | ms per update |
|---|---:|---:|
| CPU | $cpu_ps | $(((cpu - none) / upd / 1000000)) |
| GPU (--gpu) | $gpu_ps | $(((gpu - none) / upd / 1000000)) |

GPU/CPU: $(ratio "$gpu_ps" "$cpu_ps")x (the update also computes the
covariance and its factor on the CPU, and sorts the paths there).
MD
