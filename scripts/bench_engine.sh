#!/bin/bash
# scripts/bench_engine.sh [MODEL.gguf] — mmpipe's decoder beside llama.cpp on the same machine,
# in one run: `mmpipe bench` and `llama_ref --bench` (../shared/tools/llamacpp) at pp512 / tg128,
# 1 and 2 threads.  Without a model it makes the gemma3-270M shape (Q4_0) with make_tiny.py.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=$(cd .. && pwd)/shared
M=${1:-build/g3-270m-q4_0.gguf}
[ -f "$M" ] || /usr/bin/python3 "$SHARED/tools/make_tiny.py" --preset gemma3-270m --dtype Q4_0 --out "$M"
[ -x build/pipeline/mmpipe ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$(nproc)" >/dev/null; }
REF=${LLAMA_REF:-$HOME/.cache/mmpipe-llamacpp/llama_ref}
[ -x "$REF" ] || REF=$(bash "$SHARED/tools/llamacpp/setup.sh" 2>/dev/null | tail -n 1) || REF=""
for t in 1 2; do
    echo "mmpipe   t=$t $(build/pipeline/mmpipe bench -m "$M" -t $t --pp 512 --tg 128 --json)"
    if [ -n "$REF" ] && [ -x "$REF" ]; then
        "$REF" -m "$M" --bench --pp 512 --tg 128 --reps 1 -t $t 2>/dev/null |
            /usr/bin/python3 -c 'import json,sys; b=json.load(sys.stdin)["bench"]; print("llama.cpp t=%d pp512 %.1f tok/s, tg128 %.1f tok/s" % (b["threads"], b["pp"]["tokens_per_s"], b["tg"]["tokens_per_s"]))'
    fi
done
