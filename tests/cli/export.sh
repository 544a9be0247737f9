#!/usr/bin/env bash
# results export: --out FILE writes exactly what stdout gets, atomically (a temporary
# file renamed into place: no partial file, no leftovers, an existing FILE replaced
# whole; a failed export leaves an existing FILE untouched).  Also: one record per path
# of a done job only (queued/failed/cancelled jobs are not exported), --kind filter,
# an empty export is a header only (CSV) or nothing (JSONL), and usage errors.
. "$(dirname "$0")/lib.sh" "$@"

mkdir in
for i in 1 2 3 4 5; do echo "file $i" >"in/f$i"; done
echo "file 1" >"in/same as f1"
echo "never run" >in/zz_queued
run jobs add --db q.db --quiet hash in/f1 in/f2 in/f3 in/f4 in/f5 "in/same as f1"
expect_rc 0 "jobs add"
# nothing done yet: empty exports
run results export --db q.db --kind hash --format jsonl
expect_rc 0 "JSONL export with nothing done"
out_empty "JSONL export with nothing done"
run results export --db q.db --kind hash --format csv
expect_rc 0 "CSV export with nothing done"
eq "$(cat "$T/.out")" $'path,path_b64,sha256,kind,model,text,finished_at,job_id\r' "CSV export with nothing done (header only)"

run worker --db q.db --quiet
expect_rc 0 "worker"
# a queued, a failed and a cancelled job must not be exported
run jobs add --db q.db --quiet hash in/zz_queued
echo "doomed" >in/gone
run jobs add --db q.db --quiet hash in/gone
rm in/gone
echo "cancel me" >in/cancelled
run jobs add --db q.db --quiet hash in/cancelled
cid=$(q q.db "SELECT job_id FROM inputs WHERE CAST(path AS TEXT)='in/cancelled'")
run jobs cancel --db q.db "$cid"
expect_rc 0 "cancel job $cid"
gid=$(q q.db "SELECT job_id FROM inputs WHERE CAST(path AS TEXT)='in/gone'")
zid=$(q q.db "SELECT job_id FROM inputs WHERE CAST(path AS TEXT)='in/zz_queued'")
# the worker runs zz_queued and fails in/gone; --force then puts zz_queued back to queued
run worker --db q.db --quiet
[ "$RC" = 3 ] || fail "worker with a deleted input: exit code (expected 3, got $RC) $(shown)"
run jobs add --db q.db --quiet --force hash in/zz_queued
expect_rc 0 "jobs add --force of the done zz_queued"
eq "$(q q.db "SELECT state FROM jobs WHERE id=$zid")" queued "zz_queued state"
eq "$(q q.db "SELECT state FROM jobs WHERE id=$gid")" failed "in/gone state"
eq "$(q q.db "SELECT state FROM jobs WHERE id=$cid")" cancelled "in/cancelled state"

for fmt in jsonl csv; do
    run results export --db q.db --kind hash --format $fmt
    expect_rc 0 "export $fmt to stdout"
    cp "$T/.out" "stdout.$fmt"
    mkdir -p "outdir $fmt"
    run results export --db q.db --kind hash --format $fmt --out "outdir $fmt/res"$'\n'"ult.$fmt"
    expect_rc 0 "export $fmt --out"
    out_empty "export $fmt --out: nothing on stdout"
    f="outdir $fmt/res"$'\n'"ult.$fmt"
    [ -f "$f" ] || fail "export $fmt --out did not create the file"
    cmp -s "stdout.$fmt" "$f" || fail "export $fmt --out differs from stdout ($(diff "stdout.$fmt" "$f" | head -3 | tr '\n' '|'))"
    eq "$(find "outdir $fmt" -mindepth 1 -printf x | wc -c)" 1 "files in the --out folder (no temporary left behind)"
    # replaces an existing file whole (a longer old file leaves no tail)
    head -c 100000 /dev/zero | tr '\0' 'x' >"outdir $fmt/old.$fmt"
    ln "outdir $fmt/old.$fmt" "outdir $fmt/old-link.$fmt"
    run results export --db q.db --kind hash --format $fmt --out "outdir $fmt/old.$fmt"
    expect_rc 0 "export $fmt --out over an existing file"
    cmp -s "stdout.$fmt" "outdir $fmt/old.$fmt" || fail "export $fmt --out over an existing file: content differs"
    # atomic replacement: the old inode (seen through a hard link) is not rewritten in place
    eq "$(head -c 5 "outdir $fmt/old-link.$fmt")" xxxxx "export $fmt --out rewrote the old file in place instead of renaming"
done
"$PY" - stdout.jsonl <<'EOF' || fail "JSONL export content is wrong"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
paths = sorted(r["path"] for r in recs)
want = sorted(["in/f1", "in/f2", "in/f3", "in/f4", "in/f5", "in/same as f1"])
if paths != want:
    sys.exit("exported paths %r, expected %r (only done jobs, every path)" % (paths, want))
ids = {r["path"]: r["job_id"] for r in recs}
if ids["in/f1"] != ids["in/same as f1"]:
    sys.exit("in/f1 and 'in/same as f1' have the same content but different jobs")
if len(set(ids.values())) != 5:
    sys.exit("expected 5 distinct jobs, got %d" % len(set(ids.values())))
if [r["job_id"] for r in recs] != sorted(r["job_id"] for r in recs):
    sys.exit("records are not in job id order")
EOF

# --kind filter: another kind has no results
run results export --db q.db --kind caption --format jsonl
expect_rc 0 "export --kind caption (no such results)"
out_empty "export --kind caption"

# a failed export leaves an existing --out file alone and leaves no temporary file
echo "precious" >keep.csv
head -c 4096 /dev/urandom >broken.db
run results export --db broken.db --kind hash --format csv --out keep.csv
expect_rc 1 "export from a broken database"
eq "$(cat keep.csv)" precious "an existing --out file after a failed export"
eq "$(ls -A | grep -c '^keep.csv')" 1 "keep.csv temporaries after a failed export"
# --out into a folder that does not exist, or that is not writable
run results export --db q.db --kind hash --format csv --out "no such dir/x.csv"
expect_rc 1 "export --out into a missing folder"
err_has "no such dir/x.csv" "export --out into a missing folder names the file"
if [ -n "$AS_NOBODY" ] || [ "$(id -u)" != 0 ]; then
    chmod 755 "$T"
    mkdir rodir nb
    chmod 755 rodir
    chmod 777 nb
    sqlite3 q.db ".backup nb/q.db" || fail "sqlite3 .backup"
    chmod 666 nb/q.db
    run_as_nobody results export --db nb/q.db --kind hash --format csv --out rodir/x.csv
    if [ "$RC" = 0 ]; then fail "uid 65534: export --out into a read-only folder succeeded"; fi
    expect_rc 1 "uid 65534: export --out into a read-only folder"
    err_has rodir/x.csv "uid 65534: export --out into a read-only folder names the file"
    [ -z "$(ls -A rodir)" ] || fail "files left in rodir: $(ls -A rodir)"
fi

# usage errors
run results export --db q.db --kind hash
expect_rc 2 "export without --format"
run results export --db q.db --kind hash --format xml
expect_rc 2 "export --format xml"
run results export --db q.db --kind hash --format csv extra
expect_rc 2 "export with an extra argument"
run results frobnicate --db q.db
expect_rc 2 "results frobnicate"
run results
expect_rc 2 "results with no subcommand"
echo "PASS: export"
