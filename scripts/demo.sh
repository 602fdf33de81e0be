#!/usr/bin/env bash
# The README's first command: installs what is needed, builds, and runs the main
# job on the embedded default model (examples/tiny-early-exit.json): import the
# config into the ee dialect, expand it into primitive ops, and show both.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${EE_BUILD_DIR:-$root/build}
config=${1:-$root/examples/tiny-early-exit.json}
out=${EE_DEMO_DIR:-$build/demo}

bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
mkdir -p "$out"

echo "== config: $config"
"$build/bin/ee-compile" "$config" --emit ee -o "$out/model.ee.mlir"
echo "== model-level ee IR ($out/model.ee.mlir), the forward pass:"
sed -n '/func.func @forward/,/^  }/p' "$out/model.ee.mlir"

"$build/bin/ee-compile" "$config" --emit primitives -o "$out/model.primitives.mlir"
echo
echo "== after ee-expand + canonicalize + cse ($out/model.primitives.mlir), ops per kind:"
"$build/bin/ee-opt" "$out/model.primitives.mlir" --print-op-stats -o /dev/null 2>&1 |
  sed -n '/Operations encountered/,$p'
