#!/usr/bin/env bash
# Worker durability from the CLI: `mmpipe worker --throttle-ms 50` on 50 jobs is
# killed with SIGKILL mid-run.  Then (checked with sqlite3): no job is done without its
# result, no result exists for a job that is not done, exactly one job is left running
# under the dead worker.  A new `mmpipe worker` returns that job at once (same-host dead
# pid, without waiting for the 30 s lease), finishes everything, every job is done
# exactly once (claims: 1 each, 2 for the interrupted one, which has crashes 1).
. "$(dirname "$0")/lib.sh" "$@"
DB=q.db
N=50
mkdir in
for i in $(seq -w 1 $N); do echo "job input $i" >"in/f$i"; done
run jobs add --db "$DB" --quiet hash in
expect_rc 0 "jobs add"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state='queued'")" $N "queued jobs"

"$MM" worker --db "$DB" --quiet --throttle-ms 50 >w1.out 2>w1.err &
wpid=$!
# wait until some (but not all) jobs are done
for _ in $(seq 1 200); do
    d=$(sqlite3 "$DB" "SELECT count(*) FROM jobs WHERE state='done'" 2>/dev/null || echo 0)
    [ "${d:-0}" -ge 10 ] && break
    sleep 0.05
done
kill -9 "$wpid" 2>/dev/null || fail "the worker ended before it could be killed (done: $d) [$(cat w1.err)]"
wait "$wpid" 2>/dev/null
wrc=$?
eq "$wrc" 137 "killed worker's exit status"

integrity "$DB" "right after the kill"
done1=$(q "$DB" "SELECT count(*) FROM jobs WHERE state='done'")
[ "$done1" -ge 10 ] && [ "$done1" -lt $N ] || fail "done jobs at the kill: expected 10..$((N - 1)), got $done1"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state='running'")" 1 "running jobs left by the killed worker"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state='running' AND lease_owner LIKE '%:$wpid:%'")" 1 \
    "the running job belongs to the killed worker (pid $wpid)"
rid=$(q "$DB" "SELECT id FROM jobs WHERE state='running'")
until=$(q "$DB" "SELECT lease_until - CAST(strftime('%s','now') AS INTEGER) * 1000 FROM jobs WHERE id=$rid")
[ "$until" -gt 20000 ] || fail "lease of the running job should be ~30 s ahead, is $until ms"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state NOT IN ('queued','running','done')")" 0 "failed/cancelled jobs after the kill"

start=$(date +%s%N)
run worker --db "$DB"
expect_rc 0 "second worker"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -lt 10000 ] || fail "second worker took $ms ms: it waited for the lease instead of detecting the dead pid"
integrity "$DB" "after the second worker"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state='done'")" $N "done jobs at the end"
eq "$(q "$DB" "SELECT count(*) FROM results")" $N "results at the end"
eq "$(q "$DB" "SELECT crashes || ' ' || claims || ' ' || state FROM jobs WHERE id=$rid")" "1 2 done" \
    "interrupted job: crashes, claims, state"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE id != $rid AND (claims != 1 OR crashes != 0 OR attempts != 0)")" 0 \
    "other jobs ran exactly once"
eq "$(q "$DB" "SELECT count(*) FROM job_events WHERE event='crash' AND job_id=$rid")" 1 "crash event of the interrupted job"
bad=$(q "$DB" "SELECT CAST(i.path AS TEXT) || ' ' || r.text FROM results r JOIN inputs i ON i.job_id = r.job_id" |
    while read -r p h; do [ "$(sha "$p")" = "$h" ] || echo "$p"; done)
[ -z "$bad" ] || fail "results that are not the file's sha256: $bad"
echo "PASS: worker_kill (killed after $done1 jobs; second worker $ms ms)"
