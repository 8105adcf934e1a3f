#!/usr/bin/env bats
# fs-replay --dir: an archive written by fs-archive write replays as its
# input (byte for byte with --keep-ingest), by time range across
# segments that overlap by disorder (against tests/cli/replay-oracle.py,
# which reads the frames itself), the open segment left out with its
# count, SIGKILLs of a checkpointed pipeline (no loss, no duplicates),
# a damaged segment (every record before the damage, then exit 3), a
# Kappa replay, and --keys: PII opened byte for byte, erased subjects
# redacted (pii-oracle.py checks both), a missing store, a wrong master
# key and a changed record with their exit status.
load helper

ORA=$TOP/tests/cli/replay-oracle.py
DEC=$TOP/tests/cli/decode-frames.py
PORA=$TOP/tests/cli/pii-oracle.py
PT=$BUILD/tests/pii-tool
MK=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
S=1767312000000000000	# 2026-01-02T00:00:00Z, fs-gen's start, in ns

ora() { /usr/bin/python3 "$ORA" "$@"; }
dec() { /usr/bin/python3 "$DEC" "$@"; }

# a broker for the --keys over Kafka test (fs-devbroker unless
# FS_TEST_KAFKA=real or $KAFKA_BROKERS)
setup_file() {
	kafka_setup p:1
}

teardown_file() {
	kafka_teardown
}

# rec: 40 s of disordered TXNs (fs-gen's WATERMARKs among them) in
# 10 s segments, whose time ranges overlap by the disorder.
rec() {
	fs-gen -n 200000 --keys 100 --seed 3 --event-rate 5000 \
		--disorder 300ms --fixed-ingest -o in.fsr
	fs-archive write --dir log --segment 10s -i in.fsr 2>/dev/null
}

@test "fs-replay --dir: every record as written, byte for byte with --keep-ingest" {
	rec
	[ "$(ls log | grep -c '^seg-')" -ge 4 ]
	run_t 30 fs-replay --dir log --keep-ingest -o all.fsr
	assert_status 0
	cmp in.fsr all.fsr
	# ts_ingest now, all else as recorded
	run_t 30 fs-replay --dir log -o now.fsr
	assert_status 0
	diff <(ora in.fsr) <(ora now.fsr)
}

@test "fs-replay --dir --from/--to: ranges across segment boundaries keep what the oracle keeps" {
	rec
	local r f t
	# the segments overlap: some record of a later segment is earlier
	# than the end of the one before it
	ls log | sed -n 's/^seg-[0-9]*-\([0-9]*\)-\([0-9]*\).*/\1 \2/p' |
		awk 'NR > 1 && $1 < last { o++ } { last = $2 }
		     END { exit !(o >= 2) }'
	# ranges in ms from fs-gen's start
	for r in "9900 21000" "0 10000" "10000 10200" "19850 30100" \
	    "39900 45000" "-1000 100"; do
		set -- $r
		f=$((S + $1 * 1000000))
		t=$((S + $2 * 1000000))
		run_t 30 fs-replay --dir log --from "${f}ns" --to "${t}ns" \
			-o r.fsr
		assert_status 0
		ora in.fsr --from "$f" --to "$t" >want
		[ -s want ]
		diff want <(ora r.fsr)
	done
	# keys and types, after the range
	k=$(ora in.fsr | awk 'NR % 997 == 1 { print $3 }' | sort -u |
		head -3 | paste -sd,)
	run_t 30 fs-replay --dir log --from 2026-01-02T00:00:05Z \
		--to 2026-01-02T00:00:25Z --key "$k" --types txn -o k.fsr
	assert_status 0
	ora in.fsr --from $((S + 5000000000)) --to $((S + 25000000000)) \
		--keys "$k" --types 5 >wantk
	[ "$(wc -l <wantk)" -gt 50 ]
	diff wantk <(ora k.fsr)
}

@test "fs-replay --dir: the open segment is left out, with its record count on stderr" {
	rec
	fs-gen -n 123 --seed 8 --watermark-interval 0 -o log/open-00000099.fsr
	run_t 30 fs-replay --dir log --keep-ingest -o all.fsr
	assert_status 0
	assert_match "open-00000099.fsr' is the open segment, not sealed: its 123 records are left out"
	cmp in.fsr all.fsr
}

@test "fs-replay --dir: -i with --dir, --follow with --dir, --master-key-file alone: exit 2; no directory: exit 1" {
	run_t 10 fs-replay --dir . -i x.fsr
	assert_status 2
	run_t 10 fs-replay --dir . --follow
	assert_status 2
	run_t 10 fs-replay --dir . --master-key-file k
	assert_status 2
	run_t 10 fs-replay --dir nothere
	assert_status 1
	assert_match "cannot open 'nothere'"
}

@test "fs-replay --dir: a damaged segment: every record before the damage, then exit 3 naming segment and record" {
	rec
	local seg n
	seg=$(ls log/seg-00000003-*)
	# 3 bytes of 0xff in the middle of the compressed frames
	/usr/bin/python3 -c 'import sys
p = sys.argv[1]; d = bytearray(open(p, "rb").read())
i = len(d) // 2; d[i:i + 3] = b"\xff\xff\xff"; open(p, "wb").write(d)' "$seg"
	run_t 30 fs-replay --dir log --keep-ingest -o d.fsr
	assert_status 3
	assert_match "cannot read segment '$seg': record [0-9]+ \\(byte offset [0-9]+ of frames.fsr\\) and those after it cannot be read"
	# what came out is the input's first records, none changed
	ora in.fsr >all.txt
	ora d.fsr >got.txt
	n=$(wc -l <got.txt)
	[ "$n" -gt 0 ]
	head -n "$n" all.txt | diff - got.txt
	# and every record of the segment libzstd decodes before the
	# damage (the number the message names, less one) came out
	local bad first
	bad=$(echo "$output" | sed -n 's/.*: record \([0-9]*\) (byte.*/\1/p')
	first=$(fs-archive ls --dir log --json 2>/dev/null |
		/usr/bin/python3 -c 'import json, sys
n = 0
for l in sys.stdin:
    j = json.loads(l)
    if j["segment"] < 3: n += j["records"]
print(n)')
	cmp d.fsr <(head -c "$(stat -c %s d.fsr)" in.fsr)
	/usr/bin/python3 - "$first" "$bad" d.fsr <<'EOF'
import struct, sys
first, bad, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
d = open(path, "rb").read(); o = n = 0
while o < len(d):
    n += 1; o += 4 + struct.unpack_from("<I", d, o)[0]
sys.exit(0 if n == first + bad - 1 else "frames %d, want %d" %
         (n, first + bad - 1))
EOF
}

# pipe: fs-replay --dir | fs-window | fs-stat, checkpointed (chaos's)
pipe() {
	rm -f pid.1 pid.2 pid.3
	sh -c 'echo $$ >pid.1; exec fs-replay --dir log --keep-ingest \
		--speed 60x --from 2026-01-02T00:00:03Z --types txn \
		--state s.db --job j --checkpoint-interval 5ms' 2>>err |
	sh -c 'echo $$ >pid.2; exec fs-window --tumble 1s \
		--max-delay 500ms -a "count,sum(amount)" --state s.db \
		--job j' 2>>err |
	sh -c 'echo $$ >pid.3; exec fs-stat -q --state s.db --job j \
		-o out.fsr' 2>>err
	echo "${PIPESTATUS[*]}" >st
}

@test "fs-replay --dir --state: SIGKILLs and restarts: the file sink gets no loss and no duplicates" {
	# 80 s of recorded event time in 10 s segments, at 60x: ~1.3 s
	fs-gen -n 160000 --keys 300 --seed 9 --event-rate 2000 \
		--disorder 2s --fixed-ingest -o rec.fsr
	fs-archive write --dir log --segment 10s -i rec.fsr 2>/dev/null
	fs-replay -i rec.fsr --keep-ingest --from 2026-01-02T00:00:03Z \
		--types txn | fs-window --tumble 1s --max-delay 500ms \
		-a "count,sum(amount)" >clean.fsr 2>/dev/null
	fs-cat --types agg -f csv -i clean.fsr >clean.csv
	[ "$(wc -l <clean.csv)" -gt 70 ]
	chaos 400 || { cat st >&3; grep -v "^fs-stat:" err >&3; false; }
	fs-cat --types agg -f csv -i out.fsr >out.csv
	cmp clean.csv out.csv
	# the position: the last segment's number << 40 | its records
	local last
	last=$(fs-archive ls --dir log --json 2>/dev/null | tail -n 1 |
		/usr/bin/python3 -c 'import json, sys
j = json.loads(sys.stdin.read()); print(j["segment"] << 40 | j["records"])')
	[ "$(sqlite3 s.db "SELECT max(position) FROM positions WHERE
		source LIKE 'fs-replay dir:%' AND partition = 0")" = "$last" ]
}

@test "fs-replay --dir --state: SIGTERM mid-segment, then a restart goes on at that record" {
	fs-gen -n 100000 --event-rate 10000 --fixed-ingest -o rec.fsr
	fs-archive write --dir log --segment 3s -i rec.fsr 2>/dev/null
	fs-replay --dir log --state s.db --job r --speed 4x -o out.fsr \
		--keep-ingest &
	local p=$! st=0 n
	sleep 1.2
	kill -TERM $p
	wait $p || st=$?
	[ "$st" = 0 ]
	n=$(sqlite3 s.db "SELECT position FROM positions WHERE partition = 0
		ORDER BY id DESC LIMIT 1")
	# in segment 1 or 2, past its first record
	[ $((n >> 40)) -ge 1 ] && [ $((n >> 40)) -le 3 ]
	[ $((n & (1 << 40) - 1)) -gt 0 ]
	run_t 30 fs-replay --dir log --state s.db --job r -o out.fsr \
		--keep-ingest
	assert_status 0
	diff <(ora rec.fsr) <(ora out.fsr)
}

@test "fs-replay --dir: Kappa: an archive written live beside fs-window replays to the same output" {
	local W="fs-window --tumble 500ms --max-delay 300ms
		-a count,sum(amount),max(amount)"
	mkfifo arc.fifo
	timeout 60 fs-archive write --dir log --segment 1s -i arc.fifo \
		2>/dev/null &
	local ap=$!
	fs-gen -n 40000 --keys 200 --event-rate 20000 --disorder 200ms \
		--rate 100000 | tee arc.fifo | $W >live.fsr 2>/dev/null
	wait $ap
	[ "$(ls log | grep -c '^seg-')" -ge 2 ]
	timeout 60 fs-replay --dir log --speed 20x | timeout 60 $W \
		>replay.fsr 2>/dev/null
	dec <live.fsr | sed 's/ ing=[^ ]*//' >live.txt
	dec <replay.fsr | sed 's/ ing=[^ ]*//' >replay.txt
	[ "$(grep -c '^type11 ' live.txt)" -gt 100 ]
	diff live.txt replay.txt
}

# sealed: TXNs of 10 subjects sealed by pii-tool into k.db, archived
sealed() {
	export FS_MASTER_KEY=$MK
	[ -x "$PT" ] || {
		echo "no $PT: run 'make B=${B:-build} test-tools'" >&2
		return 1
	}
	fs-gen --kind txn -n 20000 --keys 10 --seed 9 --event-rate 1000 \
		--fixed-ingest -o plain.fsr
	timeout 20 "$PT" seal k.db <plain.fsr >sealed.fsr
	fs-archive write --dir log --segment 5s -i sealed.fsr 2>/dev/null
}

@test "fs-replay --keys on a Kafka topic: opened as sealed, --key after opening" {
	sealed
	kafka_env
	local top a
	top=$(kafka_topic p)
	run_t 60 fs-stat -q -i sealed.fsr -o "kafka://$BS/$top"
	assert_status 0
	run_t 60 fs-replay -X fetch.wait.max.ms=10 -i "kafka://$BS/$top" \
		--keys k.db -o o.fsr
	assert_status 0
	diff <(ora plain.fsr) <(ora o.fsr)
	a=$(ora plain.fsr | awk 'NR == 7 { print $3 }')
	run_t 60 fs-replay -X fetch.wait.max.ms=10 -i "kafka://$BS/$top" \
		--keys k.db --key "$a" -o k.fsr
	assert_status 0
	ora plain.fsr --keys "$a" >want
	[ -s want ]
	diff want <(ora k.fsr)
}

# keys STORE PLAIN: "SUBJECT KEY_ID KEY" for each subject with a key.
keys() {
	local s k
	/usr/bin/python3 "$PORA" subjects "$2" | while read -r s; do
		k=$(timeout 10 "$PT" key "$1" "$s" 2>/dev/null) &&
			echo "$s $k"
	done
}

@test "fs-replay --keys: sealed records open byte for byte; without --keys they pass as stored" {
	sealed
	! cmp -s plain.fsr sealed.fsr
	run_t 30 fs-replay --dir log --keys k.db --keep-ingest -o o.fsr
	assert_status 0
	cmp plain.fsr o.fsr
	run_t 30 fs-replay --dir log --keep-ingest -o s.fsr
	assert_status 0
	cmp sealed.fsr s.fsr
	# any input: a file, with the key file instead of the environment
	printf %s "$MK" >mk.hex
	run_t 30 env -u FS_MASTER_KEY fs-replay -i sealed.fsr --keys k.db \
		--master-key-file mk.hex --keep-ingest -o o2.fsr
	assert_status 0
	cmp plain.fsr o2.fsr
	# --key compares the opened key; without --keys the key id
	local a
	a=$(ora plain.fsr | awk 'NR == 5 { print $3 }')
	run_t 30 fs-replay --dir log --keys k.db --key "$a" -o ka.fsr
	assert_status 0
	diff <(ora plain.fsr --keys "$a") <(ora ka.fsr)
	run_t 30 fs-replay --dir log --key "$a" -o kb.fsr
	assert_status 0
	[ ! -s kb.fsr ] || [ "$(ora kb.fsr | wc -l)" = 0 ]
}

@test "fs-replay --keys: an erased subject's records come out redacted with ERASED, the others byte for byte" {
	sealed
	local victim
	victim=$(/usr/bin/python3 "$PORA" subjects plain.fsr | head -1)
	run_t 10 "$PT" erase k.db "$victim"
	assert_status 0
	run_t 30 fs-replay --dir log --keys k.db --keep-ingest -o o.fsr
	assert_status 0
	keys k.db plain.fsr >keys.txt
	[ "$(wc -l <keys.txt)" -eq 9 ]
	run_t 60 /usr/bin/python3 "$PORA" check plain.fsr sealed.fsr \
		keys.txt o.fsr
	assert_status 0
	assert_match "ok: [0-9]+ records, [0-9]+ decrypted, [1-9][0-9]* erased"
	# the records of the others: byte for byte
	diff <(ora plain.fsr | awk -v v="$victim" '$3 != v') \
		<(ora o.fsr | awk '$5 != 128')
}

@test "fs-replay --keys: a missing store exit 4, a wrong master key exit 3, a changed record exit 3 naming it" {
	sealed
	run_t 30 fs-replay --dir log --keys nothere.db -o o.fsr
	assert_status 4
	assert_match "nothere.db"
	run_t 30 env FS_MASTER_KEY=ff${MK#00} fs-replay --dir log \
		--keys k.db -o o.fsr
	assert_status 3
	assert_match "wrong master key"
	run_t 10 env -u FS_MASTER_KEY fs-replay --dir log --keys k.db
	assert_status 2
	# one bit of the 300th record's ciphertext (its account field)
	/usr/bin/python3 -c 'import struct, sys
d = bytearray(open("sealed.fsr", "rb").read()); o = 0
for i in range(299):
    o += 4 + struct.unpack_from("<I", d, o)[0]
d[o + 40] ^= 1; open("bad.fsr", "wb").write(d)'
	run_t 30 fs-replay -i bad.fsr --keys k.db --keep-ingest -o o.fsr
	assert_status 3
	assert_match "cannot open the encrypted record at frame 300 of 'bad.fsr'"
	assert_match "tag does not match"
	# the records before it went out, opened
	cmp o.fsr <(head -c "$(stat -c %s o.fsr)" plain.fsr)
	[ "$(stat -c %s o.fsr)" -gt 0 ]
	# in an archive: segment and record named
	rm -rf log
	fs-archive write --dir log --segment 5s -i bad.fsr 2>/dev/null
	run_t 30 fs-replay --dir log --keys k.db -o o.fsr
	assert_status 3
	assert_match "at segment 'log/seg-00000001-[0-9n-]*.tar.zst' record 300"
}
