#!/usr/bin/env bats
# fs-replay: filters against an independent oracle (tests/cli/
# replay-oracle.py reads the frames itself), pacing, watermarks, the
# input's control records, a Kappa replay (a live run's recorded input
# through the same fs-window gives the live run's output), SIGKILLs of
# a checkpointed pipeline, bad input, and Kafka by time against a real
# broker (scripts/kafka-broker; skipped without Java and Maven: the
# mock of fs-devbroker has no offsets_for_times).
load helper

ORA=$TOP/tests/cli/replay-oracle.py
DEC=$TOP/tests/cli/decode-frames.py
S=1767312000000000000	# 2026-01-02T00:00:00Z, fs-gen's start, in ns

ora() { /usr/bin/python3 "$ORA" "$@"; }
dec() { /usr/bin/python3 "$DEC" "$@"; }

# setup_file: a real Kafka broker for the Kafka test where one can run
# ($KAFKA_BROKERS, else scripts/kafka-broker); why not, in
# $BATS_FILE_TMPDIR/skip (bats cannot skip from setup_file).
setup_file() {
	local why=
	command -v kcat >/dev/null 2>&1 || why="kcat not installed"
	if [ -z "${KAFKA_BROKERS:-}" ] && [ -z "$why" ]; then
		command -v java >/dev/null 2>&1 ||
			why="java not installed: no real Kafka broker here"
		[ -n "$why" ] || timeout 600 "$TOP/scripts/kafka-broker" -q \
			--fetch-only >/dev/null 2>"$BATS_FILE_TMPDIR/f.err" ||
			why="$(tail -n 1 "$BATS_FILE_TMPDIR/f.err")"
	fi
	if [ -n "$why" ]; then
		echo "$why" >"$BATS_FILE_TMPDIR/skip"
		return 0
	fi
	FS_TEST_KAFKA=real kafka_setup t:3 k:2 c:1
}

teardown_file() {
	kafka_teardown
}

need_kafka() {
	if [ -s "$BATS_FILE_TMPDIR/skip" ]; then
		skip "$(cat "$BATS_FILE_TMPDIR/skip")"
	fi
	kafka_env
}

# mixed: txn and trade records, disordered, with fs-gen's WATERMARKs
mixed() {
	fs-gen -n 20000 --keys 40 --seed 3 --event-rate 5000 \
		--disorder 200ms --fixed-ingest -o a.fsr
	fs-gen --kind trade -n 8000 --symbols 20 --seed 4 \
		--event-rate 2000 --fixed-ingest -o b.fsr
	cat a.fsr b.fsr >in.fsr
}

@test "fs-replay: --from/--to/--key/--types keep what the oracle keeps, in order" {
	mixed
	local f=$((S + 700000000)) t=$((S + 2900000000)) k
	k=$(ora a.fsr | awk 'NR % 997 == 1 { print $3 }' |
		sort -u | head -3 | paste -sd,)
	[ -n "$k" ]
	# every record, none changed but ts_ingest
	run_t 30 fs-replay -i in.fsr -o all.fsr
	assert_status 0
	diff <(ora in.fsr) <(ora all.fsr)
	# a range, keys of both types, one type
	run_t 30 fs-replay -i in.fsr -o r.fsr --from "$f" \
		--to 2026-01-02T00:00:02.9Z --key "$k" --types TXN
	assert_status 0
	ora in.fsr --from $f --to $t --keys "$k" \
		--types 5 >want
	[ "$(wc -l <want)" -gt 20 ]
	diff want <(ora r.fsr)
	# two types, ISO times with a zone
	run_t 30 fs-replay -i in.fsr -o r2.fsr --types trade,txn \
		--from 2026-01-02T01:00:00.7+01:00 --to "${t}ns"
	assert_status 0
	ora in.fsr --from $f --to $t --types 1,5 >want2
	[ "$(grep -c '^1 ' want2)" -gt 100 ]
	[ "$(grep -c '^5 ' want2)" -gt 100 ]
	diff want2 <(ora r2.fsr)
	# ts_ingest is now; --keep-ingest keeps the recorded one
	dec <r2.fsr | grep -v '^type' | grep -vc ' ing=ok ' |
		grep -qx 0
	fs-replay -i in.fsr --keep-ingest --types trade -o keep.fsr
	diff <(dec <b.fsr | grep '^trade ') \
		<(dec <keep.fsr | grep '^trade ')
}

@test "fs-replay: unknown --types name, bad --speed, --state on a pipe: exit 2" {
	run_t 10 fs-replay --types txn,nosuch -i /dev/null
	assert_status 2
	assert_match "unknown record type 'nosuch'"
	run_t 10 fs-replay --types watermark -i /dev/null
	assert_status 2
	run_t 10 fs-replay --speed 10 -i /dev/null
	assert_status 2
	assert_match "bad --speed '10'"
	run_t 10 fs-replay --from 2026-01-02T00:00:01Z --to 2026-01-02T00:00:01Z
	assert_status 2
	run_t 10 sh -c 'cat /dev/null | fs-replay --state s.db -o o.fsr'
	assert_status 2
	assert_match "needs a regular input file"
}

@test "fs-replay: a truncated frame: the records before it go out, exit 3 naming frame and offset" {
	fs-gen -n 1000 --watermark-interval 0 --fixed-ingest -o g.fsr
	# 1000 frames of 88 bytes (TXN); cut the 601st in its middle
	[ "$(stat -c %s g.fsr)" = 88000 ]
	head -c $((600 * 88 + 37)) g.fsr >cut.fsr
	run_t 10 fs-replay -i cut.fsr -o out.fsr --watermark-interval 0
	assert_status 3
	assert_match "bad input 'cut.fsr': truncated frame: 37 of 88 bytes"
	assert_match "frame 601, byte offset 52800"
	[ "$(stat -c %s out.fsr)" = 52800 ]
	diff <(ora out.fsr) \
		<(head -c 52800 g.fsr >h.fsr; ora h.fsr)
}

@test "fs-replay --speed: 10x of a 2 s recording takes about 0.2 s; max is flat out" {
	# 10000 records over 2 s of event time
	fs-gen -n 10000 --event-rate 5000 --fixed-ingest -o g.fsr
	local t0 t1 span
	t0=$(date +%s%N)
	run_t 30 fs-replay -i g.fsr --speed 10x -o x10.fsr
	t1=$(date +%s%N)
	assert_status 0
	# generous bounds: never a tight timed assertion
	[ $(((t1 - t0) / 1000000)) -ge 150 ]
	[ $(((t1 - t0) / 1000000)) -lt 5000 ]
	# the records went out spread over ~0.2 s (their ts_ingest)
	span=$(/usr/bin/python3 - x10.fsr <<-'EOF'
	import struct, sys
	d = open(sys.argv[1], "rb").read(); o = 0; ing = []
	while o < len(d):
	    ln, ty, _, fl, ts, i = struct.unpack_from("<IHBBqq", d, o)
	    if not fl & 1: ing.append(i)
	    o += 4 + ln
	print((max(ing) - min(ing)) // 1000000)
	EOF
	)
	echo "# 10x: $(((t1 - t0) / 1000000)) ms, ts_ingest span $span ms" >&3
	[ "$span" -ge 150 ] && [ "$span" -lt 5000 ]
	# 0.5x of the first 0.2 s takes at least 0.3 s
	t0=$(date +%s%N)
	run_t 30 fs-replay -i g.fsr --speed 0.5x --to $((S + 200000000)) \
		-o half.fsr
	t1=$(date +%s%N)
	assert_status 0
	[ $(((t1 - t0) / 1000000)) -ge 300 ]
	# max: the same records
	run_t 30 fs-replay -i g.fsr -o max.fsr
	diff <(ora max.fsr) <(ora x10.fsr)
}

@test "fs-replay: the input's WATERMARKs and SCHEMAs go on, its BARRIERs do not; own WATERMARKs for an input without" {
	# an input with WATERMARKs and BARRIERs (fs-gen --state into a pipe)
	fs-gen -n 30000 --event-rate 5000 --disorder 100ms --fixed-ingest \
		--state g.db --checkpoint-interval 1ms | cat >wb.fsr
	ora wb.fsr --control >ctl
	grep -q '^257 ' ctl		# BARRIERs there are
	run_t 30 fs-replay -i wb.fsr -o o.fsr
	assert_status 0
	ora o.fsr --control >octl
	! grep -q '^257 ' octl
	diff <(grep '^256 ' ctl) octl
	# SCHEMA records of fs-window's AGG output go on
	fs-gen -n 5000 --fixed-ingest | fs-window --tumble 1s -a count \
		>agg.fsr 2>/dev/null
	run_t 30 fs-replay -i agg.fsr --types agg -o oa.fsr
	diff <(ora agg.fsr --control | grep '^258 ') \
		<(ora oa.fsr --control | grep '^258 ')
	# no WATERMARKs in the input (6 s of event time): fs-replay's own,
	# at each boundary but the first two, minus --max-delay
	fs-gen -n 6000 --event-rate 1000 --watermark-interval 0 \
		--fixed-ingest -o nw.fsr
	run_t 30 fs-replay -i nw.fsr --max-delay 250ms -o onw.fsr
	ora onw.fsr --control | awk '{ print $2 }' >wm
	printf '%s\n' $((S + 1750000000)) $((S + 2750000000)) \
		$((S + 3750000000)) $((S + 4750000000)) | diff - wm
	# each comes before the first record at or past its boundary
	/usr/bin/python3 - onw.fsr <<-'EOF'
	import struct, sys
	d = open(sys.argv[1], "rb").read(); o = 0; wm = None; mx = 0
	while o < len(d):
	    ln, ty, _, fl, ts = struct.unpack_from("<IHBBq", d, o)
	    if fl & 1:
	        assert ts <= mx, "watermark ahead of the records"; wm = ts
	    else:
	        mx = max(mx, ts)
	    o += 4 + ln
	EOF
	run_t 30 fs-replay -i nw.fsr --watermark-interval 0 -o none.fsr
	[ -z "$(ora none.fsr --control)" ]
}

@test "fs-replay: Kappa: the recorded input of a live run through the same fs-window gives its output" {
	local W="fs-window --tumble 500ms --max-delay 300ms
		-a count,sum(amount),max(amount)"
	# live: paced, ts_ingest now; the input recorded on the way
	fs-gen -n 40000 --keys 200 --event-rate 20000 --disorder 200ms \
		--rate 100000 | tee rec.fsr | $W >live.fsr 2>/dev/null
	timeout 60 fs-replay -i rec.fsr --speed 20x | timeout 60 $W \
		>replay.fsr 2>/dev/null
	# the same records, ts_ingest masked
	dec <live.fsr | sed 's/ ing=[^ ]*//' >live.txt
	dec <replay.fsr | sed 's/ ing=[^ ]*//' >replay.txt
	[ "$(grep -c '^type11 ' live.txt)" -gt 500 ]
	diff live.txt replay.txt
}

# pipe: fs-replay | fs-window | fs-stat, checkpointed (chaos's pipeline)
pipe() {
	rm -f pid.1 pid.2 pid.3
	sh -c 'echo $$ >pid.1; exec fs-replay -i rec.fsr --keep-ingest \
		--speed 60x --from 2026-01-02T00:00:03Z --types txn \
		--state s.db --job j --checkpoint-interval 5ms' 2>>err |
	sh -c 'echo $$ >pid.2; exec fs-window --tumble 1s \
		--max-delay 500ms -a "count,sum(amount)" --state s.db \
		--job j' 2>>err |
	sh -c 'echo $$ >pid.3; exec fs-stat -q --state s.db --job j \
		-o out.fsr' 2>>err
	echo "${PIPESTATUS[*]}" >st
}

@test "fs-replay --state: SIGKILLs and restarts: the file sink gets no loss and no duplicates" {
	# 80 s of recorded event time, replayed at 60x: about 1.3 s
	fs-gen -n 160000 --keys 300 --seed 9 --event-rate 2000 \
		--disorder 2s --fixed-ingest -o rec.fsr
	fs-replay -i rec.fsr --keep-ingest --from 2026-01-02T00:00:03Z \
		--types txn | fs-window --tumble 1s --max-delay 500ms \
		-a "count,sum(amount)" >clean.fsr 2>/dev/null
	fs-cat --types agg -f csv -i clean.fsr >clean.csv
	[ "$(wc -l <clean.csv)" -gt 1000 ]
	chaos 400 || { cat st >&3; grep -v "^fs-stat:" err >&3; false; }
	fs-cat --types agg -f csv -i out.fsr >out.csv
	cmp clean.csv out.csv
	# the position is the byte offset: all of the file at the end
	[ "$(sqlite3 s.db "SELECT max(position) FROM positions WHERE
		source LIKE 'fs-replay %' AND partition = 0")" = \
		"$(stat -c %s rec.fsr)" ]
}

@test "fs-replay --state: SIGTERM ends with a final checkpoint (exit 0); the next run goes on" {
	fs-gen -n 100000 --event-rate 10000 --fixed-ingest -o rec.fsr
	fs-replay -i rec.fsr --state s.db --job r --speed 5x -o out.fsr \
		--keep-ingest &
	local p=$! st=0
	sleep 1
	kill -TERM $p
	wait $p || st=$?
	[ "$st" = 0 ]
	local n
	n=$(sqlite3 s.db "SELECT position FROM positions WHERE partition = 0
		ORDER BY id DESC LIMIT 1")
	[ "$n" -gt 0 ] && [ "$n" -lt "$(stat -c %s rec.fsr)" ]
	run_t 30 fs-replay -i rec.fsr --state s.db --job r -o out.fsr \
		--keep-ingest
	assert_status 0
	diff <(ora rec.fsr) <(ora out.fsr)
	# other filters are another source: refused
	run_t 30 fs-replay -i rec.fsr --state s.db --job r -o out.fsr \
		--types trade
	assert_status 1
	assert_match "cannot resume 'fs-replay .*no position for it"
}

@test "fs-replay: a Kafka topic by time (real broker): from offset=@TIME to --to, ending at the topic's end" {
	need_kafka
	local top k
	top=$(kafka_topic t)
	# 6 s of event time in 3 partitions, with WATERMARKs
	fs-gen -n 30000 --keys 100 --event-rate 5000 --disorder 100ms \
		--fixed-ingest -o g.fsr
	run_t 60 fs-stat -q -i g.fsr -o "kafka://$BS/$top"
	assert_status 0
	# 2 s to 4.5 s: by the brokers' time index, sorted (3 partitions
	# interleave), compared with the oracle
	run_t 60 fs-replay -X fetch.wait.max.ms=10 \
		-i "kafka://$BS/$top?offset=@2026-01-02T00:00:02Z" \
		--to 2026-01-02T00:00:04.5Z -o k.fsr
	assert_status 0
	ora g.fsr --from $((S + 2000000000)) \
		--to $((S + 4500000000)) | sort >want
	[ "$(wc -l <want)" -gt 10000 ]
	ora k.fsr | sort | diff want -
	# --follow waits at a topic's end, but every partition has passed
	# --to (its WATERMARKs): the end all the same
	run_t 60 fs-replay -X fetch.wait.max.ms=10 --follow \
		-i "kafka://$BS/$top?offset=@2026-01-02T00:00:02Z" \
		--to 2026-01-02T00:00:04.5Z -o kf.fsr
	assert_status 0
	ora kf.fsr | sort | diff want -
	# --from alone seeks the same way; without --to it ends at the end
	run_t 60 fs-replay -X fetch.wait.max.ms=10 -i "kafka://$BS/$top" \
		--from 2026-01-02T00:00:05Z -o k2.fsr
	assert_status 0
	ora g.fsr --from $((S + 5000000000)) | sort >want2
	ora k2.fsr | sort | diff want2 -
	# kcat, the independent client, agrees on where 2 s starts
	k=$(timeout 30 kcat -C -b "$BS" -t "$top" -p 0 -e -q -f '%T\n' \
		-o s@$(((S + 2000000000) / 1000000)) | head -1)
	[ "$k" -ge $(((S + 2000000000) / 1000000)) ]
}

@test "fs-replay --state on a Kafka topic: SIGTERM, then a restart from the recorded offsets: no loss, no duplicates" {
	need_kafka
	local top
	top=$(kafka_topic k)
	fs-gen -n 40000 --keys 100 --event-rate 10000 --fixed-ingest -o g.fsr
	run_t 60 fs-stat -q -i g.fsr -o "kafka://$BS/$top"
	assert_status 0
	fs-replay -X fetch.wait.max.ms=10 -i "kafka://$BS/$top" --speed 2x \
		--state s.db --job k --keep-ingest -o out.fsr &
	local p=$! st=0
	sleep 2
	kill -TERM $p
	wait $p || st=$?
	[ "$st" = 0 ]
	[ "$(sqlite3 s.db "SELECT count(*) FROM positions WHERE
		source = 'kafka:$top'")" -gt 0 ]
	run_t 60 fs-replay -X fetch.wait.max.ms=10 -i "kafka://$BS/$top" \
		--state s.db --job k --keep-ingest -o out.fsr
	assert_status 0
	diff <(ora g.fsr | sort) \
		<(ora out.fsr | sort)
}

# kpipe: fs-replay of a Kafka topic | fs-window | fs-stat, checkpointed
kpipe() {
	rm -f pid.1 pid.2 pid.3
	sh -c 'echo $$ >pid.1; exec fs-replay -X fetch.wait.max.ms=10 \
		-i "kafka://$BS/$TOP" --keep-ingest --speed 100x --state s.db \
		--job j --checkpoint-interval 5ms' 2>>err |
	sh -c 'echo $$ >pid.2; exec fs-window --tumble 1s \
		--max-delay 500ms -a "count,sum(amount)" --state s.db \
		--job j' 2>>err |
	sh -c 'echo $$ >pid.3; exec fs-stat -q --state s.db --job j \
		-o out.fsr' 2>>err
	echo "${PIPESTATUS[*]}" >st
}

@test "fs-replay --state on a Kafka topic: SIGKILLs and restarts (replays to a begun checkpoint's cut): no loss, no duplicates" {
	need_kafka
	TOP=$(kafka_topic c)
	export BS TOP
	# 50 s of event time in one partition, replayed at 100x: ~0.5 s
	fs-gen -n 100000 --keys 300 --seed 9 --event-rate 2000 \
		--disorder 2s --fixed-ingest -o g.fsr
	run_t 60 fs-stat -q -i g.fsr -o "kafka://$BS/$TOP"
	assert_status 0
	timeout 60 fs-replay -X fetch.wait.max.ms=10 -i "kafka://$BS/$TOP" \
		--keep-ingest | fs-window --tumble 1s --max-delay 500ms \
		-a "count,sum(amount)" >clean.fsr 2>/dev/null
	fs-cat --types agg -f csv -i clean.fsr >clean.csv
	[ "$(wc -l <clean.csv)" -gt 1000 ]
	# chaos runs pipe, also in a bash of its own: kpipe's body as pipe
	eval "pipe() $(declare -f kpipe | tail -n +2)"
	chaos 400 || { cat st >&3; grep -v "^fs-stat:" err >&3; false; }
	fs-cat --types agg -f csv -i out.fsr >out.csv
	cmp clean.csv out.csv
	# the partition's offset at the end: all of the topic
	[ "$(sqlite3 s.db "SELECT max(position) FROM positions WHERE
		source = 'kafka:$TOP' AND partition = 0")" = \
		"$(grep -c . <(ora g.fsr --control) <(ora g.fsr) |
		   awk -F: '{ n += $2 } END { print n }')" ]
}
