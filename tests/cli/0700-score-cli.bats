#!/usr/bin/env bats
# fs-score-gpu: options, errors, bad input, device selection.
load helper

# feat N FILE: SCHEMA (x, y) + N FEATURES records (x = i, y = -i).
feat() {
	python3 - "$1" >"$2" <<'EOF'
import struct, sys
def frame(t, body, flags=0, seq=0):
    body += b"\0" * ((-len(body)) % 8)
    return struct.pack("<IHBBqqQQ", 36 + len(body), t, 1, flags, seq, seq,
                       seq, seq) + body
out = frame(0x102, struct.pack("<HHI", 8, 2, 1) + bytes([7, 7]) + b"x\0y\0",
            flags=1)
for i in range(int(sys.argv[1])):
    out += frame(8, struct.pack("<IIff", 2, 1, i / 10, -i / 10), seq=i)
sys.stdout.buffer.write(out)
EOF
}

logit() {
	cat >m.json <<'EOF'
{"model": "logistic", "feature_names": ["x", "y"], "weights": [1.0, -0.5],
 "intercept": -1.0}
EOF
}

@test "score: --help prints usage to stdout and exits 0" {
	run_t 5 fs-score-gpu --help
	assert_status 0
	assert_match "Usage: fs-score-gpu -m MODEL"
}

@test "score: --version says whether CUDA is built and which device" {
	run_t 10 fs-score-gpu --version
	assert_status 0
	assert_match "features: "
	assert_match "cuda device: "
}

@test "score: a bad option exits 2 with a hint" {
	run_t 5 fs-score-gpu --bogus
	assert_status 2
	assert_match "Try 'fs-score-gpu --help'"
}

@test "score: no model is a usage error" {
	run_t 5 fs-score-gpu
	assert_status 2
	assert_match "no model"
}

@test "score: bad --explain, --batch, --device are usage errors" {
	logit
	run_t 5 fs-score-gpu -m m.json --explain 9
	assert_status 2
	run_t 5 fs-score-gpu -m m.json --batch 0
	assert_status 2
	run_t 5 fs-score-gpu -m m.json --device tpu
	assert_status 2
}

@test "score: a missing model file exits 1 naming it" {
	run_t 5 fs-score-gpu -m nope.json </dev/null
	assert_status 1
	assert_match "cannot open model 'nope.json'"
}

@test "score: a truncated model exits 3" {
	logit
	head -c 40 m.json >t.json
	run_t 5 fs-score-gpu -m t.json </dev/null
	assert_status 3
	assert_match "fs-score-gpu: bad model 't.json'"
}

@test "score: logistic model scores every FEATURES record" {
	logit
	feat 100 in.fsr
	run_t 10 fs-score-gpu -m m.json --device cpu -i in.fsr -o out.fsr
	assert_status 0
	# SCHEMA forwarded + 100 SCOREs of 128 bytes
	size=$(stat -c %s out.fsr)
	schema=$(( $(stat -c %s in.fsr) - 100 * 56 ))
	[ "$size" -eq $(( schema + 100 * 128 )) ]
}

@test "score: --device auto says its choice once on stderr" {
	logit
	feat 3 in.fsr
	run_t 10 fs-score-gpu -m m.json -i in.fsr -o /dev/null
	assert_status 0
	assert_match "scoring on the (cpu|gpu)"
	[ "$(grep -c 'scoring on' <<<"$output")" -eq 1 ]
}

@test "score: --device gpu fails with 4 where no GPU can be used" {
	logit
	if fs-score-gpu --version | grep -q 'cuda device: [^n]'; then
		skip "a CUDA device is present"
	fi
	run_t 10 fs-score-gpu -m m.json --device gpu </dev/null
	assert_status 4
	assert_match "lacks CUDA support|no CUDA device"
}

@test "score: empty input gives empty output, exit 0" {
	logit
	run_t 5 fs-score-gpu -m m.json --device cpu </dev/null
	assert_status 0
	[ -z "$output" ]
}

@test "score: garbage input exits 3, good records before it are out" {
	logit
	feat 10 in.fsr
	head -c 13 /dev/urandom >>in.fsr
	printf 'garbage-garbage-garbage-garbage-garbage-garbage' >>in.fsr
	run_t 10 fs-score-gpu -m m.json --device cpu -i in.fsr -o out.fsr
	assert_status 3
	assert_match "fs-score-gpu: "
	[ "$(stat -c %s out.fsr)" -ge $(( 10 * 128 )) ]
}

@test "score: a truncated last frame exits 3 after scoring the rest" {
	logit
	feat 10 in.fsr
	truncate -s -9 in.fsr
	run_t 10 fs-score-gpu -m m.json --device cpu -i in.fsr -o out.fsr
	assert_status 3
	assert_match "truncated"
	[ "$(stat -c %s out.fsr)" -ge $(( 9 * 128 )) ]
}

@test "score: a frame length of 0xFFFFFFFF exits 3 without a hang" {
	logit
	feat 5 in.fsr
	printf '\xff\xff\xff\xff\x08\x00\x01\x00' >>in.fsr
	head -c 32 /dev/zero >>in.fsr
	run_t 10 fs-score-gpu -m m.json --device cpu -i in.fsr -o out.fsr
	assert_status 3
	[ "$(stat -c %s out.fsr)" -ge $(( 5 * 128 )) ]
}

@test "score: FEATURES before a SCHEMA exits 3 saying so" {
	logit
	feat 3 in.fsr
	tail -c $(( 3 * 56 )) in.fsr >noschema.fsr
	run_t 10 fs-score-gpu -m m.json --device cpu -i noschema.fsr
	assert_status 3
	assert_match "before its SCHEMA"
}

# frames FILE SPEC...: frames for the error-offset tests; SPEC is
# s:NAMES (a FEATURES SCHEMA, id 42), f:N (FEATURES of N columns, id 42),
# o:N (FEATURES of N columns, schema id 9), t (a FEATURES too short),
# b (a SCHEMA for FEATURES with a cut body), g (a WATERMARK, passed
# through).
frames() {
	python3 - "$@" <<'EOF'
import struct, sys
def frame(t, body, flags=0):
    body += b"\0" * ((-len(body)) % 8)
    return struct.pack("<IHBBqqQQ", 36 + len(body), t, 1, flags, 1, 1, 1,
                       1) + body
out = b""
for spec in sys.argv[2:]:
    k, _, a = spec.partition(":")
    if k == "s":
        names = a.split(",")
        out += frame(0x102, struct.pack("<HHI", 8, len(names), 42) +
                     bytes([7] * len(names)) +
                     b"".join(n.encode() + b"\0" for n in names), flags=1)
    elif k in "fo":
        n = int(a)
        out += frame(8, struct.pack("<II", n, 42 if k == "f" else 9) +
                     struct.pack("<%df" % n, *range(n)))
    elif k == "t":
        out += frame(8, b"")
    elif k == "b":
        out += frame(0x102, struct.pack("<HHI", 8, 5, 42) + b"\7", flags=1)
    elif k == "g":
        out += frame(0x100, b"", flags=1)
open(sys.argv[1], "wb").write(out)
EOF
}

# frame_start FILE N: where frame N (from 1) of FILE starts.
frame_start() {
	python3 -c "
import struct, sys
b = open(sys.argv[1], 'rb').read(); o = 0
for i in range(int(sys.argv[2]) - 1):
    o += struct.unpack_from('<I', b, o)[0] + 4
print(o)" "$1" "$2"
}

@test "score: every data error names its frame and where that frame starts" {
	cat >abc.json <<'EOF'
{"model": "logistic", "feature_names": ["a", "b", "c"], "weights": [1, 1, 1]}
EOF
	# the reported case: a SCHEMA of 3 columns, then a FEATURES of 2
	frames in1.fsr s:a,b,c f:2
	# columns mismatch after good rows and a pass-through record
	frames in2.fsr s:a,b,c f:3 g f:3 f:4 f:3
	# FEATURES before its SCHEMA, a FEATURES too short, a bad SCHEMA,
	# a SCHEMA without a model feature
	frames in3.fsr s:a,b,c f:3 o:3
	frames in4.fsr g s:a,b,c f:3 t
	frames in5.fsr s:a,b,c f:3 b
	frames in6.fsr s:a,b,c f:3 g s:a,b
	for c in "in1 2" "in2 5" "in3 3" "in4 4" "in5 3" "in6 4"; do
		set -- $c
		run_t 10 fs-score-gpu -m abc.json --device cpu -i $1.fsr \
			-o /dev/null
		assert_status 3
		assert_match "\(frame $2, byte offset $(frame_start $1.fsr $2), $1.fsr\)"
	done
}

@test "score: a model feature missing from the SCHEMA is named" {
	cat >m2.json <<'EOF'
{"model": "logistic", "feature_names": ["x", "zz"], "weights": [1, 1]}
EOF
	feat 3 in.fsr
	run_t 10 fs-score-gpu -m m2.json --device cpu -i in.fsr -o /dev/null
	assert_status 3
	assert_match "'zz' is not in the FEATURES schema"
	run_t 10 fs-score-gpu -m m2.json --device cpu --allow-missing \
		-i in.fsr -o /dev/null
	assert_status 0
}

@test "score: a partial batch leaves after --linger on a slow input" {
	logit
	feat 2 in.fsr
	# the input stays open; the SCOREs must come out before it closes
	( cat in.fsr; sleep 3 ) |
		timeout 10 fs-score-gpu -m m.json --device cpu --batch 1000 \
			--linger 20ms -o out.fsr &
	sleep 1.5
	size=$(stat -c %s out.fsr)
	wait
	schema=$(( $(stat -c %s in.fsr) - 2 * 56 ))
	[ "$size" -eq $(( schema + 2 * 128 )) ]
}

@test "score: --metrics writes Prometheus text" {
	logit
	feat 50 in.fsr
	run_t 10 fs-score-gpu -m m.json --device cpu -i in.fsr -o /dev/null \
		--metrics m.prom
	assert_status 0
	grep -Eq '^fs_score_rows_total({.*})? 50$' m.prom
}

@test "score: --explain-alerts explains only scores at or above the threshold" {
	fs-gen --kind txn -n 20000 --seed 3 --fraud-rate 0.01 |
		fs-window --features fraud-v1 >f.fsr
	run_t 60 fs-score-gpu -m "$TOP/models/fraud-v1.json" --device cpu \
		-i f.fsr --threshold 0.5 --explain 3 --explain-alerts -o s.fsr
	assert_status 0
	run_t 30 bash -c "fs-cat -f csv --fields decision,explain -i s.fsr |
		awk -F, 'NR > 1 && \$1 == 1 && \$2 == \"\" { bad++ }
			 NR > 1 && \$1 == 0 && \$2 != \"\" { bad++ }
			 NR > 1 && \$1 == 1 { hit++ }
			 END { print hit + 0, bad + 0 }'"
	assert_status 0
	[ "${output% *}" -gt 0 ]
	[ "${output#* }" -eq 0 ]
	run_t 10 fs-score-gpu -m "$TOP/models/fraud-v1.json" --explain-alerts -i f.fsr
	assert_status 2
	assert_match "needs --explain K and --threshold T"
}

@test "score cli: --all-classes --explain: fs-cat names explanations by the model's input, not class_K" {
	/usr/bin/python3 - <<-'PY'
	import numpy as np, pandas as pd, xgboost as xgb
	r = np.random.default_rng(3)
	X = r.normal(size=(300, 3)).astype(np.float32)
	y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
	d = xgb.DMatrix(X, label=y, feature_names=["amt", "cnt", "age"])
	b = xgb.train({"objective": "multi:softprob", "num_class": 3,
	               "max_depth": 3}, d, 5)
	b.save_model("m.json")
	pd.DataFrame(X[:20], columns=["amt", "cnt", "age"]).to_csv("f.csv", index=False)
	PY
	run_t 20 bash -c 'fs-ingest -t features -i f.csv |
		fs-score-gpu -m m.json --device cpu --all-classes --explain 3 |
		fs-cat --types score -f csv --fields explain --no-header'
	assert_status 0
	[ "${#lines[@]}" -eq 20 ]
	for l in "${lines[@]}"; do
		[[ $l =~ ^(amt|cnt|age):[-+] ]] || { echo "bad: $l"; return 1; }
		! [[ $l =~ class_ ]]
	done
}
