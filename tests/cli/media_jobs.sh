#!/usr/bin/env bash
# caption and transcribe end to end through the real binary, on the bundled samples and the
# bundled random-weight model pair (samples/models; the texts are gibberish, their plumbing is
# what is checked).  A folder of the sample pictures and recordings plus a corrupt PNG, a
# truncated MP3, a text file, and a video with speech in its audio track:
#   - caption: every good image gets one caption (done job, result, .txt sidecar, JSONL record
#     with path/sha256/caption/model/finished_at), the corrupt PNG is a failed job whose error
#     names it, the text file is no job; exit 3.  A second run claims nothing (claims unchanged)
#     and still exits 3; another prompt, --no-exif/--alpha drop, or another model file is another
#     job; model paths from mmpipe.json give the same jobs; a worker without the model, or with
#     another one, leaves a model's jobs queued; `jobs add caption` is refused; the CSV parses;
#     map-reduce summaries under a 64-token budget.
#   - transcribe --summarize --out-dir: every good recording gets .srt/.vtt/.json/.txt under
#     the out dir with its subfolder (SRT numbered, HH:MM:SS,mmm, increasing; WEBVTT header,
#     HH:MM:SS.mmm), silence gets files without cues, the truncated MP3 fails naming the file,
#     pictures are no jobs; summaries written; a second run does no model work.
S=$(cd "$(dirname "$0")/../../samples" && pwd) || exit 1
. "$(dirname "$0")/lib.sh" "$@"
MOD=(-m "$S/models/tiny-gemma4-e2b-q8_0.gguf" --mmproj "$S/models/tiny-mmproj-gemma4va.gguf")
DB=m.db
mkdir -p in/pics in/sound in/video
cp "$S"/images/* in/pics/
cp "$S"/audio/* in/sound/
cp "$S"/video/* in/video/
head -c 300 "$S/images/landscape.png" >in/pics/corrupt.png
head -c $(( $(stat -c %s "$S/audio/meeting.mp3") / 2 )) "$S/audio/meeting.mp3" >in/sound/truncated.mp3
echo "not a picture" >in/pics/notes.txt
NIMG=$(ls "$S"/images | wc -l)
NAUD=$(ls "$S"/audio | wc -l)
NVID=$(ls "$S"/video | wc -l)

# ---- caption ----
run caption --db "$DB" "${MOD[@]}" --sidecar --out caps.jsonl in
expect_rc 3 "caption with a corrupt image"
err_has "in/pics/corrupt.png" "the failure names the corrupt file"
integrity "$DB" "after caption"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind='caption' AND state='done'")" "$NIMG" "done caption jobs"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind='caption' AND state='failed'")" 1 "failed caption jobs"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind='caption'")" $((NIMG + 1)) "caption jobs (text, audio and video files are none)"
q "$DB" "SELECT last_error FROM jobs WHERE kind='caption' AND state='failed'" | grep -q "corrupt.png" ||
    fail "the failed job's error should name corrupt.png: $(q "$DB" "SELECT last_error FROM jobs WHERE state='failed'")"
for f in "$S"/images/*; do
    b=$(basename "$f")
    [ -f "in/pics/$b.txt" ] || fail "no sidecar in/pics/$b.txt"
    grep -q "^in/pics/$b: " "$T/.out" || fail "stdout has no caption for $b"
done
[ ! -e in/pics/corrupt.png.txt ] || fail "a sidecar for the failed image"
"$PY" - "$NIMG" caps.jsonl "$DB" <<'PY' || fail "caps.jsonl does not check out"
import json, sys, re, sqlite3, hashlib
n, path, db = int(sys.argv[1]), sys.argv[2], sys.argv[3]
recs = [json.loads(l) for l in open(path, encoding="utf-8")]
assert len(recs) == n, (len(recs), n)
con = sqlite3.connect(db)
for r in recs:
    assert set(r) >= {"path", "sha256", "caption", "model", "finished_at"}, r.keys()
    assert hashlib.sha256(open(r["path"], "rb").read()).hexdigest() == r["sha256"], r["path"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["finished_at"]), r["finished_at"]
    assert r["model"].startswith("text=") and ";mmproj=" in r["model"], r["model"]
    assert open(r["path"] + ".txt", encoding="utf-8").read() == r["caption"] + "\n", r["path"]
    (text,) = con.execute("SELECT r.text FROM results r JOIN inputs i ON i.job_id=r.job_id WHERE CAST(i.path AS TEXT)=?",
                          (r["path"],)).fetchone()
    assert text == r["caption"]
PY
claims=$(q "$DB" "SELECT sum(claims) FROM jobs")
run caption --db "$DB" "${MOD[@]}" in
expect_rc 3 "second caption run (the failed image stays failed)"
err_has "1 still failed" "second run reports the failed image"
eq "$(q "$DB" "SELECT sum(claims) FROM jobs")" "$claims" "claims after a second caption run (no model work)"
eq "$(q "$DB" "SELECT count(*) FROM jobs")" $((NIMG + 1)) "jobs after a second caption run"
run caption --db "$DB" "${MOD[@]}" --prompt "Name the colours." -n 8 in/pics/landscape.png
expect_rc 0 "caption with another prompt"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind='caption' AND state='done'")" $((NIMG + 1)) \
    "another prompt is another job"
# model paths from mmpipe.json: the same identity, so nothing new to do
printf '{"model": "%s", "mmproj": "%s"}\n' "$S/models/tiny-gemma4-e2b-q8_0.gguf" "$S/models/tiny-mmproj-gemma4va.gguf" >mmpipe.json
claims=$(q "$DB" "SELECT sum(claims) FROM jobs")
run caption --db "$DB" in/pics/landscape.png
expect_rc 0 "caption with the model from mmpipe.json"
eq "$(q "$DB" "SELECT sum(claims) FROM jobs")" "$claims" "claims with the model from mmpipe.json (same jobs)"
grep -q "^in/pics/landscape.png: " "$T/.out" || fail "caption printed with the model from mmpipe.json"
run caption --db "$DB" --no-exif --alpha drop in/pics/rotated-exif.jpg
expect_rc 0 "caption --no-exif --alpha drop"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind='caption' AND json_extract(params, '$.exif') = 0 AND
    json_extract(params, '$.alpha') = 'drop' AND state='done'")" 1 "--no-exif --alpha drop is another job"
rm mmpipe.json
run results export --db "$DB" --kind caption --format csv --out caps.csv
expect_rc 0 "CSV export"
"$PY" - caps.csv $((NIMG + 2)) <<'PY' || fail "caps.csv does not parse"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
assert len(rows) == int(sys.argv[2]), len(rows)
assert all(r["kind"] == "caption" and len(r["sha256"]) == 64 and r["model"] for r in rows)
PY

# ---- model identity: another model file is other jobs, and a worker runs only its model's jobs ----
cp "$S/models/tiny-gemma4-e2b-q8_0.gguf" other.gguf
printf 'x' >>other.gguf # same weights, another file (size): another identity
MODB=(-m other.gguf --mmproj "$S/models/tiny-mmproj-gemma4va.gguf")
"$MM" caption --db "$DB" "${MODB[@]}" --parallel 1 --quiet --throttle-ms 3000 in/pics >b.out 2>b.err &
bpid=$!
for _ in $(seq 1 200); do
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM jobs WHERE state='running'" 2>/dev/null)" = 1 ] && break
    sleep 0.05
done
kill -9 "$bpid"
wait "$bpid" 2>/dev/null
nb=$(q "$DB" "SELECT count(*) FROM jobs WHERE kind='caption' AND model LIKE 'text=%' AND model != (SELECT model FROM jobs WHERE id=1)")
eq "$nb" $((NIMG + 1)) "caption jobs queued for the other model"
run worker --db "$DB"
expect_rc 0 "a worker without a model"
run worker --db "$DB" "${MOD[@]}"
expect_rc 0 "a worker with the first model"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state IN ('queued','running')")" $((NIMG + 1))     "jobs of the other model left alone by workers without it"
run worker --db "$DB" "${MODB[@]}"
expect_rc 3 "a worker with the other model"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind='caption' AND state='done'")" $((2 * NIMG + 2)) "done after it"
run jobs add --db "$DB" caption in/pics
expect_rc 2 "jobs add caption (needs the model identity)"

# ---- transcribe ----
run transcribe --db "$DB" "${MOD[@]}" --summarize --out-dir out in
expect_rc 3 "transcribe with a truncated MP3"
err_has "in/sound/truncated.mp3" "the failure names the truncated MP3"
integrity "$DB" "after transcribe"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind='transcribe' AND state='done'")" $((NAUD + NVID)) \
    "done transcribe jobs (recordings and the audio track of the video)"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind='transcribe' AND state='failed'")" 1 "failed transcribe jobs"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind='transcribe'")" $((NAUD + NVID + 1)) "transcribe jobs (pictures are none)"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind='summarize' AND state='done'")" $((NAUD + NVID)) "summaries"
eq "$(q "$DB" "SELECT count(*) FROM results r JOIN jobs j ON j.id=r.job_id WHERE j.kind='summarize' AND
    json_extract(r.data, '$.model_calls') > 1")" 0 "short transcripts are summarised in one model call"
[ -f out/video/hello.mp4.srt ] || fail "no transcript for the video's audio track"
for f in "$S"/audio/*; do
    b=$(basename "$f")
    for ext in srt vtt json txt summary.txt; do
        [ -f "out/sound/$b.$ext" ] || fail "missing out/sound/$b.$ext"
    done
done
[ ! -e out/sound/truncated.mp3.srt ] || fail "outputs for the failed recording"
"$PY" - out/sound <<'PY' || fail "transcript files do not check out"
import json, os, re, sys
d = sys.argv[1]
def ms(t, sep):
    m = re.fullmatch(r"(\d\d):([0-5]\d):([0-5]\d)" + re.escape(sep) + r"(\d{3})", t)
    assert m, t
    h, mi, s, f = map(int, m.groups())
    return ((h * 60 + mi) * 60 + s) * 1000 + f
cues = {}
for name in sorted(os.listdir(d)):
    p = os.path.join(d, name)
    if name.endswith(".srt"):
        blocks = [b for b in open(p, encoding="utf-8").read().split("\n\n") if b.strip()]
        last = -1
        for i, b in enumerate(blocks, 1):
            lines = b.split("\n")
            assert lines[0] == str(i), (p, lines)
            a, arrow, z = lines[1].split(" ")
            assert arrow == "-->", lines[1]
            a, z = ms(a, ","), ms(z, ",")
            assert last <= a < z, (p, lines[1])
            last = z
            assert len(lines) >= 3 and lines[2].strip(), (p, b)
        cues[name[:-4]] = len(blocks)
    elif name.endswith(".vtt"):
        text = open(p, encoding="utf-8").read()
        assert text.startswith("WEBVTT\n\n"), p
        blocks = [b for b in text[8:].split("\n\n") if b.strip()]
        last = -1
        for b in blocks:
            lines = b.split("\n")
            a, arrow, z = lines[0].split(" ")
            assert arrow == "-->", lines[0]
            a, z = ms(a, "."), ms(z, ".")
            assert last <= a < z, (p, lines[0])
            last = z
        cues.setdefault("vtt:" + name[:-4], len(blocks))
    elif name.endswith(".json"):
        j = json.load(open(p, encoding="utf-8"))
        assert {"path", "sha256", "model", "duration", "segments", "text"} <= set(j), p
        for s in j["segments"]:
            assert 0 <= s["start"] < s["end"] <= j["duration"] + 0.01, (p, s)
for rec in ("hello.wav", "meeting.mp3"):
    assert cues[rec] >= 1 and cues["vtt:" + rec] == cues[rec], (rec, cues)
assert cues["silence.wav"] == 0 and cues["vtt:silence.wav"] == 0, cues
PY
claims=$(q "$DB" "SELECT sum(claims) FROM jobs")
rm -rf out
run transcribe --db "$DB" "${MOD[@]}" --summarize --format srt --out-dir out in/sound
expect_rc 3 "second transcribe run"
eq "$(q "$DB" "SELECT sum(claims) FROM jobs")" "$claims" "claims after a second transcribe run (no model work)"
[ -f out/hello.wav.srt ] && [ ! -e out/hello.wav.vtt ] && [ -f out/hello.wav.summary.txt ] ||
    fail "second run with --format srt: files $(find out | tr '\n' ' ')"
# a transcript longer than the summary budget: map (pieces) then reduce
run transcribe --db "$DB" "${MOD[@]}" --summarize --summary-budget 64 --out-dir mr in/sound/hello.wav
expect_rc 0 "summary with a 64-token budget"
calls=$(q "$DB" "SELECT json_extract(r.data, '$.model_calls') FROM results r JOIN jobs j ON j.id=r.job_id
    WHERE j.kind='summarize' AND json_extract(j.params, '$.chunk_tokens') = 64")
[ "${calls:-0}" -gt 2 ] || fail "64-token budget: expected map-reduce (> 2 model calls), got '$calls'"
[ -s mr/hello.wav.summary.txt ] || fail "no summary file from the map-reduce run"
run transcribe --db "$DB" "${MOD[@]}" --format xml in/sound
expect_rc 2 "--format xml"
run caption --db "$DB" in/pics
expect_rc 2 "caption without a model"
run caption --db "$DB" -m nowhere.gguf --mmproj "$S/models/tiny-mmproj-gemma4va.gguf" in/pics
expect_rc 1 "caption with a missing model file"
err_has "nowhere.gguf" "the error names the model file"
echo "PASS: media_jobs"
