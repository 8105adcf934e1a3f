#!/usr/bin/env bash
# bench/match.sh - fs-match's figures, printed as Markdown on stdout
# (progress on stderr):
#
#   (a) flat out: fs-match --pattern card-testing over N records of
#       `fs-gen` card transactions of 100k accounts (1% fraud) from a
#       file to /dev/null, against fs-stat passing the same file through
#       and the Python reference matcher of the tests
#       (match-oracle.py --file) on the first PY_N records, same data,
#       same run; target >= 5M events/s on one core
#   (b) p99 added latency at 1M events/s offered: fs-gen --rate 1000000
#       | fs-match | fs-stat against fs-gen | fs-stat, whole run and
#       --warmup 1s
#
# Best of $RUNS wall times; latency the median of $RUNS runs' p99.
#
#   N=5M  PY_N=200k  LAT_N=3M  RUNS=3
set -u
. "$(dirname "$0")/lib.sh"
N=${N:-5M}
PY_N=${PY_N:-200k}
LAT_N=${LAT_N:-3M}
need fs-gen fs-match fs-stat
load0=$(load)
rows=$(count "$N")
py_rows=$(count "$PY_N")
lat_rows=$(count "$LAT_N")
[ "$rows" -lt "$py_rows" ] && py_rows=$rows
mkdir -p "$work"

fsr=$work/match-txn-$N.fsr
if [ ! -s "$fsr" ]; then
	echo "making $fsr" >&2
	fs-gen -n "$rows" --keys 100000 --fraud-rate 0.01 --seed 11 \
		-o "$fsr.tmp" && mv "$fsr.tmp" "$fsr" || die "cannot make $fsr"
fi


# (a) flat out.
echo "(a) fs-match card-testing flat out over $N records" >&2
summary=$(fs-match --pattern card-testing -i "$fsr" -o /dev/null 2>&1)
matches=$(sed -n 's/^fs-match: [0-9]* events, \([0-9]*\) matches.*/\1/p' \
	<<<"$summary")
[ -n "$matches" ] || die "no summary from fs-match: $summary"
t_m=$(best "fs-match -q --pattern card-testing -i $fsr -o /dev/null")
t_mm=$(best "fs-match -q --pattern card-testing -i $fsr -o /dev/null \
	--matches /dev/null --alerts /dev/null")
t_stat=$(best "fs-stat -q -i $fsr -o /dev/null 2>/dev/null")
oracle=tests/cli/match-oracle.py
py_matches=$(python3 $oracle --file "$fsr" "$py_rows") ||
	die "the reference failed"
head_fsr=$work/match-head.fsr
python3 - "$fsr" "$py_rows" >"$head_fsr" <<'PY' || die "cannot cut $fsr"
import struct, sys
d = open(sys.argv[1], "rb").read()
o = n = 0
while o < len(d) and n < int(sys.argv[2]):
    ln, ty, ver, fl = struct.unpack_from("<IHBB", d, o)
    n += ty == 5 and not fl & 1
    o += 4 + ln
sys.stdout.buffer.write(d[:o])
PY
c_matches=$(fs-match --pattern card-testing -i "$head_fsr" -o /dev/null 2>&1 |
	sed -n 's/^fs-match: [0-9]* events, \([0-9]*\) matches.*/\1/p')
t_py=$(best "python3 $oracle --file $fsr $py_rows >/dev/null")

# (b) latency.
echo "(b) latency at 1M events/s offered, $LAT_N events" >&2
gen="fs-gen -n $lat_rows --keys 100000 --fraud-rate 0.01 --rate 1000000"
m="fs-match -q --pattern card-testing"
st="fs-stat -q --json -o /dev/null"
base_all=$(lat "$gen | $st")
m_all=$(lat "$gen | $m | $st")
base_warm=$(lat "$gen | $st --warmup 1s")
m_warm=$(lat "$gen | $m | $st --warmup 1s")
add_all=$(added "$m_all" "$base_all")
add_warm=$(added "$m_warm" "$base_warm")

r_m=$(rate "$rows" "$t_m")
r_mm=$(rate "$rows" "$t_mm")
r_stat=$(rate "$rows" "$t_stat")
r_py=$(rate "$py_rows" "$t_py")
cat <<EOF
# fs-match benchmark

$(machine "$load0")
Input: \`fs-gen -n $N --keys 100000 --fraud-rate 0.01 --seed 11\`: $rows
card transactions of 100k accounts, $(du -h "$fsr" | cut -f1), with a
WATERMARK each second of event time; pattern: the built-in card-testing
(\`T{4,}\` within 2m, fs-match(1)), $matches matches.  fs-match is one
process on one core.

## (a) Flat out

Best of $RUNS wall times, output to \`/dev/null\`.

| what | command | M events/s |
|---|---|---|
| fs-match | \`fs-match --pattern card-testing -i F -o /dev/null\` | $r_m |
| fs-match, alerts and matched events written | \`... --alerts /dev/null --matches /dev/null\` | $r_mm |
| fs-stat, frames through, no matching | \`fs-stat -q -i F -o /dev/null\` | $r_stat |
| Python reference (tests), first $py_rows events | \`match-oracle.py --file F $py_rows\` | $r_py |

On those first $py_rows events the reference finds $py_matches matches
and fs-match $c_matches.
Target >= 5M events/s: $(verdict "$r_m" 5).

## (b) Latency at 1M events/s offered

\`$gen | $m | fs-stat\`, the p99 of now \- ts_ingest (median of $RUNS
runs), against \`$gen | fs-stat\`:

| | p99 gen \| fs-stat (us) | p99 gen \| fs-match \| fs-stat (us) | added p99 (us) |
|---|---|---|---|
| whole run | $(us "$base_all") | $(us "$m_all") | $add_all |
| steady state (--warmup 1s) | $(us "$base_warm") | $(us "$m_warm") | $add_warm |

Every record passes through fs-match at once (events are held for
matching, not for output), so the added latency is that of one more
stage of the pipe: three processes on a machine of $(nproc) cores.
With fewer than four cores to themselves, the figure is mostly waits for
a core (fs-limit, another one-stage pass-through, adds ms as well on
such a machine: bench/results/limit.md).
EOF
