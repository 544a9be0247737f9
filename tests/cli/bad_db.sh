#!/usr/bin/env bash
# Databases mmpipe must refuse: not SQLite (random bytes, text), an SQLite file of
# another application (tables, no mmpipe schema; or another application_id), a newer
# schema (PRAGMA user_version=99).  Every command exits 1, stdout stays empty,
# stderr names the file and the reason, and the file is left byte-for-byte unchanged.
# Also: an empty file (a valid empty SQLite database) is initialised by writers and
# refused with "not initialised" by readers; a missing file is not created by readers.
. "$(dirname "$0")/lib.sh" "$@"

mkdir in
echo one >in/a
echo two >in/b

head -c 65536 /dev/urandom >random.db
printf 'this is a text file,\nnot a database\n' >text.db
sqlite3 other.db "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes(body) VALUES('keep me');"
sqlite3 otherwal.db "PRAGMA journal_mode=WAL; CREATE TABLE notes(x); INSERT INTO notes VALUES(1);" >/dev/null
sqlite3 appid.db "PRAGMA application_id=305419896; CREATE TABLE t(x); INSERT INTO t VALUES(1);"
sqlite3 appid_empty.db "PRAGMA application_id=305419896;"
run jobs add --db newer.db --quiet hash in
expect_rc 0 "creating newer.db"
sqlite3 newer.db 'PRAGMA user_version=99' || fail "sqlite3 could not set user_version"
eq "$(q newer.db 'PRAGMA user_version')" 99 "newer.db user_version"
# The same newer schema in a rollback-journal database (as another tool might leave it).
cp newer.db newer_delete.db
sqlite3 newer_delete.db 'PRAGMA journal_mode=DELETE' >/dev/null

commands=(
    "jobs add hash in"
    "hash in"
    "worker"
    "status"
    "status --json"
    "jobs list"
    "jobs list --json"
    "jobs cancel 1"
    "jobs retry --failed"
    "jobs purge --state done"
    "results list"
    "results export --kind hash --format jsonl"
    "results export --kind hash --format csv"
)

check_db() { # FILE REASON_REGEX
    local db=$1 reason=$2 before after c
    before=$(sha "$db")
    for c in "${commands[@]}"; do
        read -r -a words <<<"$c"
        # options go right after the (sub)command words: "jobs add --db X hash in"
        local n=1
        case "${words[0]}" in jobs | results) n=2 ;; esac
        run "${words[@]:0:n}" --db "$db" "${words[@]:n}"
        expect_rc 1 "mmpipe $c on $db"
        err_has "$db" "mmpipe $c on $db: error names the file"
        err_has_re "$reason" "mmpipe $c on $db: error gives the reason"
        out_empty "mmpipe $c on $db"
        after=$(sha "$db")
        [ "$before" = "$after" ] || fail "mmpipe $c changed $db (sha256 expected $before, got $after)"
    done
}

check_db random.db 'not an (mmpipe|sqlite)|not a database'
check_db text.db 'not an (mmpipe|sqlite)|not a database'
check_db appid.db 'another application|not an mmpipe database'
check_db appid_empty.db 'another application|not an mmpipe database'
check_db otherwal.db 'other tables|not an mmpipe database'
check_db newer.db 'newer|version 99'
eq "$(q otherwal.db 'SELECT count(*) FROM notes')" 1 "otherwal.db still holds its row"
# Rollback-journal files: opening them must not switch them to WAL (that rewrites the header).
check_db other.db 'other tables|not an mmpipe database'
eq "$(q other.db 'PRAGMA journal_mode')" delete "other.db journal mode after mmpipe refused it"
check_db newer_delete.db 'newer|version 99'

# Empty file: readers refuse it (not initialised), unchanged; a writer initialises it.
: >empty.db
for c in "status" "jobs list" "results export --kind hash --format jsonl"; do
    read -r -a words <<<"$c"
    n=1
    case "${words[0]}" in jobs | results) n=2 ;; esac
    run "${words[@]:0:n}" --db empty.db "${words[@]:n}"
    expect_rc 1 "mmpipe $c on an empty file"
    err_has empty.db "mmpipe $c on an empty file names it"
    [ ! -s empty.db ] || fail "mmpipe $c wrote into the empty file empty.db"
done
run jobs add --db empty.db --quiet hash in
expect_rc 0 "jobs add on an empty file (an empty SQLite database) initialises it"
eq "$(q empty.db 'PRAGMA user_version')" 2 "empty.db schema version after jobs add"
eq "$(q empty.db 'SELECT count(*) FROM jobs')" 2 "empty.db jobs after jobs add"
integrity empty.db "empty.db"

# A missing database: readers do not create it.
for c in "status" "jobs list" "results export --kind hash --format csv"; do
    read -r -a words <<<"$c"
    n=1
    case "${words[0]}" in jobs | results) n=2 ;; esac
    run "${words[@]:0:n}" --db missing.db "${words[@]:n}"
    expect_rc 1 "mmpipe $c on a missing database"
    err_has missing.db "mmpipe $c on a missing database names it"
    [ ! -e missing.db ] || fail "mmpipe $c created missing.db"
done

# A database path that is a folder.
mkdir dir.db
run jobs add --db dir.db hash in
expect_rc 1 "jobs add with --db naming a folder"
err_has dir.db "jobs add with --db naming a folder names it"
run status --db dir.db
expect_rc 1 "status with --db naming a folder"
err_has dir.db "status with --db naming a folder names it"
echo "PASS: bad_db"
