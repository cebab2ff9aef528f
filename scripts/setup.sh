#!/usr/bin/env bash
# Sets up a Debian/Ubuntu machine for bert-train, idempotently: the system packages the build needs, then
# `npm ci` and the build. Safe to run again; installs only what is missing.
#
#   scripts/setup.sh            build tools + oneDNN + OpenMPI + PyTorch (for `bert-train bench` and scripts/make_golden.py)
#   scripts/setup.sh --no-torch build tools + oneDNN + OpenMPI only (enough to build and run the tests)
#                               (every variant installs DejaVu fonts: the text of `bert-train plot`'s PNGs)
#   scripts/setup.sh --dev      also what CI checks with: the formatter (clang-format), strace (fault injection)
#                               and h5py (the independent HDF5 reader and writer of the HDF5 tests)
set -euo pipefail
cd "$(dirname "$0")/.."

with_torch=1
dev=0
for arg in "$@"; do
  case "$arg" in
    --no-torch) with_torch=0 ;;
    --dev) dev=1 ;;
    *) echo "setup.sh: unknown option $arg (expected --no-torch or --dev)" >&2; exit 2 ;;
  esac
done

packages=(cmake make g++ libdnnl-dev libopenmpi-dev openmpi-bin fonts-dejavu-core)
# Debian's python3-torch links the reference BLAS by default (a few GFLOP/s); OpenBLAS gives the PyTorch side
# of the benchmark its best Debian BLAS, so the comparison is fair.
[ "$with_torch" = 1 ] && packages+=(python3-torch libopenblas0-openmp)
[ "$dev" = 1 ] && packages+=(clang-format strace python3-h5py)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup.sh: installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "setup.sh: bert-train needs Node.js 20 or newer on the PATH" >&2
  exit 1
fi

npm ci --no-audit --no-fund
npm run build
