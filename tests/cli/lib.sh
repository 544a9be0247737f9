# tests/cli/lib.sh — sourced by every tests/cli/*.sh script (not a test itself).
#
# Usage in a script:   . "$(dirname "$0")/lib.sh" "$@"
# Gives: $MM (absolute path of the mmpipe binary), $T (scratch dir, removed on exit,
# the working directory), fail/skip/note, run/run_as_nobody (stdout in $T/.out,
# stderr in $T/.err, exit code in $RC), expectations, and small sqlite/sha helpers.
set -u

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
    echo "FAIL: usage: $0 PATH/TO/mmpipe (got '${1:-}')" >&2
    exit 1
fi
MM=$(readlink -f "$1")
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 CLI not installed"; exit 77; }
[ -n "$PY" ] || { echo "SKIP: python3 not installed"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/mmpipe-cli.XXXXXX") || { echo "FAIL: mktemp -d" >&2; exit 1; }
MOUNTS=""
cleanup() {
    cd / || true
    for m in $MOUNTS; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    chmod -R u+rwX "$T" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 1
# No mmpipe.json from anywhere else: each test runs in its own scratch dir.

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
skip() {
    echo "SKIP: $*"
    exit 77
}
note() { echo "NOTE: $*"; }

# Shows what mmpipe printed (for failure messages).
shown() { printf '[stderr: %s]' "$(head -c 1500 "$T/.err" | tr '\n' '|')"; }

run() {
    "$MM" "$@" >"$T/.out" 2>"$T/.err"
    RC=$?
}

# As an unprivileged user (root ignores permissions).  Outside root we already are one.
AS_NOBODY=""
if [ "$(id -u)" = 0 ]; then
    command -v setpriv >/dev/null || skip "setpriv (util-linux) not installed"
    AS_NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
fi
run_as_nobody() {
    $AS_NOBODY "$MM" "$@" >"$T/.out" 2>"$T/.err"
    RC=$?
}

# expect_rc WANT WHAT
expect_rc() {
    [ "$RC" = "$1" ] || fail "$2: exit code (expected $1, got $RC) $(shown)"
}
# err_has FIXED_STRING WHAT — stderr contains the string (case-insensitive)
err_has() {
    grep -qiF -- "$1" "$T/.err" || fail "$2: stderr should mention '$1' $(shown)"
}
# err_has_re EXTENDED_REGEX WHAT
err_has_re() {
    grep -qiE -- "$1" "$T/.err" || fail "$2: stderr should match /$1/ $(shown)"
}
out_empty() {
    [ ! -s "$T/.out" ] || fail "$1: stdout should be empty (got: $(head -c 300 "$T/.out" | tr '\n' '|'))"
}

sha() { sha256sum <"$1" | cut -d" " -f1; }

# q DB SQL — one sqlite3 query, fails the test if sqlite3 itself fails.
q() {
    local out
    out=$(sqlite3 "$1" "$2" 2>&1) || fail "sqlite3 $1 '$2' failed: $out"
    printf '%s\n' "$out"
}
# eq GOT WANT WHAT
eq() {
    [ "$1" = "$2" ] || fail "$3 (expected '$2', got '$1')"
}

# integrity DB — PRAGMA integrity_check is ok and the queue invariants hold:
# a job is done iff it has exactly one result; no running job without a lease owner.
integrity() {
    local db=$1 what=$2
    eq "$(q "$db" 'PRAGMA integrity_check')" ok "$what: integrity_check"
    eq "$(q "$db" "SELECT count(*) FROM jobs WHERE state='done' AND id NOT IN (SELECT job_id FROM results)")" 0 \
        "$what: done jobs without a result"
    eq "$(q "$db" "SELECT count(*) FROM results WHERE job_id NOT IN (SELECT id FROM jobs WHERE state='done')")" 0 \
        "$what: results of jobs that are not done"
    eq "$(q "$db" "SELECT count(*) FROM inputs WHERE job_id NOT IN (SELECT id FROM jobs)")" 0 \
        "$what: inputs pointing at no job"
}
