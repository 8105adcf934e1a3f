#!/usr/bin/env bats
# scripts/kafka-broker: a real Apache Kafka cluster (KRaft, on loopback)
# from jars Maven fetches from Maven Central into a cache. kcat, the
# independent client, checks that it serves metadata, keeps what is
# produced, and that SIGTERM leaves no JVM and no temporary directory.
# Skipped, with the reason, where java, mvn (cold cache) or kcat is absent.
load helper

KB=$TOP/scripts/kafka-broker
# The cache's layout: DIR/kafka-VERSION/classpath.RECIPE, the mark of a
# complete fetch.
KV=kafka-$(sed -n 's/^KAFKA_PINNED=\([0-9.]*\).*/\1/p' "$KB")
CP=classpath.$(sed -n 's/^RECIPE=\([0-9]*\).*/\1/p' "$KB")

# setup_file leaves in $BATS_FILE_TMPDIR/skip why the broker cannot run
# here (bats 1.8 cannot skip from setup_file); need_broker skips on it.
setup_file() {
	local t0 rc why=
	command -v java >/dev/null 2>&1 ||
		why="java not installed: no real Kafka broker on this machine"
	[ -n "$why" ] || command -v kcat >/dev/null 2>&1 ||
		why="kcat not installed: nothing to check the broker with"
	if [ -n "$why" ]; then
		echo "$why" >"$BATS_FILE_TMPDIR/skip"
		return 0
	fi
	t0=$(date +%s%N)
	# The first fetch downloads about 70 MB of jars: allow for it.
	timeout 600 "$TOP/scripts/kafka-broker" -q --fetch-only \
		>"$BATS_FILE_TMPDIR/cache" 2>"$BATS_FILE_TMPDIR/fetch.err"
	rc=$?
	if [ $rc -eq 4 ]; then
		tail -n 1 "$BATS_FILE_TMPDIR/fetch.err" >"$BATS_FILE_TMPDIR/skip"
		return 0
	fi
	[ $rc -eq 0 ] || {
		cat "$BATS_FILE_TMPDIR/fetch.err" >&2
		return 1
	}
	echo "# kafka-broker --fetch-only: $((($(date +%s%N) - t0) / 1000000))" \
	     "ms, cache $(cat "$BATS_FILE_TMPDIR/cache")" >&3
}

need_broker() {
	if [ -s "$BATS_FILE_TMPDIR/skip" ]; then
		skip "$(cat "$BATS_FILE_TMPDIR/skip")"
	fi
}

# start_broker ARGS...: start kafka-broker in the background (its temporary
# directory under $T/tmp, so teardown can find whatever it left); wait
# until it writes its bootstrap list. Sets kp (its pid), bs (the list),
# jvms (its JVMs' pids) and ready_ms.
start_broker() {
	local i t0
	mkdir -p "$T/tmp"
	t0=$(date +%s%N)
	TMPDIR=$T/tmp "$KB" -b "$T/bs" --watch-pid $$ "$@" \
		>"$T/kb.out" 2>"$T/kb.err" 3>&- &
	kp=$!
	for ((i = 0; i < 900; i++)); do
		[ -s "$T/bs" ] && break
		kill -0 "$kp" 2>/dev/null || break
		sleep 0.1
	done
	ready_ms=$((($(date +%s%N) - t0) / 1000000))
	if ! [ -s "$T/bs" ]; then
		echo "kafka-broker not ready after ${ready_ms} ms:" >&2
		cat "$T/kb.err" >&2
		return 1
	fi
	bs=$(cat "$T/bs")
	jvms=$(pgrep -P "$kp" -x java | tr '\n' ' ')
	echo "# $* ready in ${ready_ms} ms: $bs" >&3
}

# stop_broker: SIGTERM, then wait at most 20 s. Sets status and stop_ms.
stop_broker() {
	local i t0
	t0=$(date +%s%N)
	kill -TERM "$kp"
	for ((i = 0; i < 200; i++)); do
		kill -0 "$kp" 2>/dev/null || break
		sleep 0.1
	done
	stop_ms=$((($(date +%s%N) - t0) / 1000000))
	if kill -0 "$kp" 2>/dev/null; then
		status=124
	else
		status=0
		wait "$kp" || status=$?
	fi
	echo "# stopped in ${stop_ms} ms, exit $status" >&3
}

# ours: pids of live processes whose command line names this test's
# directory (the JVMs take their settings from there).
ours() {
	local d c
	for d in /proc/[0-9]*; do
		c=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
		case $c in *"$BATS_TEST_TMPDIR"*) echo "${d#/proc/}" ;; esac
	done
}

teardown() {
	local p
	if [ -n "${kp:-}" ] && kill -0 "$kp" 2>/dev/null; then
		kill -TERM "$kp" 2>/dev/null
		sleep 3
		kill -KILL "$kp" 2>/dev/null
	fi
	for p in ${jvms:-} $(ours); do
		[ "$p" = $$ ] || kill -KILL "$p" 2>/dev/null
	done
	return 0
}

@test "kafka-broker: --help, --version, usage errors (exit 2)" {
	run_t 10 "$KB" --help
	assert_status 0
	assert_match '^usage: kafka-broker '
	assert_match '--bootstrap-file'
	run_t 10 "$KB" --version
	assert_status 0
	assert_match 'Apache Kafka [0-9]+\.[0-9]+\.[0-9]+'
	for bad in "--brokers 0" "--brokers x" "--topic t" "--topic t:0" \
		   "--timeout -1" "--no-such-option" "-n 1 -t t:1:2" "extra"; do
		# shellcheck disable=SC2086
		run_t 10 "$KB" $bad
		assert_status 2
		assert_match "^kafka-broker: "
	done
}

@test "kafka-broker: no java is exit 4, and says so" {
	run_t 10 env PATH=/nonexistent /bin/bash "$KB" -n 1
	assert_status 4
	assert_match 'java not found'
}

@test "kafka-broker: an incomplete cache is not taken for a fetched one" {
	need_broker
	# A fetch stopped halfway leaves jars but no classpath file, or a
	# classpath naming a jar that is not there: both mean fetch again,
	# which needs mvn: without it, exit 4 naming mvn.
	mkdir -p bin c/$KV/m2 d/$KV
	local t
	for t in java sed head cat; do
		ln -s "$(command -v $t)" bin/$t
	done
	run_t 20 env PATH="$T/bin" /bin/bash "$KB" --cache-dir "$T/c" \
		--fetch-only
	assert_status 4
	assert_match 'mvn not found'
	for ((t = 0; t < 20; t++)); do echo "$T/d/no-$t.jar"; done |
		paste -sd: >d/$KV/$CP
	run_t 20 env PATH="$T/bin" /bin/bash "$KB" --cache-dir "$T/d" \
		--fetch-only
	assert_status 4
	assert_match 'mvn not found'
}

@test "kafka-broker: Maven Central unreachable is exit 4, and says so" {
	need_broker
	# A user settings file whose mirror for every repository is a
	# closed loopback port: Maven can reach nothing.
	command -v mvn >/dev/null 2>&1 || skip "mvn not installed"
	mkdir -p home/.m2
	cat >home/.m2/settings.xml <<'EOF'
<settings><mirrors><mirror><id>nowhere</id><mirrorOf>*</mirrorOf>
<url>http://127.0.0.1:9/maven2</url></mirror></mirrors></settings>
EOF
	MAVEN_OPTS="-Duser.home=$T/home" run_t 120 "$KB" --cache-dir "$T/c" \
		--fetch-only
	assert_status 4
	assert_match 'Maven Central unreachable'
	[ ! -e c/$KV/$CP ]
	[ -z "$(ls -d c/$KV/fetch.* 2>/dev/null)" ]
}

@test "kafka-broker: one node: kcat sees it, gets back what it produced, transactions hold; SIGTERM leaves nothing" {
	need_broker
	start_broker -t fs-kb-3:3
	[[ $bs =~ ^127\.0\.0\.1:[0-9]+$ ]]
	[ "$(cat "$T/kb.out")" = "$bs" ]
	[ -n "$jvms" ]
	local dir
	dir=$(ls -d "$T"/tmp/kafka-broker.*)
	[ -d "$dir/node1/data" ]

	run_t 20 kcat -L -b "$bs" -t fs-kb-3
	assert_status 0
	assert_match ' 1 brokers:'
	assert_match 'topic "fs-kb-3" with 3 partitions'

	# 300 keyed messages in, the same 300 out (any order across
	# partitions), through a topic auto-created and one made by -t.
	for t in fs-kb-3 fs-kb-auto; do
		seq 1 300 | awk '{ print "k" $1 % 7 ":v" $1 }' >"$T/in"
		run_t 30 kcat -P -b "$bs" -t $t -K: -X acks=all -l "$T/in"
		assert_status 0
		run_t 30 kcat -C -b "$bs" -t $t -K: -o beginning -e -q \
			-f '%k:%s\n'
		assert_status 0
		[ "$(sort <<<"$output")" = "$(sort "$T/in")" ]
	done
	run_t 20 kcat -L -b "$bs" -t fs-kb-auto
	assert_match 'topic "fs-kb-auto" with 1 partitions'

	# Transactions, which librdkafka's mock lacks: the Java client
	# commits c0..c4 and aborts a0..a4; kcat read_committed gets only
	# the committed five, read_uncommitted all ten.
	if command -v javac >/dev/null 2>&1; then
		cat >"$T/Txn.java" <<'EOF'
import java.util.Properties;
import org.apache.kafka.clients.producer.*;
public class Txn {
	public static void main(String[] a) throws Exception {
		Properties p = new Properties();
		p.put("bootstrap.servers", a[0]);
		p.put("transactional.id", "fs-kb-txn");
		String s = "org.apache.kafka.common.serialization.StringSerializer";
		p.put("key.serializer", s);
		p.put("value.serializer", s);
		try (KafkaProducer<String, String> k = new KafkaProducer<>(p)) {
			k.initTransactions();
			k.beginTransaction();
			for (int i = 0; i < 5; i++)
				k.send(new ProducerRecord<>(a[1], "c" + i));
			k.commitTransaction();
			k.beginTransaction();
			for (int i = 0; i < 5; i++)
				k.send(new ProducerRecord<>(a[1], "a" + i));
			k.flush();
			k.abortTransaction();
		}
	}
}
EOF
		run_t 60 java -cp "$(cat "$(cat "$BATS_FILE_TMPDIR/cache")/$CP")" \
			"$T/Txn.java" "$bs" fs-kb-txn
		assert_status 0
		run_t 30 kcat -C -b "$bs" -t fs-kb-txn -o beginning -e -q \
			-X isolation.level=read_committed
		assert_status 0
		[ "$(sort <<<"$output" | paste -sd' ')" = "c0 c1 c2 c3 c4" ]
		run_t 30 kcat -C -b "$bs" -t fs-kb-txn -o beginning -e -q \
			-X isolation.level=read_uncommitted
		assert_status 0
		[ "$(sort <<<"$output" | paste -sd' ')" = \
		  "a0 a1 a2 a3 a4 c0 c1 c2 c3 c4" ]
	else
		echo "# no javac: the transaction check is left out" >&3
	fi

	stop_broker
	assert_status 0
	[ "$stop_ms" -lt 15000 ]
	[ ! -e "$dir" ]
	[ ! -e "$T/bs" ]
	local p
	for p in $jvms; do
		! kill -0 "$p" 2>/dev/null
	done
	[ -z "$(ours)" ]
	run_t 10 kcat -L -b "$bs" -m 2
	[ "$status" -ne 0 ]
}

@test "kafka-broker: three nodes: every broker listed, a topic replicated on all three" {
	need_broker
	start_broker -n 3 -t fs-kb-r3:3:3
	[[ $bs =~ ^127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+$ ]]
	[ "$(wc -w <<<"$jvms")" -eq 3 ]
	local b
	for b in ${bs//,/ }; do
		run_t 20 kcat -L -b "$b" -t fs-kb-r3
		assert_status 0
		assert_match ' 3 brokers:'
		[ "$(grep -c 'replicas: [1-3],[1-3],[1-3], isrs: [1-3],[1-3],[1-3]' \
			<<<"$output")" -eq 3 ]
	done
	seq 1 200 >"$T/in"
	run_t 30 kcat -P -b "$bs" -t fs-kb-r3 -X acks=all -l "$T/in"
	assert_status 0
	run_t 30 kcat -C -b "$bs" -t fs-kb-r3 -o beginning -e -q
	assert_status 0
	[ "$(sort -n <<<"$output")" = "$(cat "$T/in")" ]
	stop_broker
	assert_status 0
	[ -z "$(ours)" ]
	[ -z "$(ls -A "$T/tmp")" ]
}

@test "kafka-broker: a JVM that dies is exit 1 with its log; --watch-pid's end stops it" {
	need_broker
	start_broker
	kill -KILL $jvms
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$kp" 2>/dev/null || break
		sleep 0.1
	done
	local rc=0
	wait "$kp" || rc=$?
	[ $rc -eq 1 ]
	grep -q "node 1's JVM exited" "$T/kb.err"
	[ -z "$(ls -A "$T/tmp")" ]

	sleep 300 3>&- &
	local w=$!
	rm -f "$T/bs"
	mkdir -p "$T/tmp"
	TMPDIR=$T/tmp "$KB" -b "$T/bs" --watch-pid $w \
		>"$T/kb.out" 2>"$T/kb.err" 3>&- &
	kp=$!
	for ((i = 0; i < 600; i++)); do
		[ -s "$T/bs" ] && break
		sleep 0.1
	done
	[ -s "$T/bs" ]
	jvms=$(pgrep -P "$kp" -x java | tr '\n' ' ')
	kill "$w"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$kp" 2>/dev/null || break
		sleep 0.1
	done
	rc=0
	wait "$kp" || rc=$?
	[ $rc -eq 0 ]
	[ -z "$(ours)" ]
	[ -z "$(ls -A "$T/tmp")" ]
}

@test "kafka-broker: SIGTERM during a fetch stops it at once, leaving no half cache" {
	need_broker
	command -v mvn >/dev/null 2>&1 || skip "mvn not installed"
	"$KB" -q --cache-dir "$T/c" --fetch-only >/dev/null 2>"$T/err" 3>&- &
	kp=$!
	sleep 1.5
	local t0 i
	t0=$(date +%s%N)
	kill -TERM "$kp"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$kp" 2>/dev/null || break
		sleep 0.1
	done
	echo "# fetch stopped $((($(date +%s%N) - t0) / 1000000)) ms" \
	     "after SIGTERM" >&3
	! kill -0 "$kp" 2>/dev/null
	local rc=0
	wait "$kp" || rc=$?
	[ $rc -eq 0 ]
	# Whether it was stopped or had finished: complete or nothing.
	if [ -e c/$KV/$CP ]; then
		tr : '\n' <c/$KV/$CP | while read -r j; do
			[ -f "$j" ]
		done
	fi
	[ -z "$(ls -d c/$KV/fetch.* 2>/dev/null)" ]
	[ -z "$(ours)" ]
}
