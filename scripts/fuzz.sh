#!/bin/bash
# scripts/fuzz.sh [SECONDS] — builds the libFuzzer targets with clang (ASan+UBSan)
# and runs each for SECONDS (default 45) over its seed corpus.  Fails on any crash.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-45}
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DMMPIPE_FUZZ=ON -DMMPIPE_WERROR=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build-fuzz -j"$(nproc)" > /dev/null
mkdir -p build-fuzz/corpus build-fuzz/artifacts
status=0
for bin in $(find build-fuzz -maxdepth 3 -type f -name 'fuzz_*' -perm -u+x | sort); do
    name=$(basename "$bin")
    seed=tests/fuzz/corpus_${name#fuzz_}
    work=build-fuzz/corpus/$name
    mkdir -p "$work"
    [ -d "$seed" ] && cp -n "$seed"/* "$work"/ 2>/dev/null || true
    echo "== $name for ${SECS}s"
    if ! "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
         -artifact_prefix=build-fuzz/artifacts/"$name"- "$work" 2> build-fuzz/"$name".log; then
        echo "FAIL: $name crashed; see build-fuzz/$name.log and build-fuzz/artifacts/" >&2
        tail -n 40 build-fuzz/"$name".log >&2
        status=1
    else
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" build-fuzz/"$name".log | tr '\n' ' '
        echo
    fi
done
exit $status
