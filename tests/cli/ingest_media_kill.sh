#!/usr/bin/env bash
# `mmpipe ingest -m MODEL --mmproj MMPROJ` killed with SIGKILL mid-run, then run again, with the
# bundled random-weight models: once while the captions are being made, once while their texts are
# being indexed.  After the re-run every picture and recording has its chunks exactly once (the
# same documents, chunks and vectors as an uninterrupted run into another database), no orphan
# row, and no job that was done before the kill ran again.
S=$(cd "$(dirname "$0")/../../samples" && pwd) || exit 1
. "$(dirname "$0")/lib.sh" "$@"
E=$S/models/embed-tiny.gguf
[ -f "$E" ] && [ -f "$S/models/tiny-gemma4-e2b-q8_0.gguf" ] || skip "the sample models under samples/models are missing"
MOD=(-m "$S/models/tiny-gemma4-e2b-q8_0.gguf" --mmproj "$S/models/tiny-mmproj-gemma4va.gguf")
N=12
mkdir -p in
"$PY" - "$N" <<'PY'
import struct, sys, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
for i in range(int(sys.argv[1])):
    w = h = 24
    raw = b"".join(b"\0" + bytes([(i * 20) % 256, (y * 9) % 256, 255 - i * 7]) * w for y in range(h))
    open("in/p%02d.png" % i, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                                         + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
cp "$S/audio/hello.wav" "$S/audio/meeting.mp3" in/
printf '# Notes\n\nA document beside the pictures.\n' >in/notes.md
ing() { "$MM" ingest --db "$1" --embed-model "$E" "${MOD[@]}" "${@:2}"; }
dump() { q "$1" "SELECT CAST(d.path AS TEXT), d.media, d.sha256, c.seq, c.text, c.start_ms, c.end_ms, hex(v.vec) FROM documents d
                 JOIN chunks c ON c.document_id = d.id JOIN vectors v ON v.chunk_id = c.id ORDER BY 1, 4"; }

ing ref.db --quiet in || fail "uninterrupted reference run (exit $?)"
eq "$(q ref.db "SELECT count(*) FROM documents WHERE media IN ('image', 'audio')")" $((N + 2)) "media documents of the reference run"
dump ref.db >ref.rows

# kill_when DB WHAT SQL — start a throttled ingest, SIGKILL it once SQL counts >= 2
kill_when() {
    local db=$1 what=$2 sql=$3 d=0
    "$MM" ingest --db "$db" --embed-model "$E" "${MOD[@]}" --quiet --throttle-ms 100 in >k.out 2>k.err & # not a function: $! is mmpipe
    local pid=$!
    for _ in $(seq 1 600); do
        d=$(sqlite3 "$db" "$sql" 2>/dev/null || echo 0)
        [ "${d:-0}" -ge 2 ] && break
        sleep 0.02
    done
    kill -9 "$pid" 2>/dev/null || fail "$what: ingest ended before it could be killed [$(cat k.err)]"
    wait "$pid" 2>/dev/null
    eq "$?" 137 "$what: the killed ingest's exit status"
    integrity "$db" "$what: right after the kill"
}
resume() {
    local db=$1 what=$2
    q "$db" "SELECT id FROM jobs WHERE state = 'done'" >done-before.ids
    q "$db" "SELECT id || ' ' || claims FROM jobs WHERE state = 'done'" >claims-before
    run ingest --db "$db" --embed-model "$E" "${MOD[@]}" in
    expect_rc 0 "$what: the re-run"
    integrity "$db" "$what: after the re-run"
    q "$db" "SELECT id || ' ' || claims FROM jobs WHERE id IN ($(paste -sd, done-before.ids))" >claims-after
    cmp -s claims-before claims-after || fail "$what: jobs done before the kill ran again"
    eq "$(q "$db" "SELECT count(*) FROM jobs WHERE state != 'done'")" 0 "$what: every job done"
    eq "$(q "$db" "SELECT count(*) || ' ' || count(DISTINCT path) FROM documents")" "$((N + 3)) $((N + 3))" "$what: one document per file"
    eq "$(q "$db" "SELECT count(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)")" 0 "$what: orphan chunks"
    eq "$(q "$db" "SELECT count(*) FROM vectors WHERE chunk_id NOT IN (SELECT id FROM chunks)")" 0 "$what: orphan vectors"
    eq "$(q "$db" "SELECT count(*) FROM chunks_fts")" "$(q "$db" "SELECT count(*) FROM chunks")" "$what: FTS rows"
    dump "$db" >got.rows
    cmp -s got.rows ref.rows || fail "$what: resumed run differs from an uninterrupted one: $(diff got.rows ref.rows | head -4)"
}

kill_when a.db "killed while captioning" "SELECT count(*) FROM jobs WHERE kind = 'caption' AND state = 'done'"
[ "$(q a.db "SELECT count(*) FROM jobs WHERE kind = 'caption' AND state = 'done'")" -lt "$N" ] ||
    fail "killed while captioning: every caption was done already"
resume a.db "killed while captioning"

kill_when b.db "killed while indexing captions" \
    "SELECT count(*) FROM jobs WHERE kind = 'ingest' AND json_extract(params, '$.source') IS NOT NULL AND state = 'done'"
[ "$(q b.db "SELECT count(*) FROM documents WHERE media = 'image'")" -lt "$N" ] ||
    fail "killed while indexing: every caption was indexed already"
resume b.db "killed while indexing captions"
echo "PASS: ingest_media_kill"
