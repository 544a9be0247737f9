#!/usr/bin/env bash
# Options after the positional arguments, as the usage texts write them
# ("mmpipe hash PATH... [-j N] [--force]", "mmpipe jobs add KIND PATH... --db X"):
# they must be taken as options, not as paths; `--` still ends the options.
. "$(dirname "$0")/lib.sh" "$@"
mkdir in
echo one >in/a
echo two >in/b
run jobs add hash in --db after.db --quiet
expect_rc 0 "jobs add hash in --db after.db"
[ -f after.db ] || fail "jobs add hash in --db after.db: --db after the path was ignored"
[ ! -e mmpipe.db ] || fail "jobs add hash in --db after.db: used ./mmpipe.db"
run hash in -j 2 --db after.db
expect_rc 0 "hash in -j 2 --db after.db"
grep -qF "$(sha in/a)  in/a" "$T/.out" || fail "hash in -j 2: no digest for in/a $(shown)"
run hash in/a --force --db after.db
expect_rc 0 "hash in/a --force"
run jobs list --db after.db --json
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if len(j)==2 else "jobs: %d" % len(j))' "$T/.out" ||
    fail "after 'hash in/a --force': expected 2 jobs, no job for a path named --force"
run jobs cancel 1 --db after.db
expect_rc 1 "jobs cancel 1 --db after.db (done already: the db after the id was used)"
err_has "done" "jobs cancel 1 --db after.db: job 1 of after.db is done (stderr should say so)"
# `--` ends the options: a file named --force is a path
echo three >./--force
run hash --db dash.db -- --force
expect_rc 0 "hash -- --force"
grep -qF "$(sha ./--force)  --force" "$T/.out" || fail "hash -- --force: no digest for the file named --force $(shown)"
echo "PASS: arg_order"
