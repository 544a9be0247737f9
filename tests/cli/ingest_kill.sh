#!/usr/bin/env bash
# `mmpipe ingest` killed with SIGKILL mid-run, then run again: every document is ingested
# exactly once (one documents row per file, the same chunks as an uninterrupted run into
# another database), no orphan chunk, vector or FTS row, the interrupted job ran twice and
# the jobs done before the kill did not run again.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"
E=$HERE/../../samples/models/embed-tiny.gguf
[ -f "$E" ] || skip "the embedding model samples/models/embed-tiny.gguf is missing"
DB=k.db
N=30
mkdir docs
for i in $(seq -w 1 $N); do
    printf '# Document %s\n\nParagraph one of document %s about item%s.\n\n## Part two\n\nMore words for %s.\n' \
        "$i" "$i" "$i" "$i" >"docs/d$i.md"
done
"$MM" ingest --db "$DB" --embed-model "$E" --quiet --throttle-ms 100 docs >k1.out 2>k1.err &
pid=$!
for _ in $(seq 1 400); do
    d=$(sqlite3 "$DB" "SELECT count(*) FROM jobs WHERE kind='ingest' AND state='done'" 2>/dev/null || echo 0)
    [ "${d:-0}" -ge 5 ] && break
    sleep 0.05
done
kill -9 "$pid" 2>/dev/null || fail "ingest ended before it could be killed (done: $d) [$(cat k1.err)]"
wait "$pid" 2>/dev/null
eq "$?" 137 "killed ingest's exit status"
integrity "$DB" "right after the kill"
done1=$(q "$DB" "SELECT count(*) FROM jobs WHERE state='done'")
[ "$done1" -ge 5 ] && [ "$done1" -lt $N ] || fail "done jobs at the kill: expected 5..$((N - 1)), got $done1"
eq "$(q "$DB" "SELECT count(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)")" 0 "orphan chunks after the kill"
eq "$(q "$DB" "SELECT count(*) FROM documents d WHERE (SELECT count(*) FROM chunks c WHERE c.document_id = d.id) != 2")" 0 \
    "documents with other than their 2 chunks after the kill"
rid=$(q "$DB" "SELECT id FROM jobs WHERE state='running'")

run ingest --db "$DB" --embed-model "$E" docs
expect_rc 0 "ingest after the kill"
integrity "$DB" "after the re-run"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind='ingest' AND state='done'")" $N "done ingest jobs"
eq "$(q "$DB" "SELECT count(*) || ' ' || count(DISTINCT path) FROM documents")" "$N $N" "one document per file"
eq "$(q "$DB" "SELECT count(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)")" 0 "orphan chunks"
eq "$(q "$DB" "SELECT count(*) FROM vectors WHERE chunk_id NOT IN (SELECT id FROM chunks)")" 0 "orphan vectors"
eq "$(q "$DB" "SELECT count(*) FROM chunks_fts")" "$(q "$DB" "SELECT count(*) FROM chunks")" "FTS rows"
eq "$(q "$DB" "SELECT count(*) FROM vectors")" $((2 * N)) "vectors"
if [ -n "$rid" ]; then
    eq "$(q "$DB" "SELECT claims || ' ' || crashes FROM jobs WHERE id=$rid")" "2 1" "the interrupted job: claims, crashes"
fi
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind='ingest' AND claims > 1 AND id IS NOT '$rid'")" 0 "jobs that ran twice"

run ingest --db ref.db --embed-model "$E" --quiet docs
expect_rc 0 "uninterrupted reference run"
dump() { q "$1" "SELECT CAST(d.path AS TEXT), c.seq, c.text, c.heading, c.byte_start, c.byte_end, hex(v.vec) FROM documents d
                 JOIN chunks c ON c.document_id = d.id JOIN vectors v ON v.chunk_id = c.id ORDER BY 1, 2"; }
dump "$DB" >a.rows
dump ref.db >b.rows
cmp -s a.rows b.rows || fail "interrupted + resumed run differs from an uninterrupted one: $(diff a.rows b.rows | head -5)"
echo "PASS: ingest_kill (killed after $done1 documents)"
