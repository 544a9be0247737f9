#!/usr/bin/env bash
# Inputs that are missing or unreadable.
#  - A path on the command line that does not exist: exit 1, the message names it,
#    nothing is queued (not even the paths that do exist), for `jobs add` and `hash`.
#  - Run as uid 65534: an unreadable file (chmod 000) and an unreadable subfolder inside
#    a folder: exit 3, each becomes a failed job keyed by its path with an error
#    (jobs list --state failed --json), the other files are done.  After chmod 644 the
#    same user's re-run makes the file's job succeed (exit 3 still: the folder is
#    still unreadable), and the failed path-keyed job of the file is gone.
. "$(dirname "$0")/lib.sh" "$@"

chmod 777 "$T"
mkdir -p tree/sub tree/ok
echo "readable a" >tree/a
echo "readable ok/b" >tree/ok/b
echo "secret" >tree/secret.txt
echo "inside" >tree/sub/inside
chmod -R a+rwX tree

# ---- missing paths ----
run jobs add --db m.db hash tree/a "no such folder"
expect_rc 1 "jobs add with a missing path"
err_has "no such folder" "jobs add with a missing path names it"
err_has_re "no such file|not found|does not exist" "jobs add with a missing path says why"
if [ -e m.db ]; then
    eq "$(q m.db 'SELECT count(*) FROM jobs')" 0 "jobs queued by an enqueue with a missing path"
fi
run hash --db m.db "no such folder" tree
expect_rc 1 "hash with a missing path"
err_has "no such folder" "hash with a missing path names it"
if [ -e m.db ]; then
    eq "$(q m.db 'SELECT count(*) FROM jobs')" 0 "jobs queued by hash with a missing path"
fi
run jobs add --db m.db hash "$T/gone/deeper/x"
expect_rc 1 "jobs add with a missing absolute path"
err_has "$T/gone/deeper/x" "jobs add with a missing absolute path names it"
# A dangling symlink named on the command line
ln -s "$T/nowhere" dangling
run jobs add --db m.db hash dangling
expect_rc 1 "jobs add with a dangling symlink"
err_has dangling "jobs add with a dangling symlink names it"

# ---- unreadable file and folder, as an unprivileged user ----
chmod 000 tree/secret.txt tree/sub
run_as_nobody hash --db u.db tree
expect_rc 3 "uid 65534: hash over a folder with an unreadable file and subfolder"
err_has tree/secret.txt "hash: the unreadable file is reported"
err_has tree/sub "hash: the unreadable folder is reported"
grep -qF "$(sha tree/a)  tree/a" "$T/.out" || fail "hash: tree/a's digest missing from stdout (got $(tr '\n' '|' <"$T/.out"))"
grep -qF "$(sha tree/ok/b)  tree/ok/b" "$T/.out" || fail "hash: tree/ok/b's digest missing from stdout"

run_as_nobody jobs list --db u.db --state failed --json
expect_rc 0 "jobs list --state failed --json"
cp "$T/.out" failed.json
"$PY" - failed.json <<'EOF' || fail "failed jobs listed wrongly: $(tr '\n' ' ' <failed.json)"
import json, sys
jobs = json.load(open(sys.argv[1]))
by_path = {j["path"]: j for j in jobs}
want = {"tree/secret.txt", "tree/sub"}
if set(by_path) != want:
    sys.exit("failed paths %r, expected %r" % (sorted(by_path), sorted(want)))
for p, j in by_path.items():
    if j["state"] != "failed":
        sys.exit("%s: state %s" % (p, j["state"]))
    if not j.get("error") or "ermission" not in j["error"]:
        sys.exit("%s: error %r should say permission denied" % (p, j.get("error")))
EOF
eq "$(q u.db "SELECT count(*) FROM jobs WHERE state='done'")" 2 "done jobs (tree/a, tree/ok/b)"
eq "$(q u.db "SELECT count(*) FROM jobs")" 4 "jobs in all"
integrity u.db "after the unreadable run"

# the same run again: no new jobs, still exit 3, no duplicates of the failures
run_as_nobody jobs add --db u.db hash tree
expect_rc 3 "uid 65534: re-adding the folder with unreadable inputs"
eq "$(q u.db "SELECT count(*) FROM jobs")" 4 "jobs after re-adding (no duplicates)"

# the file becomes readable: its job succeeds, the path-keyed failure goes away
chmod 644 tree/secret.txt
run_as_nobody hash --db u.db tree
expect_rc 3 "uid 65534: re-run after chmod 644 (the subfolder is still unreadable)"
grep -qF "$(sha tree/secret.txt)  tree/secret.txt" "$T/.out" ||
    fail "after chmod 644: tree/secret.txt's digest missing from hash output (got $(tr '\n' '|' <"$T/.out"))"
run_as_nobody jobs list --db u.db --state failed --json
"$PY" -c 'import json,sys; p=sorted(j["path"] for j in json.load(open(sys.argv[1]))); sys.exit(0 if p==["tree/sub"] else "failed paths %r, expected [tree/sub]" % p)' "$T/.out" ||
    fail "after chmod 644 only tree/sub should be failed: $(tr '\n' ' ' <"$T/.out")"
eq "$(q u.db "SELECT j.state || ' ' || j.sha256 FROM inputs i JOIN jobs j ON j.id = i.job_id WHERE CAST(i.path AS TEXT) = 'tree/secret.txt'")" \
    "done $(sha tree/secret.txt)" "tree/secret.txt's job after chmod 644"
eq "$(q u.db "SELECT count(*) FROM inputs WHERE CAST(path AS TEXT) = 'tree/secret.txt'")" 1 "inputs rows of tree/secret.txt"
integrity u.db "after the re-run"

# and the folder too: everything done, exit 0
chmod 755 tree/sub
chmod 644 tree/sub/inside
run_as_nobody hash --db u.db tree
expect_rc 0 "uid 65534: re-run with everything readable"
eq "$(q u.db "SELECT count(*) FROM jobs WHERE state='failed'")" 0 "failed jobs when all is readable"
eq "$(q u.db "SELECT count(*) FROM jobs WHERE state='done'")" 4 "done jobs when all is readable"
echo "PASS: inputs"
