#!/usr/bin/env bats
# fs-checkpoint and the store of fs-checkpoint(5): rows written with
# sqlite3 (the independent client) are what the tool lists and shows;
# what prune, restore, export and import change is read back with
# sqlite3.
load helper

# put ID STATUS: checkpoint ID of job fraud with a position, a snapshot
# of 100 bytes and a sink, as a pipeline's stages write them.
put() {
	local done=1767312001000000000
	[ "$2" = complete ] || done=NULL
	sqlite3 job.db "INSERT INTO checkpoints VALUES ('fraud', $1, '$2', 1767312000000000000, $done);
		INSERT INTO positions VALUES ('fraud', $1, 'txn.fsr', 0, $1 * 88000);
		INSERT INTO snapshots VALUES ('fraud', $1, 'fs-window', 0, zeroblob(100));
		INSERT INTO sinks VALUES ('fraud', $1, 'scores.fsr', $1 * 4096)"
}

# q SQL: one query on job.db.
q() {
	sqlite3 job.db "$1"
}

setup_store() {
	fs-checkpoint init --state job.db
	for i in 1 2 3; do put $i complete; done
	put 4 pending
	sqlite3 job.db "INSERT INTO checkpoints VALUES ('other', 9, 'complete', 1, 2)"
}

@test "fs-checkpoint: init makes the tables of fs-checkpoint(5), in WAL mode" {
	run_t 10 fs-checkpoint init --state job.db
	assert_status 0
	[ "$(q "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name)")" = "checkpoints meta pending positions sinks snapshots stops" ]
	[ "$(q "SELECT value FROM meta WHERE key = 'format'")" = 1 ]
	[ "$(q 'PRAGMA journal_mode')" = wal ]
}

@test "fs-checkpoint list: every checkpoint of the job, or of every job" {
	setup_store
	run_t 10 fs-checkpoint list --state job.db --job fraud --json
	assert_status 0
	[ "${#lines[@]}" -eq 4 ]
	run /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
assert [r["id"] for r in rows] == [1, 2, 3, 4]
assert [r["status"] for r in rows] == ["complete"] * 3 + ["pending"]
assert rows[0]["positions"] == 1 and rows[0]["snapshots"] == 1
assert rows[0]["snapshot_bytes"] == 100 and rows[0]["sinks"] == 1
assert rows[0]["started"] == "2026-01-02T00:00:00Z"
assert rows[3]["completed"] == "-"
' <<<"$output"
	assert_status 0
	run_t 10 fs-checkpoint list --state job.db
	assert_status 0
	[ "${#lines[@]}" -eq 6 ]	# header, 4 of fraud, 1 of other
	[[ ${lines[5]} =~ ^other\ +9\ +complete ]]
}

@test "fs-checkpoint show: the latest complete one by default, with its parts" {
	setup_store
	run_t 10 fs-checkpoint show --state job.db --job fraud
	assert_status 0
	[[ ${lines[0]} =~ ^fraud\ +3\ +complete ]]
	assert_match "position +txn.fsr +0  264000"
	assert_match "snapshot +fs-window +0  100"
	assert_match "sink +scores.fsr +0  12288"
	run_t 10 fs-checkpoint show --state job.db --job fraud 4 --json
	assert_status 0
	[[ ${lines[0]} =~ \"status\":\"pending\" ]]
	run_t 10 fs-checkpoint show --state job.db --job fraud 7
	assert_status 1
	assert_match "fs-checkpoint: job 'fraud' has no checkpoint 7"
}

@test "fs-checkpoint prune: keeps the N newest complete, drops old pending ones" {
	setup_store
	put 0 pending		# older than the newest complete: never completes
	run_t 10 fs-checkpoint prune --state job.db --job fraud --keep 2
	assert_status 0
	assert_match "pruned 2 checkpoints"
	[ "$(q "SELECT group_concat(id) FROM checkpoints WHERE job = 'fraud'")" = "2,3,4" ]
	[ "$(q "SELECT count(*) FROM positions WHERE id < 2")" = 0 ]
	[ "$(q "SELECT count(*) FROM snapshots WHERE id < 2")" = 0 ]
	[ "$(q "SELECT count(*) FROM checkpoints WHERE job = 'other'")" = 1 ]
}

@test "fs-checkpoint restore: the newer checkpoints go, the next start resumes from it" {
	setup_store
	run_t 10 fs-checkpoint restore --state job.db --job fraud 2
	assert_status 0
	assert_match "resumes from checkpoint 2; 2 newer removed"
	[ "$(q "SELECT max(id) FROM checkpoints WHERE job = 'fraud'")" = 2 ]
	[ "$(q "SELECT count(*) FROM sinks WHERE id > 2")" = 0 ]
	run_t 10 fs-checkpoint restore --state job.db --job fraud 4
	assert_status 1		# gone now (and it was pending)
}

@test "fs-checkpoint export and import: one checkpoint into a store of its own and back" {
	setup_store
	run_t 10 fs-checkpoint export --state job.db --job fraud 2 -o sp.db
	assert_status 0
	[ "$(sqlite3 sp.db "SELECT job, id, status FROM checkpoints")" = "fraud|2|complete" ]
	[ "$(sqlite3 sp.db "SELECT length(state) FROM snapshots")" = 100 ]
	run_t 10 fs-checkpoint export --state job.db --job fraud 4 -o pend.db
	assert_status 1
	run_t 10 fs-checkpoint export --state job.db --job fraud 2 -o job.db
	assert_status 2
	run_t 10 fs-checkpoint import --state new.db sp.db
	assert_status 0
	assert_match "imported 1 checkpoint"
	[ "$(sqlite3 new.db "SELECT position FROM positions")" = 176000 ]
	run_t 10 fs-checkpoint import --state new.db sp.db	# twice: refused
	assert_status 1
	[ "$(sqlite3 new.db "SELECT count(*) FROM checkpoints")" = 1 ]
}

@test "fs-checkpoint: bad use and bad stores" {
	run_t 10 fs-checkpoint
	assert_status 2
	run_t 10 fs-checkpoint frob --state job.db
	assert_status 2
	run_t 10 fs-checkpoint list
	assert_status 2
	run_t 10 fs-checkpoint show --state job.db
	assert_status 2		# no --job
	run_t 10 fs-checkpoint list --state nosuch.db
	assert_status 1
	[ ! -e nosuch.db ]	# not made by a typo
	echo text > notdb
	run_t 10 fs-checkpoint list --state notdb
	assert_status 3
	sqlite3 app.db "CREATE TABLE t (x)"
	run_t 10 fs-checkpoint init --state app.db
	assert_status 3
	assert_match "another program's database"
	[ "$(sqlite3 app.db 'PRAGMA journal_mode')" = delete ]	# untouched
	[ "$(sqlite3 app.db .tables)" = t ]
}
