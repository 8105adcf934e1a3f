#!/usr/bin/env bats
# Another instance takes a partition set over with its state: instance A
# (job j-A, partitions 0-3) runs on one machine; its latest checkpoint
# is exported (fs-checkpoint export: positions, snapshots, the sink's
# commit) and imported into another store, where a new instance of the
# same job goes on with the rest of the topic, writing to the same
# transactional Kafka sink.  The committed output (read by kcat) equals
# one run over the whole topic.  Runs on the tests' Kafka backend
# (helper.bash: kafka_setup).
load helper

setup_file() {
	command -v kcat >/dev/null || skip "no kcat"
	kafka_setup tin:8 tout:8 rin:8
}

teardown_file() {
	kafka_teardown
}

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
	kafka_env
	X=(-X fetch.wait.max.ms=10)
}

# inst DIR: instance A of job j-A in DIR (its store DIR/s.db), to the
# end of partitions 0-3, into the transactional sink.
inst() {
	(cd "$1" && timeout 60 fs-window -e "${X[@]}" --max-delay 1d \
		--features fraud-v1 --state s.db --job j-A \
		--checkpoint-interval 50ms \
		-i "kafka://$BS/$(kafka_topic tin)?partition=0-3" \
		-o "kafka://$BS/$(kafka_topic tout)")
}

# halves: all.fsr's frames, first half in h1.fsr, the rest in h2.fsr
halves() {
	/usr/bin/python3 - all.fsr h1.fsr h2.fsr <<-'PYEOF'
	import struct, sys
	b = open(sys.argv[1], "rb").read(); o = 0; fr = []
	while o < len(b):
	    n, = struct.unpack_from("<I", b, o); fr.append(b[o:o + 4 + n]); o += 4 + n
	h = len(fr) // 2
	open(sys.argv[2], "wb").write(b"".join(fr[:h]))
	open(sys.argv[3], "wb").write(b"".join(fr[h:]))
	PYEOF
}

@test "takeover: a partition set moves to another instance with its state (export, import), exactly once" {
	fs-gen -n 20000 --keys 2000 --seed 31 --fixed-ingest \
		--watermark-interval 0 -o all.fsr
	halves
	fs-stat -q -i h1.fsr -o "kafka://$BS/$(kafka_topic tin)" 2>/dev/null
	mkdir a b
	run inst a
	assert_status 0
	local id
	id=$(sqlite3 a/s.db "SELECT max(id) FROM checkpoints WHERE status = 'complete'")
	[ -n "$id" ]
	run_t 30 fs-checkpoint export --state a/s.db --job j-A "$id" -o x.db
	assert_status 0
	run_t 30 fs-checkpoint import --state b/s.db x.db
	assert_status 0
	rm -rf a	# the first machine is gone
	fs-stat -q -i h2.fsr -o "kafka://$BS/$(kafka_topic tin)" 2>/dev/null
	run inst b
	assert_status 0
	# it resumed: the new store goes on from the imported checkpoint
	[ "$(sqlite3 b/s.db "SELECT min(id) FROM checkpoints")" -ge "$id" ]
	# one run over the whole topic, without checkpoints
	timeout 60 fs-window -e "${X[@]}" --max-delay 1d --features fraud-v1 \
		-i "kafka://$BS/$(kafka_topic tin)?partition=0-3" -o clean.fsr
	kafka_verify "$(kafka_topic tout)" got.fsr
	fs-cat --types features -f csv -i clean.fsr >clean.csv
	fs-cat --types features -f csv -i got.fsr >got.csv
	[ "$(wc -l <clean.csv)" -gt 5000 ]
	same_per_key clean.csv got.csv
}

@test "rescale: the key groups of a Kafka input are its partitions; two instances' state merges into one" {
	fs-gen -n 20000 --keys 2000 --seed 37 --fixed-ingest \
		--watermark-interval 0 -o all.fsr
	halves
	local rin
	rin=$(kafka_topic rin)
	fs-stat -q -i h1.fsr -o "kafka://$BS/$rin" 2>/dev/null
	# each partition holds the keys whose murmur2 group is that partition
	for p in 0 5; do
		timeout 30 fs-stat -q -e "${X[@]}" \
			-i "kafka://$BS/$rin?partition=$p" -o p$p.fsr 2>/dev/null
		/usr/bin/python3 "$BATS_TEST_DIRNAME/kafka-groups.py" p$p.fsr 8 $p
	done
	# instances A (0-3) and B (4-7): 8 key groups, as the topic has
	mkdir a b c
	for i in a:0-3 b:4-7; do
		(cd ${i%%:*} && timeout 60 fs-window -e "${X[@]}" --max-delay 1d \
			--features fraud-v1 --state s.db --job j-${i%%:*} \
			--checkpoint-interval 50ms \
			-i "kafka://$BS/$rin?partition=${i#*:}" -o out.fsr)
	done
	[ "$(sqlite3 a/s.db "SELECT group_concat(DISTINCT partition) FROM
		(SELECT partition FROM snapshots ORDER BY partition)")" = "-1,0,1,2,3" ]
	fs-checkpoint export --state a/s.db --job j-a latest -o xa.db
	fs-checkpoint export --state b/s.db --job j-b latest -o xb.db
	run_t 30 fs-checkpoint import --state c/s.db --job j-c xa.db xb.db
	assert_status 0
	fs-stat -q -i h2.fsr -o "kafka://$BS/$rin" 2>/dev/null
	# C reads all 8 partitions on from A's and B's positions
	(cd c && timeout 60 fs-window -e "${X[@]}" --max-delay 1d \
		--features fraud-v1 --state s.db --job j-c \
		--checkpoint-interval 50ms -i "kafka://$BS/$rin" -o out.fsr)
	timeout 60 fs-window -e "${X[@]}" --max-delay 1d --features fraud-v1 \
		-i "kafka://$BS/$rin" -o clean.fsr
	fs-cat --types features -f csv -i clean.fsr >clean.csv
	cat a/out.fsr b/out.fsr c/out.fsr |
		fs-cat --types features -f csv >got.csv
	[ "$(wc -l <clean.csv)" = 20001 ]
	same_per_key clean.csv got.csv
}
