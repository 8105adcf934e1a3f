#!/usr/bin/env bats
# fs-archive write --encrypt-pii and fs-archive erase: the stored TXNs
# are sealed (no account in the clear, the header key a key id), open
# with the key store to the input byte for byte (the test driver
# $B/tests/pii-tool, libcommon/pii.c), verify passes; erasing a subject
# redacts exactly its records while verify and proofs still hold; a
# missing store, a wrong or missing master key write nothing; a SIGKILL
# mid-write leaves no record whose key is not in the store.
load helper

PT=$BUILD/tests/pii-tool
MK=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
	[ -x "$PT" ] || {
		echo "no $PT: run 'make B=${B:-build} test-tools'" >&2
		return 1
	}
	export FS_MASTER_KEY=$MK
	fs-gen --kind txn -n 20000 --keys 50 --seed 3 --event-rate 1000 \
		>in.fsr
}

# stored DIR: the frames of every sealed segment, in order.
stored() {
	local f
	for f in "$1"/seg-*.tar.zst; do
		tar --zstd -xOf "$f" frames.fsr || return 1
	done
}

# The TXN facts of a frame file, per TXN: "SEQ ENCRYPTED ERASED KEY
# ACCOUNT" (flags 0x04, 0x80 as 0 or 1).
txns() {
	/usr/bin/python3 - "$1" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
o = 0
while o < len(d):
    ln, ty, ver, fl, ts, ti, key, seq = struct.unpack_from("<IHBBqqQQ", d, o)
    if ty == 5 and not fl & 1:
        acct, = struct.unpack_from("<Q", d, o + 40)
        print(seq, fl >> 2 & 1, fl >> 7 & 1, key, acct)
    o += 4 + ln
EOF
}

W="fs-archive write --dir log --segment 5s --encrypt-pii --keys k.db"

@test "archive --encrypt-pii: stored TXNs are sealed, open to the input, verify OK" {
	run_t 60 $W -i in.fsr
	assert_status 0
	[ "$(ls log/seg-*.tar.zst | wc -l)" -ge 4 ]
	run_t 60 fs-archive verify --dir log
	assert_status 0
	assert_match ": OK$"
	stored log >st.fsr
	# every TXN: ENCRYPTED (0x04), account zero, key not the account
	txns in.fsr >plain.txt
	txns st.fsr >sealed.txt
	[ "$(wc -l <plain.txt)" -eq "$(wc -l <sealed.txt)" ]
	awk '$2 != 1 || $5 != 0 { bad++ } END { exit bad > 0 }' sealed.txt
	paste -d' ' plain.txt sealed.txt |
		awk '$4 == $9 { bad++ } END { exit bad > 0 }'
	timeout 60 "$PT" open k.db <st.fsr >opened.fsr
	cmp in.fsr opened.fsr
	# fs-replay with the store gives the input back, without it the
	# sealed records as stored
	run_t 60 fs-replay --dir log --keys k.db --keep-ingest -o replayed.fsr
	assert_status 0
	cmp in.fsr replayed.fsr
	run_t 60 fs-replay --dir log --keep-ingest -o sealed.fsr
	assert_status 0
	cmp st.fsr sealed.fsr
}

@test "archive erase: that subject's records come back redacted; verify and proofs hold" {
	run_t 60 $W -i in.fsr
	assert_status 0
	txns in.fsr >plain.txt
	read -r seq _ _ _ subj <plain.txt
	run_t 30 fs-archive erase --keys k.db --subject "$subj"
	assert_status 0
	assert_match "erased subject $subj"
	run_t 60 fs-archive verify --dir log
	assert_status 0
	# the erased subject's first record still proves against its root
	run_t 30 fs-archive prove --dir log --seq "$seq"
	assert_status 0
	echo "$output" >inc.json
	run_t 30 fs-archive check-proof inc.json --root "$(
		fs-archive ls --dir log --json | tail -1 |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["head"])')"
	assert_status 0
	stored log >st.fsr
	timeout 60 "$PT" open k.db <st.fsr >opened.fsr
	txns opened.fsr >opened.txt
	# ERASED (0x80), account 0 and key 0 for the subject; others intact
	paste -d' ' plain.txt opened.txt | awk -v s="$subj" '
		$5 == s { n++; if ($8 != 1 || $9 != 0 || $10 != 0) bad++;
			  next }
		$6 != $1 || $7 != $2 || $8 != $3 || $9 != $4 || $10 != $5 {
			bad++ }
		END { print n " erased"; exit bad > 0 || n == 0 }'
	[ "$(awk -v s="$subj" '$5 != s' plain.txt | wc -l)" -eq \
	  "$(awk '$3 == 0' opened.txt | wc -l)" ]
	# fs-stat counts them, and the stored ones as encrypted
	n=$(awk -v s="$subj" '$5 == s' plain.txt | wc -l)
	fs-stat -q --json -i opened.fsr -o /dev/null 2>stat.json
	grep -q "\"encrypted\":0,\"erased\":$n," stat.json
	fs-stat -q -i st.fsr -o /dev/null 2>stat.txt
	grep -q "; $(wc -l <plain.txt) with PII encrypted)" stat.txt
	# fs-replay --keys after the erase: the same records as opened
	run_t 60 fs-replay --dir log --keys k.db --keep-ingest -o rp.fsr
	assert_status 0
	cmp opened.fsr rp.fsr
	fs-replay --dir log --keys k.db --key "$subj" | fs-stat -q -o /dev/null \
		2>stat.txt
	grep -q "^fs-stat: 0 records" stat.txt
	run_t 30 fs-archive erase --keys k.db --subject "$subj"
	assert_status 3
	assert_match "no key of subject"
	run_t 30 fs-archive erase --keys k.db --subject 999999999
	assert_status 3
}

@test "archive --encrypt-pii: a missing store, a wrong or no master key write nothing" {
	run_t 60 $W -i in.fsr
	assert_status 0
	ls -l log >before.txt
	fs-gen --kind txn -n 100 --keys 5 --seed 9 --start 2026-02-01 >more.fsr
	mv k.db k.keep
	run_t 30 $W -i more.fsr
	assert_status 4
	assert_match "k.db"
	[ ! -e k.db ]
	mv k.keep k.db
	FS_MASTER_KEY=ff${MK#??} run_t 30 $W -i more.fsr
	assert_status 3
	assert_match "wrong master key"
	ls -l log | diff before.txt -
	run_t 30 env -u FS_MASTER_KEY fs-archive write --dir log \
		--encrypt-pii --keys k.db -i more.fsr
	assert_status 2
	ls -l log | diff before.txt -
	run_t 10 fs-archive write --dir log --keys k.db -i more.fsr
	assert_status 2
	run_t 10 fs-archive write --dir log --encrypt-pii -i more.fsr
	assert_status 2
	run_t 10 fs-archive erase --keys nothere.db --subject 1
	assert_status 4
	run_t 10 fs-archive erase --keys k.db
	assert_status 2
	ls -l log | diff before.txt -
}

@test "archive --encrypt-pii: SIGKILL mid-write, restart: every stored record opens" {
	# many new subjects: keys made all along the run
	fs-gen --kind txn -n 3000000 --keys 1000000 --seed 4 >big.fsr
	fs-archive write --dir log --segment-size 64M --encrypt-pii \
		--keys k.db -i big.fsr 2>err &
	pid=$!
	for _ in $(seq 100); do
		[ -n "$(ls log/open-*.fsr 2>/dev/null)" ] && break
		sleep 0.05
	done
	sleep 0.5
	kill -KILL "$pid"
	wait "$pid" || true
	[ -n "$(ls log/open-*.fsr)" ]
	run_t 60 fs-archive write --dir log --encrypt-pii --keys k.db \
		</dev/null
	assert_status 0
	assert_match "records"
	run_t 60 fs-archive verify --dir log
	assert_status 0
	stored log >st.fsr
	run_t 120 "$PT" open k.db <st.fsr
	assert_status 0
	timeout 120 "$PT" open k.db <st.fsr >opened.fsr
	n=$(stat -c %s opened.fsr)
	[ "$n" -gt 0 ]
	cmp -n "$n" big.fsr opened.fsr
}
