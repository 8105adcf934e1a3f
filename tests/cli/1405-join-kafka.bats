#!/usr/bin/env bats
# fs-join with two Kafka inputs (finstream(7) Kafka): --within and
# --temporal reading two topics of 2 partitions each to their ends (-e)
# give the rows the same join gives over the files written to them.
# fs-devbroker, or a real broker (tests/cli/helper.bash, kafka_setup).
load helper

ORACLE="$BATS_TEST_DIRNAME/join-oracle.py"

setup_file() {
	kafka_setup ol:2 fr:2 tl:2 qr:2
}

teardown_file() {
	kafka_teardown
}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	kafka_env
	export BS
}

# rows FILE: the joined rows of FILE as CSV without ts_ingest, sorted.
rows() {
	fs-cat -f csv -i "$1" | cut -d, -f1,3- | sort
}

@test "fs-join --within over two Kafka topics: orders and fills give the rows of the join over files" {
	fs-gen --kind order -n 20000 --seed 3 --disorder 1s \
		--watermark-interval 100ms -o of.fsr
	fs-replay -i of.fsr --types order --keep-ingest -o orders.fsr
	fs-replay -i of.fsr --types trade --keep-ingest -o fills.fsr
	fs-stat -q -i orders.fsr -o "kafka://$BS/$(kafka_topic ol)"
	fs-stat -q -i fills.fsr -o "kafka://$BS/$(kafka_topic fr)"
	fs-join -q --left orders.fsr --right fills.fsr --on order_id \
		--within 2s --fields price,qty --outer left -o want.fsr
	L=kafka://$BS/$(kafka_topic ol) R=kafka://$BS/$(kafka_topic fr)
	export L R
	run_t 60 bash -c 'fs-join -e -X fetch.wait.max.ms=10 --left "$L" \
		--right "$R" --on order_id --within 2s --fields price,qty \
		--outer left -o got.fsr'
	assert_status 0
	assert_match "15890 left, 4110 right records: 4110 pairs, 11780 unmatched \(kept\)"
	[ "$(rows got.fsr | wc -l)" -gt 15000 ]
	cmp <(rows want.fsr) <(rows got.fsr)
}

@test "fs-join --temporal over two Kafka topics gives the rows of the join over files" {
	/usr/bin/python3 "$ORACLE" gen . 7
	fs-ingest -t trade --max-delay 2s -i left.csv -o left.fsr
	fs-ingest -t quote --max-delay 2s -i right.csv -o right.fsr
	fs-stat -q -i left.fsr -o "kafka://$BS/$(kafka_topic tl)"
	fs-stat -q -i right.fsr -o "kafka://$BS/$(kafka_topic qr)"
	fs-join -q --temporal --left left.fsr --right right.fsr --on symbol \
		--fields bid,ask -o want.fsr
	L=kafka://$BS/$(kafka_topic tl) R=kafka://$BS/$(kafka_topic qr)
	export L R
	run_t 60 bash -c 'fs-join -q -e -X fetch.wait.max.ms=10 --temporal \
		--left "$L" --right "$R" --on symbol --fields bid,ask -o got.fsr'
	assert_status 0
	[ "$(rows got.fsr | wc -l)" -gt 500 ]
	cmp <(rows want.fsr) <(rows got.fsr)
}
