#!/bin/bash
# scripts/demo.sh — the README's first command: install, build, and run mmpipe's main
# job on the bundled samples.  Until the model jobs land (issue 6) the job is `hash`:
# every sample file goes through the durable queue and gets its SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" > /dev/null
M=$PWD/build/pipeline/mmpipe
DB=${MMPIPE_DEMO_DB:-build/demo.db}
echo "== mmpipe hash samples/  (database: $DB)"
"$M" hash --db "$DB" samples
echo "== a second run does no work:"
"$M" hash --db "$DB" samples > /dev/null
echo "== mmpipe status --db $DB"
"$M" status --db "$DB"
echo "== mmpipe results export --kind hash --format jsonl (first 3)"
"$M" results export --db "$DB" --kind hash --format jsonl | head -n 3
