#!/usr/bin/env bash
# Queue contracts through the CLI: idempotent enqueue (the same folder twice adds no
# job; status --json unchanged); two paths with the same content share one job and
# both are exported; a re-run does no work; --force re-runs done jobs (new finished_at);
# jobs retry --failed requeues failed jobs; jobs purge --state done removes them with
# their results and inputs; status --json has exactly the documented shape; the status table
# shows the rate and the ETA.
. "$(dirname "$0")/lib.sh" "$@"
DB=q.db

status_json() {
    run status --db "$DB" --json
    expect_rc 0 "status --json"
    cp "$T/.out" "$1"
}
check_shape() { # FILE — exactly {"jobs": {KIND: {queued,running,done,failed,cancelled: int}}}
    "$PY" - "$1" <<'EOF' || fail "status --json shape is wrong: $(tr '\n' ' ' <"$1")"
import json, sys
d = json.load(open(sys.argv[1]))
if not isinstance(d, dict) or list(d) != ["jobs"] or not isinstance(d["jobs"], dict):
    sys.exit("top level must be exactly {\"jobs\": {...}}")
for kind, counts in d["jobs"].items():
    if not isinstance(counts, dict) or set(counts) != {"queued", "running", "done", "failed", "cancelled"}:
        sys.exit("kind %r: keys %r" % (kind, counts))
    for k, v in counts.items():
        if type(v) is not int or v < 0:
            sys.exit("kind %r: %s = %r is not a count" % (kind, k, v))
EOF
}
counts() { # FILE -> "queued running done failed cancelled" of kind hash
    "$PY" -c 'import json,sys; h=json.load(open(sys.argv[1]))["jobs"].get("hash",{}); print(*[h.get(k,0) for k in ("queued","running","done","failed","cancelled")])' "$1"
}

mkdir -p in/sub
for i in 1 2 3 4; do echo "content $i" >"in/f$i"; done
echo "content 1" >"in/sub/copy of f1"
echo "content 1" >"in/sub/another copy"

# an initialised, empty database: {"jobs": {}}
run worker --db "$DB" --quiet
expect_rc 0 "worker on a new database"
status_json s0.json
check_shape s0.json
eq "$(tr -d ' \t\n' <s0.json)" '{"jobs":{}}' "status --json of an empty queue"

run jobs add --db "$DB" hash in
expect_rc 0 "first jobs add"
status_json s1.json
check_shape s1.json
eq "$(counts s1.json)" "4 0 0 0 0" "counts after the first add (6 files, 4 contents)"
eq "$(q "$DB" 'SELECT count(*) FROM inputs')" 6 "inputs rows after the first add"
j1=$(q "$DB" "SELECT job_id FROM inputs WHERE CAST(path AS TEXT)='in/f1'")
eq "$(q "$DB" "SELECT count(DISTINCT job_id) FROM inputs WHERE CAST(path AS TEXT) IN ('in/f1','in/sub/copy of f1','in/sub/another copy')")" 1 \
    "same content shares one job"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE id=$j1 AND sha256='$(sha in/f1)'")" 1 "the shared job carries the content hash"

run jobs add --db "$DB" hash in
expect_rc 0 "second jobs add of the same folder"
err_has "0 new jobs" "second add reports no new jobs"
status_json s2.json
cmp -s s1.json s2.json || fail "status changed after re-adding the same folder ($(tr '\n' ' ' <s2.json))"
eq "$(q "$DB" 'SELECT count(*) FROM jobs')" 4 "jobs after re-adding"
eq "$(q "$DB" 'SELECT count(*) FROM inputs')" 6 "inputs after re-adding"

run worker --db "$DB"
expect_rc 0 "worker"
status_json s3.json
eq "$(counts s3.json)" "0 0 4 0 0" "counts after the worker"
# the table: counts, the rate of the last ten minutes and the ETA of what is left
run status --db "$DB"
expect_rc 0 "status"
grep -Eq '^hash +0 +0 +4 +0 +0 +[0-9.]+ +done$' "$T/.out" || fail "status table after the worker: $(cat "$T/.out")"
grep -q "per hour" "$T/.out" || fail "status has no rate column"
run results export --db "$DB" --kind hash --format jsonl
expect_rc 0 "export"
"$PY" - "$T/.out" <<'EOF' || fail "export after sharing is wrong: $(cat "$T/.out")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
paths = {r["path"]: r for r in recs}
want = {"in/f1", "in/f2", "in/f3", "in/f4", "in/sub/copy of f1", "in/sub/another copy"}
if set(paths) != want:
    sys.exit("paths %r" % sorted(paths))
a, b, c = paths["in/f1"], paths["in/sub/copy of f1"], paths["in/sub/another copy"]
if not (a["job_id"] == b["job_id"] == c["job_id"] and a["text"] == b["text"] == c["text"]):
    sys.exit("shared job exported inconsistently")
EOF
fin1=$(q "$DB" "SELECT finished_at FROM jobs WHERE id=$j1")
claims1=$(q "$DB" "SELECT sum(claims) FROM jobs")

# a re-run does no work
run hash --db "$DB" in
expect_rc 0 "hash re-run over done inputs"
eq "$(q "$DB" "SELECT sum(claims) FROM jobs")" "$claims1" "claims after a re-run (no job ran again)"
eq "$(grep -c . "$T/.out")" 6 "hash re-run prints one line per path"
eq "$(q "$DB" "SELECT finished_at FROM jobs WHERE id=$j1")" "$fin1" "finished_at after a re-run"

# a new file with the same content as a done job joins it, no work
echo "content 2" >in/late-copy-of-f2
run jobs add --db "$DB" hash in
expect_rc 0 "add after a new copy appeared"
eq "$(q "$DB" 'SELECT count(*) FROM jobs')" 4 "jobs after a new copy appeared"
run results export --db "$DB" --kind hash --format csv
grep -q '^in/late-copy-of-f2,' "$T/.out" || fail "the new copy of a done job is not exported"

# --force re-runs done jobs: new finished_at
sleep 0.05
run jobs add --db "$DB" --force hash in/f1
expect_rc 0 "jobs add --force"
eq "$(q "$DB" "SELECT state FROM jobs WHERE id=$j1")" queued "forced job state"
eq "$(q "$DB" "SELECT count(*) FROM results WHERE job_id=$j1")" 0 "result of a forced job before it reruns"
run worker --db "$DB" --quiet
expect_rc 0 "worker after --force"
fin2=$(q "$DB" "SELECT finished_at FROM jobs WHERE id=$j1")
[ "$fin2" -gt "$fin1" ] || fail "--force: finished_at expected > $fin1, got $fin2"
eq "$(q "$DB" "SELECT count(*) FROM results WHERE job_id=$j1")" 1 "results of the forced job"
eq "$(q "$DB" "SELECT claims FROM jobs WHERE id=$j1")" 2 "claims of the forced job"
run results export --db "$DB" --kind hash --format jsonl
"$PY" -c '
import json, sys, datetime
fin = int(sys.argv[2])
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["path"] == "in/f1":
        t = datetime.datetime.strptime(r["finished_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        ms = round(t.timestamp() * 1000)
        sys.exit(0 if ms == fin else "finished_at %s is %d ms, database says %d" % (r["finished_at"], ms, fin))
sys.exit("in/f1 not exported")' "$T/.out" "$fin2" || fail "export finished_at after --force"

# failures, retry --failed
echo "will vanish A" >in/vanishA
echo "will vanish B" >in/vanishB
run jobs add --db "$DB" --quiet hash in/vanishA in/vanishB
rm in/vanishA in/vanishB
run worker --db "$DB"
expect_rc 3 "worker with vanished inputs"
err_has in/vanishA "worker lists the failed input A at the end"
err_has in/vanishB "worker lists the failed input B at the end"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state='failed'")" 2 "failed jobs"
run jobs add --db "$DB" hash in
expect_rc 0 "add of the folder (the vanished files are not in it any more)"
echo "will vanish A" >in/vanishA
run jobs add --db "$DB" hash in/vanishA
expect_rc 3 "add of a file whose job failed: still failed, exit 3"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state='failed'")" 2 "failed jobs stay failed"
echo "will vanish B" >in/vanishB
run jobs retry --db "$DB" --failed
expect_rc 0 "jobs retry --failed"
err_has "2 failed jobs" "jobs retry --failed reports the count"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state='queued' AND attempts=0")" 2 "retried jobs: queued, fresh"
run worker --db "$DB" --quiet
expect_rc 0 "worker after retry --failed"
status_json s4.json
check_shape s4.json
eq "$(counts s4.json)" "0 0 6 0 0" "counts after the retry"

# cancel, purge
echo "to cancel" >in/cancel-me
run jobs add --db "$DB" --quiet hash in/cancel-me
cid=$(q "$DB" "SELECT job_id FROM inputs WHERE CAST(path AS TEXT)='in/cancel-me'")
run jobs cancel --db "$DB" "$cid"
expect_rc 0 "cancel"
run worker --db "$DB"
expect_rc 0 "worker with only a cancelled job"
eq "$(q "$DB" "SELECT state FROM jobs WHERE id=$cid")" cancelled "cancelled job is not run"
run jobs purge --db "$DB" --state done
expect_rc 0 "jobs purge --state done"
err_has "6 done jobs purged" "purge reports the count"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state='done'")" 0 "done jobs after purge"
eq "$(q "$DB" 'SELECT count(*) FROM results')" 0 "results after purge"
eq "$(q "$DB" 'SELECT count(*) FROM inputs')" 1 "inputs after purge (only the cancelled one's)"
integrity "$DB" "after purge"
run results export --db "$DB" --kind hash --format jsonl
out_empty "export after purge"
run jobs purge --db "$DB" --state cancelled
expect_rc 0 "purge cancelled"
status_json s5.json
check_shape s5.json
eq "$(counts s5.json)" "0 0 0 0 0" "counts after purging everything"
# after a purge, adding again makes new jobs
run jobs add --db "$DB" --quiet hash in/f1
expect_rc 0 "re-add after purge"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state='queued'")" 1 "re-added after purge"
echo "PASS: queue_contract"
