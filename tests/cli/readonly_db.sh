#!/usr/bin/env bash
# A read-only database, used by an unprivileged user (uid 65534):
#  A. owned by root, mode 444, in a root-owned 755 folder;
#  B. owned by root, mode 444, in a world-writable folder.
# Writers (jobs add, hash, worker, cancel, retry, purge) exit 1 with an error naming
# the file and saying it is read-only; readers (status, jobs list, results export)
# work, or (A only, where SQLite cannot create the WAL index) fail with a clear error.
# The database is byte-for-byte unchanged and passes integrity_check afterwards.
. "$(dirname "$0")/lib.sh" "$@"

chmod 755 "$T"
mkdir -p in roA roB
chmod 777 roB
echo alpha >in/a
echo beta >in/b
echo gamma >in/c
chmod -R a+rX in

for d in roA roB; do
    run hash --db "$d/q.db" in/a in/b
    expect_rc 0 "creating $d/q.db"
    run jobs add --db "$d/q.db" --quiet hash in/c
    expect_rc 0 "queueing in/c in $d/q.db"
    eq "$(q "$d/q.db" "SELECT group_concat(state) FROM (SELECT state FROM jobs ORDER BY id)")" "done,done,queued" \
        "$d/q.db states before"
    # leave only the database file itself (no -wal/-shm/-lock), as after a clean close by its owner
    rm -f "$d/q.db-wal" "$d/q.db-shm" "$d/q.db-lock"
    chmod 444 "$d/q.db"
done
chmod 755 roA

check_unchanged() { # DB BEFORE_SHA WHAT
    local now
    now=$(sha "$1")
    [ "$now" = "$2" ] || fail "$3 changed $1 (sha256 expected $2, got $now)"
}

for d in roA roB; do
    db=$d/q.db
    before=$(sha "$db")
    for c in "jobs add hash in" "hash in" "worker" "jobs cancel 3" "jobs retry --failed" "jobs purge --state done"; do
        read -r -a words <<<"$c"
        n=1
        case "${words[0]}" in jobs) n=2 ;; esac
        run_as_nobody "${words[@]:0:n}" --db "$db" "${words[@]:n}"
        expect_rc 1 "uid 65534: mmpipe $c on read-only $db"
        err_has "$db" "uid 65534: mmpipe $c on read-only $db names the file"
        err_has_re 'read-only|readonly|permission' "uid 65534: mmpipe $c on read-only $db says why"
        check_unchanged "$db" "$before" "uid 65534: mmpipe $c"
    done

    for c in "status --json" "jobs list --json" "results export --kind hash --format jsonl"; do
        read -r -a words <<<"$c"
        n=1
        case "${words[0]}" in jobs | results) n=2 ;; esac
        run_as_nobody "${words[@]:0:n}" --db "$db" "${words[@]:n}"
        if [ "$RC" = 0 ]; then
            note "uid 65534: mmpipe $c on read-only $db works"
            case "$c" in
            status*)
                "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); h=d["jobs"]["hash"]; sys.exit(0 if (h["done"],h["queued"])==(2,1) else 1)' "$T/.out" ||
                    fail "uid 65534: status --json on $db: expected hash done 2, queued 1, got $(cat "$T/.out")" ;;
            jobs*)
                "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if len(d)==3 else 1)' "$T/.out" ||
                    fail "uid 65534: jobs list --json on $db: expected 3 jobs, got $(cat "$T/.out")" ;;
            results*)
                eq "$(wc -l <"$T/.out")" 2 "uid 65534: results export on $db: records" ;;
            esac
        else
            [ "$d" = roA ] || fail "uid 65534: mmpipe $c on read-only $db in a writable folder should work (exit 0, got $RC) $(shown)"
            expect_rc 1 "uid 65534: mmpipe $c on read-only $db"
            err_has "$db" "uid 65534: mmpipe $c on read-only $db names the file"
            note "uid 65534: mmpipe $c on read-only $db in a read-only folder fails: $(head -n1 "$T/.err")"
            out_empty "uid 65534: mmpipe $c on read-only $db (failed)"
        fi
        check_unchanged "$db" "$before" "uid 65534: mmpipe $c"
    done
    integrity "$db" "$db after the read-only attempts"
    eq "$(q "$db" "SELECT group_concat(state) FROM (SELECT state FROM jobs ORDER BY id)")" "done,done,queued" \
        "$db states after"
done

# The folder of a new database is not writable: a clear error, nothing created.
run_as_nobody jobs add --db roA/new.db hash in
expect_rc 1 "uid 65534: jobs add creating a database in a read-only folder"
err_has roA/new.db "uid 65534: jobs add in a read-only folder names the database"
[ ! -e roA/new.db ] || fail "roA/new.db was created"
echo "PASS: readonly_db"
