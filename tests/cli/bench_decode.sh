#!/bin/bash
# tests/cli/bench_decode.sh MMPIPE — `mmpipe bench decode` runs its real work end to end on a
# short recording (not the hour: speed is not judged here, only that the figures come from a
# real decode): the JSON carries the contract's keys, the audio seconds are the file's, the
# 12 MP picture gives the Gemma 4 default budget's 1064 soft tokens, the scratch files are
# removed, and a missing recording is a fatal error that names it.
. "$(dirname "$0")/lib.sh" "$@"
DATA=$(cd "$(dirname "$0")/../data/audio" && pwd)
mkdir tmp
TMPDIR=$T/tmp run bench decode --audio "$DATA/left_44k_stereo.mp3" --json
[ "$RC" = 0 ] || fail "bench decode exited $RC: $(cat .err)"
$PY - .out <<'PY' || fail "bench decode --json content: $(cat .out)"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("jpeg_12mp_ms", "png_12mp_ms", "audio_realtime_factor", "audio_hour_peak_rss_bytes"):
    assert isinstance(d[k], (int, float)) and d[k] > 0, k
assert d["image_tokens"] == 1064, d
assert 0.99 <= d["audio_seconds"] <= 1.05, d   # the file holds 1 s (ffprobe adds the MP3 padding: 1.045 s)
assert d["audio_pieces"] == 1, d
assert d["audio_hour_peak_rss_bytes"] < 2e9, d
PY
[ -z "$(ls -A tmp)" ] || fail "scratch files left behind: $(ls -A tmp)"
run bench decode --audio "$T/nope.mp3"
[ "$RC" = 1 ] || fail "missing recording: exit $RC, want 1"
grep -q "nope.mp3" .err || fail "missing recording: the error does not name it: $(cat .err)"
run bench decode extra
[ "$RC" = 2 ] || fail "bench decode with an argument: exit $RC, want 2"
echo "PASS"
