#!/usr/bin/env bash
# Installs every Debian package the project builds, tests or demos with (idempotent).
set -euo pipefail

packages=(
  # compiler: MLIR/LLVM 22, lit/FileCheck
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools
  # build
  cmake ninja-build ccache g++ pkg-config
  # libraries
  nlohmann-json3-dev libgtest-dev libopenblas-openmp-dev libdnnl-dev libsentencepiece-dev sentencepiece
  # communication between ranks: MPI (mpirun runs many ranks on one machine)
  libopenmpi-dev openmpi-bin
  # the generation server (BIN serve): cpp-httplib, header-only
  libcpp-httplib-dev
  # tests: lit drives Debian's python3; PyTorch is the independent numeric reference
  python3 python3-numpy python3-torch
  # fuzzing (scripts/fuzz.sh): clang with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
  # portable bundles of model binaries (scripts/bundle.sh)
  patchelf
  # demo: the King James Bible corpus and loss plots
  bible-kjv gnuplot-nox
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "setup: installing ${missing[*]}"
# Only refresh the package lists when they are missing or a first install attempt fails.
export DEBIAN_FRONTEND=noninteractive
if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ] ||
   ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; then
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
