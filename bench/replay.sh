#!/usr/bin/env bash
# bench/replay.sh - fs-replay --speed max from a plain record file and
# from an fs-archive directory of the same records (--dir), against cat
# of the file and zstd -dc of its zstd-compressed copy (the floor an
# archive replay decompressing segments has to beat), in the same run;
# and the time to the first record for --from the middle hour of a
# 24-segment archive of 1 h segments (the name and index seeks).
# Printed as Markdown on stdout (progress on stderr).
#
# Data (bench/work/, git-ignored):
#   fs-gen --kind txn -n $N --seed 7 --disorder 1s > replay-$N.fsr
#   zstd -3 of it > replay-$N.fsr.zst
#   fs-archive write --dir replay-$N.arc < replay-$N.fsr (256 MiB segments)
#   fs-gen --kind txn -n 2400000 --event-rate 27.78 --disorder 1s
#     | fs-archive write --dir replay-24h.arc --segment 1h (24 segments)
#
#   N=3M     records (k, M suffixes)
#   RUNS=3   rounds, interleaved; the best wall time of each counts
set -u
. "$(dirname "$0")/lib.sh"
N=${N:-3M}
need fs-gen fs-replay fs-stat fs-archive
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
arc=$work/replay-$N.arc
if [ ! -d "$arc" ]; then
	echo "making $arc" >&2
	fs-archive write --dir "$arc" -i "$f" 2>/dev/null ||
		die "cannot make the archive"
fi
day=$work/replay-24h.arc
if [ ! -d "$day" ]; then
	echo "making $day" >&2
	fs-gen --kind txn -n 2400000 --seed 7 --event-rate 27.78 \
		--disorder 1s | fs-archive write --dir "$day" --segment 1h \
		2>/dev/null || die "cannot make the 24 h archive"
fi
nday=$(ls "$day" | grep -c '^seg-')
[ "$nday" -ge 24 ] || die "$day holds $nday segments, not 24"
bytes=$(stat -c %s "$f")
zbytes=$(stat -c %s "$f.zst")

# The same records out (ts_ingest aside)?
[ "$(fs-replay -i "$f" | fs-stat -q 2>&1 >/dev/null | head -1 |
	awk '{ print $2 }')" = "$recs" ] || die "fs-replay lost records"
fs-replay --dir "$arc" --keep-ingest | cmp -s - "$f" ||
	die "fs-replay --dir does not give the archived frames back"

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
cmd[replay_dir]="fs-replay --dir $arc >/dev/null"
cmd[replay_dir_pipe]="fs-replay --dir $arc | cat >/dev/null"
cmd[replay_pipe]="fs-replay -i $f | cat >/dev/null"
cmd[replay_filter]="fs-replay -i $f --types txn --from 2026-01-02T00:30Z \
--key 10000001,10000002 >/dev/null"
cmd[cat]="cat $f >/dev/null"
cmd[cat_pipe]="cat $f | cat >/dev/null"
cmd[zstd]="zstd -q -dc $f.zst >/dev/null"
cmd[zstd_pipe]="zstd -q -dc $f.zst | cat >/dev/null"
names="replay replay_dir replay_pipe replay_dir_pipe replay_filter cat \
cat_pipe zstd zstd_pipe"
# the middle hour of the 24 h archive (fs-gen starts at 00:00Z)
mid=2026-01-02T12:00Z
cmd[seek_head]="fs-replay --dir $day --from $mid | head -c 100 >/dev/null"
cmd[seek_2s]="fs-replay --dir $day --from $mid --to 2026-01-02T12:00:02Z \
>/dev/null"
cmd[scan_head]="fs-replay --dir $day | head -c 100 >/dev/null"
seeks="seek_head seek_2s scan_head"

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
# the seeks: best of 10
for ((i = 0; i < 10; i++)); do
	for s in $seeks; do
		d=$(timed "${cmd[$s]}")
		if [ -z "${t[$s]:-}" ] || [ "$d" -lt "${t[$s]}" ]; then
			t[$s]=$d
		fi
	done
done
ms() {
	awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e6 }'
}

cat <<EOF
# fs-replay --speed max

$(machine "$load0")

$recs TXN records ($N, fs-gen --seed 7 --disorder 1s), $bytes bytes; zstd -3
copy $zbytes bytes.  Best of $RUNS interleaved rounds, files in the page
cache; records/s = $recs / wall time.

| command | wall | records/s | MB/s of frames | fs-replay vs it |
|---|---:|---:|---:|---:|
| \`fs-replay -i F >/dev/null\` | $((t[replay] / 1000000)) ms | $(rate "${t[replay]}") M | $(mbs "${t[replay]}") | |
| \`fs-replay --dir A >/dev/null\` (the archive of F) | $((t[replay_dir] / 1000000)) ms | $(rate "${t[replay_dir]}") M | $(mbs "${t[replay_dir]}") | |
| \`cat F >/dev/null\` | $((t[cat] / 1000000)) ms | $(rate "${t[cat]}") M | $(mbs "${t[cat]}") | $(ratio "${t[cat]}" "${t[replay]}")x |
| \`zstd -dc F.zst >/dev/null\` | $((t[zstd] / 1000000)) ms | $(rate "${t[zstd]}") M | $(mbs "${t[zstd]}") | $(ratio "${t[zstd]}" "${t[replay]}")x; --dir: $(ratio "${t[zstd]}" "${t[replay_dir]}")x |
| \`fs-replay -i F \\| cat >/dev/null\` | $((t[replay_pipe] / 1000000)) ms | $(rate "${t[replay_pipe]}") M | $(mbs "${t[replay_pipe]}") | |
| \`fs-replay --dir A \\| cat >/dev/null\` | $((t[replay_dir_pipe] / 1000000)) ms | $(rate "${t[replay_dir_pipe]}") M | $(mbs "${t[replay_dir_pipe]}") | |
| \`cat F \\| cat >/dev/null\` | $((t[cat_pipe] / 1000000)) ms | $(rate "${t[cat_pipe]}") M | $(mbs "${t[cat_pipe]}") | $(ratio "${t[cat_pipe]}" "${t[replay_pipe]}")x |
| \`zstd -dc F.zst \\| cat >/dev/null\` | $((t[zstd_pipe] / 1000000)) ms | $(rate "${t[zstd_pipe]}") M | $(mbs "${t[zstd_pipe]}") | $(ratio "${t[zstd_pipe]}" "${t[replay_pipe]}")x; --dir: $(ratio "${t[zstd_pipe]}" "${t[replay_dir_pipe]}")x |
| \`fs-replay -i F --types txn --from ... --key K,K >/dev/null\` (filters, reads all) | $((t[replay_filter] / 1000000)) ms | $(rate "${t[replay_filter]}") M | $(mbs "${t[replay_filter]}") | |

"fs-replay vs it": the peer's wall time over fs-replay's on the same
path (above 1: fs-replay is faster).  fs-replay checks every frame,
filters, sets ts_ingest and writes in 1 MiB blocks; cat copies bytes.
--dir A: fs-replay reading the fs-archive directory of F's frames
($(ls "$arc" | grep -c '^seg-') segments of at most 256 MiB, zstd -3 as the .zst), decompressing
through libarchive; the aim is at least 0.8 of zstd -dc's rate, so
"--dir" in the last column at least 0.8x.

## Time to the first record: --from the middle hour of 24 h

$(ls "$day" | grep -c '^seg-') segments of 1 h (2400000 TXN records, 100000 an hour, about
$(du -sk "$day" | awk '{ print int($1 / 1024) }') MiB), best of 10 runs, process start included.

| command | wall |
|---|---:|
| \`fs-replay --dir D --from 12:00Z \\| head -c 100\` | $(ms "${t[seek_head]}") ms |
| \`fs-replay --dir D --from 12:00Z --to 12:00:02Z >/dev/null\` | $(ms "${t[seek_2s]}") ms |
| \`fs-replay --dir D \\| head -c 100\` (the first hour, no seek) | $(ms "${t[scan_head]}") ms |

fs-replay opens only the segments whose names say they may hold
--from (fs_arc_overlaps), and in each skips to the index block that
holds the first record at or after it; the aim is under 50 ms.
EOF
