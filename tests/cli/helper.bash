# Loaded by every bats file: `load helper`.
# Puts the tools under test first on PATH and gives each test a scratch
# directory ($T) that bats removes afterwards.
TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BUILD=${B:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
PATH=$BUILD/bin:$PATH
export PATH TOP BUILD

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
}

# run_t SECONDS CMD...: run with a time limit, so a hang fails the test.
run_t() {
	local s=$1; shift
	run timeout "$s" "$@"
}

# assert_status N: check $status, printing the output on mismatch.
assert_status() {
	if [ "$status" -ne "$1" ]; then
		echo "expected status $1, got $status; output:" >&2
		echo "$output" >&2
		return 1
	fi
}

# assert_match REGEX: $output matches REGEX.
assert_match() {
	if ! [[ $output =~ $1 ]]; then
		echo "output does not match /$1/:" >&2
		echo "$output" >&2
		return 1
	fi
}

# Kafka for the bats files: one backend per run, chosen by
#   FS_TEST_KAFKA=devbroker  fs-devbroker (librdkafka's mock cluster)
#   FS_TEST_KAFKA=real       $KAFKA_BROKERS, else a scripts/kafka-broker
#                            of the file's own (a JVM start per file)
#   otherwise                $KAFKA_BROKERS when set (the user's brokers,
#                            or the one tests/run starts when java is
#                            there), else fs-devbroker.
# A real backend must create topics (and auto-create the ones producers
# name); tests/cli/kafka-topics.py creates them without a JVM.
#
# setup_file() { kafka_setup NAME:PARTITIONS...; }
#	picks the backend, creates the topics (or starts fs-devbroker with
#	them) under names unique to this file and run, and leaves what the
#	tests need in $BATS_FILE_TMPDIR/kafka.env.  Returns 1 on failure.
# teardown_file() { kafka_teardown; }
#	stops what kafka_setup started.
# In setup (or a test): kafka_env sets
#	BS		the bootstrap list
#	KAFKA_KIND	real or devbroker
#	KAFKA_PREFIX	the prefix of this file's topic names
# kafka_topic NAME	the real name of topic NAME of kafka_setup (or of a
#			new name, which a producer auto-creates)
# kafka_create NAME:P...	more topics, now (a real backend only)
# kafka_real		true when the backend is real Kafka
# kafka_need_real WHAT	skip unless real (WHAT: what the test needs)
# kafka_need_devbroker WHAT	skip unless fs-devbroker

# kafka_choice: real or devbroker, from the environment as above.
kafka_choice() {
	case ${FS_TEST_KAFKA:-} in
	devbroker) echo devbroker ;;
	real) echo real ;;
	'') if [ -n "${KAFKA_BROKERS:-}" ]; then echo real
	    else echo devbroker; fi ;;
	*) echo "FS_TEST_KAFKA='$FS_TEST_KAFKA': not devbroker or real" >&2
	   return 1 ;;
	esac
}

kafka_setup() {
	local d=$BATS_FILE_TMPDIR kind bs pre t names=() dt=() i
	kind=$(kafka_choice) || return 1
	# Unique to this file and run: files share one broker, and a
	# broker may outlive a run ($KAFKA_BROKERS).
	t=${BATS_TEST_FILENAME##*/}
	pre=fs${t%%-*}-$$-$RANDOM
	for t in "$@"; do
		names+=("$pre-${t%%:*}:${t#*:}")
	done
	if [ "$kind" = real ]; then
		bs=${KAFKA_BROKERS:-}
		if [ -z "$bs" ]; then
			# FS_TEST_KAFKA=real alone: a broker of our own.
			"$TOP/scripts/kafka-broker" -q -b "$d/kafka.bs" \
				--watch-pid $$ </dev/null >/dev/null \
				2>"$d/kafka-broker.err" 3>&- &
			echo $! >"$d/kafka.pid"
			for ((i = 0; i < 900; i++)); do
				[ -s "$d/kafka.bs" ] && break
				kill -0 "$(cat "$d/kafka.pid")" 2>/dev/null ||
					break
				sleep 0.1
			done
			[ -s "$d/kafka.bs" ] || {
				cat "$d/kafka-broker.err" >&2
				return 1
			}
			bs=$(cat "$d/kafka.bs")
		fi
		if [ ${#names[@]} -gt 0 ]; then
			/usr/bin/python3 "$TOP/tests/cli/kafka-topics.py" \
				"$bs" "${names[@]}" || return 1
		fi
	else
		for t in "${names[@]}"; do
			dt+=(-t "$t")
		done
		"$BUILD/bin/fs-devbroker" -q "${dt[@]}" -f "$d/kafka.bs" \
			</dev/null >/dev/null 2>"$d/devbroker.err" 3>&- &
		echo $! >"$d/kafka.pid"
		for ((i = 0; i < 200; i++)); do
			[ -s "$d/kafka.bs" ] && break
			sleep 0.05
		done
		[ -s "$d/kafka.bs" ] || {
			cat "$d/devbroker.err" >&2
			return 1
		}
		bs=$(cat "$d/kafka.bs")
	fi
	printf 'BS=%q\nKAFKA_KIND=%q\nKAFKA_PREFIX=%q\n' "$bs" "$kind" \
		"$pre" >"$d/kafka.env"
}

kafka_teardown() {
	local p f=$BATS_FILE_TMPDIR/kafka.pid i
	[ -f "$f" ] || return 0
	p=$(cat "$f")
	kill -TERM "$p" 2>/dev/null || true
	# kafka-broker stops its JVM within 10 s.
	for ((i = 0; i < 150; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
	rm -f "$f"
}

kafka_env() {
	# shellcheck disable=SC1091
	. "$BATS_FILE_TMPDIR/kafka.env"
}

kafka_topic() { echo "$KAFKA_PREFIX-$1"; }

kafka_create() {
	local t names=()
	kafka_real || {
		echo "kafka_create: fs-devbroker takes topics at start" >&2
		return 1
	}
	for t in "$@"; do
		names+=("$KAFKA_PREFIX-$t")
	done
	/usr/bin/python3 "$TOP/tests/cli/kafka-topics.py" "$BS" "${names[@]}"
}

kafka_real() { [ "$KAFKA_KIND" = real ]; }

kafka_need_real() {
	kafka_real || skip "needs real Kafka ($1); fs-devbroker runs here"
}

kafka_need_devbroker() {
	if kafka_real; then
		skip "needs fs-devbroker's $1"
	fi
}

# kafka_verify TOPIC [OUT]: kcat, the independent client, reads TOPIC
# (a full name) from its beginning to its end; tests/cli/kafka-verify.py
# keeps in OUT (verified.fsr) the records whose transaction's COMMIT
# marker is there, and prints "kept N", "orphans N", "markers N".
kafka_verify() {
	timeout 60 kcat -C -b "$BS" -t "$1" -e -q -f '%p %o %S %h\n%s' |
		"$TOP/tests/cli/kafka-verify.py" "${2:-verified.fsr}"
}

# same_per_key A.csv B.csv: the same rows, in the same order for each
# key (a header repeated after a SCHEMA is not a row); else says how
# they differ and fails.
same_per_key() {
	/usr/bin/python3 - "$1" "$2" <<-'EOF'
	import csv, sys
	def load(p):
	    byk, n = {}, 0
	    for r in csv.DictReader(open(p)):
	        if r["key"] != "key":
	            byk.setdefault(r["key"], []).append(r)
	            n += 1
	    return n, byk
	na, a = load(sys.argv[1])
	nb, b = load(sys.argv[2])
	if na != nb or a != b:
	    bad = [k for k in set(a) | set(b) if a.get(k) != b.get(k)]
	    print("rows %d vs %d; %d keys differ, e.g. %s"
	          % (na, nb, len(bad), bad[:3]), file=sys.stderr)
	    sys.exit(1)
	EOF
}

# chaos MS ARGS...: run the test's pipeline (pipe ARGS..., which writes
# each stage's pid in pid.1, pid.2, pid.3 and their exit statuses in
# st), SIGKILL a random stage at a random moment in its first MS ms,
# restart it; 5 kills that land on a live stage, then a run to the end,
# which must succeed in every stage.  A job that ran to its end before
# 5 kills starts afresh: its store and out.* files go, and the window
# shrinks by a third (down to 20 ms): the job was shorter than it, as
# on a machine fast or idle enough that most kills would miss.
chaos() {
	local kills=0 tries=0 bg n pid ms=$1
	shift
	while [ $kills -lt 5 ] && [ $tries -lt 60 ]; do
		tries=$((tries + 1))
		pipe "$@" &
		bg=$!
		for _ in $(seq 500); do
			[ -s pid.1 ] && [ -s pid.2 ] && [ -s pid.3 ] && break
			sleep 0.01
		done
		sleep "0.$(printf %03d $((RANDOM % ms)))"
		n=$((RANDOM % 3 + 1))
		pid=$(cat pid.$n 2>/dev/null) || pid=none
		if grep -q '^[^ ]* ([^)]*) [RSD]' /proc/"$pid"/stat \
		    2>/dev/null && kill -KILL "$pid" 2>/dev/null; then
			kills=$((kills + 1))
		fi
		wait $bg || true
		# the job ran to its end before 5 kills: start it afresh
		if [ $kills -lt 5 ] && [ "$(cat st)" = "0 0 0" ]; then
			rm -rf s.db s.db-wal s.db-shm s.db.snapshots out.*
			kills=0
			[ $ms -le 30 ] || ms=$((ms * 2 / 3))
		fi
	done
	echo "kills $kills in $tries runs" >&3
	# return, not a bare test: called as `chaos || ...`, set -e is off
	[ $kills -ge 5 ] || { echo "only $kills kills landed" >&3; return 1; }
	timeout 30 bash -c "$(declare -f pipe); pipe $*" || return 1
	[ "$(cat st)" = "0 0 0" ]
}
