#!/usr/bin/env bats
# Rescaling with state (finstream(7) Checkpoints, "Rescaling"): keyed
# state snapshotted per key group (fs-window --key-groups N; a key's
# group is its Kafka partition, murmur2 of the key's 8 bytes as Kafka's
# default partitioner).  Two instances, each with half the key groups,
# merge into one (fs-checkpoint export, import --job); that one splits
# into two again (export --partitions).  The outputs of all five runs
# together equal, key by key, one run over everything.  The key groups
# are checked against an independent murmur2 (Kafka's Utils.murmur2).
# The input goes through pipes: the test completes checkpoints with
# sqlite3 as 1120-snapshots.bats does.
load helper

PY=/usr/bin/python3

# tool CMD ARGS: murmur2 group filter, frame split, barrier insertion
tool() {
	"$PY" -c '
import struct, sys
def murmur2(d):  # Kafka Utils.murmur2, seed 0x9747b28c
    m, r, n = 0x5bd1e995, 24, len(d)
    h = (0x9747b28c ^ n) & 0xffffffff
    for i in range(0, n - n % 4, 4):
        k = struct.unpack_from("<I", d, i)[0]
        k = (k * m) & 0xffffffff; k ^= k >> r; k = (k * m) & 0xffffffff
        h = (h * m) & 0xffffffff; h ^= k
    t = n % 4; i = n - t
    if t >= 3: h ^= d[i + 2] << 16
    if t >= 2: h ^= d[i + 1] << 8
    if t >= 1: h ^= d[i]; h = (h * m) & 0xffffffff
    h ^= h >> 13; h = (h * m) & 0xffffffff; h ^= h >> 15
    return h
def group(key, n): return (murmur2(struct.pack("<Q", key)) & 0x7fffffff) % n
def frames(p):
    b = open(p, "rb").read(); i = 0; out = []
    while i < len(b):
        n = struct.unpack_from("<I", b, i)[0]
        out.append(b[i:i + 4 + n]); i += 4 + n
    return out
def typ(f): return struct.unpack_from("<H", f, 4)[0]
def bid(f): return struct.unpack_from("<Q", f, 40)[0]
def key(f): return struct.unpack_from("<Q", f, 24)[0]
def barrier(n):
    return struct.pack("<IHBBqqQQQ", 44, 0x101, 1, 1, 0, 0, 0, 0, n)
cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "ins":      # IN OUT EVERY: BARRIER 1, 2, ... every EVERY frames
    k = 0
    with open(a[1], "wb") as o:
        for i, f in enumerate(frames(a[0])):
            o.write(f)
            if (i + 1) % int(a[2]) == 0:
                k += 1; o.write(barrier(k))
elif cmd == "cut":    # IN K1 K2 P1 P2 P3: split after BARRIER K1 and K2
    fr = frames(a[0]); cuts = []
    for k in (int(a[1]), int(a[2])):
        cuts.append(next(i for i, f in enumerate(fr)
                         if typ(f) == 0x101 and bid(f) == k) + 1)
    parts = [fr[:cuts[0]], fr[cuts[0]:cuts[1]], fr[cuts[1]:]]
    for p, part in zip(a[3:6], parts):
        open(p, "wb").write(b"".join(part))
elif cmd == "keep":   # IN OUT N G,G..: data of keys in those groups
    n = int(a[2]); gs = {int(g) for g in a[3].split(",")}
    with open(a[1], "wb") as o:
        for f in frames(a[0]):
            if typ(f) >= 0x100 or group(key(f), n) in gs:
                o.write(f)
elif cmd == "groups": # IN N: the groups of the keys in IN, one a line
    n = int(a[1])
    print("\n".join(str(g) for g in sorted({group(key(f), n)
          for f in frames(a[0]) if typ(f) < 0x100})))
' "$@"
}

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
}

# win STORE JOB < IN > OUT: the instance under test
win() {
	timeout 60 fs-window --features fraud-v1 --max-delay 3s \
		--key-groups 4 --state "$1" --job "$2" 2>/dev/null
}

# done STORE ID: the sink's part of checkpoint ID (no sink in a pipe)
complete() {
	sqlite3 "$1" "UPDATE checkpoints SET status='complete' WHERE id=$2"
}

# rows STORE ID: the snapshot rows' partitions of checkpoint ID
rows() {
	sqlite3 "$1" "SELECT group_concat(partition, ' ') FROM (SELECT
		partition FROM snapshots WHERE id=$2 ORDER BY partition)"
}

@test "rescale: two instances merge into one, it splits into two; outputs equal one run, key by key" {
	fs-gen -n 30000 --keys 400 --seed 7 --disorder 2s --event-rate 100 \
		--fixed-ingest -o in0.fsr
	tool ins in0.fsr in.fsr 4000
	tool cut in.fsr 2 5 p1 p2 p3
	# the whole run, no checkpoints
	timeout 60 fs-window --features fraud-v1 --max-delay 3s -i in.fsr \
		-o full.fsr 2>/dev/null
	# 1: instances A (groups 0,1) and B (2,3) to checkpoint 2
	tool keep p1 a1 4 0,1
	tool keep p1 b1 4 2,3
	win a.db A <a1 >oa
	win b.db B <b1 >ob
	complete a.db 2
	complete b.db 2
	[ "$(rows a.db 2)" = "-1 0 1" ]
	[ "$(rows b.db 2)" = "-1 2 3" ]
	# each group row holds exactly the keys of its group (murmur2)
	[ "$(tool groups a1 4 | tr '\n' ' ')" = "0 1 " ]
	# 2: merged into job C, which reads everything from checkpoint 2 to 5
	run_t 30 fs-checkpoint export --state a.db --job A 2 -o xa.db
	assert_status 0
	run_t 30 fs-checkpoint export --state b.db --job B 2 -o xb.db
	assert_status 0
	run_t 30 fs-checkpoint import --state c.db --job C xa.db xb.db
	assert_status 0
	assert_match "merged 2 exports into checkpoint 2 of job 'C'"
	[ "$(rows c.db 2)" = "-2 -1 0 1 2 3" ]
	win c.db C <p2 >oc
	complete c.db 5
	[ "$(rows c.db 5)" = "-1 0 1 2 3" ]
	# 3: split: D takes groups 0,2 and E 1,3 from checkpoint 5 on
	run_t 30 fs-checkpoint export --state c.db --job C 5 \
		--partitions 0,2 -o xd.db
	assert_status 0
	run_t 30 fs-checkpoint export --state c.db --job C 5 \
		--partitions 1,3 -o xe.db
	assert_status 0
	fs-checkpoint import --state d.db --job D xd.db 2>/dev/null
	fs-checkpoint import --state e.db --job E xe.db 2>/dev/null
	[ "$(rows d.db 5)" = "-1 0 2" ]
	[ "$(rows e.db 5)" = "-1 1 3" ]
	tool keep p3 d3 4 0,2
	tool keep p3 e3 4 1,3
	win d.db D <d3 >od
	win e.db E <e3 >oe
	# all five outputs together are the whole run, key by key
	fs-cat --types features -f csv -i full.fsr >full.csv
	cat oa ob oc od oe | fs-cat --types features -f csv >got.csv
	[ "$(wc -l <full.csv)" -gt 29000 ]
	same_per_key full.csv got.csv
	# and the state mattered: C without the merged checkpoint differs
	win z.db Z <p2 >oz
	cat oa ob oz od oe | fs-cat --types features -f csv >bad.csv
	! same_per_key full.csv bad.csv 2>/dev/null
}

@test "rescale: a partition or key group held twice, or state in one piece, cannot merge" {
	fs-gen -n 3000 --keys 50 --seed 8 --fixed-ingest -o in0.fsr
	tool ins in0.fsr in.fsr 1000
	win a.db A <in.fsr >/dev/null
	win b.db B <in.fsr >/dev/null
	complete a.db 2
	complete b.db 2
	fs-checkpoint export --state a.db --job A 2 -o xa.db
	fs-checkpoint export --state b.db --job B 2 -o xb.db
	run_t 30 fs-checkpoint import --state c.db --job C xa.db xb.db
	assert_status 3
	assert_match "cannot merge 'xb.db'.*key group [0-3] of stage 'fs-window' is in an export before it"
	# nothing of the failed merge stays
	[ "$(sqlite3 c.db 'SELECT count(*) FROM snapshots')" = 0 ]
	# state in one piece (no key groups): merged, the restore refuses
	timeout 60 fs-window --features fraud-v1 --key-groups 0 \
		--state s.db --job S <in.fsr >/dev/null 2>&1
	timeout 60 fs-window --features fraud-v1 --key-groups 0 \
		--state t.db --job T <in.fsr >/dev/null 2>&1
	complete s.db 2
	complete t.db 2
	fs-checkpoint export --state s.db --job S 2 -o xs.db
	fs-checkpoint export --state t.db --job T 2 -o xt.db
	run_t 30 fs-checkpoint import --state u.db --job U xs.db xt.db
	assert_status 0
	run_t 30 sh -c 'fs-window --features fraud-v1 --key-groups 0 \
		--state u.db --job U <in.fsr >/dev/null'
	assert_status 3
	assert_match "merges 2 instances of stage 'fs-window'.*--key-groups"
	# another number of key groups is another state layout: refused
	run_t 30 sh -c 'fs-window --features fraud-v1 --key-groups 8 \
		--state a.db --job A <in.fsr >/dev/null'
	assert_status 3
	assert_match "made under other options"
	run_t 10 fs-checkpoint import --state u.db xs.db xt.db
	assert_status 2
	assert_match "needs --job NAME"
	run_t 10 fs-checkpoint export --state a.db --job A 2 \
		--partitions 3-x -o y.db
	assert_status 2
	assert_match "bad --partitions '3-x'"
}
