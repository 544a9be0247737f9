#!/bin/bash
# tests/queue/crash_test.sh MMPIPE — the queue under random SIGKILLs.
#
# 2000 hash jobs; four `mmpipe worker` processes run them while this script kills
# a random worker with SIGKILL every 30-250 ms and starts a new one.  At the end
# every job must be done exactly once with exactly one result equal to the file's
# real SHA-256 (computed here by Python), none lost, none duplicated, and
# PRAGMA integrity_check must say ok.
set -u
M=$1
N=${CRASH_JOBS:-2000}
T=$(mktemp -d /tmp/mmpipe-crash-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; sleep 0.1; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$T" || exit 1

/usr/bin/python3 - "$N" <<'PY' || fail "could not make inputs"
import os, sys, hashlib, json
n = int(sys.argv[1]); os.makedirs("in", exist_ok=True); ref = {}
for i in range(n):
    d = os.path.join("in", "d%02d" % (i % 20)); os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "file %05d.bin" % i)
    data = (b"crash test %d " % i) * (1 + i % 50)
    open(p, "wb").write(data); ref[p] = hashlib.sha256(data).hexdigest()
json.dump(ref, open("ref.json", "w"))
PY

"$M" jobs add hash in --quiet || fail "jobs add exited $?"
[ "$(sqlite3 mmpipe.db "SELECT count(*) FROM jobs WHERE state='queued'")" = "$N" ] || fail "not $N queued"

start_worker() { "$M" worker --quiet --throttle-ms 10 --lease 2 --heartbeat 0.5 2>>workers.log & pids+=($!); disown $!; }
for _ in 1 2 3 4; do start_worker; done

kills=0
deadline=$((SECONDS + 240))
while [ $SECONDS -lt $deadline ]; do
    sleep "0.$(printf '%03d' $((30 + RANDOM % 220)))"
    left=$(sqlite3 mmpipe.db "SELECT count(*) FROM jobs WHERE state != 'done'" 2>/dev/null) || continue
    [ "$left" = 0 ] && break
    live=()
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && live+=("$p"); done
    if [ ${#live[@]} -gt 0 ]; then
        victim=${live[$((RANDOM % ${#live[@]}))]}
        kill -9 "$victim" 2>/dev/null && kills=$((kills + 1))
    fi
    start_worker
done
for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.05; done; done
pids=()
# Whatever is left (jobs of the last killed workers) a final worker finishes at once:
# their owners are dead processes on this host, so no lease has to expire.
t0=$SECONDS
"$M" worker --quiet || fail "final worker exited $?"
[ $((SECONDS - t0)) -lt 20 ] || fail "final worker waited $((SECONDS - t0)) s for dead leases"

[ "$kills" -ge 10 ] || fail "only $kills kills happened: the test did not test"
q() { sqlite3 mmpipe.db "$1"; }
[ "$(q "PRAGMA integrity_check")" = ok ] || fail "integrity_check: $(q 'PRAGMA integrity_check')"
[ "$(q "SELECT count(*) FROM jobs")" = "$N" ] || fail "jobs: $(q 'SELECT count(*) FROM jobs') != $N"
[ "$(q "SELECT count(*) FROM jobs WHERE state='done'")" = "$N" ] || fail "not all done: $(q 'SELECT state, count(*) FROM jobs GROUP BY state')"
[ "$(q "SELECT count(*) FROM results")" = "$N" ] || fail "results: $(q 'SELECT count(*) FROM results') != $N"
[ "$(q "SELECT count(DISTINCT job_id) FROM results")" = "$N" ] || fail "duplicate results"
[ "$(q "SELECT count(*) FROM jobs j LEFT JOIN results r ON r.job_id = j.id WHERE r.job_id IS NULL")" = 0 ] || fail "done job without result"
[ "$(q "SELECT count(*) FROM jobs WHERE attempts != 0")" = 0 ] || fail "a crash used an error attempt"
crashed=$(q "SELECT count(*) FROM jobs WHERE crashes > 0")
"$M" results export --kind hash --format jsonl --out export.jsonl --quiet || fail "export exited $?"
/usr/bin/python3 - <<'PY' || fail "results differ from the real hashes"
import json, sys
ref = json.load(open("ref.json")); seen = {}
for line in open("export.jsonl", encoding="utf-8"):
    r = json.loads(line)
    if r["path"] in seen: sys.exit("path exported twice: " + r["path"])
    seen[r["path"]] = r["text"]
    if r["text"] != ref.get(r["path"]) or r["sha256"] != r["text"]:
        sys.exit("wrong result for %s" % r["path"])
if set(seen) != set(ref): sys.exit("missing paths: %d of %d" % (len(seen), len(ref)))
PY
echo "crash test: $N jobs, $kills SIGKILLs, $crashed jobs re-run after a crash, every job done once: ok"
