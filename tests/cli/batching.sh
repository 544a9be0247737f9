#!/usr/bin/env bash
# Continuous batching through the real binary (bundled random-weight model pair): the jobs of
# one run are decoded together (--parallel, default 4) and must give exactly what one job at a
# time gives (--parallel 1): the same caption for every picture, the same transcript segments
# and summaries for every recording (summaries share their instruction prefix, copied from one
# sequence to the next), the same segments of a 200 s recording streamed through its window.
# bench ingest: chunks embedded four at a time give the same search results.  Then `mmpipe bench caption|transcribe --json` on the same pair: its keys,
# items, and same_output true; usage errors exit 2.
S=$(cd "$(dirname "$0")/../../samples" && pwd) || exit 1
. "$(dirname "$0")/lib.sh" "$@"
MOD=(-m "$S/models/tiny-gemma4-e2b-q8_0.gguf" --mmproj "$S/models/tiny-mmproj-gemma4va.gguf")
mkdir -p pics sound
cp "$S"/images/* pics/
# the pictures again, one byte changed at the end of each: other contents, other jobs
for f in "$S"/images/*; do cp "$f" "pics/again-$(basename "$f")"; printf 'x' >>"pics/again-$(basename "$f")"; done
cp "$S"/audio/* sound/

texts() { # DB KIND: "name<TAB>text" per done job, sorted
    "$MM" results export --db "$1" --kind "$2" --format jsonl |
        "$PY" -c 'import json,sys,os
for l in sys.stdin: o=json.loads(l); print(os.path.basename(o["path"]) + "\t" + o["text"])' | sort
}

for p in 1 4; do
    run caption --db "c$p.db" "${MOD[@]}" --parallel "$p" pics
    expect_rc 0 "caption --parallel $p"
    run transcribe --db "t$p.db" "${MOD[@]}" --parallel "$p" --summarize --out-dir "out$p" sound
    expect_rc 0 "transcribe --summarize --parallel $p"
done
err_has "batched decoding" "the batched run reports its decode steps"
N=$(ls pics | wc -l)
eq "$(texts c4.db caption | wc -l)" "$N" "captions with --parallel 4"
[ "$(texts c1.db caption)" = "$(texts c4.db caption)" ] || fail "captions differ between --parallel 1 and 4"
[ -n "$(texts c4.db caption | cut -f2 | tr -d '[:space:]')" ] || fail "captions are empty"
[ "$(texts t1.db transcribe)" = "$(texts t4.db transcribe)" ] || fail "transcripts differ between --parallel 1 and 4"
[ "$(texts t1.db summarize)" = "$(texts t4.db summarize)" ] || fail "summaries differ between --parallel 1 and 4"
diff -r out1 out4 >/dev/null || fail "transcript files differ between --parallel 1 and 4"
eq "$(texts t4.db summarize | wc -l)" "$(ls "$S"/audio | wc -l)" "summaries"

# ---- map-reduce summaries (a 64-token budget): the map pieces side by side, the same summary ----
for p in 1 4; do
    run transcribe --db "mr$p.db" "${MOD[@]}" --parallel "$p" --summarize --summary-budget 64 --out-dir "mr$p" "$S/audio/meeting.mp3"
    expect_rc 0 "map-reduce summary, --parallel $p"
done
[ "$(texts mr1.db summarize)" = "$(texts mr4.db summarize)" ] || fail "map-reduce summaries differ between --parallel 1 and 4"
eq "$(q mr4.db "SELECT json_extract(data, '$.model_calls') > 2 FROM results r JOIN jobs j ON j.id = r.job_id WHERE j.kind = 'summarize'")" 1 \
    "the 64-token budget made a map-reduce summary"

# ---- a long recording (streamed through a window of about a minute): same segments either way ----
"$PY" - "$S/audio/hello.wav" long/long.wav <<'PY'
import os, sys, wave
w = wave.open(sys.argv[1]); p = w.getparams(); fr = w.readframes(w.getnframes())
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
o = wave.open(sys.argv[2], "wb"); o.setparams(p)
silence = b"\0" * (p.sampwidth * p.nchannels * p.framerate)  # 1 s between the copies
for _ in range(int(200 / (w.getnframes() / p.framerate + 1)) + 1): o.writeframes(fr + silence)
o.close()
PY
for p in 1 3; do
    run transcribe --db "l$p.db" "${MOD[@]}" --parallel "$p" -n 4 --format json --out-dir "lo$p" long
    expect_rc 0 "transcribe a long recording, --parallel $p"
done
diff lo1/long.wav.json lo3/long.wav.json >/dev/null || fail "long recording: --parallel 1 and 3 differ"
"$PY" - lo3/long.wav.json <<'PY' || fail "long recording: segments do not cover it"
import json, sys
o = json.load(open(sys.argv[1]))
segs = o["segments"]
assert o["duration"] > 190 and len(segs) > 20, (o["duration"], len(segs))
assert segs[-1]["end"] > 180 and all(a["end"] <= b["start"] for a, b in zip(segs, segs[1:]))
PY

# ---- the benchmark ----
run bench caption "${MOD[@]}" --items 3 --image-max-tokens 70 -n 8 --json
expect_rc 0 "bench caption"
"$PY" - "$T/.out" <<'PY' || fail "bench caption JSON: $(cat "$T/.out")"
import json, sys
o = json.load(open(sys.argv[1]))
for k in ("items", "seconds", "items_per_hour", "batching_off", "batching_on", "same_output", "speedup"):
    assert k in o, k
assert o["kind"] == "caption" and o["items"] == 3 and o["same_output"] is True
for m in ("batching_off", "batching_on"):
    assert o[m]["seconds"] > 0 and o[m]["items_per_hour"] > 0, m
assert o["batching_off"]["parallel"] == 1 and o["batching_on"]["parallel"] == 4
PY
run bench transcribe "${MOD[@]}" --items 2 -n 8 --parallel 2 --json
expect_rc 0 "bench transcribe"
"$PY" - "$T/.out" <<'PY' || fail "bench transcribe JSON: $(cat "$T/.out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["kind"] == "transcribe" and o["recordings"] == 2 and o["same_output"] is True
assert abs(o["items"] - 2 * 20 / 3600) < 1e-3 and o["items_per_hour"] > 0
assert o["batching_on"]["parallel"] == 2
PY
run bench ingest --embed-model "$S/models/embed-tiny.gguf" --items 5 --json
expect_rc 0 "bench ingest"
"$PY" - "$T/.out" <<'PY' || fail "bench ingest JSON: $(cat "$T/.out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["kind"] == "ingest" and o["items"] == 5 and o["same_output"] is True
assert o["pages_per_minute"] > 0 and o["batching_on"]["parallel"] == 4
PY
run bench caption --items 3
expect_rc 2 "bench caption without a model"
run caption --db x.db "${MOD[@]}" --parallel 0 pics
expect_rc 2 "--parallel 0"
ls "${TMPDIR:-/tmp}" | grep -q "mmpipe-bench-caption-" && note "a scratch folder of another bench run exists in TMPDIR"
echo "PASS"
