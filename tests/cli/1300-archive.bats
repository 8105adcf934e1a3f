#!/usr/bin/env bats
# fs-archive: write and verify against an independent reading of the
# segments (archive-oracle.py: zstd, tarfile, hashlib); each kind of
# damage found and named; SIGKILL mid-segment and recovery; a full disk
# while sealing; inclusion and consistency proofs checked by check-proof
# and by the oracle; a truncated input stream.
load helper

ORACLE="$BATS_TEST_DIRNAME/archive-oracle.py"

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
	# 20000 TXN records over 20 s of event time (and control records).
	fs-gen --kind txn -n 20000 --seed 11 --event-rate 1000 >in.fsr
}

teardown() {
	if [ -n "${MNT:-}" ]; then umount "$MNT" 2>/dev/null || true; fi
}

# seg N: the file name of segment N in directory a.
seg() {
	ls a/seg-"$(printf %08d "$1")"-*.tar.zst
}

@test "archive: write, verify, tar lists it, the oracle agrees" {
	run_t 30 fs-archive write --dir a --segment 5s -i in.fsr
	assert_status 0
	[ "$(ls a/seg-*.tar.zst | wc -l)" -ge 4 ]
	run_t 30 fs-archive verify --dir a
	assert_status 0
	assert_match ": OK$"
	run_t 30 python3 "$ORACLE" check a in.fsr
	assert_status 0
	# Each segment's records lie in one 5 s window (ordered input).
	for f in a/seg-*.tar.zst; do
		b=${f##*/}; b=${b%.tar.zst}
		lo=${b#seg-*-}; lo=${lo%-*}; hi=${b##*-}
		[ $((lo / 5000000000)) -eq $((hi / 5000000000)) ]
	done
	run tar --zstd -tvf "$(seg 1)"
	assert_status 0
	[ "${lines[0]##* }" = manifest.json ]
	[ "${lines[1]##* }" = index.bin ]
	[ "${lines[2]##* }" = frames.fsr ]
	mkdir x && tar --zstd -xf "$(seg 1)" -C x
	[ -s x/frames.fsr ]
	# ls: every segment with its root, in JSON too.
	run_t 10 fs-archive ls --dir a --json
	assert_status 0
	[ "${#lines[@]}" -eq "$(ls a/seg-*.tar.zst | wc -l)" ]
	assert_match '"root":"[0-9a-f]{64}"'
}

@test "archive: --segment-size rolls by bytes; a second run goes on the chain" {
	head -c 500000 in.fsr >part1.fsr
	python3 - <<-'EOF'
	b = open("in.fsr", "rb").read()
	off = 0
	while off < 500000:
	    off += int.from_bytes(b[off:off + 4], "little") + 4
	open("part1.fsr", "wb").write(b[:off])
	open("part2.fsr", "wb").write(b[off:])
	EOF
	run_t 30 fs-archive write --dir a --segment-size 64k -i part1.fsr
	assert_status 0
	run_t 30 fs-archive write --dir a --segment-size 64k -i part2.fsr
	assert_status 0
	run_t 30 python3 "$ORACLE" check a in.fsr
	assert_status 0
	run_t 10 fs-archive ls --dir a --json
	python3 -c '
import json, sys
for l in sys.argv[1].splitlines():
    assert json.loads(l)["frames_bytes"] <= 65536, l' "$output"
	run_t 30 fs-archive verify --dir a
	assert_status 0
}

# damaged KIND: make a 6-segment archive, damage it, verify must fail
# (exit 3) naming what is wrong.
make6() {
	fs-archive write --dir a --segment 4s -i in.fsr 2>/dev/null
	[ "$(ls a/seg-*.tar.zst | wc -l)" -ge 5 ]
}

@test "archive: verify names a flipped byte's segment and record" {
	make6
	f=$(seg 2)
	chmod u+w "$f"
	python3 -c '
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) * 2 // 3] ^= 0x10
open(p, "wb").write(b)' "$f"
	run_t 30 fs-archive verify --dir a
	assert_status 3
	assert_match "${f##*/}: verify:|verify: ${f##*/}: "
	assert_match "record"
	[[ $output != *seg-00000001* ]]
}

@test "archive: verify finds a deleted, a swapped and a foreign segment" {
	make6
	rm "$(seg 3)"
	run_t 30 fs-archive verify --dir a
	assert_status 3
	assert_match "segments 3-3 are missing"

	rm -rf a && make6
	f2=$(seg 2) f4=$(seg 4)
	mv "$f2" t && mv "$f4" "$f2" && mv t "$f4"
	run_t 30 fs-archive verify --dir a
	assert_status 3
	assert_match "${f2##*/}: holds segment 4, not 2"

	rm -rf a && make6
	mkdir b && fs-gen --kind txn -n 20000 --seed 12 --event-rate 1000 |
		fs-archive write --dir b --segment 4s 2>/dev/null
	f=$(seg 3)
	cp b/seg-00000003-*.tar.zst "$f"
	run_t 30 fs-archive verify --dir a
	assert_status 3
	assert_match "${f##*/}: is a segment of another archive"
}

@test "archive: verify names a truncated segment" {
	fs-archive write --dir a -i in.fsr 2>/dev/null
	f=$(seg 1)
	chmod u+w "$f"
	truncate -s $(($(stat -c %s "$f") / 2)) "$f"
	run_t 30 fs-archive verify --dir a
	assert_status 3
	assert_match "${f##*/}: record [0-9]+ \(byte offset"
}

@test "archive: SIGKILL mid-segment, restart recovers and counts" {
	mkfifo p
	fs-archive write --dir a -i p 2>err &
	pid=$!
	exec 7>p
	head -c 3000000 in.fsr >&7
	# Wait until two 1 MiB blocks are in the open file, then kill.
	for i in $(seq 100); do
		s=$(stat -c %s a/open-00000001.fsr 2>/dev/null || echo 0)
		[ "$s" -ge 2000000 ] && break
		sleep 0.1
	done
	kill -KILL $pid
	wait $pid || true
	exec 7>&-
	[ -s a/open-00000001.fsr ]
	n=$(python3 -c '
import sys
b = open(sys.argv[1], "rb").read()
o = n = 0
while o < len(b):
    o += int.from_bytes(b[o:o + 4], "little") + 4
    n += 1
print(n)' a/open-00000001.fsr)
	# A torn last frame as well: 50 bytes of a frame.
	head -c 50 in.fsr >>a/open-00000001.fsr
	run_t 30 fs-archive write --dir a </dev/null
	assert_status 0
	assert_match "cut a torn last frame \(50 bytes\)"
	assert_match "recovered the open segment 1: $n records, sealed as"
	[ ! -e a/open-00000001.fsr ] && [ ! -e a/open-00000001.zst ]
	run_t 30 fs-archive verify --dir a
	assert_status 0
	# The recovered records are the input's first ones.
	size=$(tar --zstd -xOf "$(seg 1)" frames.fsr | wc -c)
	head -c "$size" in.fsr >want.fsr
	tar --zstd -xOf "$(seg 1)" frames.fsr | cmp - want.fsr
}

@test "archive: SIGTERM seals the open segment, exit 0" {
	python3 - <<-'EOF'
	b = open("in.fsr", "rb").read()
	off = 0
	while off < 300000:
	    off += int.from_bytes(b[off:off + 4], "little") + 4
	open("part.fsr", "wb").write(b[:off])
	EOF
	mkfifo p
	fs-archive write --dir a -i p 2>err &
	pid=$!
	exec 7>p
	cat part.fsr >&7
	for i in $(seq 100); do
		[ -e a/open-00000001.fsr ] && break
		sleep 0.1
	done
	sleep 0.3
	kill -TERM $pid
	rc=0
	wait $pid || rc=$?
	exec 7>&-
	[ $rc -eq 0 ]
	[ ! -e a/open-00000001.fsr ]
	run_t 30 python3 "$ORACLE" check a part.fsr
	assert_status 0
}

@test "archive: --discard-open discards a crashed open segment" {
	fs-archive write --dir a -i in.fsr 2>/dev/null
	head -c 184 in.fsr >a/open-00000002.fsr
	run_t 30 fs-archive write --dir a --discard-open </dev/null
	assert_status 0
	assert_match "discarded the open segment 2: 2 records"
	run_t 30 fs-archive verify --dir a
	assert_status 0
}

@test "archive: a full disk while sealing: exit 1, the rest still verifies" {
	MNT=$T/m
	mkdir m
	mount -t tmpfs -o size=1m tmpfs m 2>/dev/null ||
		skip "cannot mount a tmpfs here"
	# 3000 records seal; then 9000 more fit as an open file (830 kB) but
	# leave no room for their sealed copy.
	python3 - <<-'EOF'
	b = open("in.fsr", "rb").read()
	off = n = 0
	cut = []
	while off < len(b):
	    off += int.from_bytes(b[off:off + 4], "little") + 4
	    n += 1
	    if n in (3000, 12000):
	        cut.append(off)
	open("p1.fsr", "wb").write(b[:cut[0]])
	open("p2.fsr", "wb").write(b[cut[0]:cut[1]])
	EOF
	run_t 30 fs-archive write --dir m/a -i p1.fsr
	assert_status 0
	run_t 30 fs-archive write --dir m/a -i p2.fsr
	assert_status 1
	assert_match "cannot seal segment 2 .*No space left on device"
	[ "$(stat -c %s m/a/open-00000002.fsr)" -eq "$(stat -c %s p2.fsr)" ]
	cmp m/a/open-00000002.fsr p2.fsr
	[ -z "$(ls -A m/a | grep -v -e '^seg-00000001-' -e '^open-00000002')" ]
	run_t 30 fs-archive verify --dir m/a
	assert_status 0
	assert_match "open-00000002.fsr: an open segment"
}

@test "archive: inclusion and consistency proofs, checked twice" {
	make6
	run_t 30 fs-archive prove --dir a --seq 9000
	assert_status 0
	echo "$output" >inc.json
	seg=$(python3 -c 'import json; print(json.load(open("inc.json"))["segment"])')
	root=$(fs-archive ls --dir a --json | python3 -c '
import json, sys
for l in sys.stdin:
    j = json.loads(l)
    if j["segment"] == int(sys.argv[1]):
        print(j["root"])' "$seg")
	run_t 10 fs-archive check-proof inc.json --root "$root"
	assert_status 0
	assert_match "inclusion proof OK"
	run_t 10 python3 "$ORACLE" proof inc.json "$root"
	assert_status 0
	# The same proof against the archive's head, through the manifest.
	head=$(fs-archive ls --dir a --json | tail -1 |
		sed 's/.*"head":"\([0-9a-f]*\)".*/\1/')
	run_t 10 fs-archive check-proof inc.json --root "$head"
	assert_status 0
	assert_match "the segment in the head of"
	run_t 10 python3 "$ORACLE" proof inc.json "$head"
	assert_status 0
	python3 - <<-'EOF'
	import json
	p = json.load(open("inc.json"))
	p["manifest"] = p["manifest"].replace('"records"', '"records" ')
	json.dump(p, open("badman.json", "w"))
	EOF
	run_t 10 fs-archive check-proof badman.json --root "$head"
	assert_status 3
	run_t 10 python3 "$ORACLE" proof badman.json "$head"
	assert_status 1
	# The proven record is the input's record with seq 9000.
	python3 -c '
import json
p = json.load(open("inc.json"))
f = bytes.fromhex(p["frame"])
assert int.from_bytes(f[32:40], "little") == 9000' || false
	# A changed path or the wrong root: invalid, exit 3.
	python3 - <<-'EOF'
	import json
	p = json.load(open("inc.json"))
	p["path"][0] = ("0" if p["path"][0][0] != "0" else "1") + p["path"][0][1:]
	json.dump(p, open("bad.json", "w"))
	EOF
	run_t 10 fs-archive check-proof bad.json --root "$root"
	assert_status 3
	run_t 10 python3 "$ORACLE" proof bad.json "$root"
	assert_status 1
	run_t 10 fs-archive check-proof inc.json --root "$(printf '%064d' 0)"
	assert_status 3
	# Consistency of the head of 2 segments with the head of all.
	heads=$(fs-archive ls --dir a --json | python3 -c '
import json, sys
l = [json.loads(x) for x in sys.stdin]
print(l[1]["head"], l[-1]["head"])')
	set -- $heads
	run_t 30 fs-archive prove --dir a --from-size 2
	assert_status 0
	echo "$output" >con.json
	run_t 10 fs-archive check-proof con.json --root "$2" --old-root "$1"
	assert_status 0
	assert_match "consistency proof OK"
	run_t 10 python3 "$ORACLE" proof con.json "$2"
	assert_status 0
	run_t 10 fs-archive check-proof con.json --root "$1"
	assert_status 3
}

@test "archive: a truncated input keeps the records before it, exit 3" {
	head -c 100001 in.fsr >cut.fsr
	run_t 30 fs-archive write --dir a -i cut.fsr
	assert_status 3
	assert_match "frame [0-9]+.*offset|offset.*frame [0-9]+"
	run_t 30 fs-archive verify --dir a
	assert_status 0
	n=$(python3 -c '
b = open("cut.fsr", "rb").read()
o = n = 0
while True:
    m = int.from_bytes(b[o:o + 4], "little") + 4
    if o + m > len(b):
        break
    o += m
    n += 1
print(n)')
	[[ $output == *", $n records,"* ]]
}

@test "archive: usage errors exit 2" {
	run_t 10 fs-archive write
	assert_status 2
	run_t 10 fs-archive frobnicate --dir a
	assert_status 2
	run_t 10 fs-archive prove --dir a
	assert_status 2
	run_t 10 fs-archive check-proof x.json
	assert_status 2
	run_t 10 fs-archive write --dir a --segment-size 12Q
	assert_status 2
}
