#!/usr/bin/env bash
# The README's first command: installs what is needed, builds, and runs the main
# job on the embedded default model (examples/tiny-early-exit.json): import the
# config and show its ee IR, compile it into a native binary, initialise a
# checkpoint... then train it on the King James Bible, evaluate every exit on
# held-out text, plot the loss curves and generate from a prompt, at full depth
# and with early exits (both methods), showing the per-exit statistics.
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

# bf16 mixed precision (bf16 weights and GEMM inputs, fp32 accumulation and
# master weights) where the CPU has AVX512-BF16's dot products, else fp32.
if grep -qw avx512_bf16 /proc/cpuinfo; then dtype=bf16; else dtype=fp32; fi
dtype=${EE_DEMO_DTYPE:-$dtype}
echo
echo "== compiling the model binary $out/model, --dtype $dtype" \
  "($( [ "$dtype" = bf16 ] && echo "this CPU has AVX512-BF16" || echo "fp32: no AVX512-BF16 on this CPU, or EE_DEMO_DTYPE"))"
"$build/bin/ee-compile" "$config" --dtype "$dtype" -o "$out/model"
"$out/model" info | sed -n '/"entries"/,$p'

# The demo corpus: the King James Bible (Debian's bible-kjv); Revelation is
# held out for evaluation.
if [ ! -s "$out/kjv-train.txt" ]; then
  bible -f "Genesis 1:1-Jude 1:25" > "$out/kjv-train.txt"
  bible -f "Revelation 1:1-22:21" > "$out/kjv-eval.txt"
fi
iters=${EE_DEMO_ITERS:-500}
echo
echo "== training the early-exit model for $iters iterations on $(wc -c < "$out/kjv-train.txt") bytes of the KJV"
rm -rf "$out/run"
"$out/model" train --data "$out/kjv-train.txt" --iters "$iters" --global-batch 16 --micro-batch 8 \
  --seq-len 128 --lr 3e-3 --min-lr 3e-4 --lr-warmup-iters 20 --weight-decay 0.01 --clip-grad 1.0 \
  --seed 1 --save "$out/run" --save-interval 250 --keep-last 2 --log-interval 50
echo
echo "== eval of every exit on the held-out Book of Revelation"
"$out/model" eval --load "$out/run" --data "$out/kjv-eval.txt" --seq-len 128
bash "$root/scripts/plot_losses.sh" "$out/run/metrics.jsonl" "$out/losses.png"
echo
echo "== full-depth greedy generation"
"$out/model" generate --load "$out/run" --prompt "And God said, " --max-new-tokens 120
"$out/model" generate --load "$out/run" --prompt "And God said, " --max-new-tokens 5 --json
threshold=${EE_DEMO_THRESHOLD:-0.8}
echo
echo "== early-exit generation, KV recomputation: a token exits where its confidence >= $threshold"
echo "   (text, then the tokens per exit and the speedup over full depth measured in the same run)"
"$out/model" generate --load "$out/run" --prompt "And God said, " --max-new-tokens 120 \
  --early-exit-thres "$threshold"
echo
echo "== the pipeline-based method: the model compiled into 2 stages, one MPI rank each"
"$build/bin/ee-compile" "$config" --pp 2 --dtype "$dtype" -o "$out/model.pp2"
mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 "$out/model.pp2" generate \
  --load "$out/run" --prompt "And God said, " --max-new-tokens 120 --early-exit-thres "$threshold"
echo
echo "== self-speculative decoding (lossless: the full model's tokens): the exit after layer 2 drafts"
echo "   2 tokens at a time, the layers after it verify them in one pass"
"$out/model" generate --load "$out/run" --prompt "And God said, " --max-new-tokens 120 \
  --method speculative --draft-exit 2 --draft-tokens 2
