#!/usr/bin/env bash
# `mmpipe ingest -m MODEL --mmproj MMPROJ`: images and recordings in the ingested folder are
# captioned / transcribed (the very jobs `mmpipe caption` / `transcribe` queue) and their texts
# become chunks, through the real binary with the bundled random-weight models (samples/models:
# the captions are gibberish, so the search checks query with the stored caption text itself and
# look for the BM25 side of the fusion).  Checks, with sqlite3 and python3:
#   - without -m/--mmproj media are skipped with a note: no caption/transcribe job, no chunks;
#     -m without --mmproj is a usage error (2);
#   - with them: every good image has one chunk holding its caption (the caption job's result),
#     every recording chunks made of its timed segments (whole segments in order, start/end the
#     segments' times in ms), a silent one a document without chunks; the corrupt PNG and the
#     truncated MP3 are failed jobs named on stderr (exit 3) while the rest is ingested;
#   - the caption / transcribe jobs are the ones `mmpipe caption` / `transcribe` use (running
#     those afterwards queues nothing new and claims nothing);
#   - search --json returns the image for its caption text (bm25_rank > 0) and a transcript chunk
#     with its time span in seconds as "start"/"end", no "page";
#   - a second run with nothing changed claims no job and changes no row (no model work);
#   - rename keeps the chunk ids, delete drops the chunks, a changed image gets its new caption in
#     place of the old one, an image that became corrupt loses its old chunks (failed job);
#   - a run without -m afterwards keeps the media chunks.
S=$(cd "$(dirname "$0")/../../samples" && pwd) || exit 1
. "$(dirname "$0")/lib.sh" "$@"
E=$S/models/embed-tiny.gguf
[ -f "$E" ] && [ -f "$S/models/tiny-gemma4-e2b-q8_0.gguf" ] || skip "the sample models under samples/models are missing"
MOD=(-m "$S/models/tiny-gemma4-e2b-q8_0.gguf" --mmproj "$S/models/tiny-mmproj-gemma4va.gguf")
DB=im.db
ing() { run ingest --db "$DB" --embed-model "$E" "$@"; }
claims() { q "$DB" "SELECT coalesce(sum(claims), 0) FROM jobs"; }
rows() { q "$DB" "SELECT CAST(d.path AS TEXT), d.media, c.id, c.seq, c.text, c.start_ms, c.end_ms, v.model FROM documents d
                  LEFT JOIN chunks c ON c.document_id = d.id LEFT JOIN vectors v ON v.chunk_id = c.id ORDER BY 1, 4"; }
chunks_of() { q "$DB" "SELECT count(c.id) FROM documents d LEFT JOIN chunks c ON c.document_id = d.id WHERE CAST(d.path AS TEXT) = '$1'"; }
has_doc() { q "$DB" "SELECT count(*) FROM documents WHERE CAST(path AS TEXT) = '$1'"; }
consistent() {
    eq "$(q "$DB" "SELECT count(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)")" 0 "$1: orphan chunks"
    eq "$(q "$DB" "SELECT count(*) FROM chunks WHERE id NOT IN (SELECT chunk_id FROM vectors)")" 0 "$1: chunks without a vector"
    eq "$(q "$DB" "SELECT count(*) FROM chunks_fts")" "$(q "$DB" "SELECT count(*) FROM chunks")" "$1: FTS rows"
    integrity "$DB" "$1"
}
# A small valid PNG of one colour (python, no library): a "changed" picture with new content.
png() {
    "$PY" - "$1" "$2" <<'PY'
import struct, sys, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
w = h = 32
r, g, b = int(sys.argv[2]), 90, 200
raw = b"".join(b"\0" + bytes([r, g, b]) * w for _ in range(h))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
}

mkdir -p in/pics in/sound in/docs
cp "$S"/images/* in/pics/
cp "$S"/audio/hello.wav "$S"/audio/silence.wav in/sound/
cp "$S"/docs/tea.md in/docs/
head -c 300 "$S/images/landscape.png" >in/pics/corrupt.png
head -c $(( $(stat -c %s "$S/audio/meeting.mp3") / 2 )) "$S/audio/meeting.mp3" >in/sound/truncated.mp3
# a recording with several voice-activity segments: hello, 2 s of silence, hello, silence, hello
"$PY" - "$S/audio/hello.wav" in/sound/three.wav <<'PY'
import sys, wave
w = wave.open(sys.argv[1]); p = w.getparams(); fr = w.readframes(w.getnframes())
gap = b"\0" * (p.sampwidth * p.framerate * 2)
o = wave.open(sys.argv[2], "wb"); o.setparams(p); o.writeframes(fr + gap + fr + gap + fr); o.close()
PY
NIMG=$(ls "$S"/images | wc -l)

# ---- without a model: media skipped ----
ing in
expect_rc 0 "ingest without -m (media skipped, the document ingested)"
err_has "$((NIMG + 5)) images/recordings skipped" "the note on skipped media"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind IN ('caption', 'transcribe')")" 0 "no caption/transcribe job without -m"
eq "$(q "$DB" "SELECT group_concat(CAST(path AS TEXT)) FROM documents")" "in/docs/tea.md" "only the document is ingested"
ing in -m "$S/models/tiny-gemma4-e2b-q8_0.gguf"
expect_rc 2 "-m without --mmproj"
err_has "--mmproj" "the usage error names --mmproj"

# ---- with the model ----
ing in "${MOD[@]}"
expect_rc 3 "ingest with -m (the corrupt PNG and the truncated MP3 fail)"
err_has "in/pics/corrupt.png" "the corrupt image is named"
err_has "in/sound/truncated.mp3" "the truncated recording is named"
err_has_re "truncat" "the reason for the MP3"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind = 'caption' AND state = 'done'")" "$NIMG" "done caption jobs"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind = 'transcribe' AND state = 'done'")" 3 "done transcribe jobs"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind IN ('caption', 'transcribe') AND state = 'failed'")" 2 "failed media jobs"
eq "$(has_doc in/pics/corrupt.png)$(has_doc in/sound/truncated.mp3)" 00 "no document for the failed media"
eq "$(q "$DB" "SELECT count(*) FROM documents WHERE media = 'image'")" "$NIMG" "image documents"
eq "$(q "$DB" "SELECT count(*) FROM documents WHERE media = 'audio'")" 3 "audio documents"
consistent "after the media run"
# every image: exactly one chunk, the caption job's result text, no span
"$PY" - "$DB" <<'PY' || fail "image chunks are not the captions (see above)"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
docs = db.execute("SELECT id, CAST(path AS TEXT), job_id FROM documents WHERE media = 'image'").fetchall()
assert docs
for did, path, job in docs:
    ch = db.execute("SELECT text, page, byte_start, start_ms FROM chunks WHERE document_id = ?", (did,)).fetchall()
    cap = db.execute("SELECT r.text FROM results r JOIN jobs j ON j.id = r.job_id JOIN inputs i ON i.job_id = j.id "
                     "WHERE j.kind = 'caption' AND CAST(i.path AS TEXT) = ?", (path,)).fetchall()
    assert len(cap) == 1 and cap[0][0], (path, cap)
    assert ch == [(cap[0][0], None, None, None)], (path, ch, cap)
    (kind,) = db.execute("SELECT kind FROM jobs WHERE id = ?", (job,)).fetchone()
    assert kind == "ingest", (path, kind)
PY
# every recording: chunks are its non-empty segments in order, whole, with their spans
"$PY" - "$DB" <<'PY' || fail "transcript chunks do not follow the segments (see above)"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
many = 0
for did, path in db.execute("SELECT id, CAST(path AS TEXT) FROM documents WHERE media = 'audio'").fetchall():
    (data,) = db.execute("SELECT r.data FROM results r JOIN jobs j ON j.id = r.job_id JOIN inputs i ON i.job_id = j.id "
                         "WHERE j.kind = 'transcribe' AND CAST(i.path AS TEXT) = ?", (path,)).fetchone()
    segs = [s for s in json.loads(data)["segments"] if s["text"]]
    ch = db.execute("SELECT text, start_ms, end_ms, n_tokens, byte_start, page FROM chunks WHERE document_id = ? ORDER BY seq",
                    (did,)).fetchall()
    if not segs:
        assert path.endswith("silence.wav") and ch == [], (path, ch)
        continue
    assert ch, path
    k, prev_end = 0, -1
    for text, a, z, ntok, bs, page in ch:
        assert bs is None and page is None, (path, bs, page)
        assert ntok <= 256, (path, ntok)
        group = []
        while k < len(segs):
            group.append(segs[k]); k += 1
            if "\n".join(s["text"] for s in group) == text: break
        assert "\n".join(s["text"] for s in group) == text, (path, "chunk is not whole segments", text[:80])
        assert a == round(group[0]["start"] * 1000) and z == round(group[-1]["end"] * 1000), (path, a, z, group)
        assert a >= prev_end and z > a, (path, a, z, prev_end)
        prev_end = z
    assert k == len(segs), (path, "segments left over", k, len(segs))
    if len(segs) > 1: many += 1
assert many >= 1, "three.wav should have several segments"
PY

# ---- the jobs are caption's and transcribe's ----
c0=$(claims)
run caption --db "$DB" "${MOD[@]}" in/pics
expect_rc 3 "mmpipe caption after ingest (the corrupt PNG stays failed)"
err_has "0 new jobs" "caption finds ingest's jobs"
run transcribe --db "$DB" "${MOD[@]}" --out-dir tr in/sound
expect_rc 3 "mmpipe transcribe after ingest"
err_has "0 new jobs" "transcribe finds ingest's jobs"
eq "$(claims)" "$c0" "caption / transcribe after ingest claim nothing"

# ---- search ----
cap=$("$MM" results export --db "$DB" --kind caption --format jsonl |
      "$PY" -c 'import json, sys; print([r for r in map(json.loads, sys.stdin) if r["path"] == "in/pics/triangle.jpg"][0]["text"])')
[ -n "$cap" ] || fail "no caption exported for triangle.jpg"
run search --db "$DB" --embed-model "$E" "$cap" --json -k 5
expect_rc 0 "search with the caption text"
"$PY" - .out <<'PY' || fail "search for the caption: $(head -c 800 .out)"
import json, sys
a = json.load(open(sys.argv[1]))
hit = [h for h in a if h["path"] == "in/pics/triangle.jpg"]
assert hit and hit[0]["bm25_rank"] == 1, a
assert "start" not in hit[0] and "page" not in hit[0], hit[0]
PY
seg=$(q "$DB" "SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id WHERE CAST(d.path AS TEXT) = 'in/sound/hello.wav'")
span=$(q "$DB" "SELECT c.start_ms || ' ' || c.end_ms FROM chunks c JOIN documents d ON d.id = c.document_id WHERE CAST(d.path AS TEXT) = 'in/sound/hello.wav'")
run search --db "$DB" --embed-model "$E" "$seg" --json -k 10
expect_rc 0 "search with a transcript's text"
"$PY" - .out $span <<'PY' || fail "search for the transcript: $(head -c 800 .out)"
import json, sys
a = json.load(open(sys.argv[1]))
hit = [h for h in a if h["path"] == "in/sound/hello.wav"]
assert hit and hit[0]["bm25_rank"] > 0, a
h = hit[0]
assert "page" not in h and abs(h["start"] - int(sys.argv[2]) / 1000) < 1e-9 and abs(h["end"] - int(sys.argv[3]) / 1000) < 1e-9, h
assert h["end"] > h["start"], h
PY
run search --db "$DB" --embed-model "$E" "$seg" -k 10
grep -qE "^[0-9]+\. in/sound/hello.wav  [0-9]+\.[0-9]{2}-[0-9]+\.[0-9]{2} s  score" .out ||
    fail "text search shows the time span: $(grep hello.wav .out | head -2)"

# ---- second run: nothing changed ----
rows >before.rows
c0=$(claims)
ing in "${MOD[@]}"
expect_rc 3 "second run (the failed media stay failed)"
err_has "embedded 0 chunks" "second run embeds nothing"
eq "$(claims)" "$c0" "second run claims no job (no model work)"
rows >after.rows
cmp -s before.rows after.rows || fail "second run changed documents or chunks"

# ---- rename, delete, change, corrupt ----
ids=$(q "$DB" "SELECT group_concat(c.id) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE CAST(d.path AS TEXT) = 'in/pics/landscape.png'")
old_tri=$(q "$DB" "SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id WHERE CAST(d.path AS TEXT) = 'in/pics/triangle.jpg'")
mv in/pics/landscape.png in/pics/moved.png
rm in/sound/three.wav
rm in/pics/triangle.jpg
png in/pics/triangle.png 200          # new content (and a new path)
png in/pics/logo-alpha.png 17         # same path, new content
printf '\x89PNG\r\n\x1a\n broken' >in/pics/rotated-exif.jpg   # same path, now unreadable as an image
ing in "${MOD[@]}"
expect_rc 3 "run after the changes"
err_has "in/pics/rotated-exif.jpg" "the image that became corrupt is named"
err_has "1 renamed" "the rename is seen"
eq "$(q "$DB" "SELECT group_concat(c.id) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE CAST(d.path AS TEXT) = 'in/pics/moved.png'")" \
    "$ids" "the renamed image keeps its chunk"
eq "$(has_doc in/pics/landscape.png)$(has_doc in/sound/three.wav)$(has_doc in/pics/triangle.jpg)" 000 "old paths are gone"
eq "$(q "$DB" "SELECT count(*) FROM chunks WHERE text = '$(printf %s "$old_tri" | sed "s/'/''/g")'")" 0 "the deleted image's caption is gone"
eq "$(has_doc in/pics/rotated-exif.jpg)" 0 "the image that became corrupt lost its old chunks"
eq "$(chunks_of in/pics/triangle.png)$(chunks_of in/pics/logo-alpha.png)" 11 "new and changed images have one chunk each"
"$PY" - "$DB" <<'PY' || fail "the changed image's chunk is not its new caption"
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
sha = hashlib.sha256(open("in/pics/logo-alpha.png", "rb").read()).hexdigest()
(dsha, text) = db.execute("SELECT d.sha256, c.text FROM documents d JOIN chunks c ON c.document_id = d.id "
                          "WHERE CAST(d.path AS TEXT) = 'in/pics/logo-alpha.png'").fetchone()
(cap,) = db.execute("SELECT r.text FROM results r JOIN jobs j ON j.id = r.job_id WHERE j.kind = 'caption' AND j.sha256 = ?",
                    (sha,)).fetchone()
assert dsha == sha and text == cap, (dsha, sha, text, cap)
PY
consistent "after the changes"

# ---- without the model again: media chunks stay ----
n_media=$(q "$DB" "SELECT count(*) FROM documents WHERE media IN ('image', 'audio')")
ing in
expect_rc 0 "ingest without -m after media were indexed"
err_has "images/recordings skipped" "the note on skipped media"
eq "$(q "$DB" "SELECT count(*) FROM documents WHERE media IN ('image', 'audio')")" "$n_media" "media documents kept without -m"
echo "PASS: ingest_media"
