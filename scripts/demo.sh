#!/usr/bin/env bash
# The README's first command: installs what is needed, builds, and runs the main
# job on the embedded default model (examples/tiny-early-exit.json): import the
# config and show its ee IR, compile it into a native binary, initialise a
# checkpoint, evaluate every exit on a text and generate from a prompt.
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

echo
echo "== compiling the model binary $out/model"
"$build/bin/ee-compile" "$config" -o "$out/model"
"$out/model" info | sed -n '/"entries"/,$p'
rm -rf "$out/checkpoint"
"$out/model" init --out "$out/checkpoint" --seed 1
echo
echo "== eval of every exit (random weights; training comes next) on docs/architecture.md"
"$out/model" eval --load "$out/checkpoint" --data "$root/docs/architecture.md" --seq-len 128
echo
echo "== full-depth greedy generation (--json: one record per token, then a summary)"
"$out/model" generate --load "$out/checkpoint" --prompt "In the beginning" --max-new-tokens 8 --json
