#!/usr/bin/env bats
# fs-devbroker: librdkafka's mock cluster held by a small program.  kcat
# is the independent client: it reads the metadata, produces and
# consumes through the cluster; the control channel's faults are seen
# from kcat's side (a refused connection, a slow answer, a failed
# delivery).  Every test stops its broker in teardown.
load helper

# kcat settings that keep a test fast: short fetch waits, a bounded
# metadata wait and delivery timeout.
KX=(-X fetch.wait.max.ms=10 -m 5)
PX=(-X message.timeout.ms=3000)

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
	command -v kcat >/dev/null || skip "kcat not installed"
	BPID=
}

teardown() {
	if [ -n "$BPID" ] && kill -0 "$BPID" 2>/dev/null; then
		kill "$BPID" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$BPID" 2>/dev/null || break
			sleep 0.02
		done
		kill -9 "$BPID" 2>/dev/null || true
	fi
	exec 4>&- 2>/dev/null || true
}

# start ARGS...: start fs-devbroker with ARGS and --bootstrap-file bs
# in the background (stdout in out, stderr in err); wait until bs is
# there; B is the bootstrap list, BPID the process.
start() {
	rm -f bs
	fs-devbroker "$@" --bootstrap-file bs >out 2>err 3>&- &
	BPID=$!
	for _ in $(seq 200); do
		[ -s bs ] && break
		kill -0 "$BPID" 2>/dev/null || break
		sleep 0.02
	done
	if [ ! -s bs ]; then
		echo "fs-devbroker did not start:" >&2
		cat err >&2
		return 1
	fi
	B=$(cat bs)
}

# ctl CMD...: send one command through the FIFO ctl, wait for its reply
# (one more line in out); REPLY is it.
NREPLY=1
ctl() {
	echo "$*" >ctl
	NREPLY=$((NREPLY + 1))
	for _ in $(seq 250); do
		[ "$(wc -l <out)" -ge $NREPLY ] && break
		sleep 0.02
	done
	REPLY=$(sed -n "${NREPLY}p" out)
	[ -n "$REPLY" ] || { echo "no reply to '$*'" >&2; return 1; }
}

# port ID: broker ID's host:port from kcat's metadata.
port() {
	kcat -b "$B" -L "${KX[@]}" |
		sed -n "s/^  broker $1 at \([0-9.:]*\).*/\1/p"
}

@test "devbroker: --help and --version" {
	run_t 10 fs-devbroker --help
	assert_status 0
	assert_match "usage: fs-devbroker"
	assert_match "leader TOPIC PARTITION"
	run_t 10 fs-devbroker --version
	assert_status 0
	assert_match "librdkafka [0-9]"
}

@test "devbroker: kcat sees the brokers and the topics with their partitions" {
	start --brokers 3 --topic txn:8 --topic scores:5
	# the file, stdout's first line and the ready line agree
	[ "$(head -1 out)" = "$B" ]
	[[ $B =~ ^127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+$ ]]
	grep -qF "fs-devbroker: ready: 3 brokers at $B; topics txn:8, scores:5" err
	run_t 20 kcat -b "$B" -L "${KX[@]}"
	assert_status 0
	assert_match " 3 brokers:"
	for i in 1 2 3; do
		# broker i listens on the i-th port of the list
		p=$(cut -d, -f$i <<<"$B")
		assert_match "broker $i at $p"
	done
	assert_match 'topic "txn" with 8 partitions'
	assert_match 'topic "scores" with 5 partitions'
	[ "$(grep -c 'partition [0-9]*, leader [123],' <<<"$output")" -eq 13 ]
}

@test "devbroker: kcat produces to a partition and consumes it back" {
	start --topic txn:8
	seq 1 500 | sed 's/^/msg-/' >sent
	run_t 20 kcat -P -b "$B" -t txn -p 3 "${PX[@]}" -l sent
	assert_status 0
	timeout 20 kcat -C -b "$B" -t txn -p 3 -o beginning -e "${KX[@]}" \
		-f '%p %o %s\n' >recv 2>kerr
	# in order, offsets 0..499, all on partition 3
	awk '{ print $3 }' recv >got
	diff sent got
	[ "$(awk '$1 != 3' recv)" = "" ]
	[ "$(tail -1 recv | cut -d' ' -f2)" = 499 ]
	# the other partitions are empty
	timeout 20 kcat -C -b "$B" -t txn -p 2 -o beginning -e "${KX[@]}" \
		>recv 2>kerr
	[ ! -s recv ]
}

@test "devbroker: broker down then up through the FIFO; kcat goes on" {
	start --brokers 3 --topic txn:8 --control ctl
	[ -p ctl ]
	p1=$(port 1)
	[ -n "$p1" ]
	ctl leader txn 3 1
	[ "$REPLY" = ok ]
	echo before | kcat -P -b "$B" -t txn -p 3 "${PX[@]}"
	ctl down 1
	[ "$REPLY" = ok ]
	# broker 1 refuses connections; partition 3 has no live leader
	run_t 20 kcat -b "$p1" -L -m 2
	[ "$status" -ne 0 ]
	run_t 20 bash -c "echo stuck | kcat -P -b '$B' -t txn -p 3 \
		-X message.timeout.ms=1500"
	[ "$status" -ne 0 ]
	# a leader on another broker: produce works while 1 is down
	ctl leader txn 3 2
	[ "$REPLY" = ok ]
	run_t 20 bash -c "echo moved | kcat -P -b '$B' -t txn -p 3 \
		-X message.timeout.ms=3000"
	assert_status 0
	ctl up 1
	[ "$REPLY" = ok ]
	run_t 20 kcat -b "$p1" -L "${KX[@]}"
	assert_status 0
	ctl leader txn 3 1
	echo after | kcat -P -b "$B" -t txn -p 3 "${PX[@]}"
	timeout 20 kcat -C -b "$B" -t txn -p 3 -o beginning -e "${KX[@]}" \
		>recv 2>kerr
	[ "$(tr '\n' ' ' <recv)" = "before moved after " ]
}

@test "devbroker: rtt slows a broker's answers, error fails requests" {
	start --brokers 2 --topic txn:2 --control ctl
	ctl rtt all 400
	[ "$REPLY" = ok ]
	t0=$(date +%s%N)
	kcat -b "$B" -L "${KX[@]}" >/dev/null
	[ $(( ($(date +%s%N) - t0) / 1000000 )) -ge 400 ]
	ctl rtt all 0
	ctl error Produce TOPIC_AUTHORIZATION_FAILED 1
	[ "$REPLY" = ok ]
	run_t 20 bash -c "echo x | kcat -P -b '$B' -t txn -p 0 ${PX[*]}"
	[ "$status" -ne 0 ]
	assert_match "[Aa]uthorization"
	# the one error is used up: the next produce goes through
	run_t 20 bash -c "echo y | kcat -P -b '$B' -t txn -p 0 ${PX[*]}"
	assert_status 0
	# numbers work as names do; clear drops what is queued
	ctl error 0 29 5
	[ "$REPLY" = ok ]
	ctl clear produce
	[ "$REPLY" = ok ]
	run_t 20 bash -c "echo z | kcat -P -b '$B' -t txn -p 0 ${PX[*]}"
	assert_status 0
}

@test "devbroker: bad commands are answered and ignored" {
	start --brokers 3 --topic txn:4 --control ctl
	ctl bogus
	[[ $REPLY =~ ^error:\ unknown\ command\ \'bogus\' ]]
	ctl down 9
	[[ $REPLY =~ ^error:\ bad\ broker\ \'9\' ]]
	ctl down
	[[ $REPLY =~ ^error:\ usage: ]]
	ctl leader txn 99 1
	[[ $REPLY =~ ^error:\ no\ partition ]]
	ctl rtt 1 -5
	[[ $REPLY =~ ^error: ]]
	ctl error NoSuchApi 6
	[[ $REPLY =~ ^error:\ unknown\ API ]]
	ctl error Produce NO_SUCH_ERROR
	[[ $REPLY =~ ^error:\ unknown\ error\ code ]]
	ctl topic txn:3
	[[ $REPLY =~ ^error:\ topic: ]]
	ctl topic 'bad/name:3'
	[[ $REPLY =~ ^error:\ bad\ topic ]]
	head -c 2000 /dev/zero | tr '\0' x >long
	echo >>long
	cat long >ctl
	NREPLY=$((NREPLY + 1))
	for _ in $(seq 100); do
		[ "$(wc -l <out)" -ge $NREPLY ] && break
		sleep 0.02
	done
	[[ $(sed -n "${NREPLY}p" out) =~ ^error:\ command\ longer ]]
	# comments and blank lines get no reply; a good command still works
	printf '# a comment\n\n' >ctl
	ctl topic more:6
	[ "$REPLY" = ok ]
	kill -0 "$BPID"
	run_t 20 kcat -b "$B" -L "${KX[@]}"
	assert_status 0
	assert_match 'topic "more" with 6 partitions'
}

@test "devbroker: commands on stdin; the end of stdin keeps it serving" {
	rm -f bs
	mkfifo cmds
	fs-devbroker -q --topic txn:2 --control - --bootstrap-file bs \
		<cmds >out 2>err 3>&- &
	BPID=$!
	exec 4>cmds
	for _ in $(seq 200); do [ -s bs ] && break; sleep 0.02; done
	B=$(cat bs)
	echo 'topic extra:7' >&4
	echo 'nonsense' >&4
	exec 4>&-
	for _ in $(seq 100); do
		[ "$(wc -l <out)" -ge 3 ] && break
		sleep 0.02
	done
	[ "$(sed -n 2p out)" = ok ]
	[[ $(sed -n 3p out) =~ ^error: ]]
	[ ! -s err ]	# -q: no ready line
	sleep 0.2
	kill -0 "$BPID"
	run_t 20 kcat -b "$B" -L "${KX[@]}"
	assert_status 0
	assert_match 'topic "extra" with 7 partitions'
}

@test "devbroker: stdin is not read without --control" {
	# a script's "fs-devbroker &": stdin at end of file, or a pipe
	# nobody writes; it serves either way
	start --topic txn:1 </dev/null
	sleep 0.2
	kill -0 "$BPID"
	run_t 20 kcat -b "$B" -L "${KX[@]}"
	assert_status 0
	assert_match 'topic "txn" with 1 partitions'
}

@test "devbroker: SIGTERM and SIGINT end it at once, exit 0, files removed" {
	local sig t0 ms
	for sig in TERM INT; do
		rm -f ctl
		start --topic txn:2 --control ctl
		[ -p ctl ]
		kcat -b "$B" -L "${KX[@]}" >/dev/null	# a client was there
		t0=$(date +%s%N)
		kill -s $sig "$BPID"
		rc=0
		wait "$BPID" || rc=$?
		ms=$(( ($(date +%s%N) - t0) / 1000000 ))
		echo "# SIG$sig: exit $rc after $ms ms" >&3
		[ "$rc" -eq 0 ]
		[ "$ms" -lt 1000 ]
		[ ! -e bs ] && [ ! -e ctl ]
		BPID=
	done
	# a FIFO it did not create stays
	mkfifo ctl
	start --topic txn:2 --control ctl
	kill "$BPID"
	wait "$BPID"
	BPID=
	[ -p ctl ]
}

@test "devbroker: usage errors exit 2 and start nothing" {
	: >plain
	local bad=0 args
	while IFS= read -r args; do
		rm -f bs
		run_t 10 bash -c "fs-devbroker $args --bootstrap-file bs"
		if [ "$status" -ne 2 ] || ! [[ $output =~ ^fs-devbroker:\ [a-z] ]] ||
			[ -e bs ]; then
			echo "'$args': status $status: $output" >&2
			bad=1
		fi
	done <<-'EOF'
	--topic txn
	--topic txn:
	--topic txn:0
	--topic txn:10001
	--topic :4
	--topic 'a/b:4'
	--topic x:1 --topic x:2
	--brokers 0
	--brokers 65
	--brokers many
	--control plain
	--control bs
	--bogus
	-X nonsense
	-X no.such.property=1
	extra-argument
	--topic
	EOF
	[ $bad -eq 0 ]
}
