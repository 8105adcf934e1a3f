#!/usr/bin/env bats
# The fraud pipeline exactly once: file -> fs-window --features fraud-v1
# -> fs-score-gpu --device cpu -> file, with its stages SIGKILLed at
# random moments and the pipeline restarted, gives byte for byte the
# output of a run without checkpoints (ts_ingest fixed by fs-gen
# --fixed-ingest, so the two runs can be compared whole).
load helper

M=$TOP/models/fraud-v1.json

# fraud SINK-ARGS...: the pipeline under --state s.db; pids in pid.N,
# statuses in st.
fraud() {
	rm -f pid.1 pid.2
	sh -c 'echo $$ >pid.1; exec fs-window --features fraud-v1 \
		--state s.db --job f -i in.fsr --checkpoint-interval 50ms' \
		2>>err |
	sh -c 'echo $$ >pid.2; exec "$@"' score fs-score-gpu -m "$M" \
		--device cpu -j 1 --state s.db --job f -o out.fsr 2>>err
	echo "${PIPESTATUS[*]}" >st
}

@test "exactly-once fraud pipeline: random SIGKILLs and restarts give the clean run's scores" {
	fs-gen -n 1000000 --seed 11 --fixed-ingest --disorder 1s -o in.fsr
	fs-window --features fraud-v1 -i in.fsr |
		fs-score-gpu -m "$M" --device cpu -j 1 -o clean.fsr
	local kills=0 tries=0 bg pid
	while [ $kills -lt 5 ] && [ $tries -lt 60 ]; do
		tries=$((tries + 1))
		fraud &
		bg=$!
		for _ in $(seq 500); do
			[ -s pid.1 ] && [ -s pid.2 ] && break
			sleep 0.01
		done
		sleep "0.$(printf %03d $((RANDOM % 400)))"
		pid=$(cat pid.$((RANDOM % 2 + 1)) 2>/dev/null) || pid=none
		if grep -q '^[^ ]* ([^)]*) [RSD]' /proc/"$pid"/stat \
		    2>/dev/null && kill -KILL "$pid" 2>/dev/null; then
			kills=$((kills + 1))
		fi
		wait $bg || true
		# the job ran to its end before 5 kills: start it afresh
		if [ $kills -lt 5 ] && [ "$(cat st)" = "0 0" ]; then
			rm -rf s.db s.db-wal s.db-shm s.db.snapshots out.fsr
			kills=0
		fi
	done
	echo "# kills $kills in $tries runs" >&3
	[ $kills -ge 5 ]
	timeout 120 bash -c "M='$M'; $(declare -f fraud); fraud"
	[ "$(cat st)" = "0 0" ] || { cat err >&2; return 1; }
	# the data records byte for byte (control records carry wall time)
	fs-cat --types score,alert -f csv -i clean.fsr > clean.csv
	fs-cat --types score,alert -f csv -i out.fsr > out.csv
	[ "$(wc -l < clean.csv)" -eq 1000001 ]
	cmp clean.csv out.csv
	[ "$(sqlite3 s.db "SELECT count(*) FROM checkpoints WHERE status = 'complete'")" -ge 1 ]
	[ "$(sqlite3 s.db "SELECT count(DISTINCT stage) FROM snapshots")" = 2 ]
}

@test "exactly-once fraud pipeline: a snapshot of another model is refused (exit 3)" {
	fs-gen -n 20000 --seed 12 --fixed-ingest -o in.fsr
	timeout 60 bash -c "M='$M'; $(declare -f fraud); fraud"
	[ "$(cat st)" = "0 0" ]
	echo '{"model":"logistic","feature_names":["amount"],"weights":[1],"intercept":0}' > l.json
	run_t 20 bash -c 'fs-window --features fraud-v1 --state s.db --job f -i in.fsr 2>/dev/null |
		fs-score-gpu -m l.json --device cpu --allow-missing --state s.db --job f -o out.fsr'
	assert_status 3
	assert_match "bad snapshot of stage 'fs-score-gpu' for checkpoint [0-9]+: made with another model"
}
