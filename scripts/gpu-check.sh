#!/usr/bin/env bash
# The GPU checks of the cuda backend, as one prepared run on a machine with one NVIDIA GPU.
#
# On the build machine:  scripts/gpu-check.sh --make-bundle [build/gpu-bundle.tar.gz]
#   gathers the runtime libraries (libeert for the CPU reference, libeert_cuda),
#   eert-cuda-probe, the e2e test models (test/e2e/Inputs) compiled for
#   both targets and the 1.3B EE-LLM config compiled for cuda in bf16, into a
#   portable bundle (scripts/bundle.sh; about 40 MB packed), to carry to the
#   GPU machine with this checkout (which has no compiler there).
# On the GPU machine:    scripts/gpu-check.sh [build/gpu-bundle.tar.gz] [--out DIR]
#   needs the NVIDIA driver and python3 with PyTorch (which also supplies
#   cuBLASLt and NCCL, found through its nvidia-* packages; or set
#   EERT_CUDA_LIBRARY_PATH). Runs, in well under 8 minutes on an H100/H200:
#   the probe, every CUDA kernel against its CPU kernel (fp32 and bf16,
#   forward and backward, the test models' and a 1.3B layer's sizes), each
#   test model's cuda binary against its cpu binary (eval, gradients,
#   training and resume, greedy, early-exit and speculative tokens:
#   test/runtime/cuda_model_check.py), the kernel benchmark and the 1.3B
#   model's training (tokens/s, MFU) and batch-1 decode (against the HBM
#   bound, full depth and early exit: bench/cuda_model_bench.py) beside
#   PyTorch eager bf16. Prints one table and writes it
#   as DIR/gpu-check.json (DIR: $OUT, else build/gpu-check). Exits 1 if a
#   check fails or there is no usable GPU.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [ "${1:-}" = "--make-bundle" ]; then
  set -e
  archive=${2:-$root/build/gpu-bundle.tar.gz}
  build=${EE_BUILD_DIR:-$root/build}
  folder=${archive%.tar.gz}
  [ -f "$build/lib/libeert_cuda.so" ] ||
    { echo "gpu-check: $build has no libeert_cuda.so (is the CUDA toolkit installed?)" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  models=()
  for config in "$root"/test/e2e/Inputs/*.json; do
    name=$(basename "$config" .json)
    for target in cpu cuda; do
      "$build/bin/ee-compile" "$config" --target "$target" -o "$tmp/$name-$target"
      models+=("$tmp/$name-$target")
    done
  done
  # One model in bf16 too (the model check's bf16 tolerances).
  for target in cpu cuda; do
    "$build/bin/ee-compile" "$root/test/e2e/Inputs/block-exits-gqa.json" --dtype bf16 \
      --target "$target" -o "$tmp/block-exits-gqa-bf16-$target"
    models+=("$tmp/block-exits-gqa-bf16-$target")
  done
  "$build/bin/ee-compile" "$root/examples/eellm-1.3b.json" --target cuda --dtype bf16 -o "$tmp/eellm-1.3b-bench"
  models+=("$tmp/eellm-1.3b-bench")
  bash "$root/scripts/bundle.sh" --c-library --archive "$folder" "${models[@]}" \
    "$build/lib/libeert.so" "$build/lib/libeert_cuda.so" "$build/bin/eert-cuda-probe"
  exit 0
fi

bundle=$root/build/gpu-bundle.tar.gz
out=${OUT:-$root/build/gpu-check}
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    *) bundle=$1; shift ;;
  esac
done
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -d "$bundle" ]; then
  cp -a "$bundle" "$work/bundle"
else
  tar -C "$work" -xzf "$bundle" && mv "$work"/*/ "$work/bundle" 2>/dev/null ||
    { echo "gpu-check: cannot unpack $bundle (make it with --make-bundle)" >&2; exit 1; }
fi
b=$work/bundle
python=${PYTHON:-python3}

# cuBLASLt and NCCL from PyTorch's packages, where the system has none.
if [ -z "${EERT_CUDA_LIBRARY_PATH:-}" ]; then
  EERT_CUDA_LIBRARY_PATH=$("$python" - <<'PY' 2>/dev/null
import importlib, os
folders = []
for name in ("nvidia.cu13", "nvidia.cublas", "nvidia.nccl"):
    try:
        module = importlib.import_module(name)
    except ImportError:
        continue
    for base in module.__path__:
        for sub in ("lib", "lib64"):
            if os.path.isdir(os.path.join(base, sub)):
                folders.append(os.path.join(base, sub))
print(":".join(folders))
PY
  )
  export EERT_CUDA_LIBRARY_PATH
fi

python=$(command -v "$python") || { echo "gpu-check: no $python" >&2; exit 1; }
# The bundle's C library where the system's is older than the bundle needs
# (its programs, and python3 loading its libraries, then run on it).
launcher=()
needed=$(grep -o 'GLIBC_2\.[0-9]*' "$b/BUNDLE" | head -1 | cut -c7-)
have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print $2 }')
if [ -n "$needed" ] && [ -n "$have" ] && [ -x "$b/libc/ld-linux-x86-64.so.2" ] &&
   [ "$(printf '%s\n%s\n' "$needed" "$have" | sort -t. -k1,1n -k2,2n | head -1)" != "$needed" ]; then
  echo "gpu-check: glibc $have here, the bundle needs $needed: running on the bundle's"
  launcher=("$b/libc/ld-linux-x86-64.so.2" --library-path "$b/libc:$b/lib")
fi

results=()
failed=0
record() { # NAME STATUS SECONDS DETAIL
  results+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"$4")
  [ "$2" = pass ] || [ "$2" = info ] || failed=1
}
timed() { # NAME LOG COMMAND...: runs it, records pass/fail and its last line
  local name=$1 log=$2 start end status
  shift 2
  start=$(date +%s.%N)
  "$@" > "$log" 2>&1
  status=$?
  end=$(date +%s.%N)
  record "$name" "$([ $status = 0 ] && echo pass || echo FAIL)" \
    "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')" \
    "$(grep -v '^\s*$' "$log" | tail -1 | cut -c1-120)"
  return $status
}

if timed probe "$out/probe.log" "${launcher[@]}" "$b/bin/eert-cuda-probe"; then
  device=$(grep '^device:' "$out/probe.log" | cut -c9-)
  timed "kernels vs CPU (test + 1.3B sizes)" "$out/kernels.log" \
    "${launcher[@]}" "$python" "$root/test/runtime/cuda_kernels_test.py" "$b/lib/libeert.so" "$b/lib/libeert_cuda.so"
  for binary in "$b"/bin/*-cuda; do
    name=$(basename "$binary" -cuda)
    EERT_RUN_PREFIX="${launcher[*]}" timed "model $name: cuda binary vs cpu binary" "$out/model-$name.log" \
      "$python" "$root/test/runtime/cuda_model_check.py" "$b/bin/$name-cpu" "$binary" \
      "$root/test/e2e/Inputs/corpus.txt" "$work/model-$name"
  done
  timed "kernel benchmark (1.3B sizes)" "$out/kernel-bench.log" \
    "${launcher[@]}" "$python" "$root/bench/cuda_kernel_bench.py" "$b/lib/libeert_cuda.so" --json "$out/kernel-bench.json"
  # Last and bounded: a slow first run must not cost the table above.
  EERT_RUN_PREFIX="${launcher[*]}" EERT_DEVICE_NAME="$device" timed \
    "1.3B bf16: training MFU, batch-1 decode" "$out/model-bench.log" \
    timeout 330 "$python" "$root/bench/cuda_model_bench.py" "$b/bin/eellm-1.3b-bench" \
    --json "$out/model-bench.json" --work "$work/model-bench"
else
  device=$(grep '^device:' "$out/probe.log" | cut -c9-)
  for pending in "kernels vs CPU (test + 1.3B sizes)" "models: cuda binaries vs cpu binaries" \
                 "kernel benchmark (1.3B sizes)" "1.3B bf16: training MFU, batch-1 decode"; do
    record "$pending" "not run" 0 "needs the GPU the probe did not find"
  done
fi

{
  echo "gpu-check: ${device:-no device}"
  printf '%-58s %-8s %8s  %s\n' check status seconds detail
  for row in "${results[@]}"; do
    IFS=$'\t' read -r name status seconds detail <<< "$row"
    printf '%-58s %-8s %8s  %s\n' "$name" "$status" "$seconds" "$detail"
  done
  [ -f "$out/kernel-bench.log" ] && { echo; cat "$out/kernel-bench.log"; }
  [ -f "$out/model-bench.json" ] && { echo; cat "$out/model-bench.log"; }
} | tee "$out/gpu-check.txt"
"$python" - "$out/gpu-check.json" "${device:-}" "${results[@]}" <<'PY'
import json, os, sys
path, device, rows = sys.argv[1], sys.argv[2], sys.argv[3:]
checks = [dict(zip(("check", "status", "seconds", "detail"), r.split("\t"))) for r in rows]
def optional(name):
    bench = os.path.join(os.path.dirname(path), name)
    return json.load(open(bench)) if os.path.exists(bench) else None
report = {"device": device, "checks": checks, "kernel_benchmark": optional("kernel-bench.json"),
          "model_benchmark": optional("model-bench.json")}
json.dump(report, open(path, "w"), indent=1)
PY
echo "gpu-check: wrote $out/gpu-check.json"
exit $failed
