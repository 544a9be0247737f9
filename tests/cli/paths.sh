#!/usr/bin/env bash
# Awkward paths: spaces, newline, tab, CR, leading dash, quotes, commas, backslash,
# valid non-ASCII UTF-8, non-UTF-8 bytes, and 60 nested folders.
#  - `mmpipe hash DIR` and `jobs add hash` + `worker` hash every file correctly
#    (reference digests from python's hashlib over os.walk on bytes);
#  - `results export --format jsonl`: one valid UTF-8 JSON object per line; `path` has
#    U+FFFD for invalid bytes (as python's errors="replace"), `path_b64` decodes to the
#    exact bytes (present only for non-UTF-8 paths);
#  - `--format csv`: RFC 4180 (CRLF, header path,path_b64,sha256,kind,model,text,
#    finished_at,job_id), parsed by python's csv module, round-trips every path;
#  - `jobs list --json` gives path_b64 for the non-UTF-8 path;
#  - such paths given on the command line (after --) work too.
. "$(dirname "$0")/lib.sh" "$@"

mkdir w
"$PY" - <<'EOF' || fail "could not create the awkward files"
import os
names = [b"with space.txt", b"new\nline.txt", b"tab\there.txt", b"cr\rhere.txt", b"-dash.txt",
         b"--force", b"q\"uote'single.txt", b"com,ma.txt", b"back\\slash.txt",
         "\u00fcn\u00efc\u00f8d\u00e9 \u2713.txt".encode(), b"bad\xff\xfe.txt", b"trunc\xe2\x82.txt",
         b"surr\xed\xa0\x80.txt", b"empty", b'all ,"\n\r\t mixed \xc3.txt']
os.makedirs(b"w/sub dir, \"x\"", exist_ok=True)
for i, n in enumerate(names):
    with open(b"w/" + n, "wb") as f:
        if n != b"empty":
            f.write(b"content %d of %r\n" % (i, n))
    with open(b"w/sub dir, \"x\"/" + n, "wb") as f:
        f.write(b"nested copy %d\n" % i)
deep = b"w/deep"
for i in range(60):
    deep += b"/level %02d" % i
os.makedirs(deep)
with open(deep + b"/leaf\nfile.txt", "wb") as f:
    f.write(b"deep leaf\n")
EOF

# Reference: every regular file under w, as bytes, with its sha256.
cat >ref.py <<'EOF'
import hashlib, os, sys, json, base64
ref = {}
for root, dirs, files in os.walk(b"w"):
    for f in files:
        p = os.path.join(root, f)
        ref[p] = hashlib.sha256(open(p, "rb").read()).hexdigest()
json.dump({base64.b64encode(k).decode(): v for k, v in ref.items()}, open("ref.json", "w"))
print(len(ref))
EOF
nfiles=$("$PY" ref.py) || fail "reference hashing failed"
[ "$nfiles" -ge 30 ] || fail "expected at least 30 reference files, got $nfiles"

# ---- mmpipe hash DIR ----
run hash --db h.db w
expect_rc 0 "hash over awkward paths"
cp "$T/.out" hash.out
"$PY" - hash.out <<'EOF' || fail "hash output does not list every file with its digest"
import base64, json, sys
ref = {base64.b64decode(k): v for k, v in json.load(open("ref.json")).items()}
out = open(sys.argv[1], "rb").read()
missing = []
for p, h in ref.items():
    line = (h + "  ").encode() + p.decode("utf-8", "replace").encode() + b"\n"
    if line not in out:
        missing.append(p)
if missing:
    sys.exit("missing or wrong: %r" % missing[:5])
if out.count(b"\n") < len(ref):
    sys.exit("fewer lines than files")
EOF
integrity h.db "h.db"

# ---- jobs add + worker ----
run jobs add --db q.db hash w
expect_rc 0 "jobs add over awkward paths"
run worker --db q.db
expect_rc 0 "worker over awkward paths"
eq "$(q q.db "SELECT count(*) FROM jobs WHERE state='done'")" "$nfiles" "done jobs"
integrity q.db "q.db"
# the inputs table holds the exact bytes of every path
"$PY" - <<'EOF' || fail "inputs table paths differ from the files' paths"
import base64, json, sqlite3, sys
ref = {base64.b64decode(k): v for k, v in json.load(open("ref.json")).items()}
db = sqlite3.connect("file:q.db?mode=ro", uri=True)
got = {bytes(p): s for p, s in db.execute("SELECT i.path, r.text FROM inputs i JOIN results r ON r.job_id = i.job_id")}
if got != ref:
    sys.exit("differ: only in db %r, only on disk %r, wrong hash %r" % (
        sorted(set(got) - set(ref))[:3], sorted(set(ref) - set(got))[:3],
        [p for p in got if p in ref and got[p] != ref[p]][:3]))
EOF

# ---- JSONL export ----
run results export --db q.db --kind hash --format jsonl
expect_rc 0 "results export --format jsonl"
cp "$T/.out" export.jsonl
"$PY" - export.jsonl <<'EOF' || fail "JSONL export is wrong"
import base64, json, re, sys
ref = {base64.b64decode(k): v for k, v in json.load(open("ref.json")).items()}
raw = open(sys.argv[1], "rb").read()
if not raw.endswith(b"\n"):
    sys.exit("JSONL does not end with a newline")
lines = raw[:-1].split(b"\n")
seen = {}
for n, line in enumerate(lines, 1):
    try:
        rec = json.loads(line.decode("utf-8"))  # strict UTF-8
    except Exception as ex:
        sys.exit("line %d is not UTF-8 JSON: %s: %r" % (n, ex, line[:120]))
    for k in ("path", "sha256", "kind", "model", "text", "finished_at", "job_id"):
        if k not in rec:
            sys.exit("line %d lacks %s" % (n, k))
    if "path_b64" in rec:
        exact = base64.b64decode(rec["path_b64"], validate=True)
        try:
            exact.decode("utf-8")
            sys.exit("line %d: path_b64 given for a UTF-8 path %r" % (n, exact))
        except UnicodeDecodeError:
            pass
        if rec["path"] != exact.decode("utf-8", "replace"):
            sys.exit("line %d: path %r is not the U+FFFD form of %r" % (n, rec["path"], exact))
        if "\ufffd" not in rec["path"]:
            sys.exit("line %d: no U+FFFD in %r" % (n, rec["path"]))
    else:
        exact = rec["path"].encode("utf-8")
    if exact in seen:
        sys.exit("path %r exported twice" % exact)
    seen[exact] = rec
    if rec["kind"] != "hash" or rec["model"] != "":
        sys.exit("line %d: kind/model %r/%r" % (n, rec["kind"], rec["model"]))
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rec["finished_at"]):
        sys.exit("line %d: finished_at %r is not ISO 8601 UTC with ms" % (n, rec["finished_at"]))
    want = ref.get(exact)
    if want is None:
        sys.exit("line %d: unknown path %r" % (n, exact))
    if rec["sha256"] != want or rec["text"] != want:
        sys.exit("line %d: %r hash %s/%s, expected %s" % (n, exact, rec["sha256"], rec["text"], want))
if set(seen) != set(ref):
    sys.exit("paths missing from the export: %r" % sorted(set(ref) - set(seen))[:5])
nb64 = sum("path_b64" in r for r in seen.values())
if nb64 != 8:  # bad, trunc, surr, mixed: at top level and in the sub dir
    sys.exit("expected 8 records with path_b64, got %d" % nb64)
EOF

# ---- CSV export ----
run results export --db q.db --kind hash --format csv
expect_rc 0 "results export --format csv"
cp "$T/.out" export.csv
"$PY" - export.csv <<'EOF' || fail "CSV export is wrong"
import base64, csv, io, json, sys
ref = {base64.b64decode(k): v for k, v in json.load(open("ref.json")).items()}
raw = open(sys.argv[1], "rb").read()
if not raw.startswith(b"path,path_b64,sha256,kind,model,text,finished_at,job_id\r\n"):
    sys.exit("bad header: %r" % raw[:80])
if not raw.endswith(b"\r\n"):
    sys.exit("CSV does not end with CRLF")
text = raw.decode("utf-8")  # strict
class RFC4180(csv.Dialect):
    delimiter, quotechar, doublequote, skipinitialspace = ",", '"', True, False
    lineterminator, quoting, strict = "\r\n", csv.QUOTE_MINIMAL, True
rows = list(csv.reader(io.StringIO(text, newline=""), dialect=RFC4180))
header, rows = rows[0], rows[1:]
if header != ["path", "path_b64", "sha256", "kind", "model", "text", "finished_at", "job_id"]:
    sys.exit("header %r" % header)
seen = set()
for r in rows:
    if len(r) != 8:
        sys.exit("row with %d fields: %r" % (len(r), r))
    path, b64, sha, kind, model, txt, when, jid = r
    exact = base64.b64decode(b64, validate=True) if b64 else path.encode("utf-8")
    if b64 and path != exact.decode("utf-8", "replace"):
        sys.exit("path %r is not the U+FFFD form of %r" % (path, exact))
    if exact not in ref:
        sys.exit("unknown path %r (round trip broken?)" % exact)
    if sha != ref[exact] or txt != ref[exact] or kind != "hash" or model != "" or not jid.isdigit():
        sys.exit("bad row %r" % r)
    seen.add(exact)
if seen != set(ref):
    sys.exit("paths missing from the CSV: %r" % sorted(set(ref) - seen)[:5])
for special in (b"w/new\nline.txt", b"w/com,ma.txt", b"w/q\"uote'single.txt", b"w/cr\rhere.txt"):
    if special not in seen:
        sys.exit("%r did not round-trip" % special)
EOF

# ---- jobs list --json ----
run jobs list --db q.db --json
expect_rc 0 "jobs list --json"
cp "$T/.out" list.json
"$PY" - list.json <<'EOF' || fail "jobs list --json is wrong for awkward paths"
import base64, json, sys
jobs = json.load(open(sys.argv[1], encoding="utf-8"))
bad = [j for j in jobs if "path_b64" in j]
exact = {base64.b64decode(j["path_b64"]) for j in bad}
if b"w/bad\xff\xfe.txt" not in exact:
    sys.exit("w/bad\\xff\\xfe.txt has no path_b64 in jobs list: %r" % exact)
for j in bad:
    if j["path"] != base64.b64decode(j["path_b64"]).decode("utf-8", "replace"):
        sys.exit("path %r vs path_b64 %r" % (j["path"], j["path_b64"]))
EOF

# ---- the same paths named on the command line ----
run hash --db c.db -- "w/-dash.txt" "w/--force" $'w/new\nline.txt' $'w/bad\xff\xfe.txt' "w/com,ma.txt"
expect_rc 0 "hash with awkward paths on the command line"
for p in "w/-dash.txt" "w/--force" $'w/new\nline.txt' "w/com,ma.txt"; do
    grep -qF "$(sha "$p")" "$T/.out" || fail "hash on the command line: no digest for '$p' $(shown)"
done
grep -qF "$(sha $'w/bad\xff\xfe.txt')  w/bad"$'\xef\xbf\xbd\xef\xbf\xbd'".txt" "$T/.out" ||
    fail "hash on the command line: no U+FFFD line for w/bad\\xff\\xfe.txt"
eq "$(q c.db "SELECT count(*) FROM jobs WHERE state='done'")" 5 "done jobs for the command-line paths"
echo "PASS: paths ($nfiles files)"
