#!/usr/bin/env bash
# clang-format over the C++ sources: checks by default, rewrites with --fix.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files 'native/*.cpp' 'native/*.h' 'native/*.cu' 'native/*.cuh' 'native/*.inc')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i $files
else
  clang-format --dry-run -Werror $files
fi
