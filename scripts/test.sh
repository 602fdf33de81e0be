#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, runs every test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${EE_BUILD_DIR:-$root/build}
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
ctest --test-dir "$build" --output-on-failure
# Every reader of untrusted bytes, fuzzed for a bounded time (EE_FUZZ_SECONDS).
bash "$root/scripts/fuzz.sh"
