#!/usr/bin/env bash
# bench/replay.sh - fs-replay --speed max from a plain record file,
# against cat of the same file and zstd -dc of its zstd-compressed copy
# (the floor an archive replay decompressing segments has to beat),
# in the same run, printed as Markdown on stdout (progress on stderr).
#
# Data (bench/work/, git-ignored):
#   fs-gen --kind txn -n $N --seed 7 --disorder 1s > replay-$N.fsr
#   zstd -3 of it > replay-$N.fsr.zst
#
#   N=3M     records (k, M suffixes)
#   RUNS=3   rounds, interleaved; the best wall time of each counts
set -u
. "$(dirname "$0")/lib.sh"
N=${N:-3M}
need fs-gen fs-replay fs-stat
command -v zstd >/dev/null || die "zstd not installed (Debian: zstd)"
load0=$(load)
recs=$(count "$N")
mkdir -p "$work"

f=$work/replay-$N.fsr
if [ ! -s "$f.zst" ]; then
	echo "making $f and $f.zst" >&2
	fs-gen --kind txn -n "$recs" --seed 7 --disorder 1s >"$f" &&
		zstd -q -3 -f "$f" -o "$f.zst" || die "cannot make the data"
fi
bytes=$(stat -c %s "$f")
zbytes=$(stat -c %s "$f.zst")

# The same records out (ts_ingest aside)?
[ "$(fs-replay -i "$f" | fs-stat -q 2>&1 >/dev/null | head -1 |
	awk '{ print $2 }')" = "$recs" ] || die "fs-replay lost records"

# rate NS: records per second, in millions, 3 significant digits.
rate() {
	awk -v r="$recs" -v ns="$1" 'BEGIN { x = r / (ns / 1e9) / 1e6
		printf (x >= 10 ? "%.1f" : x >= 1 ? "%.2f" : "%.3g"), x }'
}
mbs() {
	awk -v b="$bytes" -v ns="$1" 'BEGIN { printf "%.0f", b / (ns / 1e9) / 1e6 }'
}

declare -A cmd t
cmd[replay]="fs-replay -i $f >/dev/null"
cmd[replay_pipe]="fs-replay -i $f | cat >/dev/null"
cmd[replay_filter]="fs-replay -i $f --types txn --from 2026-01-02T00:30Z \
--key 10000001,10000002 >/dev/null"
cmd[cat]="cat $f >/dev/null"
cmd[cat_pipe]="cat $f | cat >/dev/null"
cmd[zstd]="zstd -q -dc $f.zst >/dev/null"
cmd[zstd_pipe]="zstd -q -dc $f.zst | cat >/dev/null"
names="replay replay_pipe replay_filter cat cat_pipe zstd zstd_pipe"

# Interleaved rounds, so a change in the machine's load hits each alike.
echo "timing, $RUNS rounds" >&2
cat "$f" "$f.zst" >/dev/null	# both in the page cache
for ((i = 0; i < RUNS; i++)); do
	for s in $names; do
		d=$(timed "${cmd[$s]}")
		if [ -z "${t[$s]:-}" ] || [ "$d" -lt "${t[$s]}" ]; then
			t[$s]=$d
		fi
	done
done

cat <<EOF
# fs-replay --speed max

$(machine "$load0")

$recs TXN records ($N, fs-gen --seed 7 --disorder 1s), $bytes bytes; zstd -3
copy $zbytes bytes.  Best of $RUNS interleaved rounds, files in the page
cache; records/s = $recs / wall time.

| command | wall | records/s | MB/s of frames | fs-replay vs it |
|---|---:|---:|---:|---:|
| \`fs-replay -i F >/dev/null\` | $((t[replay] / 1000000)) ms | $(rate "${t[replay]}") M | $(mbs "${t[replay]}") | |
| \`cat F >/dev/null\` | $((t[cat] / 1000000)) ms | $(rate "${t[cat]}") M | $(mbs "${t[cat]}") | $(ratio "${t[cat]}" "${t[replay]}")x |
| \`zstd -dc F.zst >/dev/null\` | $((t[zstd] / 1000000)) ms | $(rate "${t[zstd]}") M | $(mbs "${t[zstd]}") | $(ratio "${t[zstd]}" "${t[replay]}")x |
| \`fs-replay -i F \\| cat >/dev/null\` | $((t[replay_pipe] / 1000000)) ms | $(rate "${t[replay_pipe]}") M | $(mbs "${t[replay_pipe]}") | |
| \`cat F \\| cat >/dev/null\` | $((t[cat_pipe] / 1000000)) ms | $(rate "${t[cat_pipe]}") M | $(mbs "${t[cat_pipe]}") | $(ratio "${t[cat_pipe]}" "${t[replay_pipe]}")x |
| \`zstd -dc F.zst \\| cat >/dev/null\` | $((t[zstd_pipe] / 1000000)) ms | $(rate "${t[zstd_pipe]}") M | $(mbs "${t[zstd_pipe]}") | $(ratio "${t[zstd_pipe]}" "${t[replay_pipe]}")x |
| \`fs-replay -i F --types txn --from ... --key K,K >/dev/null\` (filters, reads all) | $((t[replay_filter] / 1000000)) ms | $(rate "${t[replay_filter]}") M | $(mbs "${t[replay_filter]}") | |

"fs-replay vs it": the peer's wall time over fs-replay's on the same
path (above 1: fs-replay is faster).  fs-replay checks every frame,
filters, sets ts_ingest and writes in 1 MiB blocks; cat copies bytes.
EOF
