#!/bin/bash
# tests/cli/model_cmds.sh MMPIPE — generate, tokenize, model-info and embed through the
# real binary on the fixture models: tokenize gives the case's prompt_tokens, greedy
# generation is deterministic and stops at -n, model-info reports the file's sizes,
# embed gives the case's vector; missing, non-GGUF and vocab-only files fail cleanly.
. "$(dirname "$0")/lib.sh" "$@"
PACK=$(cd "$(dirname "$0")/../../.." && pwd)/shared/fixtures
[ -d "$PACK/models" ] || skip "no fixture pack at $PACK"
F=$PACK/models

# tokenize == the case's prompt_tokens (llama.cpp's ids)
want=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["prompt_tokens"])' "$PACK/cases/text-gemma3-f32-chat.json" | tr -d ' ')
prompt=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["prompt"], end="x")' "$PACK/cases/text-gemma3-f32-chat.json")
prompt=${prompt%x} # keep the trailing newline that $(...) would strip
got=$("$MM" tokenize -m "$F/gemma3-f32.gguf" -p "$prompt" --json | tr -d ' \n')
[ "$got" = "$want" ] || fail "tokenize --json: expected $want, got $got"
lines=$("$MM" tokenize -m "$F/gemma3-f32.gguf" -p "$prompt" | wc -l)
[ "$lines" = "$($PY -c "print(len($want))")" ] || fail "tokenize: one id per line ($lines lines)"

# greedy generation: deterministic, at most -n tokens, and the first token is the case's
a=$("$MM" generate -m "$F/llama-f32.gguf" -p "Hello world! The quick brown fox jumps over the lazy dog." -n 8 --temp 0) || fail "generate exited $?"
b=$("$MM" generate -m "$F/llama-f32.gguf" -p "Hello world! The quick brown fox jumps over the lazy dog." -n 8 --temp 0 -t 2)
[ "$a" = "$b" ] || fail "greedy generation differs between runs / thread counts"
[ -n "$a" ] || fail "generate printed nothing"
"$MM" generate -m "$F/gemma4-e2b-q8_0.gguf" --chat -p "Hi" -n 4 --seed 7 > /dev/null || fail "generate --chat exited $?"

# generate with images: deterministic, images without a marker go before the text, and
# --image needs --mmproj (usage error)
IMG=$PACK/media/test_image.png
a=$("$MM" generate -m "$F/gemma4-e2b-f32.gguf" --mmproj "$F/mmproj-gemma4v-f32.gguf" --image "$IMG" -p "Describe this image." -n 6 --temp 0) || fail "generate --image exited $?"
b=$("$MM" generate -m "$F/gemma4-e2b-f32.gguf" --mmproj "$F/mmproj-gemma4v-f32.gguf" --image "$IMG" -p "<__media__>Describe this image." -n 6 --temp 0 -t 2) || fail "generate --image (marker) exited $?"
[ -n "$a" ] && [ "$a" = "$b" ] || fail "generate --image: no marker ($a) != marker first ($b)"
# the image token budget reaches the preprocessing: a 160x120 picture is fine at the default
# 70..1120, but at 1000..1120 tokens its patch grid outgrows the tiny mmproj's position table
BIG=$(cd "$(dirname "$0")/../../samples/images" && pwd)/landscape.png
G4V=(-m "$F/gemma4-e2b-f32.gguf" --mmproj "$F/mmproj-gemma4v-f32.gguf" --image "$BIG" -p "Describe." -n 2 --temp 0)
"$MM" generate "${G4V[@]}" > /dev/null || fail "generate --image 160x120 at the default budget exited $?"
"$MM" generate "${G4V[@]}" --image-min-tokens 1000 --image-max-tokens 1120 > /dev/null 2> budget.err
rc=$?; [ $rc = 1 ] && grep -q "position table" budget.err || fail "--image-min-tokens 1000: exit $rc, $(cat budget.err)"
"$MM" generate "${G4V[@]}" --image-max-tokens 0 > /dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "--image-max-tokens 0: exit $rc, want 2"
"$MM" generate -m "$F/gemma3-f32.gguf" --mmproj "$F/mmproj-gemma3-f32.gguf" --image "$IMG" --image "$IMG" --chat -p "<__media__> and <__media__>?" -n 4 --temp 0 > /dev/null || fail "generate two images --chat exited $?"
"$MM" generate -m "$F/gemma3-f32.gguf" --mmproj "$F/mmproj-gemma3-f32.gguf" --image "$IMG" -p "<__media__> <__media__>" -n 2 > /dev/null 2>&1 && fail "two markers for one image accepted"
"$MM" generate -m "$F/gemma3-f32.gguf" --image "$IMG" -p "x" -n 2 > /dev/null 2>&1; [ $? = 2 ] || fail "--image without --mmproj: not a usage error"

# generate with audio: deterministic, a recording without a marker goes before the text, several
# --audio allowed, --image and --audio mixed on the two-tower file, and clear refusals: --audio
# without --mmproj (usage error), a vision-only mmproj, a file with only a video stream
AUD=$PACK/media/jfk-250ms.wav
a=$("$MM" generate -m "$F/gemma4-e2b-f32.gguf" --mmproj "$F/mmproj-gemma4a-f32.gguf" --audio "$AUD" -p "Transcribe this." -n 6 --temp 0) || fail "generate --audio exited $?"
b=$("$MM" generate -m "$F/gemma4-e2b-f32.gguf" --mmproj "$F/mmproj-gemma4a-f32.gguf" --audio "$AUD" -p "<__media__>Transcribe this." -n 6 --temp 0 -t 2) || fail "generate --audio (marker) exited $?"
[ -n "$a" ] && [ "$a" = "$b" ] || fail "generate --audio: no marker ($a) != marker first ($b)"
"$MM" generate -m "$F/gemma4-e2b-f32.gguf" --mmproj "$F/mmproj-gemma4a-f32.gguf" --audio "$AUD" --audio "$PACK/media/silence-5s.wav" --chat -p "<__media__> then <__media__>?" -n 3 --temp 0 > /dev/null || fail "generate two --audio --chat exited $?"
"$MM" generate -m "$F/gemma4-e2b-f32.gguf" --mmproj "$F/mmproj-gemma4va-f32.gguf" --image "$IMG" --audio "$AUD" -p "<__media__> and <__media__>" -n 3 --temp 0 > /dev/null || fail "generate --image --audio (gemma4va) exited $?"
"$MM" generate -m "$F/gemma4-e2b-f32.gguf" --audio "$AUD" -p "x" -n 2 > /dev/null 2>&1; [ $? = 2 ] || fail "--audio without --mmproj: not a usage error"
err=$("$MM" generate -m "$F/gemma4-e2b-f32.gguf" --mmproj "$F/mmproj-gemma4v-f32.gguf" --audio "$AUD" -p "x" -n 2 2>&1 >/dev/null) && fail "--audio with a vision-only mmproj accepted"
case $err in *"audio tower"*) ;; *) fail "--audio with a vision-only mmproj: unclear message: $err" ;; esac
VID=$(cd "$(dirname "$0")/../data/audio" && pwd)/video_only.mp4
err=$("$MM" generate -m "$F/gemma4-e2b-f32.gguf" --mmproj "$F/mmproj-gemma4a-f32.gguf" --audio "$VID" -p "x" -n 2 2>&1 >/dev/null) && fail "--audio with a video-only file accepted"
case $err in *video_only.mp4*) ;; *) fail "--audio video-only: message does not name the file: $err" ;; esac

# model-info
"$MM" model-info "$F/gemma4-e2b-q4_k.gguf" --json > info.json || fail "model-info exited $?"
$PY - <<'PY' || fail "model-info --json content"
import json; d = json.load(open("info.json"))
assert d["architecture"] == "gemma4" and d["n_layer"] == 10 and d["n_embd"] == 256, d
assert "Q4_K" in d["types"] and d["n_params"] > 0 and d["mem_bytes"] >= d["file_size"] // 2, d
PY
"$MM" model-info "$F/gemma3-f32.gguf" | grep -q "architecture *gemma3" || fail "model-info table"
# identity: file size + hash of the metadata; stable, and different for another file
id1=$("$MM" model-info "$F/gemma3-q4_0.gguf" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["identity"])')
id2=$("$MM" model-info "$F/gemma3-q4_0.gguf" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["identity"])')
id3=$("$MM" model-info "$F/gemma3-q8_0.gguf" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["identity"])')
[ "$id1" = "$id2" ] && [ "$id1" != "$id3" ] || fail "model identity: $id1 / $id2 / $id3"
[ "${id1%%:*}" = "$(stat -c %s "$F/gemma3-q4_0.gguf")" ] || fail "identity starts with the file size: $id1"

# embed == the case's embedding (cosine)
"$MM" embed -m "$F/gemma-embed-f32.gguf" -p "The sea is calm tonight." --json > emb.json || fail "embed exited $?"
$PY - "$PACK" <<'PY' || fail "embed differs from llama.cpp's"
import json, sys, numpy as np
got = np.array(json.load(open("emb.json")), dtype=np.float64)
ref = np.fromfile(sys.argv[1] + "/cases/embed-gemma-embed-f32-0.embedding.f32", dtype="<f4").astype(np.float64)
cos = got @ ref / np.linalg.norm(got) / np.linalg.norm(ref)
assert cos > 0.9999, cos
PY

# bad model files
run generate -m nosuch.gguf -p x
[ "$RC" = 1 ] && grep -q "nosuch.gguf" "$T/.err" || fail "missing model: exit $RC, $(cat "$T/.err")"
head -c 4096 /dev/urandom > junk.gguf
run model-info junk.gguf
[ "$RC" = 1 ] && grep -q "junk.gguf" "$T/.err" || fail "junk model: exit $RC"
run generate -m "$F/ggml-vocab-llama-spm.gguf" -p x
[ "$RC" = 1 ] && grep -qi "missing tensor" "$T/.err" || fail "vocab-only file: exit $RC, $(cat "$T/.err")"
run embed -m "$F/gemma3-f32.gguf" -p x
[ "$RC" = 1 ] && grep -q "not an embedding model" "$T/.err" || fail "embed with a decoder: exit $RC"
run generate -p x
[ "$RC" = 2 ] || fail "generate without -m: exit $RC"
# eval: missing, malformed, truncated and unsupported cases fail cleanly (exit 1, file named)
run eval --case nosuch.json --out o1
[ "$RC" = 1 ] && grep -q "nosuch.json" "$T/.err" || fail "eval missing case: exit $RC"
printf '{"case": "x", "kind": "text", "model": "models/llama-f32.gguf", "prom' > trunc.json
run eval --case trunc.json --out o2
[ "$RC" = 1 ] && grep -q "trunc.json" "$T/.err" || fail "eval truncated case: exit $RC, $(cat "$T/.err")"
head -c 2000 /dev/urandom > junk.json
run eval --case junk.json --out o3
[ "$RC" = 1 ] || fail "eval junk case: exit $RC"
mkdir -p pack/cases pack/models && cp "$F/llama-f32.gguf" pack/models/
echo '{"case": "k", "kind": "video", "model": "models/llama-f32.gguf"}' > pack/cases/k.json
run eval --case pack/cases/k.json --out o4
[ "$RC" = 1 ] && grep -q "not supported" "$T/.err" || fail "eval unknown kind: exit $RC"
echo '{"case": "m", "kind": "text", "model": "models/none.gguf", "prompt": "hi"}' > pack/cases/m.json
run eval --case pack/cases/m.json --out o5
[ "$RC" = 1 ] && grep -q "none.gguf" "$T/.err" || fail "eval missing model: exit $RC"
head -c 100000 "$F/llama-f32.gguf" > pack/models/cut.gguf
echo '{"case": "c", "kind": "text", "model": "models/cut.gguf", "prompt": "hi"}' > pack/cases/c.json
run eval --case pack/cases/c.json --out o6
[ "$RC" = 1 ] && grep -q "cut.gguf" "$T/.err" || fail "eval truncated model: exit $RC, $(cat "$T/.err")"
run eval --out o7
[ "$RC" = 2 ] || fail "eval without --case: exit $RC"
echo "model commands: ok"
