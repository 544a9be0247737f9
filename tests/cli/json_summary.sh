#!/usr/bin/env bash
# --json on the job commands (caption, transcribe, ingest) through the real binary with the bundled
# random-weight models: stdout is exactly one compact JSON line {"done", "failed", "skipped",
# "seconds", ...} at the end (no captions or transcripts printed), while the progress and the
# reports stay on stderr.  The counts are checked exactly: a first run does every job (a corrupt
# image and a truncated MP3 are failed, exit 3), a second run does none (skipped = the inputs
# already done, the failed ones counted again).
S=$(cd "$(dirname "$0")/../../samples" && pwd) || exit 1
. "$(dirname "$0")/lib.sh" "$@"
E=$S/models/embed-tiny.gguf
[ -f "$E" ] && [ -f "$S/models/tiny-gemma4-e2b-q8_0.gguf" ] || skip "the sample models under samples/models are missing"
MOD=(-m "$S/models/tiny-gemma4-e2b-q8_0.gguf" --mmproj "$S/models/tiny-mmproj-gemma4va.gguf")
mkdir -p in/pics in/sound in/docs
cp "$S"/images/* in/pics/
cp "$S"/audio/hello.wav "$S"/audio/silence.wav in/sound/
cp "$S"/docs/tea.md "$S"/docs/pangram.txt in/docs/
head -c 300 "$S/images/landscape.png" >in/pics/corrupt.png
head -c $(( $(stat -c %s "$S/audio/meeting.mp3") / 2 )) "$S/audio/meeting.mp3" >in/sound/truncated.mp3
NIMG=$(ls "$S"/images | wc -l)

# check WHAT KEY=VALUE... — stdout is one JSON object line with these values (and a number "seconds")
check() {
    local what=$1
    shift
    [ "$(wc -l <"$T/.out" | tr -d ' ')" = 1 ] || fail "$what: stdout should be one line: $(head -c 400 "$T/.out")"
    "$PY" - "$T/.out" "$@" <<'PY' || fail "$what: $(head -c 400 "$T/.out")"
import json, sys
line = open(sys.argv[1], encoding="utf-8").read()
assert "\t" not in line and line.endswith("}\n"), "not compact"
o = json.loads(line)
assert isinstance(o.get("seconds"), (int, float)) and o["seconds"] >= 0, o
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    got = o.get(k)
    assert str(got) == v, "%s: expected %s, got %r in %r" % (k, v, got, o)
PY
    grep -q "finished" "$T/.err" || [ "$(sed -n 's/.*"done":\([0-9]*\).*/\1/p' "$T/.out")" = 0 ] ||
        fail "$what: the progress should be on stderr $(shown)"
}

# ---- caption ----
run caption --db c.db "${MOD[@]}" --json in
expect_rc 3 "caption --json (a corrupt image)"
check "caption --json" done=$NIMG failed=1 skipped=0 images=$((NIMG + 1)) captions=$NIMG ignored=5
err_has "in/pics/corrupt.png" "the failure is reported on stderr"
run caption --db c.db "${MOD[@]}" --json in
expect_rc 3 "second caption --json"
check "second caption --json" done=0 failed=1 skipped=$NIMG captions=$NIMG

# ---- transcribe --summarize ----
run transcribe --db c.db "${MOD[@]}" --summarize --out-dir tr --json in/sound
expect_rc 3 "transcribe --json (a truncated MP3)"
check "transcribe --json" done=4 failed=1 skipped=0 recordings=3 transcripts=2 summaries=2 ignored=0
[ -f tr/hello.wav.srt ] && [ -f tr/hello.wav.summary.txt ] || fail "transcribe --json still writes the files"
run transcribe --db c.db "${MOD[@]}" --summarize --out-dir tr --json in/sound
expect_rc 3 "second transcribe --json"
check "second transcribe --json" done=0 failed=1 skipped=4 transcripts=2 summaries=2

# ---- ingest, documents only, then with the media ----
run ingest --db i.db --embed-model "$E" --json in
expect_rc 0 "ingest --json without a model"
check "ingest --json" done=2 failed=0 skipped=0 documents=2 images=0 recordings=0 ignored=$((NIMG + 4)) collection=default
run ingest --db i.db --embed-model "$E" "${MOD[@]}" --json in
expect_rc 3 "ingest --json with the model"
# caption + transcribe jobs done (NIMG + 2) and their ingest jobs (NIMG + 2); the two documents up to date
check "ingest --json -m" done=$((2 * (NIMG + 2))) failed=2 skipped=2 documents=2 images=$((NIMG + 1)) recordings=3 ignored=0
run ingest --db i.db --embed-model "$E" "${MOD[@]}" --json in
expect_rc 3 "second ingest --json"
check "second ingest --json" done=0 failed=2 skipped=$((2 + NIMG + 2)) chunks=0 renamed=0 copied=0 removed=0
mv in/docs/tea.md in/docs/tea2.md
run ingest --db i.db --embed-model "$E" "${MOD[@]}" --json in
check "ingest --json after a rename" done=0 renamed=1 chunks=0
echo "PASS: json_summary"
