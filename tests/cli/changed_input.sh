#!/usr/bin/env bash
# A file that changes content between enqueue and work, or is deleted, or turns into a
# folder: its job fails with an error naming the path and the reason, using exactly one
# attempt (a permanent error is not retried), the worker exits 3 and lists it; the
# other jobs are done.  A copy with the old content elsewhere still satisfies the job.
. "$(dirname "$0")/lib.sh" "$@"
DB=q.db
mkdir in
echo "stable" >in/stable
echo "original" >in/changes
echo "doomed" >in/deleted
echo "becomes a folder" >in/dir
echo "shared" >in/shared1
echo "shared" >in/shared2
run jobs add --db "$DB" --quiet --max-attempts 3 hash in
expect_rc 0 "jobs add"
echo "edited after enqueue" >in/changes
rm in/deleted
rm in/dir && mkdir in/dir
echo "shared but edited" >in/shared1 # in/shared2 still has the queued content
start=$(date +%s)
run worker --db "$DB"
expect_rc 3 "worker with changed / deleted inputs"
[ $(( $(date +%s) - start )) -lt 10 ] || fail "worker waited on backoffs for permanent errors ($(( $(date +%s) - start )) s)"
err_has "in/changes" "worker lists the changed file"
err_has_re "changed" "worker says the content changed"
err_has "in/deleted" "worker lists the deleted file"
err_has_re "no such file|not found|deleted|missing" "worker says the file is gone"
err_has "in/dir" "worker lists the file that became a folder"
run jobs list --db "$DB" --state failed --json
expect_rc 0 "jobs list --state failed --json"
cp "$T/.out" failed.json
"$PY" - failed.json <<'EOF' || fail "failed jobs are wrong: $(tr '\n' ' ' <failed.json)"
import json, sys
jobs = {j["path"]: j for j in json.load(open(sys.argv[1]))}
if set(jobs) != {"in/changes", "in/deleted", "in/dir"}:
    sys.exit("failed paths %r, expected in/changes, in/deleted, in/dir" % sorted(jobs))
for p, j in jobs.items():
    if j["attempts"] != 1:
        sys.exit("%s: attempts %r (a permanent error must use exactly one)" % (p, j["attempts"]))
    if not j["error"] or p not in j["error"]:
        sys.exit("%s: error %r should name the path" % (p, j["error"]))
if "changed" not in jobs["in/changes"]["error"]:
    sys.exit("in/changes: error %r should say the content changed" % jobs["in/changes"]["error"])
EOF
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state='done'")" 2 "done jobs (stable, shared)"
eq "$(q "$DB" "SELECT r.text FROM results r JOIN inputs i ON i.job_id=r.job_id WHERE CAST(i.path AS TEXT)='in/shared2'")" \
    "$(sha in/shared2)" "the shared job's result is the unchanged copy's hash"
eq "$(q "$DB" "SELECT count(*) FROM job_events WHERE event='error'")" 0 "retryable-error events (none expected)"
integrity "$DB" "after the failures"
# a later run reports them again (exit 3) without running anything
claims=$(q "$DB" "SELECT sum(claims) FROM jobs")
run worker --db "$DB"
expect_rc 0 "worker with nothing runnable"
eq "$(q "$DB" "SELECT sum(claims) FROM jobs")" "$claims" "claims after an idle worker"
# the changed file, added again, is a new job with the new content and succeeds
run hash --db "$DB" in/changes
expect_rc 0 "hash of the changed file"
grep -qF "$(sha in/changes)  in/changes" "$T/.out" || fail "new content of in/changes not hashed $(shown)"
echo "PASS: changed_input"
