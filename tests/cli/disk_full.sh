#!/usr/bin/env bash
# Full disk.  The database lives on a small tmpfs (or, where mount is not allowed,
# the file size is limited with ulimit -f and SIGXFSZ ignored, so writes fail EFBIG).
#  1. enqueue of a folder too large for the free space: exit 1, the error says the
#     disk is full, integrity_check ok, jobs/inputs exactly as before (all or nothing);
#     a later enqueue with room works.
#  2. a worker that runs out of space: exits non-zero with a "full" error; no job is
#     lost or done without its result; after space is freed a new worker finishes every
#     job exactly once.
# Set MMPIPE_TEST_FORCE_ULIMIT=1 to test the ulimit fallback even where mount works.
. "$(dirname "$0")/lib.sh" "$@"

MODE=ulimit
if [ "${MMPIPE_TEST_FORCE_ULIMIT:-0}" != 1 ] && [ "$(id -u)" = 0 ]; then
    mkdir mnt
    if mount -t tmpfs -o size=8m,mode=1777 tmpfs "$T/mnt" 2>/dev/null; then
        MOUNTS="$T/mnt"
        MODE=tmpfs
    fi
fi
[ "$MODE" = tmpfs ] || mkdir -p mnt
echo "disk_full: using $MODE"
DB=mnt/q.db

# run_limited ARGS... — mmpipe with the file size limited (ulimit mode) or plain (tmpfs).
LIMIT_KB=0
run_limited() {
    if [ "$MODE" = ulimit ]; then
        (
            trap '' XFSZ
            ulimit -f "$LIMIT_KB"
            exec "$MM" "$@"
        ) >"$T/.out" 2>"$T/.err"
        RC=$?
    else
        run "$@"
    fi
}
snapshot() { # the queue's content, for before/after comparison
    q "$DB" "SELECT id, kind, key, sha256, state, attempts, crashes FROM jobs ORDER BY id" >"$1"
    q "$DB" "SELECT hex(path), kind, job_id FROM inputs ORDER BY path" >>"$1"
    q "$DB" "SELECT job_id, text FROM results ORDER BY job_id" >>"$1"
}

# ---- 1. enqueue that cannot fit ----
mkdir small big
for i in 1 2 3 4 5; do echo "small $i" >"small/$i"; done
run jobs add --db "$DB" --quiet hash small
expect_rc 0 "jobs add of 5 small files"
run worker --db "$DB" --quiet
expect_rc 0 "worker on the 5 small jobs"
snapshot before.txt
# 6000 files with 200-byte names: about 2.5 MB of rows and index entries.
"$PY" - <<'EOF' || fail "could not create the big folder"
import os
name = "n" * 200
for i in range(6000):
    with open("big/%s_%05d" % (name, i), "w") as f:
        f.write("big %d\n" % i)
EOF
dbkb=$(( $(stat -c %s "$DB") / 1024 ))
LIMIT_KB=$(( dbkb + 256 ))
if [ "$MODE" = tmpfs ]; then
    # leave about 300 KiB free
    dd if=/dev/zero of=mnt/fill bs=4k 2>/dev/null
    truncate -s -300k mnt/fill
fi
run_limited jobs add --db "$DB" hash big
expect_rc 1 "jobs add of 6000 files on a full disk"
err_has_re 'full|no space|disk' "jobs add on a full disk"
err_has "$DB" "jobs add on a full disk names the database"
note "enqueue on the full disk: $(head -n1 "$T/.err")"
rm -f mnt/fill
integrity "$DB" "after the failed enqueue"
snapshot after.txt
cmp -s before.txt after.txt || fail "the failed enqueue changed the queue (diff: $(diff before.txt after.txt | head -5 | tr '\n' '|'))"
eq "$(q "$DB" 'SELECT count(*) FROM jobs')" 5 "jobs after the failed enqueue"
run status --db "$DB" --json
expect_rc 0 "status after the failed enqueue"

# ---- 2. a worker on a full disk ----
rm -rf big
mkdir work
for i in $(seq 1 300); do echo "work item $i" >"work/w$i"; done
run jobs add --db "$DB" --quiet hash work
expect_rc 0 "jobs add of 300 files (with room)"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state='queued'")" 300 "queued jobs before the worker"
dbkb=$(( $(stat -c %s "$DB") / 1024 ))
LIMIT_KB=$(( dbkb + 200 ))
if [ "$MODE" = tmpfs ]; then
    dd if=/dev/zero of=mnt/fill bs=4k 2>/dev/null
    truncate -s -200k mnt/fill
fi
run_limited worker --db "$DB"
wrc=$RC
werr=$(cat "$T/.err")
rm -f mnt/fill
if [ "$wrc" = 0 ]; then
    note "the worker fitted in the space left (no full-disk error seen)"
else
    expect_rc 1 "worker on a full disk"
    err_has_re "full|no space|disk" "worker on a full disk: error says the disk is full"
fi
integrity "$DB" "after the worker hit the full disk"
eq "$(q "$DB" 'SELECT count(*) FROM jobs')" 305 "jobs after the full-disk worker (none lost)"
done1=$(q "$DB" "SELECT count(*) FROM jobs WHERE state='done'")
note "worker on the full disk: exit $wrc, $done1 of 305 done; $(printf '%s' "$werr" | head -n1)"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state='failed'")" 0 "failed jobs after the full-disk worker"

run worker --db "$DB"
expect_rc 0 "worker after space was freed"
integrity "$DB" "after the second worker"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state='done'")" 305 "done jobs at the end"
eq "$(q "$DB" 'SELECT count(*) FROM results')" 305 "results at the end"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE attempts != 0 OR crashes > 1")" 0 \
    "jobs that used error attempts or crashed more than once"
# every result is the real hash of its file
bad=$(q "$DB" "SELECT CAST(i.path AS TEXT) || ' ' || r.text FROM results r JOIN inputs i ON i.job_id = r.job_id" |
    while read -r p h; do [ "$(sha "$p")" = "$h" ] || echo "$p"; done)
[ -z "$bad" ] || fail "results that are not the file's sha256: $bad"
echo "PASS: disk_full ($MODE)"
