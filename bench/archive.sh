#!/usr/bin/env bash
# bench/archive.sh - fs-archive write against zstd -3 on the same
# frames, in the same run, and the seek to the middle hour of a
# 24-segment archive; Markdown on stdout (progress on stderr).
#
#   fs-gen --kind txn -n $N --seed 7 > archive-txn-$N.fsr   (bench/work)
#   write: fs-archive write --dir D -i FILE (segments of 256M, and of
#          64M: sealing overlaps the appends); zstd -3 -c FILE > F.zst
#   hashing: the CPU time of the same leaf and node hashes alone
#          (bench/archive-seek.c --hash), as a share of write's CPU
#   seek:  24 h of TXN at --event-rate $SEEK_RATE in --segment 1h, then
#          bench/archive-seek.c (libcommon's reader, as fs-replay reads):
#          time from start to the first record of hour 12
#
#   N=3M  RUNS=3  SEEK_RATE=20
set -u
. "$(dirname "$0")/lib.sh"
N=${N:-3M}
SEEK_RATE=${SEEK_RATE:-20}
need fs-gen fs-archive
command -v zstd >/dev/null || die "zstd not found"
load0=$(load)
rows=$(count "$N")
mkdir -p "$work"
data=$work/archive-txn-$N.fsr
if [ ! -s "$data" ]; then
	echo "making $data" >&2
	fs-gen --kind txn -n "$rows" --seed 7 >"$data" ||
		die "cannot make the data"
fi
bytes=$(stat -c %s "$data")
frames=$(python3 -c '
import sys
b = open(sys.argv[1], "rb").read()
o = n = 0
while o < len(b):
    o += int.from_bytes(b[o:o + 4], "little") + 4
    n += 1
print(n)' "$data")

# run_once NAME CMD: run CMD (bash) once; keep its wall and CPU (user +
# system) ns in $work/NAME.wall and $work/NAME.cpu when its wall time is
# the best so far.  The commands take turns, run after run, so that
# each meets the same load on a shared machine.
run_once() {
	local wall cpu u sy best
	rm -rf "$work/arc" "$work"/arc-keys.db*
	/usr/bin/time -f '%e %U %S' -o "$work/time" \
		bash -o pipefail -c "$2" 2>"$work/arc.err" || die "failed: $2"
	read -r wall u sy <"$work/time"
	wall=$(awk -v w="$wall" 'BEGIN { printf "%d", w * 1e9 }')
	cpu=$(awk -v u="$u" -v s="$sy" 'BEGIN { printf "%d", (u + s) * 1e9 }')
	best=$(cat "$work/$1.wall" 2>/dev/null || echo 0)
	if [ "$best" -eq 0 ] || [ "$wall" -lt "$best" ]; then
		echo "$wall" >"$work/$1.wall"
		echo "$cpu" >"$work/$1.cpu"
	fi
}

cc -O2 -std=c11 -D_GNU_SOURCE -Ilibcommon \
	$(pkg-config --cflags libcjson) -o "$work/archive-seek" \
	bench/archive-seek.c "$B/libfs.a" \
	$(pkg-config --libs libarchive libcjson libcrypto sqlite3 rdkafka \
		zlib liblzma libzstd double-conversion) \
	-lm -lstdc++ -pthread || die "cannot build archive-seek"
hash_s=$("$work/archive-seek" --hash "$data") || die "hashing failed"
hash_ns=$(awk -v h="$hash_s" 'BEGIN { printf "%d", h * 1e9 }')

echo "running zstd -3 and fs-archive write on $data" >&2
rm -f "$work"/zstd.wall "$work"/w256.wall "$work"/w64.wall "$work"/wpii.wall
export FS_MASTER_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
for ((i = 0; i < RUNS; i++)); do
	run_once zstd "zstd -3 -q -c '$data' > '$work/arc.zst'"
	run_once w64 "fs-archive write --dir '$work/arc' --segment-size 64M -i '$data'"
	run_once wpii "fs-archive write --dir '$work/arc' --encrypt-pii --keys '$work/arc-keys.db' -i '$data'"
	run_once w256 "fs-archive write --dir '$work/arc' -i '$data'"
done
zsize=$(stat -c %s "$work/arc.zst")
asize=$(du -cb "$work"/arc/seg-*.tar.zst | tail -1 | cut -f1)
fs-archive verify --dir "$work/arc" >/dev/null || die "verify failed"
for n in zstd w256 w64 wpii; do
	eval "${n}_w=\$(cat \"\$work/\$n.wall\")"
	eval "${n}_c=\$(cat \"\$work/\$n.cpu\")"
done

# The 24-segment archive for the seek.
seekdir=$work/arc24-$SEEK_RATE
if [ ! -d "$seekdir" ]; then
	echo "making $seekdir" >&2
	fs-gen --kind txn -n $((SEEK_RATE * 86400)) --seed 7 \
		--event-rate "$SEEK_RATE" --start 2026-11-23T00:00:00Z |
		fs-archive write --dir "$seekdir" --segment 1h 2>/dev/null ||
		die "cannot make $seekdir"
fi
nseg=$(ls "$seekdir"/seg-*.tar.zst | wc -l)
from=$(( $(date -d 2026-11-23T12:00:00Z +%s) * 1000000000 ))
to=$((from + 3600 * 1000000000))
seek_best=""
for ((i = 0; i < 5; i++)); do
	s=$("$work/archive-seek" "$seekdir" $from $to) || die "seek failed"
	ms=${s%% ms*}
	if [ -z "$seek_best" ] || awk -v a="$ms" -v b="$seek_best" \
		'BEGIN { exit !(a < b) }'; then seek_best=$ms; seek_line=$s; fi
done

mb() { awk -v b="$bytes" -v ns="$1" 'BEGIN { printf "%.0f", b / (ns / 1e9) / 1e6 }'; }
rps() { awk -v n="$frames" -v ns="$1" 'BEGIN { printf "%.2f", n / (ns / 1e9) / 1e6 }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }
sec() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e9 }'; }

cat <<EOT
# fs-archive

$(machine "$load0")

$frames frames of TXN ($((bytes / 1000000)) MB, \`fs-gen --kind txn -n $N
--seed 7\`), best of $RUNS runs by wall time, the
commands taking turns. fs-archive hashes every
record (RFC 6962 leaf and node hashes, SHA-256 by libcrypto), writes
the open segment in 1 MiB blocks and hands each block to a zstd worker
thread (level 3) that compresses it beside the hashing; sealing wraps
the compressed frames in the tar libarchive writes, in a thread beside
the next segment's appends. CPU is user + system time of all threads:
with no core free the wall time tends to it.

| command | wall s | M records/s | MB/s | vs zstd -3 | CPU s | CPU vs zstd | hashing |
|---|---:|---:|---:|---:|---:|---:|---:|
| \`zstd -3 -c\` | $(sec "$zstd_w") | $(rps "$zstd_w") | $(mb "$zstd_w") | 100% | $(sec "$zstd_c") | 100% | |
| \`fs-archive write\` (segments of 256M) | $(sec "$w256_w") | $(rps "$w256_w") | $(mb "$w256_w") | $(pct "$zstd_w" "$w256_w") | $(sec "$w256_c") | $(pct "$zstd_c" "$w256_c") | $(sec "$hash_ns") s, $(pct "$hash_ns" "$w256_c") of CPU |
| \`fs-archive write --segment-size 64M\` | $(sec "$w64_w") | $(rps "$w64_w") | $(mb "$w64_w") | $(pct "$zstd_w" "$w64_w") | $(sec "$w64_c") | $(pct "$zstd_c" "$w64_c") | $(sec "$hash_ns") s, $(pct "$hash_ns" "$w64_c") of CPU |
| \`fs-archive write --encrypt-pii\` (a new key store: every account's key made) | $(sec "$wpii_w") | $(rps "$wpii_w") | $(mb "$wpii_w") | $(pct "$zstd_w" "$wpii_w") | $(sec "$wpii_c") | $(pct "$zstd_c" "$wpii_c") | |

Sizes: zstd -3 $((zsize / 1000)) kB, the archive $((asize / 1000)) kB.
Hashing: the CPU time of the same leaf and node hashes alone, over the
frames in memory (bench/archive-seek.c --hash).

Seek: 24 h of TXN at $SEEK_RATE records/s of event time in \`--segment 1h\`
($nseg segments); the time from the start of a reader (list, pick by
name, open, index seek, read) to the first record of hour 12, best of 5
(page cache warm): **$seek_best ms** ($seek_line).
EOT
