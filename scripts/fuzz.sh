#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into build/fuzz and, for
# each, replays its regression inputs, then fuzzes its seed corpus for
# EE_FUZZ_SECONDS seconds (default 30; the README's test command uses the
# default, `EE_FUZZ_SECONDS=3600 bash scripts/fuzz.sh` fuzzes for an hour).
# EE_FUZZ_TARGETS="a b" restricts the run to some targets. New inputs go to a
# scratch folder; a crash leaves its input in build/fuzz/crashes/NAME.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${EE_FUZZ_BUILD_DIR:-${EE_BUILD_DIR:-$root/build}/fuzz}
seconds=${EE_FUZZ_SECONDS:-30}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DEE_BUILD_FUZZERS=ON -DEE_ENABLE_CUDA=OFF > "$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 1; }
fi
cmake --build "$build" --target fuzzers -- -j "${EE_BUILD_JOBS:-$(nproc)}"

# OpenMP and MPI keep a few allocations until exit; leaks in our readers would
# show as growth under -rss_limit_mb instead. allow_user_poisoning=0: LLVM's
# BumpPtrAllocator poisons its slabs in inline (instrumented) header code that
# Debian's uninstrumented libMLIR then allocates from, a false use-after-poison
# in the compiler's targets; our own code poisons nothing by hand.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:allow_user_poisoning=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
targets=${EE_FUZZ_TARGETS:-$(cd "$build/bin" && ls fuzz-* | sed 's/^fuzz-//')}
for name in $targets; do
  binary=$build/bin/fuzz-$name
  regressions=$root/test/fuzz/regressions/$name
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    echo "fuzz $name: replaying $(ls "$regressions" | wc -l) regression inputs"
    "$binary" -rss_limit_mb=2048 "$regressions"/* > "$build/$name.regressions.log" 2>&1 ||
      { tail -40 "$build/$name.regressions.log"; echo "fuzz $name: a regression input fails"; status=1; continue; }
  fi
  scratch=$(mktemp -d)
  crashes=$build/crashes/$name
  mkdir -p "$crashes"
  echo "fuzz $name: ${seconds}s from $(ls "$root/test/fuzz/corpus/$name" | wc -l) seed inputs"
  if ! "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="$crashes/" -print_final_stats=1 "$scratch" "$root/test/fuzz/corpus/$name" \
      > "$build/$name.log" 2>&1; then
    tail -40 "$build/$name.log"
    echo "fuzz $name: found a failing input (in $crashes)"
    status=1
  else
    grep -E "^stat::number_of_executed_units|^cov:|#[0-9]+.*DONE" "$build/$name.log" | tail -2 || true
  fi
  rm -rf "$scratch"
done
exit $status
