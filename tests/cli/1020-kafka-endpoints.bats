#!/usr/bin/env bats
# kafka:// endpoints (libcommon/kafka.c, finstream(7) Endpoints) on the
# tests' Kafka backend (helper.bash: kafka_setup): a real Apache Kafka
# broker (the one tests/run starts, or $KAFKA_BROKERS) or fs-devbroker.
# Every test passes on both.  kcat is the independent client.
load helper

setup_file() {
	command -v kcat >/dev/null || skip "no kcat"
	kafka_setup g8:8 k8:8 p8:8
}

teardown_file() {
	kafka_teardown
}

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
	kafka_env
	# A topic of its own for each test, auto-created by the producer.
	TP=$(kafka_topic t$BATS_TEST_NUMBER)
	X=(-X fetch.wait.max.ms=10)
	PIDS=()
}

# Background processes a test started, ended if it fails half way.
teardown() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		timeout 5 tail --pid="$p" -f /dev/null 2>/dev/null || true
		kill -9 "$p" 2>/dev/null || true
	done
}

# frames FILE: one line per frame: offset len key ts_event(ms) data|ctl
frames() {
	/usr/bin/python3 - "$1" <<-'EOF'
	import struct, sys
	b = open(sys.argv[1], "rb").read()
	o = 0
	while o < len(b):
	    n, = struct.unpack_from("<I", b, o)
	    f = b[o + 7]
	    ts, = struct.unpack_from("<q", b, o + 8)
	    key, = struct.unpack_from("<Q", b, o + 24)
	    print(o, n, key, ts // 1000000, "ctl" if f & 1 else "data")
	    o += 4 + n
	EOF
}

@test "kafka: fs-gen -> topic -> fs-stat -e is the file fs-gen writes" {
	fs-gen -n 3000 --fixed-ingest --seed 7 >want.fsr
	run_t 30 fs-gen -n 3000 --fixed-ingest --seed 7 \
		-o "kafka://$BS/$TP?partition=0"
	assert_status 0
	run_t 30 fs-stat -q -e "${X[@]}" -i "kafka://$BS/$TP" -o got.fsr
	assert_status 0
	cmp want.fsr got.fsr
}

@test "kafka: kcat reads values (frame minus len), keys (8 bytes LE), ms timestamps" {
	fs-gen -n 500 --seed 3 >want.fsr
	run_t 30 fs-stat -q -i want.fsr -o "kafka://$BS/$TP?partition=0"
	assert_status 0
	timeout 20 kcat -b "$BS" -C -t "$TP" -e -q -f '%s' >values
	timeout 20 kcat -b "$BS" -C -t "$TP" -e -q -f '%k' >keys
	timeout 20 kcat -b "$BS" -C -t "$TP" -e -q -f '%T\n' >ts
	/usr/bin/python3 - <<-'EOF'
	import struct
	b = open("want.fsr", "rb").read()
	vals, keys, ts, o = b"", b"", [], 0
	while o < len(b):
	    n, = struct.unpack_from("<I", b, o)
	    vals += b[o + 4:o + 4 + n]
	    keys += b[o + 24:o + 32]
	    ts.append(struct.unpack_from("<q", b, o + 8)[0] // 1000000)
	    o += 4 + n
	assert open("values", "rb").read() == vals, "values differ"
	assert open("keys", "rb").read() == keys, "keys differ"
	got = [int(x) for x in open("ts").read().split()]
	assert got == ts, "timestamps differ"
	EOF
}

@test "kafka: frames kcat -P produced (one file per message) read back by fs-stat" {
	fs-gen -n 60 --seed 5 >want.fsr
	/usr/bin/python3 - <<-'EOF'
	import struct
	b = open("want.fsr", "rb").read()
	o = i = 0
	while o < len(b):
	    n, = struct.unpack_from("<I", b, o)
	    open("m%03d" % i, "wb").write(b[o + 4:o + 4 + n])
	    o += 4 + n
	    i += 1
	EOF
	timeout 20 kcat -b "$BS" -P -t "$TP" -p 0 m*
	run_t 30 fs-stat -q -e "${X[@]}" -i "kafka://$BS/$TP?offset=beginning" \
		-o got.fsr
	assert_status 0
	cmp want.fsr got.fsr
	# A message that is not a frame is bad input, exit 3, with its place.
	printf 'not a frame' | timeout 20 kcat -b "$BS" -P -t "$TP" -p 0
	run_t 30 fs-stat -q -e "${X[@]}" -i "kafka://$BS/$TP" -o /dev/null
	assert_status 3
	n=$(frames want.fsr | wc -l)
	assert_match "partition 0, offset $n\)"
}

@test "kafka: keys partition as Java's murmur2 does; partition=P writes one" {
	k8=$(kafka_topic k8)
	p8=$(kafka_topic p8)
	fs-gen -n 2000 --seed 11 >in.fsr
	run_t 30 fs-stat -q -i in.fsr -o "kafka://$BS/$k8"
	assert_status 0
	for p in 0 1 2 3 4 5 6 7; do
		timeout 20 fs-stat -q -e "${X[@]}" -o "p$p.fsr" \
			-i "kafka://$BS/$k8?partition=$p"
		frames "p$p.fsr" | awk -v p=$p '{ print p, $3, $5 }'
	done >got
	frames in.fsr | awk '$5 == "data" { print $3 }' >keys
	/usr/bin/python3 - <<-'EOF'
	import struct
	def murmur2(d):
	    m, h = 0x5bd1e995, (0x9747b28c ^ len(d)) & 0xffffffff
	    for i in range(len(d) // 4):
	        k = int.from_bytes(d[4 * i:4 * i + 4], "little")
	        k = (k * m) & 0xffffffff
	        k ^= k >> 24
	        k = (k * m) & 0xffffffff
	        h = ((h * m) & 0xffffffff) ^ k
	    h ^= h >> 13
	    h = (h * m) & 0xffffffff
	    return h ^ (h >> 15)
	want = [(murmur2(struct.pack("<Q", int(k))) & 0x7fffffff) % 8
	        for k in open("keys").read().split()]
	rows = [l.split() for l in open("got")]
	data = [(int(p), int(k)) for p, k, t in rows if t == "data"]
	ctl = [int(p) for p, k, t in rows if t == "ctl"]
	assert len(data) == len(want), (len(data), len(want))
	keys = [int(k) for k in open("keys").read().split()]
	from collections import Counter
	assert Counter(zip(want, keys)) == Counter(data), "partitions differ"
	# control records: one copy in each partition
	c = Counter(ctl)
	assert len(c) == 8 and len(set(c.values())) == 1, c
	EOF
	run_t 30 fs-gen -n 100 -o "kafka://$BS/$p8?partition=5"
	assert_status 0
	for p in 0 5; do
		timeout 20 kcat -b "$BS" -C -t "$p8" -p $p -e -q -f 'x\n' | wc -l
	done >counts
	[ "$(cat counts | tr '\n' ' ')" != "0 0 " ]
	[ "$(head -1 counts)" = 0 ]
	[ "$(tail -1 counts)" -ge 100 ]
}

@test "kafka: offset=N and offset=@TIME (the time index, or searched where the brokers give none)" {
	fs-gen -n 2000 --seed 9 >in.fsr
	run_t 30 fs-stat -q -i in.fsr -o "kafka://$BS/$TP?partition=0"
	assert_status 0
	run_t 30 fs-stat -q -e "${X[@]}" -i "kafka://$BS/$TP?offset=1500" \
		-o got.fsr
	assert_status 0
	[ "$(frames got.fsr | wc -l)" -eq $(($(frames in.fsr | wc -l) - 1500)) ]
	# The record at index 1234: everything from the first record whose
	# ts_event in ms reaches its time.
	frames in.fsr >all
	t=$(awk 'NR == 1235 { print $4 }' all)
	want=$(awk -v t="$t" '$4 >= t && !f { f = NR } END { print NR - f + 1 }' all)
	run_t 30 fs-stat -q -e "${X[@]}" -o got.fsr \
		-i "kafka://$BS/$TP?offset=@${t}ms"
	assert_status 0
	[ "$(frames got.fsr | wc -l)" -eq "$want" ]
	cmp <(tail -c "$(stat -c %s got.fsr)" in.fsr) got.fsr
}

@test "kafka: -e ends at the end; SIGTERM ends a waiting consumer at once" {
	run_t 30 fs-gen -n 10 -o "kafka://$BS/$TP"
	assert_status 0
	fs-cat "${X[@]}" -i "kafka://$BS/$TP" >out 2>err &
	pid=$!
	PIDS+=($pid)
	for _ in $(seq 100); do
		[ "$(wc -l <out)" -ge 10 ] && break
		sleep 0.05
	done
	sleep 0.3
	kill -0 $pid		# without -e it waits for more
	t0=$(date +%s%N)
	kill -TERM $pid
	rc=0
	wait $pid || rc=$?
	t1=$(date +%s%N)
	[ $rc -eq 0 ]
	[ $(((t1 - t0) / 1000000)) -lt 1500 ]
	[ "$(grep -c '^txn' out)" -eq 10 ]
}

@test "kafka: unreachable brokers exit 4 within --connect-timeout, naming them" {
	t0=$(date +%s%N)
	run_t 20 fs-cat --connect-timeout 1s -i kafka://127.0.0.1:1/x
	t1=$(date +%s%N)
	assert_status 4
	assert_match "cannot reach Kafka brokers '127.0.0.1:1'"
	[ $(((t1 - t0) / 1000000)) -lt 4000 ]
	run_t 20 fs-gen -n 1 --connect-timeout 1s -o kafka://127.0.0.1:1/x
	assert_status 4
}

@test "kafka: malformed URIs, parameters and properties are usage errors" {
	run_t 10 fs-cat -i kafka://nohost
	assert_status 2
	run_t 10 fs-cat -i "kafka://h:1/t?color=red"
	assert_status 2
	assert_match "unknown parameter 'color'"
	run_t 10 fs-cat -i "kafka://h:1/t?offset=soon"
	assert_status 2
	run_t 10 fs-cat -i "kafka://h:1/t?group=g&partition=1"
	assert_status 2
	run_t 10 fs-gen -o "kafka://h:1/t?group=g"
	assert_status 2
	run_t 10 fs-cat -X no.such.property=1 -i "kafka://h:1/t"
	assert_status 2
	assert_match "no.such.property"
	run_t 10 fs-cat -X novalue -i -
	assert_status 2
	run_t 10 fs-ingest -t txn -i "kafka://h:1/t"
	assert_status 4
	run_t 10 fs-cat -f csv -o "kafka://$BS/$TP" -i /dev/null
	assert_status 0		# no record, no text written
}

@test "kafka: -F reads properties; a consumer's lag per partition in --metrics" {
	fs-gen -n 1000 -o "kafka://$BS/$TP?partition=0"
	n=$(timeout 20 kcat -b "$BS" -C -t "$TP" -e -q -f 'x\n' | wc -l)
	printf '# test\n\nfetch.wait.max.ms=10\n' >k.conf
	fs-stat -q -F k.conf --metrics m.prom -i "kafka://$BS/$TP" \
		-o first.fsr 2>/dev/null &
	s=$!
	PIDS+=($s)
	# fs-stat waits (no -e); once it has read all, the lag is 0.
	for _ in $(seq 100); do
		grep -q "^fs_kafka_consumer_lag_total.* 0$" m.prom 2>/dev/null &&
			break
		sleep 0.1
	done
	grep -E "^fs_kafka_consumer_lag\{tool=\"fs-stat\",topic=\"$TP\",partition=\"0\"\} 0$" m.prom
	kill -TERM $s
	wait $s
	[ "$(frames first.fsr | wc -l)" -eq "$n" ]
	# The lag of a consumer that stopped early: what it left.
	run_t 30 fs-cat -F k.conf -n 10 --metrics m2.prom -i "kafka://$BS/$TP"
	assert_status 0
	lag=$(sed -n 's/^fs_kafka_consumer_lag{.*partition="0"} //p' m2.prom)
	echo "lag $lag of $n" >&2
	[ "$lag" -gt 0 ] && [ "$lag" -lt "$n" ]
	run_t 10 fs-cat -F /nonexistent -i -
	assert_status 1
}

@test "kafka: fs-window reading Kafka gives what it gives from a file" {
	fs-gen -n 5000 --seed 4 >in.fsr
	fs-window --tumble 1s -a 'count,sum(amount)' -i in.fsr >want.fsr
	run_t 30 fs-stat -q -i in.fsr -o "kafka://$BS/$TP?partition=0"
	assert_status 0
	run_t 30 fs-window --tumble 1s -a 'count,sum(amount)' -e "${X[@]}" \
		-i "kafka://$BS/$TP" -o got.fsr
	assert_status 0
	[ -s want.fsr ]
	cmp <(fs-cat <want.fsr) <(fs-cat <got.fsr)
}

@test "kafka: a group splits 8 partitions; a third member joins mid-run; no loss" {
	# Once in three CI runs the joining member got no partitions from
	# the mock's group coordinator within 20 s (records not read, not
	# lost); on fs-devbroker, opt in until that is understood:
	# FS_KAFKA_GROUP_TEST=1.  A real broker's coordinator runs it always.
	kafka_real || [ "${FS_KAFKA_GROUP_TEST:-0}" = 1 ] ||
		skip "the mock's rebalance under load is being looked into (FS_KAFKA_GROUP_TEST=1 runs it)"
	g8=$(kafka_topic g8)
	g="kafka://$BS/$g8?group=$KAFKA_PREFIX-G"
	PIDS=()
	fs-stat -q "${X[@]}" -i "$g" -o a.fsr 2>a.err &
	a=$!
	PIDS+=($a)
	fs-stat -q "${X[@]}" -i "$g" -o b.fsr 2>b.err &
	b=$!
	PIDS+=($b)
	timeout 30 fs-gen -n 20000 --rate 5000 -o "kafka://$BS/$g8" &
	p=$!
	sleep 1.5
	fs-stat -q "${X[@]}" -i "$g" -o c.fsr 2>c.err &
	c=$!
	PIDS+=($c)
	wait $p
	# Wait until the three have read everything (or 20 s).
	for _ in $(seq 200); do
		# none yet (grep -c exits 1) or a frame half written: go on
		n=$(cat a.fsr b.fsr c.fsr | fs-cat 2>/dev/null |
			grep -c '^txn' || true)
		[ "$n" -ge 20000 ] && break
		sleep 0.1
	done
	kill -TERM $a $b $c
	wait $a $b $c
	cat a.fsr b.fsr c.fsr | fs-cat --fields seq --types txn -f csv \
		--no-header >seqs
	total=$(wc -l <seqs)
	uniq=$(sort -un seqs | wc -l)
	echo "# group: $total records read, $uniq distinct, $((total - uniq)) duplicates; a=$(frames a.fsr | wc -l) b=$(frames b.fsr | wc -l) c=$(frames c.fsr | wc -l) frames" >&3
	[ "$uniq" -eq 20000 ]
	# Each member read some partitions.
	[ -s a.fsr ] && [ -s b.fsr ]
}

@test "kafka: an input's WATERMARK is the least over the partitions it reads" {
	local P8
	P8=$(kafka_topic p8)
	# wm FILE TS...: WATERMARK frames (fs-record(5)) with those times
	wm() {
		/usr/bin/python3 -c '
import struct, sys
with open(sys.argv[1], "wb") as f:
    for t in sys.argv[2:]:
        f.write(struct.pack("<IHBBqqQQ", 36, 0x100, 1, 1, int(t), 0, 0, 0))
' "$@"
	}
	wm a.fsr 100 300 500
	wm b.fsr 50 200
	run_t 30 fs-stat -q -i a.fsr -o "kafka://$BS/$P8?partition=2"
	assert_status 0
	run_t 30 fs-stat -q -i b.fsr -o "kafka://$BS/$P8?partition=3"
	assert_status 0
	run_t 30 fs-cat -e "${X[@]}" -i "kafka://$BS/$P8?partition=2,3" \
		-f csv --types watermark
	assert_status 0
	# partition 2 alone would say 100, 300, 500; the least over both
	# rises (50 or 100, as the two interleave) to 200, never past it
	local got
	got=$(printf '%s\n' "$output" | sed 1d | cut -d, -f1 | tr '\n' ' ')
	echo "$got"
	case $got in
	"1970-01-01T00:00:00.00000005Z 1970-01-01T00:00:00.0000002Z " | \
	"1970-01-01T00:00:00.0000001Z 1970-01-01T00:00:00.0000002Z ") ;;
	*) false ;;
	esac
}
