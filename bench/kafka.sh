#!/usr/bin/env bash
# bench/kafka.sh - Kafka throughput of the finstream tools beside kcat
# (librdkafka's own command-line client), printed as Markdown on stdout
# (progress on stderr), against two brokers in turn:
#
#   (a) fs-devbroker: librdkafka's mock cluster on loopback
#   (b) Apache Kafka, scripts/kafka-broker (skipped with a note when java
#       is missing or the script exits 4)
#
# Produce: the same N transactions (fs-gen --kind txn -n N --seed 7
# --watermark-interval 0: data records only, so records = messages)
#   fs-gen ... -o kafka://B/T                 records made on the fly
#   fs-stat -q -i txn.fsr -o kafka://B/T      the records from a file
#   kcat -P -K KD -D D -l msgs               the same messages (key =
#       8-byte LE record key, value = the frame without its len field)
#       from a file where KD and D are 8-byte delimiters found in no
#       message, once with finstream's producer settings and once with
#       kcat's defaults
# Consume: one topic the fs-gen run filled, read to its end by
#   fs-stat -q -e -i kafka://B/T -o /dev/null
#   kcat -C -e -o beginning -q (value and \n), and -f '%k%s' (key, value)
# after a check that both read N messages.
#
#   N=2M        records for fs-devbroker
#   REAL_N=1M   records for the Apache Kafka broker
#   PARTS=64    partitions of the devbroker's topics (its log keeps at
#               most 5 MiB a partition; 64 hold 2M uncompressed records)
#   REAL_PARTS=8  partitions on the Apache Kafka broker
#   REAL=0      skip (b)
#   RUNS=3      runs per command; the best wall time counts
set -u
. "$(dirname "$0")/lib.sh"
N=${N:-2M}
REAL_N=${REAL_N:-1M}
PARTS=${PARTS:-64}
REAL_PARTS=${REAL_PARTS:-8}
REAL=${REAL:-1}
need fs-gen fs-stat fs-devbroker
command -v kcat >/dev/null || die "kcat not found"
load0=$(load)
mkdir -p "$work"
kcat_ver=$(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\) .*librdkafka \([^ ]*\) .*/\1 (librdkafka \2)/p')

# finstream's producer settings (finstream(7) Endpoints), given to kcat
# for the like-for-like run.
FSX=(-X enable.idempotence=true -X linger.ms=5
	-X batch.num.messages=100000 -X batch.size=1000000
	-X queue.buffering.max.messages=1000000 -X compression.codec=lz4
	-X partitioner=murmur2_random)
# Fixed delimiters for kcat -P; make_msgs checks no message holds them.
D='\xa5\x5a\xc3\x3c\x96\x69\x0f\xf0'
KD='\x5a\xa5\x3c\xc3\x69\x96\xf0\x0f'

# make_data ROWS: $work/kafka-txn-ROWS.fsr and the same records as kcat
# input, $work/kafka-msgs-ROWS.bin (key KD value D, a message after the
# other).
make_data() {
	local f=$work/kafka-txn-$1.fsr m=$work/kafka-msgs-$1.bin
	if [ ! -s "$f" ]; then
		echo "making $f" >&2
		fs-gen --kind txn -n "$1" --seed 7 --watermark-interval 0 \
			-o "$f.tmp" && mv "$f.tmp" "$f" || die "cannot make $f"
	fi
	if [ ! -s "$m" ]; then
		echo "making $m" >&2
		python3 - "$f" "$m.tmp" <<-'EOF' || die "cannot make $m"
		import struct, sys
		D = bytes.fromhex("a55ac33c96690ff0")
		KD = bytes.fromhex("5aa53cc36996f00f")
		b = open(sys.argv[1], "rb").read()
		out, o = [], 0
		while o < len(b):
		    n, = struct.unpack_from("<I", b, o)
		    v = b[o + 4:o + 4 + n]
		    k = b[o + 24:o + 32]
		    m = k + KD + v
		    if D in m or KD in v or KD in k:
		        sys.exit("a delimiter occurs in a message")
		    out.append(m)
		    o += 4 + n
		open(sys.argv[2], "wb").write(D.join(out) + D)
		EOF
		mv "$m.tmp" "$m"
	fi
}

# rate ROWS NS: rows per second, in millions, 3 significant digits.
rate() {
	awk -v r="$1" -v ns="$2" 'BEGIN { printf "%.3g", r / (ns / 1e9) / 1e6 }'
}
# mbs BYTES NS: MB/s (10^6 bytes).
mbs() {
	awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.0f", b / (ns / 1e9) / 1e6 }'
}

# produced BS TOPIC: the messages ever written to TOPIC (the sum over
# its partitions of the last offset + 1), read with kcat.
produced() {
	timeout 60 kcat -C -e -q -b "$1" -t "$2" -o -1 -f '%o\n' |
		awk '{ s += $1 + 1 } END { print s + 0 }'
}
# consumed BS TOPIC: the messages kcat reads from the start to the end.
consumed() {
	timeout 120 kcat -C -e -q -b "$1" -t "$2" -o beginning -f '.' | wc -c
}

bpid=
stop_broker() {
	if [ -n "$bpid" ] && kill -0 "$bpid" 2>/dev/null; then
		kill -TERM "$bpid" 2>/dev/null
		for _ in $(seq 300); do
			kill -0 "$bpid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$bpid" 2>/dev/null
		wait "$bpid" 2>/dev/null
	fi
	bpid=
}
trap stop_broker EXIT
trap 'exit 1' INT TERM

# topics PARTS: the -t arguments for every topic a section uses.
topics() {
	local t
	for t in warm pgen pstat pkfs pkdef c; do
		printf -- '-t\n%s:%s\n' "$t" "$1"
	done
}

# section NAME ROWS: the produce and consume table rows for the broker
# whose bootstrap list is in $bs; results in the global array res.
section() {
	local name=$1 rows=$2 f=$work/kafka-txn-$2.fsr m=$work/kafka-msgs-$2.bin
	local bytes t n x
	bytes=$(stat -c %s "$f")
	echo "$name: warm-up, then produce, $rows records, $RUNS runs each" >&2
	fs-stat -q -i "$f" -o "kafka://$bs/warm" 2>/dev/null ||
		die "$name: cannot produce to topic warm"
	t=$(best "fs-gen --kind txn -n $rows --seed 7 --watermark-interval 0 -o kafka://$bs/pgen")
	res+=("| $name | produce | fs-gen | \`fs-gen --kind txn -n $rows ... -o kafka://B/T\` | $(rate "$rows" "$t") | $(mbs "$bytes" "$t") |")
	t=$(best "fs-stat -q -i $f -o kafka://$bs/pstat")
	res+=("| $name | produce | fs-stat | \`fs-stat -q -i txn.fsr -o kafka://B/T\` | $(rate "$rows" "$t") | $(mbs "$bytes" "$t") |")
	t=$(best "kcat -P -q -b $bs -t pkfs -K '$KD' -D '$D' ${FSX[*]} -l $m")
	res+=("| $name | produce | kcat, finstream's settings | \`kcat -P -K KD -D D -X (as finstream) -l msgs\` | $(rate "$rows" "$t") | $(mbs "$bytes" "$t") |")
	t=$(best "kcat -P -q -b $bs -t pkdef -K '$KD' -D '$D' -X partitioner=murmur2_random -l $m")
	res+=("| $name | produce | kcat, its defaults | \`kcat -P -K KD -D D -l msgs\` | $(rate "$rows" "$t") | $(mbs "$bytes" "$t") |")
	for x in pgen pstat pkfs pkdef; do
		n=$(produced "$bs" $x)
		[ "$n" -eq $((rows * RUNS)) ] ||
			die "$name: topic $x holds $n messages, not $((rows * RUNS))"
	done

	echo "$name: filling topic c, checking counts" >&2
	fs-gen --kind txn -n "$rows" --seed 7 --watermark-interval 0 \
		-o "kafka://$bs/c" || die "$name: cannot fill topic c"
	n=$(fs-stat -q -e --json -i "kafka://$bs/c" -o /dev/null 2>&1 |
		sed -n 's/.*"records":\([0-9]*\).*/\1/p' | head -1)
	[ "$n" = "$rows" ] || die "$name: fs-stat read ${n:-?} records, not $rows"
	n=$(consumed "$bs" c)
	[ "$n" = "$rows" ] || die "$name: kcat read $n messages, not $rows"
	echo "$name: consume, $RUNS runs each" >&2
	t=$(best "fs-stat -q -e -i kafka://$bs/c -o /dev/null")
	res+=("| $name | consume | fs-stat | \`fs-stat -q -e -i kafka://B/T -o /dev/null\` | $(rate "$rows" "$t") | $(mbs "$bytes" "$t") |")
	t=$(best "kcat -C -e -q -b $bs -t c -o beginning >/dev/null")
	res+=("| $name | consume | kcat | \`kcat -C -e -q -b B -t T -o beginning\` | $(rate "$rows" "$t") | $(mbs "$bytes" "$t") |")
	t=$(best "kcat -C -e -q -b $bs -t c -o beginning -f '%k%s' >/dev/null")
	res+=("| $name | consume | kcat, key and value | \`kcat -C -e -q ... -f '%k%s'\` | $(rate "$rows" "$t") | $(mbs "$bytes" "$t") |")
}

# wait_bs FILE SECONDS: wait until FILE holds the bootstrap list, or the
# broker has gone; prints it.
wait_bs() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		if [ -s "$1" ]; then cat "$1"; return 0; fi
		kill -0 "$bpid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

res=()
rows=$(count "$N")
make_data "$rows"
# Faithfulness: kcat's messages read back by fs-stat are the frames.
echo "checking kcat -P -K -D on 20000 records" >&2
make_data 20000
rm -f "$work/kafka-bs"
mapfile -t tl < <(topics "$PARTS")
fs-devbroker -q --brokers 1 "${tl[@]}" -t chk:1 \
	--bootstrap-file "$work/kafka-bs" </dev/null >/dev/null 2>&1 &
bpid=$!
bs=$(wait_bs "$work/kafka-bs" 20) || die "fs-devbroker did not start"
kcat -P -q -b "$bs" -t chk -K "$KD" -D "$D" -l "$work/kafka-msgs-20000.bin" ||
	die "kcat -P failed"
fs-stat -q -e -i "kafka://$bs/chk" -o "$work/kafka-chk.fsr" ||
	die "fs-stat cannot read kcat's messages"
cmp -s "$work/kafka-chk.fsr" "$work/kafka-txn-20000.fsr" ||
	die "kcat's messages are not the frames"
section "fs-devbroker" "$rows"
stop_broker

real_note=
real_rows=$(count "$REAL_N")
if [ "$REAL" = 0 ]; then
	real_note="Skipped (REAL=0)."
elif ! command -v java >/dev/null; then
	real_note="Skipped: no java on this machine."
else
	make_data "$real_rows"
	rm -f "$work/kafka-bs"
	mapfile -t tl < <(topics "$REAL_PARTS")
	scripts/kafka-broker -q -n 1 "${tl[@]}" -b "$work/kafka-bs" \
		--watch-pid $$ </dev/null >/dev/null 2>"$work/kafka-broker.err" &
	bpid=$!
	if bs=$(wait_bs "$work/kafka-bs" 90); then
		jv=$(java -version 2>&1 | head -1)
		section "Apache Kafka" "$real_rows"
		stop_broker
	else
		wait "$bpid"
		st=$?
		bpid=
		[ $st = 4 ] || die "scripts/kafka-broker failed (exit $st): $(tail -3 "$work/kafka-broker.err")"
		real_note="Skipped: scripts/kafka-broker exit 4 ($(tail -1 "$work/kafka-broker.err"))."
	fi
fi

cat <<EOF
# Kafka throughput: finstream beside kcat

$(machine "$load0")
Best of $RUNS wall times per command, process start and the wait for
every acknowledgement included.  Records: fs-gen's transactions
(\`--kind txn --seed 7 --watermark-interval 0\`, no control records, so
one record is one message), 88 bytes a frame: a message of 84 bytes
(the frame without its 4-byte len field) and an 8-byte key.  MB/s:
frame bytes (the records' file size) over the wall time, the same
figure for every client.  kcat $kcat_ver; the finstream tools link
the same librdkafka.

| broker | test | client | command | M records/s | MB/s |
|---|---|---|---|---:|---:|
EOF
printf '%s\n' "${res[@]}"
cat <<EOF

Brokers: (a) fs-devbroker, librdkafka's mock cluster (one broker, in
one process, all in memory), $rows records into topics of $PARTS
partitions (the mock keeps at most 5 MiB of log a partition and drops
the oldest beyond it; $PARTS partitions hold these records
uncompressed); (b) Apache Kafka from \`scripts/kafka-broker -n 1\`
(KRaft, one JVM, its logs on the local disk), $real_rows records,
topics of $REAL_PARTS partitions$( [ -n "${jv:-}" ] && echo ", $jv").
${real_note}

What was compared, produce: each run writes all its records to a topic
of its own kind (the same topic for the $RUNS runs), and after the runs
the script checks that each topic's partitions end at $RUNS times the
record count.  One untimed produce of the records to another topic
warms the broker (and the JVM on (b)) first.  fs-gen makes its records as it sends them; fs-stat and
kcat read them from a file (page cache).  kcat produces exactly the
messages finstream produces (value = frame without len, key = the
record's 8-byte LE key): its input file holds them separated by 8-byte
delimiters that occur in no message (checked when the file is made),
\`-K KD -D D -l\`, and a check before the timing has fs-stat read back
20000 such messages byte for byte as the frames.  "finstream's
settings" gives kcat the producer properties the tools use
(enable.idempotence, linger.ms=5, batch.num.messages=100000,
batch.size=1000000, queue.buffering.max.messages=1000000, lz4,
partitioner murmur2_random, as the tools' murmur2 key partitioning);
"its defaults" only the partitioner (no compression, no idempotence).

Consume: one topic filled by fs-gen (lz4 batches, as finstream writes),
read from the beginning to the end of every partition; before timing,
fs-stat (\`--json\` records) and kcat (messages) each read $rows, or
$real_rows on (b).  fs-stat rebuilds each frame and checks it (a bad
frame is exit 3) and writes the frames; kcat prints each value and a
newline, or the key and the value.

For context, librdkafka's published figures (its INTRODUCTION.md,
performance section: one producer, 3 brokers, 100-byte messages, a
real network): about 0.85M messages/s produced (about 80 MB/s of
payload) and about 3M messages/s consumed.  The figures here are on
loopback, with the broker on the same cores as the client.

The machine is shared with other jobs (compilers, tests, other
benchmarks); expect noise of tens of per cent between runs, more for
(b), whose JVM competes for the same 2 cores.
EOF
