#!/bin/bash
# scripts/test.sh — the README's second command and what CI runs (.ci/run):
# install, then a Release build running the whole suite (fixtures included), then an
# ASan+UBSan build running the unit, queue, cli and engine tests, then each fuzz target
# for a fixed short time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
J=$(nproc)
echo "== Release build + whole suite"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$J"
(cd build && ctest --output-on-failure --timeout 900)
echo "== ASan + UBSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMMPIPE_SANITIZE=ON > /dev/null
cmake --build build-asan -j"$J"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
(cd build-asan && ctest --output-on-failure --timeout 900 -L 'unit|queue|cli|engine|decoders' -LE 'fixtures|heavy')
# a few fixture cases under the sanitizers, not the sweep
(cd build-asan && ctest --output-on-failure --timeout 900 -R '^(forward_llama_gemma3|test_tokenizer_cases)$')
echo "== fuzzers"
scripts/fuzz.sh "${FUZZ_SECONDS:-45}"
echo "== all tests passed"
