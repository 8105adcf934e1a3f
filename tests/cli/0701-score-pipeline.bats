#!/usr/bin/env bats
# fs-score-gpu in the fraud pipeline: fs-gen | fs-window --features |
# fs-score-gpu with the demo model, then fs-cat and fs-stat.
load helper

setup_file() {
	for t in fs-gen fs-window fs-cat fs-stat; do
		command -v $t >/dev/null || skip "$t is not built"
	done
}

@test "score pipeline: one SCORE per FEATURES, control records kept" {
	command -v fs-window >/dev/null || skip "fs-window is not built"
	fs-gen -n 5000 --seed 3 | fs-window --features fraud-v1 >f.fsr
	run_t 30 bash -c "fs-score-gpu -m '$TOP/models/fraud-v1.json' \
		--device cpu -i f.fsr | fs-stat -q --json -o /dev/null"
	assert_status 0
	in=$(fs-stat -q --json -i f.fsr -o /dev/null 2>&1)
	n=$(sed -n 's/.*"features":\([0-9]*\).*/\1/p' <<<"$in")
	w=$(sed -n 's/.*"watermark":\([0-9]*\).*/\1/p' <<<"$in")
	assert_match "\"score\":$n[,}]"
	assert_match "\"watermark\":$w[,}]"
	assert_match "\"schema\":1[,}]"
}

@test "score pipeline: fs-cat prints scores and named explanations" {
	command -v fs-window >/dev/null || skip "fs-window is not built"
	run_t 30 bash -c "fs-gen -n 2000 --seed 5 |
		fs-window --features fraud-v1 |
		fs-score-gpu -m '$TOP/models/fraud-v1.json' --device cpu \
			--threshold 0.9 --explain 3 | fs-cat -f csv | head -3"
	assert_status 0
	assert_match "score,model_id,decision,explain"
	assert_match ",0,[a-z_0-9]+:-?[0-9.e-]+;[a-z_0-9]+:"
}

@test "score pipeline: --stats reports the rate" {
	command -v fs-window >/dev/null || skip "fs-window is not built"
	fs-gen -n 3000 --seed 4 | fs-window --features fraud-v1 >f.fsr
	run_t 30 fs-score-gpu -m "$TOP/models/fraud-v1.json" --device cpu \
		--stats -i f.fsr -o /dev/null
	assert_status 0
	assert_match "3000 rows, [0-9]+ batches on the cpu"
	assert_match "rows/s"
}

@test "score pipeline: the demo script runs to its end (make demo)" {
	command -v fs-window >/dev/null || skip "fs-window is not built"
	# enough alerts that the printing of the first ones cuts a pipe
	run_t 120 env N=300000 DEMO_DIR="$T/demo" B="$BUILD" "$TOP/scripts/demo"
	assert_status 0
	assert_match "the first alerts, with the three features"
	assert_match "alerts: [1-9][0-9]* of 300000 transactions"
}
