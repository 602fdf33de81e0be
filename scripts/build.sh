#!/usr/bin/env bash
# Configures (Ninja, ccache) and builds the project into build/ (or $EE_BUILD_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${EE_BUILD_DIR:-$root/build}
# Paths relative to the checkout, so that ccache hits across clones (CI).
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build" --target all docs -- -j "${EE_BUILD_JOBS:-$(nproc)}"
