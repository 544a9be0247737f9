#!/usr/bin/env bash
# Exit codes and usage contracts: 2 for usage errors (no args, unknown command,
# subcommand or option, an option a command does not take, a missing or bad option
# value, a bad kind, bad ids), 0 for help; usage errors create no database;
# `jobs cancel 999` is 1 with "no such job"; mmpipe.json supplies defaults, flags
# override it, --config FILE too; a malformed or unknown-key config is 1 naming the file.
. "$(dirname "$0")/lib.sh" "$@"

mkdir in
echo x >in/x

run
expect_rc 2 "mmpipe with no arguments"
[ -s "$T/.err" ] || fail "mmpipe with no arguments: usage on stderr expected"
run frobnicate
expect_rc 2 "unknown command"
err_has frobnicate "unknown command named"

run help
expect_rc 0 "mmpipe help"
for c in hash jobs worker status results bench; do
    grep -qE "^ +$c " "$T/.out" || fail "mmpipe help does not list '$c' (got: $(tr '\n' '|' <"$T/.out"))"
done
run --help
expect_rc 0 "mmpipe --help"

for c in hash jobs worker status results bench "jobs add" "jobs list" "jobs cancel" "jobs retry" "jobs purge" "results export" "bench queue"; do
    read -r -a words <<<"$c"
    run "${words[@]}" --help
    expect_rc 0 "mmpipe $c --help"
    grep -qi usage "$T/.out" || fail "mmpipe $c --help: no usage text on stdout"
    [ ! -e mmpipe.db ] || fail "mmpipe $c --help created mmpipe.db"
done
run help worker
expect_rc 0 "mmpipe help worker"
grep -q "mmpipe worker" "$T/.out" || fail "mmpipe help worker: worker usage expected"

usage() { # WHAT ARGS...
    local what=$1
    shift
    run "$@"
    expect_rc 2 "$what"
    [ -s "$T/.err" ] || fail "$what: a message on stderr expected"
    [ ! -e mmpipe.db ] || fail "$what: created mmpipe.db"
}
usage "unknown option (status)" status --bogus
usage "unknown option (worker)" worker --frob
usage "unknown option (jobs add)" jobs add --nope hash in
usage "unknown short option" status -Z
usage "option not taken by status" status --force
usage "option not taken by jobs list" jobs list --follow
usage "--db without a value" status --db
usage "-j 0" worker -j 0
usage "-j abc" worker -j abc
usage "--lease nonsense" worker --lease soon
usage "--state bogus" jobs list --state bogus
usage "--sync bogus" worker --sync SOMETIMES
usage "--max-attempts 0" jobs add --max-attempts 0 hash in
usage "jobs without subcommand" jobs
usage "jobs frobnicate" jobs frobnicate
usage "jobs add nosuchkind" jobs add nosuchkind in/x
usage "jobs add without paths" jobs add hash
usage "jobs add without anything" jobs add
usage "hash without paths" hash
usage "jobs cancel without ids" jobs cancel
usage "jobs cancel abc" jobs cancel abc
usage "jobs cancel 0" jobs cancel 0
usage "jobs cancel -5" jobs cancel -- -5
usage "jobs retry without ids" jobs retry
usage "jobs retry --failed with ids" jobs retry --failed 3
usage "jobs purge without --state" jobs purge
usage "jobs purge --state queued" jobs purge --state queued
usage "jobs purge --state running" jobs purge --state running
usage "jobs list with an argument" jobs list extra
usage "status with an argument" status extra
usage "worker with an argument" worker extra
usage "bench without a benchmark" bench
usage "bench frobnicate" bench frobnicate
run jobs add nosuchkind in/x
err_has nosuchkind "jobs add nosuchkind names the kind"
err_has hash "jobs add nosuchkind lists the kinds this build runs"

# commands on a database that does not exist yet
run status
expect_rc 1 "status without a database"
err_has mmpipe.db "status without a database names it"
[ ! -e mmpipe.db ] || fail "status created mmpipe.db"

run jobs add --quiet hash in
expect_rc 0 "jobs add"
run jobs cancel 999
expect_rc 1 "jobs cancel 999"
err_has "no such job" "jobs cancel 999"
err_has 999 "jobs cancel 999 names the id"
run jobs retry 999
expect_rc 1 "jobs retry 999"
err_has "no such job" "jobs retry 999"
run jobs cancel 1
expect_rc 0 "jobs cancel 1"
run jobs cancel 1
expect_rc 1 "jobs cancel 1 again (already cancelled)"
run jobs cancel 1 999
expect_rc 1 "jobs cancel 1 999"
run jobs retry 1
expect_rc 0 "jobs retry 1 (cancelled -> queued)"
eq "$(q mmpipe.db 'SELECT state FROM jobs WHERE id=1')" queued "job 1 after retry"
run worker --quiet
expect_rc 0 "worker"
run jobs retry 1
expect_rc 1 "jobs retry of a done job"
run jobs cancel 1
expect_rc 1 "jobs cancel of a done job"
eq "$(q mmpipe.db 'SELECT state FROM jobs WHERE id=1')" done "job 1 after refused retry/cancel"
run worker
expect_rc 0 "worker with nothing to do"

# ---- mmpipe.json and --config ----
mkdir cfg
cd cfg || fail "cd cfg"
echo '{"db": "other.db", "quiet": true}' >mmpipe.json
run jobs add hash ../in
expect_rc 0 "jobs add with mmpipe.json {db: other.db}"
[ -f other.db ] || fail "mmpipe.json's db was not used (other.db missing)"
[ ! -e mmpipe.db ] || fail "mmpipe.json's db ignored: mmpipe.db created"
[ ! -s "$T/.err" ] || fail "mmpipe.json quiet:true ignored: $(shown)"
run jobs add --db flag.db hash ../in
expect_rc 0 "jobs add --db flag.db with mmpipe.json"
[ -f flag.db ] || fail "--db did not override mmpipe.json"
eq "$(q other.db 'SELECT count(*) FROM jobs')" 1 "other.db jobs"
echo '{"db": "fromconfig.db"}' >alt.json
run status --config alt.json
expect_rc 1 "status --config alt.json (fromconfig.db does not exist yet)"
err_has fromconfig.db "--config alt.json's db was not used"
run jobs add --config alt.json --db flag2.db --quiet hash ../in
expect_rc 0 "jobs add --config alt.json --db flag2.db"
[ -f flag2.db ] && [ ! -e fromconfig.db ] || fail "--db did not override --config's db"
run status --config missing.json
expect_rc 1 "--config with a missing file"
err_has missing.json "--config with a missing file names it"
echo '{"workers": 2, "lease": 5, "max-attempts": 4}' >mmpipe.json
run jobs add --db n.db --quiet hash ../in
expect_rc 0 "mmpipe.json with numbers"
eq "$(q n.db 'SELECT max_attempts FROM jobs')" 4 "max-attempts from mmpipe.json"
run jobs add --db n2.db --quiet --max-attempts 7 hash ../in
eq "$(q n2.db 'SELECT max_attempts FROM jobs')" 7 "--max-attempts overrides mmpipe.json"
echo '{"db": "broken.db",' >mmpipe.json
run status
expect_rc 1 "malformed mmpipe.json"
err_has mmpipe.json "malformed mmpipe.json named"
[ ! -e broken.db ] || fail "malformed mmpipe.json: broken.db created"
run jobs add hash ../in
expect_rc 1 "jobs add with a malformed mmpipe.json"
err_has mmpipe.json "jobs add: malformed mmpipe.json named"
echo '[1, 2]' >mmpipe.json
run status
expect_rc 1 "mmpipe.json that is not an object"
err_has mmpipe.json "mmpipe.json that is not an object named"
echo '{"frobnicate": 1}' >mmpipe.json
run status
expect_rc 1 "mmpipe.json with an unknown setting"
err_has mmpipe.json "mmpipe.json with an unknown setting named"
err_has frobnicate "mmpipe.json with an unknown setting names the key"
echo '{"workers": "many"}' >mmpipe.json
run worker
expect_rc 1 "mmpipe.json with a bad value"
err_has mmpipe.json "mmpipe.json with a bad value named"
head -c 300 /dev/urandom >mmpipe.json
run status
expect_rc 1 "mmpipe.json of random bytes"
err_has mmpipe.json "mmpipe.json of random bytes named"
rm mmpipe.json
mkdir mmpipe.json
run status --db other.db
expect_rc 1 "mmpipe.json that is a folder"
err_has mmpipe.json "mmpipe.json that is a folder named"
echo "PASS: exit_codes"
