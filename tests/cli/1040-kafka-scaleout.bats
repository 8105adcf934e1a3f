#!/usr/bin/env bats
# Scale-out by static partition sets (kafka:// ...?partition=0-3,6,
# finstream(7) Endpoints): TXNs keyed by account in an 8-partition topic;
# one fs-window over all partitions against two over partition=0-3 and
# partition=4-7.  The two outputs together must be the one's, as multisets
# of data records and, per key, in the same order (the order across keys
# depends on how partitions interleave, so it is not compared).  Control
# records (WATERMARK, SCHEMA) are per instance and not compared.
#
# fs-window takes its watermark from the event times (and WATERMARKs) it
# reads; a consumer of several partitions sees them interleaved as they
# come, so which records are late would depend on the interleaving.  The
# input has no WATERMARKs (--watermark-interval 0) and --max-delay is over
# its whole event-time span: every window fires at the end (-e), and the
# results depend only on each key's records, in partition order.
# Runs on the tests' Kafka backend (helper.bash: kafka_setup).
load helper

setup_file() {
	command -v kcat >/dev/null || skip "no kcat"
	kafka_setup tx:8
	# 20000 TXNs of 2000 accounts over about 3 h of event time.
	"$BUILD/bin/fs-gen" --kind txn -n 20000 --keys 2000 --seed 17 \
		--fixed-ingest --watermark-interval 0 \
		>"$BATS_FILE_TMPDIR/in.fsr" || return 1
	kafka_env
	timeout 60 "$BUILD/bin/fs-stat" -q -i "$BATS_FILE_TMPDIR/in.fsr" \
		-o "kafka://$BS/$(kafka_topic tx)" || return 1
}

teardown_file() {
	kafka_teardown
}

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
	kafka_env
	IN=kafka://$BS/$(kafka_topic tx)
	X=(-X fetch.wait.max.ms=10)
	TUMBLE=(--max-delay 1d --tumble 1m -a 'count,sum(amount),max(amount)')
	FRAUD=(--max-delay 1d --features fraud-v1)
}

# win NAME PARTS ARGS...: fs-window ARGS over partition set PARTS (all:
# every partition) to NAME.fsr, ending at the end.
win() {
	local name=$1 parts=$2 q=
	shift 2
	[ "$parts" = all ] || q="?partition=$parts"
	timeout 60 fs-window -e "${X[@]}" "$@" -i "$IN$q" -o "$name.fsr"
}

# same_per_key DROP ONE PART...: the data records of ONE are those of the
# PARTs together: every key's records in one PART only, in ONE's order.
# DROP: fields not compared (comma separated; '-' none).  Fails saying
# what differs.
same_per_key() {
	local drop=$1 f
	shift
	for f in "$@"; do
		fs-cat -f csv -i "$f" >"$f.csv" || return 1
	done
	/usr/bin/python3 - "$drop" "${@/%/.csv}" <<-'EOF'
	import csv, sys
	from collections import Counter
	drop = set(sys.argv[1].split(","))
	def per_key(path):
	    rows = list(csv.DictReader(open(path)))
	    keys = {}
	    for r in rows:
	        keys.setdefault(r["key"], []).append(
	            tuple(v for k, v in r.items() if k not in drop))
	    return rows, keys
	one_rows, one = per_key(sys.argv[2])
	union = {}
	for p in sys.argv[3:]:
	    rows, keys = per_key(p)
	    assert rows, "%s: no data record" % p
	    both = set(keys) & set(union)
	    assert not both, "keys in two instances: %s" % sorted(both)[:5]
	    union.update(keys)
	    print("# %s: %d records, %d keys" % (p, len(rows), len(keys)))
	print("# %s: %d records, %d keys" % (sys.argv[2], len(one_rows),
	                                     len(one)))
	assert len(one_rows) > 1000, "too few records to compare"
	flat = lambda d: Counter(r for v in d.values() for r in v)
	a, b = flat(one), flat(union)
	if a != b:
	    print("not the same multiset: %d only in one, %d only in the parts"
	          % (sum((a - b).values()), sum((b - a).values())))
	    print("e.g. only in one:", list((a - b))[:2])
	    print("e.g. only in the parts:", list((b - a))[:2])
	    sys.exit(1)
	bad = [k for k in one if one[k] != union[k]]
	assert not bad, "keys in another order: %s" % bad[:5]
	EOF
}

@test "scale-out: tumbling windows over partitions 0-3 and 4-7 are those over all" {
	run win one all "${TUMBLE[@]}"
	assert_status 0
	run win a 0-3 "${TUMBLE[@]}"
	assert_status 0
	run win b 4-7 "${TUMBLE[@]}"
	assert_status 0
	# seq is each instance's own output sequence number.
	same_per_key seq one.fsr a.fsr b.fsr >&3
	# The one instance over Kafka is fs-window over the file.
	fs-window "${TUMBLE[@]}" -i "$BATS_FILE_TMPDIR/in.fsr" -o file.fsr
	same_per_key seq file.fsr one.fsr >/dev/null
	# The comparison fails when an instance misses a partition.
	run win c 0-2 "${TUMBLE[@]}"
	assert_status 0
	run same_per_key seq one.fsr c.fsr b.fsr
	[ "$status" -ne 0 ]
	assert_match "not the same multiset"
}

@test "scale-out: fraud-v1 features over partitions 0-3 and 4-7 are those over all" {
	run win one all "${FRAUD[@]}"
	assert_status 0
	run win a 0-3 "${FRAUD[@]}"
	assert_status 0
	run win b 4-7 "${FRAUD[@]}"
	assert_status 0
	# Every field, seq too: FEATURES carry their TXN's.
	same_per_key - one.fsr a.fsr b.fsr >&3
	fs-window "${FRAUD[@]}" -i "$BATS_FILE_TMPDIR/in.fsr" -o file.fsr
	same_per_key - file.fsr one.fsr >/dev/null
	# Partitions 4-6 and 7 for the second: still the same.
	run win b1 4-6 "${FRAUD[@]}"
	assert_status 0
	run win b2 7 "${FRAUD[@]}"
	assert_status 0
	same_per_key - one.fsr a.fsr b1.fsr b2.fsr >/dev/null
	# Without partition 7: not.
	run same_per_key - one.fsr a.fsr b1.fsr
	[ "$status" -ne 0 ]
}

@test "scale-out: with checkpoints, each instance's job its own state in one store" {
	for j in A:0-3 B:4-7; do
		run win "${j%%:*}" "${j#*:}" "${TUMBLE[@]}" --state store.db \
			--job "j-${j%%:*}" --checkpoint-interval 100ms
		assert_status 0
	done
	run win one all "${TUMBLE[@]}"
	assert_status 0
	same_per_key seq one.fsr A.fsr B.fsr >/dev/null
	fs-checkpoint list --state store.db --json >list
	grep -q '"job":"j-A".*"status":"complete"' list
	grep -q '"job":"j-B".*"status":"complete"' list
	# A rerun of each job restores its own checkpoint, at the end of its
	# partitions: its sink is what it was, and the other job's
	# checkpoints are untouched.
	cp A.fsr A0.fsr
	grep '"job":"j-B"' list >b0
	run win A 0-3 "${TUMBLE[@]}" --state store.db --job j-A \
		--checkpoint-interval 100ms
	assert_status 0
	cmp A0.fsr A.fsr
	fs-checkpoint list --state store.db --json | grep '"job":"j-B"' >b1
	cmp b0 b1
	# And j-B's rerun restores j-B's, not j-A's: nothing new either.
	cp B.fsr B0.fsr
	run win B 4-7 "${TUMBLE[@]}" --state store.db --job j-B \
		--checkpoint-interval 100ms
	assert_status 0
	cmp B0.fsr B.fsr
}
