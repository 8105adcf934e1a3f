#!/usr/bin/env bash
# bench/pii.sh - PII encryption's figures (libcommon/pii.c), printed as
# Markdown on stdout (progress on stderr):
#
#   (a) in memory: fs_pii_seal and fs_pii_open over N TXN records of
#       `fs-gen --kind txn` (the test driver $B/tests/pii-tool bench,
#       one core), for 10k and 1M accounts; the first seal round makes
#       and inserts every subject's key, later rounds find them cached;
#       target well over 1M records/s a core
#   (b) through pipes: pii-tool seal and open from a file to /dev/null,
#       against fs-stat passing the same file through
#   (c) the peer: OpenSSL's own AES-256-GCM on 64-byte messages
#       (`openssl speed -aead`), about a TXN's AAD and plaintext
#
#   N=2M  RUNS=3
set -u
. "$(dirname "$0")/lib.sh"
N=${N:-2M}
need fs-gen fs-stat
PT=$B/tests/pii-tool
[ -x "$PT" ] || die "no $PT: run 'make B=$B test-tools'"
load0=$(load)
rows=$(count "$N")
mkdir -p "$work"
export FS_MASTER_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')

declare -A fsr
for k in 10000 1000000; do
	fsr[$k]=$work/pii-txn-$N-$k.fsr
	if [ ! -s "${fsr[$k]}" ]; then
		echo "making ${fsr[$k]}" >&2
		fs-gen --kind txn -n "$rows" --keys "$k" --seed 11 \
			-o "${fsr[$k]}.tmp" && mv "${fsr[$k]}.tmp" "${fsr[$k]}" ||
			die "cannot make ${fsr[$k]}"
	fi
done

# mem KEYS: "records seal open first_seal" of a fresh store.
mem() {
	local db=$work/pii-keys.db out
	rm -f "$db" "$db-wal" "$db-shm"
	out=$("$PT" bench "$db" "${fsr[$1]}" "$RUNS") || die "pii-tool bench"
	rm -f "$db" "$db-wal" "$db-shm"
	awk '{ print $2, $4, $6, $8 }' <<<"$out"
}
m() {
	awk -v r="$1" 'BEGIN { printf "%.2f", r / 1e6 }'
}

echo "(a) in memory" >&2
read -r n10k s10k o10k f10k < <(mem 10000)
read -r n1m s1m o1m f1m < <(mem 1000000)

echo "(b) pipes" >&2
f=${fsr[10000]}
db=$work/pii-keys.db
rm -f "$db" "$db-wal" "$db-shm"
"$PT" seal "$db" <"$f" >"$work/pii-sealed.fsr" || die "pii-tool seal"
t_seal=$(best "$PT seal $db < $f > /dev/null")
t_open=$(best "$PT open $db < $work/pii-sealed.fsr > /dev/null")
t_stat=$(best "fs-stat -q -i $f -o /dev/null 2>/dev/null")
cmp -s <("$PT" open "$db" <"$work/pii-sealed.fsr") "$f" ||
	die "opened stream differs from the input"
rm -f "$db" "$db-wal" "$db-shm"
recs=$n10k
rate() {
	awk -v r="$recs" -v ns="$1" 'BEGIN { printf "%.2f", r / (ns / 1e9) / 1e6 }'
}
sz() {
	du -h "$1" | cut -f1
}

echo "(c) openssl speed" >&2
ossl=$(openssl speed -seconds 1 -bytes 64 -aead -evp aes-256-gcm \
	2>/dev/null | awk '/^AES-256-GCM/ { sub(/k$/, "", $2); print $2 }')
ossl_m=$(awk -v k="${ossl:-0}" 'BEGIN { printf "%.2f", k * 1000 / 64 / 1e6 }')
aesni=$(grep -qw aes /proc/cpuinfo && echo yes || echo no)
verdict() {
	awk -v r="$1" 'BEGIN { print (r >= 1e6 ? "met" : "**not met**") }'
}

cat <<EOF
# PII encryption benchmark

$(machine "$load0")
AES-NI: $aesni; $(openssl version).
Input: \`fs-gen --kind txn -n $N --seed 11\` ($recs frames with the
WATERMARKs, which pass through), $(sz "$f"); sealed $(sz "$work/pii-sealed.fsr").
One process, one core.

## (a) In memory (fs_pii_seal, fs_pii_open)

\`pii-tool bench STORE FILE $RUNS\`: best of $RUNS rounds; the first seal
round makes each subject's key (RAND_bytes, wrapped, inserted in
batched transactions), later rounds find it in the handle's table.

| accounts | seal, first round | seal | open | M records/s target > 1 |
|---|---|---|---|---|
| 10k | $(m "$f10k") | $(m "$s10k") | $(m "$o10k") | $(verdict "$s10k") |
| 1M | $(m "$f1m") | $(m "$s1m") | $(m "$o1m") | $(verdict "$s1m") |

(M records/s.)

## (b) Through pipes, 10k accounts

Best of $RUNS wall times, file to \`/dev/null\`.

| what | command | M records/s |
|---|---|---|
| seal | \`pii-tool seal STORE < F\` | $(rate "$t_seal") |
| open | \`pii-tool open STORE < SEALED\` | $(rate "$t_open") |
| frames through, no crypto | \`fs-stat -q -i F\` | $(rate "$t_stat") |

## (c) The peer: OpenSSL alone

\`openssl speed -seconds 1 -bytes 64 -aead -evp aes-256-gcm\`:
$ossl_m M messages/s of 64 bytes (a sealed TXN authenticates 112 bytes
and encrypts 24).
EOF
