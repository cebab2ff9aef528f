#!/usr/bin/env bash
# The C++ tests again, built with AddressSanitizer and UndefinedBehaviorSanitizer (CI runs this after npm test).
# The CUDA code is left out here (the main build compiles it; nothing runs it without a GPU). Leak checking is off: OpenMP's and oneDNN's process-lifetime allocations are reported as leaks.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -DBERT_SANITIZE=ON -DBERT_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-asan -j"$(nproc)" --target test_kernels test_gradcheck test_dropout test_engine test_gradient_sync
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure
