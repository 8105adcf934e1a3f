#!/usr/bin/env bats
# PII encryption and crypto-shredding (libcommon/pii.c) through its
# test driver $B/tests/pii-tool: sealed TXN and JSON records decrypt in
# an independent oracle (pii-oracle.py, python3-cryptography's AESGCM)
# with the keys of the store, open byte for byte, and after an erase
# come back redacted with the ERASED flag while the key is gone from the
# store's files; missing store, wrong master key, unknown subject and
# tampered records fail with their exit status.
load helper

ORACLE="$BATS_TEST_DIRNAME/pii-oracle.py"
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
}

# keys STORE PLAIN: "SUBJECT KEY_ID KEY" for each subject with a key.
keys() {
	local s
	/usr/bin/python3 "$ORACLE" subjects "$2" | while read -r s; do
		k=$(timeout 10 "$PT" key "$1" "$s" 2>/dev/null) &&
			echo "$s $k"
	done
}

@test "sealed TXNs decrypt in the oracle and open byte for byte" {
	fs-gen --kind txn -n 3000 --keys 20 --seed 5 > plain.fsr
	timeout 20 "$PT" seal k.db < plain.fsr > sealed.fsr
	timeout 20 "$PT" open k.db < sealed.fsr > opened.fsr
	cmp plain.fsr opened.fsr
	keys k.db plain.fsr > keys.txt
	[ "$(wc -l < keys.txt)" -eq 20 ]
	run_t 60 /usr/bin/python3 "$ORACLE" check plain.fsr sealed.fsr \
		keys.txt opened.fsr
	assert_status 0
	assert_match "ok: [0-9]+ records, 3000 decrypted, 0 erased"
}

@test "JSON records: the whole body is sealed, decrypts, opens" {
	/usr/bin/python3 "$ORACLE" json 200 3 > plain.fsr
	timeout 20 "$PT" seal k.db < plain.fsr > sealed.fsr
	! grep -q 'user-' sealed.fsr
	"$PT" open k.db < sealed.fsr > opened.fsr
	cmp plain.fsr opened.fsr
	keys k.db plain.fsr > keys.txt
	run_t 60 /usr/bin/python3 "$ORACLE" check plain.fsr sealed.fsr \
		keys.txt opened.fsr
	assert_status 0
	assert_match "ok: 200 records, 200 decrypted, 0 erased"
}

@test "erase: the subject's records come back redacted, its key is gone" {
	fs-gen --kind txn -n 2000 --keys 10 --seed 9 > plain.fsr
	"$PT" seal k.db < plain.fsr > sealed.fsr
	victim=$(/usr/bin/python3 "$ORACLE" subjects plain.fsr | head -1)
	wrapped=$(sqlite3 k.db \
		"SELECT hex(wrapped) FROM pii_subjects WHERE subject = $victim")
	[ ${#wrapped} -eq 120 ]
	run_t 10 "$PT" erase k.db "$victim"
	assert_status 0
	run_t 10 "$PT" key k.db "$victim"
	assert_status 3
	# the wrapped key's bytes are in neither the store nor its WAL
	for f in k.db k.db-wal; do
		[ -e "$f" ] || continue
		/usr/bin/python3 -c 'import sys
sys.exit(bytes.fromhex(sys.argv[1]) in open(sys.argv[2], "rb").read())' \
			"$wrapped" "$f"
	done
	"$PT" open k.db < sealed.fsr > opened.fsr
	keys k.db plain.fsr > keys.txt
	[ "$(wc -l < keys.txt)" -eq 9 ]
	run_t 60 /usr/bin/python3 "$ORACLE" check plain.fsr sealed.fsr \
		keys.txt opened.fsr
	assert_status 0
	assert_match "ok: [0-9]+ records, [0-9]+ decrypted, [1-9][0-9]* erased"
	# a second erase of the subject, and an unknown one: exit 3
	run_t 10 "$PT" erase k.db "$victim"
	assert_status 3
	assert_match "no key of subject $victim"
	run_t 10 "$PT" erase k.db 999999999
	assert_status 3
}

@test "a missing store is exit 4 naming it; a wrong master key exit 3" {
	fs-gen --kind txn -n 100 --seed 2 > plain.fsr
	run_t 10 "$PT" open nosuch.db < plain.fsr
	assert_status 4
	assert_match "key store 'nosuch.db'.*No such file"
	"$PT" seal k.db < plain.fsr > sealed.fsr
	FS_MASTER_KEY=ff${MK#00} run_t 10 "$PT" seal k.db < plain.fsr
	assert_status 3
	assert_match "wrong master key"
	[ -z "$(FS_MASTER_KEY=ff${MK#00} "$PT" seal k.db < plain.fsr \
		2>/dev/null | head -c 1)" ]
	FS_MASTER_KEY=ff${MK#00} run_t 10 "$PT" open k.db < sealed.fsr
	assert_status 3
	assert_match "wrong master key"
	FS_MASTER_KEY= run_t 10 "$PT" open k.db < sealed.fsr
	assert_status 2
	assert_match "no master key"
}

@test "the master key from a file, hex or raw, is the environment's" {
	fs-gen --kind txn -n 200 --seed 4 > plain.fsr
	"$PT" seal k.db < plain.fsr > sealed.fsr
	echo "$MK" > mk.hex
	/usr/bin/python3 -c "import sys
sys.stdout.buffer.write(bytes.fromhex('$MK'))" > mk.raw
	[ "$(stat -c %s mk.raw)" -eq 32 ]
	for f in mk.hex mk.raw; do
		FS_MASTER_KEY= "$PT" -k "$f" open k.db < sealed.fsr > o.fsr
		cmp plain.fsr o.fsr
	done
	printf 'abc' > mk.bad
	run_t 10 "$PT" -k mk.bad open k.db < sealed.fsr
	assert_status 2
}

@test "a tampered record is exit 3, and nothing of it is written" {
	fs-gen --kind txn -n 50 --seed 6 > plain.fsr
	"$PT" seal k.db < plain.fsr > sealed.fsr
	# flip one bit of the amount (AAD) of the first TXN: frame 1 is
	# a TXN of 152 bytes, the amount at byte 40 + 24
	/usr/bin/python3 -c 'import sys
d = bytearray(open("sealed.fsr", "rb").read())
assert d[4] == 5
d[64] ^= 1
open("bad.fsr", "wb").write(d)'
	run_t 10 "$PT" open k.db < bad.fsr
	assert_status 3
	assert_match "tag does not match"
	"$PT" open k.db < bad.fsr > out.fsr 2>/dev/null || true
	[ ! -s out.fsr ]
}
