#!/usr/bin/env bash
# Everything a GPU machine should prove, in one run that needs no Node: build the native core with the CUDA
# backend there (cuBLASLt from the CUDA toolkit or the nvidia-cublas Python package when present, and a second
# build with the built-in tensor-core GEMM, so both GEMM paths are checked), then
#   1. the op table on CUDA (every kernel and GEMM against the reference), both builds;
#   2. the PyTorch golden parity on CUDA (losses, every gradient, fp32 and bf16, the 10-step training curves);
#   3. 50 training steps by the CPU engine and the CUDA engine of one process from the same weights and seed,
#      per-step losses within the fp32 tolerance, then a bf16 CUDA run that trains;
#   4. the training-step benchmark (BERT-base and -large, sequence 128 and 512, bf16) beside HuggingFace's
#      BertForPreTraining on the same GPU.
# Results (logs, JSON lines, summary.md) go to OUT. Exit status: the number of failed checks.
#   scripts/gpu-check.sh OUT [--quick] [--prebuilt DIR]
#     --quick          a small benchmark (to try the script on any machine)
#     --prebuilt DIR   use the test and benchmark binaries in DIR (a build carried from elsewhere) instead of
#                      building here
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: scripts/gpu-check.sh OUT [--quick] [--prebuilt DIR]"
out=${1:?$usage}
shift
quick="" prebuilt=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=--quick ;;
    --prebuilt) prebuilt=$(cd "${2:?$usage}" && pwd); shift ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
jobs=$(nproc)
export BERT_TOLERANCES_JSON="$repo/test/tolerances.json"  # this checkout's, also for a carried build
failed=0
summary="$out/summary.md"
: >"$summary"

note() { echo "$*" | tee -a "$summary"; }
# check NAME TIMEOUT COMMAND...: runs it with its output in OUT/NAME.txt; 77 is "skipped"
check() {
  local name=$1 limit=$2
  shift 2
  local start rc
  start=$(date +%s)
  timeout "$limit" "$@" >"$out/$name.txt" 2>&1
  rc=$?
  local took=$(($(date +%s) - start))
  if [ $rc -eq 0 ]; then
    note "- $name: passed ($took s)"
  elif [ $rc -eq 77 ]; then
    note "- $name: skipped: $(grep -m1 'no GPU' "$out/$name.txt")"
  else
    note "- $name: FAILED (exit $rc, $took s): see $name.txt"
    failed=$((failed + 1))
  fi
}

# cuBLASLt: the toolkit's, else the Python package's (header and library found by name, wherever it keeps them)
find_cublaslt() {
  local roots
  roots="/usr/local/cuda $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)"
  lib=$(find $roots -name 'libcublasLt.so*' 2>/dev/null | sort | head -1)
  header=$(find $roots -name cublasLt.h 2>/dev/null | head -1)
}

build() {  # build DIR EXTRA_CMAKE_ARGS...
  local dir=$1
  shift
  cmake -S "$repo" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBERT_CUDA=ON "$@" >"$out/cmake-$(basename "$dir").txt" 2>&1 &&
    cmake --build "$dir" -j"$jobs" --target test_backend_ops test_golden test_training_backends bench_training \
      >>"$out/cmake-$(basename "$dir").txt" 2>&1
}

note "# GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >"$out/nvidia-smi.txt" 2>&1
note "GPU: $(tail -1 "$out/nvidia-smi.txt"); nvcc: $(nvcc --version | tail -1)"

builtin="$out/build-builtin"
primary="$builtin"
if [ -n "$prebuilt" ]; then
  note "binaries: carried build $prebuilt"
  builtin="$prebuilt" primary="$prebuilt"
else
  find_cublaslt
  if [ -n "$lib" ] && [ -n "$header" ]; then
    note "cuBLASLt: $lib"
    export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    if build "$out/build-cublaslt" -DCUBLASLT_LIBRARY="$lib" -DCUBLASLT_INCLUDE_DIR="$(dirname "$header")"; then
      primary="$out/build-cublaslt"
    else
      note "- build with cuBLASLt: FAILED (see cmake-build-cublaslt.txt); the checks use the built-in GEMM"
      failed=$((failed + 1))
    fi
  else
    note "cuBLASLt: not found; the built-in tensor-core GEMM only"
  fi
  if ! build "$builtin" -DCUBLASLT_LIBRARY=CUBLASLT_LIBRARY-NOTFOUND -DCUBLASLT_INCLUDE_DIR=CUBLASLT_INCLUDE_DIR-NOTFOUND; then
    note "- build with the built-in GEMM: FAILED (see cmake-build-builtin.txt)"
    exit 1
  fi
fi

check ops-builtin 120 "$builtin/test_backend_ops" cuda
[ "$primary" != "$builtin" ] && check ops-cublaslt 120 "$primary/test_backend_ops" cuda
check golden 180 "$primary/test_golden" cuda "$repo/test/golden"
check training 180 "$primary/test_training_backends" cuda
check bench-ours 240 "$primary/bench_training" cuda $quick
check bench-torch 300 python3 "$repo/scripts/gpu_torch_bench.py" $quick
python3 "$repo/scripts/gpu_bench_table.py" "$out/bench-ours.txt" "$out/bench-torch.txt" >>"$summary" 2>&1 || true
note "failed checks: $failed"
exit "$failed"
