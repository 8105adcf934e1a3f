#!/usr/bin/env bats
# fs-window's checkpoint snapshots (fs-window(1) CHECKPOINTS): a run
# cut at BARRIER k and restored from its snapshot writes, after the
# barrier, byte for byte what an uninterrupted run writes.  The input
# goes through pipes, so no source or sink logic of the store is
# involved: the test completes checkpoint k itself with sqlite3.
load helper

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# snap ins IN OUT EVERY | split IN K P1 P2 | norm IN OUT [K]
snap() {
	"$PY" -c '
import struct, sys
def frames(p):
    b = open(p, "rb").read(); i = 0; out = []
    while i < len(b):
        n = struct.unpack_from("<I", b, i)[0]
        out.append(b[i:i + 4 + n]); i += 4 + n
    return out
def typ(f): return struct.unpack_from("<H", f, 4)[0]
def bid(f): return struct.unpack_from("<Q", f, 40)[0]
def barrier(n):
    return struct.pack("<IHBBqqQQQ", 44, 0x101, 1, 1, 0, 0, 0, 0, n)
cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "ins":    # BARRIER 1, 2, ... after every EVERY frames
    k = 0
    with open(a[1], "wb") as o:
        for i, f in enumerate(frames(a[0])):
            o.write(f)
            if (i + 1) % int(a[2]) == 0:
                k += 1; o.write(barrier(k))
elif cmd == "split":  # P1: up to BARRIER K included, P2: the rest
    fr = frames(a[0]); k = int(a[1])
    at = next(i for i, f in enumerate(fr) if typ(f) == 0x101 and bid(f) == k)
    open(a[2], "wb").write(b"".join(fr[:at + 1]))
    open(a[3], "wb").write(b"".join(fr[at + 1:]))
else:   # norm: before BARRIER K (all without K), barriers out, control
        # frames ingest time 0 (the wall clock of WATERMARKs)
    k = int(a[2]) if len(a) > 2 else None
    with open(a[1], "wb") as o:
        for f in frames(a[0]):
            if typ(f) == 0x101:
                if bid(f) == k:
                    break
                continue
            if f[7] & 1:
                f = f[:16] + bytes(8) + f[24:]
            o.write(f)
' "$@"
}

# same_after K TOOL ARGS...: a run over in.fsr (with barriers), and one
# cut at barrier K then restored, write the same.
same_after() {
	local k=$1; shift
	set -o pipefail
	rm -rf full.db* s.db*
	cat in.fsr | timeout 60 "$@" --state full.db --job j | cat > full.out
	snap norm full.out full.n
	snap split in.fsr "$k" p1 p2
	cat p1 | timeout 60 "$@" --state s.db --job j | cat > o1
	[ "$(sqlite3 s.db "SELECT count(*) FROM snapshots WHERE id=$k")" = 1 ]
	sqlite3 s.db "UPDATE checkpoints SET status='complete' WHERE id=$k"
	cat p2 | timeout 60 "$@" --state s.db --job j | cat > o2
	snap norm o1 o1.n "$k"
	snap norm o2 o2.n
	cat o1.n o2.n > r.n
	[ -s o2.n ]
	cmp r.n full.n
}

# same_after_groups K TOOL ARGS...: as same_after with --key-groups 4:
# the state in an instance row and a row per key group that holds keys;
# the restored run gives each key the same results in the same order
# (results of one window for several keys may come in another order,
# so output seq numbers aside).
same_after_groups() {
	local k=$1; shift
	set -o pipefail
	rm -rf full.db* s.db*
	cat in.fsr | timeout 60 "$@" | cat > full.out
	snap split in.fsr "$k" p1 p2
	cat p1 | timeout 60 "$@" --key-groups 4 --state s.db --job j |
		cat > o1
	[ "$(sqlite3 s.db "SELECT group_concat(partition) FROM (SELECT
		partition FROM snapshots WHERE id=$k ORDER BY partition)")" \
		= "-1,0,1,2,3" ]
	sqlite3 s.db "UPDATE checkpoints SET status='complete' WHERE id=$k"
	cat p2 | timeout 60 "$@" --key-groups 4 --state s.db --job j |
		cat > o2
	snap norm full.out full.n
	snap norm o1 o1.n "$k"
	snap norm o2 o2.n
	[ -s o2.n ]
	fs-cat -f csv -i full.n > full.csv
	cat o1.n o2.n | fs-cat -f csv > r.csv
	"$PY" - full.csv r.csv <<-'PYEOF'
	import csv, sys
	def load(p):
	    byk = {}
	    for r in csv.DictReader(open(p)):
	        if r["key"] != "key":
	            r.pop("seq"); byk.setdefault(r["key"], []).append(r)
	    return byk
	a, b = load(sys.argv[1]), load(sys.argv[2])
	if a != b:
	    bad = [k for k in set(a) | set(b) if a.get(k) != b.get(k)]
	    sys.exit("%d keys differ, e.g. %s" % (len(bad), bad[:3]))
	PYEOF
}

gen_in() {
	fs-gen -n 20000 --keys 50 --seed 3 --disorder 5s --event-rate 200 \
		--fixed-ingest -o in0.fsr
	snap ins in0.fsr in.fsr 3000
}

@test "tumble with count, sum, avg, min, max, distinct: restored = uninterrupted" {
	gen_in
	for k in 1 3 5; do
		same_after $k fs-window --tumble 10s --max-delay 2s \
			-a 'count,sum(amount),avg(amount),min(amount),max(amount),distinct(merchant)' 2>/dev/null
	done
	# and without the snapshot's state the output would differ
	rm -f s.db*
	cat p2 | fs-window --tumble 10s --max-delay 2s -a 'count,sum(amount),avg(amount),min(amount),max(amount),distinct(merchant)' 2>/dev/null | cat > o2
	snap norm o2 o2.n
	cat o1.n o2.n > r.n
	! cmp -s r.n full.n
}

@test "hop with quantile and HyperLogLog distinct, lateness: restored = uninterrupted" {
	gen_in
	for k in 2 4; do
		same_after $k fs-window --hop 10s/3s --max-delay 2s \
			--lateness 3s -k mcc --distinct-exact 8 \
			-a 'count,sum(amount),quantile(amount,0.9),distinct(merchant),distinct(device)' 2>/dev/null
	done
}

@test "cumulate with early results, stddev, first, last: restored = uninterrupted" {
	gen_in
	same_after 3 fs-window --cumulate 20s/5s --max-delay 2s \
		--emit every:2s -a 'count,stddev(amount),first(amount),last(amount),var(amount)' 2>/dev/null
}

@test "sessions with early results: restored = uninterrupted" {
	gen_in
	for k in 1 4; do
		same_after $k fs-window --session 2s --max-delay 1s \
			--lateness 1s --emit every:1s -a 'count,sum(amount),max(amount)' 2>/dev/null
	done
}

@test "--features fraud-v1 with --state-ttl: restored = uninterrupted" {
	fs-gen -n 30000 --keys 300 --seed 5 --disorder 3s --event-rate 100 \
		--fixed-ingest -o in0.fsr
	snap ins in0.fsr in.fsr 7000
	for k in 1 3; do
		same_after $k fs-window --features fraud-v1 --max-delay 3s \
			--state-ttl 4s 2>/dev/null
	done
}

@test "--key-groups 4: tumble, hop with lateness, cumulate, sessions: restored = uninterrupted, key by key" {
	gen_in
	same_after_groups 3 fs-window --tumble 10s --max-delay 2s \
		-a 'count,sum(amount),distinct(merchant),quantile(amount,0.5)' 2>/dev/null
	same_after_groups 2 fs-window --hop 10s/3s --max-delay 2s \
		--lateness 3s -a 'count,max(amount)' 2>/dev/null
	same_after_groups 4 fs-window --cumulate 20s/5s --max-delay 2s \
		--emit every:2s -a 'count,stddev(amount)' 2>/dev/null
	same_after_groups 1 fs-window --session 2s --max-delay 1s \
		--lateness 1s --emit every:1s -a 'count,sum(amount)' 2>/dev/null
	same_after_groups 4 fs-window --session 2s --max-delay 1s \
		-a 'count,last(amount)' 2>/dev/null
}

@test "a corrupted snapshot is exit 3 naming stage and checkpoint" {
	gen_in
	snap split in.fsr 2 p1 p2
	cat p1 | fs-window --tumble 10s --state s.db --job j >/dev/null 2>&1
	sqlite3 s.db "UPDATE checkpoints SET status='complete' WHERE id=2;
		UPDATE snapshots SET state=substr(state,1,40)||X'00'||substr(state,42) WHERE id=2"
	run_t 20 sh -c 'cat p2 | fs-window --tumble 10s --state s.db --job j >/dev/null'
	assert_status 3
	assert_match "bad snapshot of stage 'fs-window' for checkpoint 2"
}

@test "a snapshot made under other options is exit 3; a missing one exit 1" {
	gen_in
	snap split in.fsr 2 p1 p2
	cat p1 | fs-window --tumble 10s --state s.db --job j >/dev/null 2>&1
	sqlite3 s.db "UPDATE checkpoints SET status='complete' WHERE id=2"
	run_t 20 sh -c 'cat p2 | fs-window --tumble 20s --state s.db --job j >/dev/null'
	assert_status 3
	assert_match "checkpoint 2: made under other options"
	run_t 20 sh -c 'cat p2 | fs-window --tumble 10s --state s.db --job j --stage w2 >/dev/null'
	assert_status 1
	assert_match "no snapshot of stage 'w2'"
}

@test "large snapshots: files beside the store, written by a child; prune removes them; an export holds them" {
	fs-gen -n 400000 --keys 20000 --seed 9 --fixed-ingest -o in.fsr
	run_t 60 fs-window --features fraud-v1 --state s.db --job j \
		-i in.fsr -o out.fsr --checkpoint-interval 2ms
	assert_status 0
	# nothing pending once the tool is gone: it waits for its writer
	[ "$(sqlite3 s.db "SELECT count(*) FROM pending")" = 0 ]
	# each kept snapshot row names a file of the length it says; the
	# files of pruned checkpoints are gone
	local rows files
	rows=$(sqlite3 s.db "SELECT CAST(substr(state, 8) AS TEXT) FROM snapshots")
	[ -n "$rows" ]
	files=$(ls s.db.snapshots | grep -c '\.snap$')
	[ "$files" = "$(printf '%s\n' "$rows" | wc -l)" ]
	while read -r len name; do
		[ "$(stat -c %s "s.db.snapshots/$name")" = "$len" ]
	done <<<"$rows"
	[ "$(sqlite3 s.db "SELECT max(id) FROM checkpoints")" -gt 3 ]
	# an export is self-contained: the snapshot itself, no reference
	local last
	last=$(sqlite3 s.db "SELECT max(id) FROM checkpoints WHERE status = 'complete'")
	run_t 30 fs-checkpoint export --state s.db --job j "$last" -o x.db
	assert_status 0
	[ ! -e x.db.snapshots ]
	[ "$(sqlite3 x.db "SELECT length(state) FROM snapshots WHERE stage = 'fs-window'")" = \
	  "$(sqlite3 s.db "SELECT CAST(CAST(substr(state, 8, 20) AS TEXT) AS INTEGER) FROM snapshots WHERE id = $last")" ]
	# the finished job run again restores from the file: output as it was
	cp out.fsr out0.fsr
	run_t 60 fs-window --features fraud-v1 --state s.db --job j \
		-i in.fsr -o out.fsr --checkpoint-interval 2ms
	assert_status 0
	cmp out0.fsr out.fsr
	# a snapshot file gone is bad data, named
	rm -f s.db.snapshots/*.snap
	run_t 60 fs-window --features fraud-v1 --state s.db --job j \
		-i in.fsr -o out.fsr
	assert_status 3
	assert_match "snapshot file '.*s.db.snapshots/.*' is missing"
}
