#!/usr/bin/env bash
# `mmpipe ingest` and `mmpipe search` through the real binary, with the random-weight
# embedding model committed under samples/models (search quality then comes from BM25, so
# the planted passages use words no other chunk has).  Checks, with sqlite3 and python3:
#   - a folder of .md/.html/.txt/.pdf (+ an encrypted PDF, a picture and a recording):
#     every document gets chunks with vectors and FTS rows; the encrypted PDF is a failed job
#     naming the file and the reason (exit 3); picture and recording are skipped, with a note;
#     Markdown chunks carry their heading path and a byte span that holds their text; PDF
#     chunks their page; a long text is cut into chunks under the token budget that overlap;
#   - a second run with nothing changed does no model work and leaves every row as it was;
#   - add, change, rename, copy and delete files: the documents, chunks and vectors tables
#     follow exactly (a rename keeps the chunk ids, a copy embeds nothing);
#   - vectors are unit length; two files with the same text get the same vector (cosine 1);
#   - search finds the planted passage first for its question, in text and JSON modes (JSON on
#     one line, compact);
#   - a database of schema version 1 is migrated.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"
E=$HERE/../../samples/models/embed-tiny.gguf
[ -f "$E" ] || skip "the embedding model samples/models/embed-tiny.gguf is missing"
DATA=$HERE/../data/document
[ -f "$DATA/pages.pdf" ] && [ -f "$DATA/encrypted.pdf" ] || skip "tests/data/document PDFs missing"
DB=r.db
ing() { run ingest --db "$DB" --embed-model "$E" "$@"; }
rows() { q "$DB" "SELECT CAST(d.path AS TEXT), c.id, c.seq, v.model FROM documents d JOIN chunks c ON c.document_id = d.id JOIN vectors v ON v.chunk_id = c.id ORDER BY 1, 3"; }
# consistency: every chunk has a vector and an FTS row, nothing points at a missing row
consistent() {
    eq "$(q "$DB" "SELECT count(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)")" 0 "$1: orphan chunks"
    eq "$(q "$DB" "SELECT count(*) FROM vectors WHERE chunk_id NOT IN (SELECT id FROM chunks)")" 0 "$1: orphan vectors"
    eq "$(q "$DB" "SELECT count(*) FROM chunks WHERE id NOT IN (SELECT chunk_id FROM vectors)")" 0 "$1: chunks without a vector"
    eq "$(q "$DB" "SELECT count(*) FROM chunks_fts")" "$(q "$DB" "SELECT count(*) FROM chunks")" "$1: FTS rows"
    q "$DB" "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('integrity-check', 1)" >/dev/null
    eq "$(q "$DB" "SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = d.id)")" 0 \
        "$1: documents without chunks"
    integrity "$DB" "$1"
}

mkdir -p docs/sub
cat >docs/notes.md <<'EOF'
# Notes

Some opening words about nothing in particular.

## Lighthouse

The marmalade lighthouse keeper counts seventeen herons every Tuesday.

## Garden

Beans and peas grow beside the shed.
EOF
cat >docs/sub/guide.html <<'EOF'
<!doctype html><html><head><title>Guide</title></head><body>
<h1>Travel guide</h1><p>The funicular to the glacier leaves from platform nine.</p>
<h2>Food</h2><p>Try the chestnut dumplings at the harbour.</p></body></html>
EOF
printf 'Plain text about quartz and feldspar crystals.\n' >docs/plain.txt
$PY - <<'EOF' >docs/long.txt
print(" ".join("w%04d" % i for i in range(1500)))
EOF
$PY -c 'print("漢字かな" * 600)' >docs/cjk.txt
cp "$DATA/pages.pdf" docs/pages.pdf
cp "$DATA/encrypted.pdf" docs/locked.pdf
printf '\xff\xd8\xff\xe0 not really a jpeg' >docs/photo.jpg
printf 'ID3 not really an mp3' >docs/song.mp3

# ---- first run ----
ing docs
expect_rc 3 "first ingest (the encrypted PDF fails)"
err_has "locked.pdf" "the failed PDF is named"
err_has "encrypted" "the failure says why"
err_has "2 images/recordings skipped" "pictures and recordings are left to caption/transcribe"
eq "$(q "$DB" "SELECT CAST(path AS TEXT) FROM documents ORDER BY 1" | tr '\n' ' ')" \
    "docs/cjk.txt docs/long.txt docs/notes.md docs/pages.pdf docs/plain.txt docs/sub/guide.html " "documents after run 1"
eq "$(q "$DB" "SELECT state FROM jobs j JOIN inputs i ON i.job_id = j.id WHERE CAST(i.path AS TEXT) = 'docs/locked.pdf'")" \
    failed "the encrypted PDF's job"
eq "$(q "$DB" "SELECT count(*) FROM inputs WHERE CAST(path AS TEXT) IN ('docs/photo.jpg', 'docs/song.mp3')")" 0 \
    "no ingest job for the picture and the recording"
consistent "run 1"
eq "$(q "$DB" "SELECT count(DISTINCT model) FROM vectors")" 1 "one embedding model"
eq "$(q "$DB" "SELECT model FROM vectors LIMIT 1")" "$(q "$DB" "SELECT model FROM jobs WHERE kind='ingest' LIMIT 1")" \
    "vectors carry the job's model identity"

# Markdown: heading path and a byte span holding the chunk's text
span=$(q "$DB" "SELECT c.byte_start || ' ' || c.byte_end || ' ' || c.heading FROM chunks c JOIN documents d ON d.id = c.document_id
                WHERE CAST(d.path AS TEXT) = 'docs/notes.md' AND c.text LIKE '%seventeen herons%'")
read -r s e h <<<"$span"
eq "$h" "Notes > Lighthouse" "heading path of the planted chunk"
got=$(dd if=docs/notes.md bs=1 skip="$s" count=$((e - s)) 2>/dev/null)
eq "$got" "The marmalade lighthouse keeper counts seventeen herons every Tuesday." "bytes $s-$e of notes.md"
eq "$(q "$DB" "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE CAST(d.path AS TEXT) = 'docs/notes.md'")" 3 \
    "notes.md: one chunk per section"
# PDF: pages, no byte span
eq "$(q "$DB" "SELECT group_concat(c.page) FROM chunks c JOIN documents d ON d.id = c.document_id
               WHERE CAST(d.path AS TEXT) = 'docs/pages.pdf' AND c.byte_start IS NULL ORDER BY c.seq")" "1,2,4" "pages.pdf chunk pages"
# long text: several chunks under the budget, each starting with the last words of the previous one
q "$DB" "SELECT c.n_tokens || ' ' || c.text FROM chunks c JOIN documents d ON d.id = c.document_id
         WHERE CAST(d.path AS TEXT) = 'docs/long.txt' ORDER BY c.seq" >long.rows
$PY - long.rows <<'EOF' || fail "long.txt chunking (see above)"
import sys
rows = [l.rstrip("\n").split(" ") for l in open(sys.argv[1])]
assert len(rows) >= 4, "expected >= 4 chunks, got %d" % len(rows)
seen = []
for i, r in enumerate(rows):
    assert int(r[0]) <= 256, "chunk %d has %s tokens" % (i, r[0])
    words = r[1:]
    if i:
        prev = rows[i - 1][1:]
        k = next((k for k in range(1, len(words)) if words[k] not in prev), len(words))
        assert 1 <= k < len(words) and words[:k] == prev[-k:], "chunk %d does not start with the end of chunk %d" % (i, i - 1)
        seen += words[k:]
    else:
        seen += words
assert seen == ["w%04d" % i for i in range(1500)], "chunks minus overlap are not the text"
EOF

# text without spaces (CJK) is cut on character boundaries under the budget, nothing lost
q "$DB" "SELECT c.n_tokens || ' ' || c.text FROM chunks c JOIN documents d ON d.id = c.document_id
         WHERE CAST(d.path AS TEXT) = 'docs/cjk.txt' ORDER BY c.seq" >cjk.rows
$PY - cjk.rows <<'EOF' || fail "cjk.txt chunking (see above)"
import sys
rows = [l.rstrip("\n").split(" ", 1) for l in open(sys.argv[1], encoding="utf-8")]
assert len(rows) >= 4 and all(int(n) <= 256 for n, _ in rows), [n for n, _ in rows]
assert "".join(t.replace(" ", "") for _, t in rows) == "漢字かな" * 600, "text lost or garbled"
EOF

# vectors are unit length
$PY - "$DB" <<'EOF' || fail "vectors are not L2-normalised"
import sqlite3, struct, sys
for dim, blob in sqlite3.connect(sys.argv[1]).execute("SELECT dim, vec FROM vectors"):
    v = struct.unpack("<%df" % dim, blob)
    n = sum(x * x for x in v)
    assert abs(n - 1) < 1e-4, n
EOF

# ---- second run: nothing changed ----
rows >before.rows
jobs_before=$(q "$DB" "SELECT group_concat(id || ':' || claims || ':' || state) FROM jobs")
ing docs
expect_rc 3 "second ingest (the encrypted PDF stays failed)"
err_has "0 new jobs" "second run queues nothing"
err_has "embedded 0 chunks" "second run does no model work"
err_has "stay failed" "second run reports the document that still fails"
rows >after.rows
cmp -s before.rows after.rows || fail "second run changed chunks or vectors"
eq "$(q "$DB" "SELECT group_concat(id || ':' || claims || ':' || state) FROM jobs")" "$jobs_before" "second run ran no job"

# ---- search ----
run search --db "$DB" --embed-model "$E" "how many herons does the marmalade lighthouse keeper count?" -k 3
expect_rc 0 "search (text)"
head -1 .out | grep -q "^1\. docs/notes.md  bytes $s-$e  score" || fail "text search: first hit should be notes.md $s-$e: $(head -3 .out)"
grep -q "seventeen herons" .out || fail "text search prints the chunk"
run search --db "$DB" --embed-model "$E" "funicular glacier platform" --json
expect_rc 0 "search (json)"
eq "$(wc -l <.out | tr -d ' ')" 1 "search --json prints one line (compact JSON)"
if grep -q "$(printf '\t')" .out; then fail "search --json is pretty-printed (tabs): $(head -c 200 .out)"; fi
$PY - .out <<'EOF' || fail "search --json: $(head -c 600 .out)"
import json, sys
a = json.load(open(sys.argv[1]))
assert isinstance(a, list) and 1 <= len(a) <= 10, a
assert a[0]["path"] == "docs/sub/guide.html", a[0]
assert "funicular to the glacier" in a[0]["text"], a[0]
assert isinstance(a[0]["start"], int) and a[0]["end"] > a[0]["start"] and "page" not in a[0]
s = [h["score"] for h in a]
assert s == sorted(s, reverse=True) and s[0] > 0, s
EOF
run search --db "$DB" --embed-model "$E" "café" --json
$PY - .out <<'EOF' || fail "search --json for a PDF passage: $(head -c 600 .out)"
import json, sys
a = json.load(open(sys.argv[1]))
assert a[0]["path"] == "docs/pages.pdf" and a[0]["page"] == 2 and "start" not in a[0], a[0]
EOF
run search --db missing.db --embed-model "$E" "herons"
expect_rc 1 "search without a database"
err_has "missing.db" "the missing database is named"
[ ! -e missing.db ] || fail "search created a database"
run search --db "$DB" --embed-model "$E" "herons" --collection nosuch
expect_rc 1 "search in a collection that does not exist"
err_has "nosuch" "the missing collection is named"

# ---- changes: add, change, rename, copy, delete ----
notes_ids=$(q "$DB" "SELECT group_concat(c.id) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE CAST(d.path AS TEXT) = 'docs/notes.md' ORDER BY c.seq")
mv docs/notes.md docs/sub/renamed.md                                 # rename
printf 'Now this file is about basalt columns.\n' >docs/plain.txt  # change
rm docs/long.txt                                                     # delete
printf 'A new file about the periwinkle submarine.\n' >docs/new.txt  # add
cp docs/sub/guide.html docs/guide-copy.html                          # copy
printf 'Orange kites over the dunes.\n' >docs/dup-a.txt              # same text, other bytes:
printf 'Orange kites over the dunes.\n\n\n' >docs/dup-b.txt          # embedded twice, same vector
ing docs
expect_rc 3 "third ingest"
err_has "1 renamed, 1 copied, 1 removed" "sync summary"
err_has "embedded 4 chunks" "only the changed and new documents are embedded"
eq "$(q "$DB" "SELECT CAST(path AS TEXT) FROM documents ORDER BY 1" | tr '\n' ' ')" \
    "docs/cjk.txt docs/dup-a.txt docs/dup-b.txt docs/guide-copy.html docs/new.txt docs/pages.pdf docs/plain.txt docs/sub/guide.html docs/sub/renamed.md " \
    "documents after the changes"
eq "$(q "$DB" "SELECT group_concat(c.id) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE CAST(d.path AS TEXT) = 'docs/sub/renamed.md' ORDER BY c.seq")" \
    "$notes_ids" "the renamed file keeps its chunks"
eq "$(q "$DB" "SELECT count(*) FROM chunks WHERE text LIKE '%w0001%' OR text LIKE '%quartz%'")" 0 "deleted and changed text is gone"
eq "$(q "$DB" "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'quartz OR w0001'")" 0 "... from the FTS index too"
eq "$(q "$DB" "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE CAST(d.path AS TEXT) = 'docs/plain.txt' AND c.text LIKE '%basalt%'")" 1 \
    "the changed file has its new text"
eq "$(q "$DB" "SELECT group_concat(c.text, '|') FROM chunks c JOIN documents d ON d.id = c.document_id WHERE CAST(d.path AS TEXT) = 'docs/guide-copy.html' ORDER BY c.seq")" \
   "$(q "$DB" "SELECT group_concat(c.text, '|') FROM chunks c JOIN documents d ON d.id = c.document_id WHERE CAST(d.path AS TEXT) = 'docs/sub/guide.html' ORDER BY c.seq")" \
   "the copy has the original's chunks"
consistent "after the changes"
$PY - "$DB" <<'EOF' || fail "two files with the same text should get the same vector (cosine 1)"
import sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1])
v = [struct.unpack("<%df" % d, b) for d, b in db.execute(
    "SELECT v.dim, v.vec FROM vectors v JOIN chunks c ON c.id = v.chunk_id JOIN documents d ON d.id = c.document_id "
    "WHERE CAST(d.path AS TEXT) IN ('docs/dup-a.txt', 'docs/dup-b.txt') ORDER BY d.path")]
assert len(v) == 2
cos = sum(a * b for a, b in zip(*v))
assert abs(cos - 1) < 1e-6, cos
EOF
run search --db "$DB" --embed-model "$E" "periwinkle submarine" --json -k 2
$PY - .out <<'EOF' || fail "search after the changes: $(head -c 600 .out)"
import json, sys
a = json.load(open(sys.argv[1]))
assert len(a) == 2 and a[0]["path"] == "docs/new.txt", a
EOF
run search --db "$DB" --embed-model "$E" "marmalade lighthouse" -k 1
grep -q "^1\. docs/sub/renamed.md" .out || fail "search finds the renamed file under its new path: $(head -2 .out)"

# ---- schema migration 1 -> 2 ----
cp "$DB" old.db
q old.db "DROP INDEX documents_sha; ALTER TABLE documents DROP COLUMN embed_model; PRAGMA user_version = 1" >/dev/null
run ingest --db old.db --embed-model "$E" --quiet docs/sub
expect_rc 0 "ingest on a version 1 database"
eq "$(q old.db 'PRAGMA user_version')" 2 "migrated to version 2"
eq "$(q old.db "SELECT count(*) FROM sqlite_schema WHERE name = 'documents_sha'")" 1 "migration 2 index"
echo "PASS: ingest"
