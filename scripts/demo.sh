#!/bin/bash
# scripts/demo.sh — the README's first command: install, build, and run mmpipe's jobs on the
# bundled samples: `hash` (model-free), then `caption` on samples/images and `transcribe
# --summarize` on samples/audio with the bundled random-weight model pair (samples/models:
# the texts are gibberish; the pipeline is what is shown), then document ingestion + hybrid
# search with the bundled random-weight embedding model (samples/models/embed-tiny.gguf:
# retrieval quality comes from BM25 with it; point --embed-model at a real EmbeddingGemma GGUF
# for meaningful vectors), the images and recordings ingested as chunks (-m/--mmproj), and
# `mmpipe ask` answering from the chunks.  Needs nothing outside the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" > /dev/null
M=$PWD/build/pipeline/mmpipe
DB=${MMPIPE_DEMO_DB:-build/demo.db}
OUT=build/demo-out
MODEL=(-m samples/models/tiny-gemma4-e2b-q8_0.gguf --mmproj samples/models/tiny-mmproj-gemma4va.gguf)
echo "== mmpipe hash samples/  (database: $DB)"
"$M" hash --db "$DB" samples
echo "== a second run does no work:"
"$M" hash --db "$DB" samples > /dev/null
echo "== mmpipe caption samples/images  (random-weight demo model: gibberish captions)"
mkdir -p "$OUT"
"$M" caption --db "$DB" "${MODEL[@]}" --out "$OUT/captions.jsonl" samples/images
echo "== mmpipe transcribe --summarize samples/audio  (files under $OUT/)"
"$M" transcribe --db "$DB" "${MODEL[@]}" --summarize --out-dir "$OUT" samples/audio
echo "== $OUT/hello.wav.srt"
cat "$OUT/hello.wav.srt"
echo "== a second run does no model work:"
"$M" caption --db "$DB" "${MODEL[@]}" --quiet samples/images > /dev/null
"$M" transcribe --db "$DB" "${MODEL[@]}" --quiet --summarize --out-dir "$OUT" samples/audio > /dev/null
echo "== mmpipe status --db $DB"
"$M" status --db "$DB"
echo "== mmpipe results export --kind hash --format jsonl (first 3)"
"$M" results export --db "$DB" --kind hash --format jsonl | sed -n 1,3p
EMB=${MMPIPE_EMBED_MODEL:-samples/models/embed-tiny.gguf}
echo "== mmpipe ingest samples/docs --embed-model $EMB"
"$M" ingest --db "$DB" --embed-model "$EMB" samples/docs
echo "== a second run does no model work:"
"$M" ingest --db "$DB" --embed-model "$EMB" samples/docs
echo "== mmpipe search \"how many steps does the lighthouse climb have?\" -k 3"
"$M" search --db "$DB" --embed-model "$EMB" -k 3 "how many steps does the lighthouse climb have?"
echo "== mmpipe search \"green tea water temperature\" -k 1 --json"
"$M" search --db "$DB" --embed-model "$EMB" -k 1 --json "green tea water temperature"
echo "== mmpipe ingest samples/images samples/audio -m ... --mmproj ... (captions and transcripts become chunks;"
echo "   the caption / transcribe jobs above are reused: no model work but the embedding)"
"$M" ingest --db "$DB" --embed-model "$EMB" "${MODEL[@]}" samples/images samples/audio
echo "== mmpipe search \"\$(a caption)\" -k 1 --json  (random-weight captions: queried with one's own text)"
CAP=$("$M" results export --db "$DB" --kind caption --format jsonl | sed -n 1p |
      python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["text"])')
"$M" search --db "$DB" --embed-model "$EMB" -k 1 --json "$CAP"
echo "== mmpipe ask \"how hot should the water be for green tea?\" -k 2  (the random-weight model's answer is gibberish)"
"$M" ask --db "$DB" --embed-model "$EMB" -m samples/models/tiny-gemma4-e2b-q8_0.gguf -k 2 -n 32 \
    "how hot should the water be for green tea?"
