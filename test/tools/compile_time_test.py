"""Compile work is linear in depth: the IR ee-compile lowers grows by the same
amount per added layer, and compile time shows no quadratic blow-up.

ee-compile compiles the model at 48, 96 and 192 layers. Two checks:

1. The eert-level IR (--emit eert, after memory planning and lowering, the
   input of the LLVM conversions) must grow linearly: the lines added from 96
   to 192 layers are twice those added from 48 to 96, within 1%. This is exact
   and deterministic; a pass that emits per-layer lists of all layers, or
   copies a growing prefix per layer, fails it.
2. The CPU time at 192 layers must stay under 8 times that at 48 layers. A
   linear compiler with fixed costs gives 4.5-6 on the development machine
   (2026-12-03), a quadratic one 16; before the memory planner and the code
   generator were made linear, 24 to 192 layers took 1.4 s to 19 s (13.6x
   for 8x the depth). The bound is loose on purpose: this virtual machine's
   CPU time moves 25% between runs of the same compile, so this only catches
   gross regressions. bench/compile_bench.py measures the precise growth
   (the ratio of the per-layer costs at 96-192 and 48-96 layers, repeated,
   medians), as a benchmark and not a test.

CPU time is user + system of all threads, compiled single-threaded
(--mlir-disable-threading) and interleaved over the depths, least of three
(the run disturbed least); ctest runs this test alone (test/CMakeLists.txt).

Usage: compile_time_test.py EE_COMPILE CONFIG.json WORKDIR
"""
import json
import os
import resource
import subprocess
import sys

DEPTHS = (48, 96, 192)
ROUNDS = 3
IR_TOLERANCE = 0.01
TIME_BOUND = 8.0


def write_configs(config_path, workdir, depths):
    with open(config_path) as f:
        config = json.load(f)
    paths = {}
    for layers in depths:
        config["num_hidden_layers"] = layers
        paths[layers] = os.path.join(workdir, f"layers-{layers}.json")
        with open(paths[layers], "w") as f:
            json.dump(config, f)
    return paths


def cpu_seconds(command):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def compile_command(compiler, path):
    return [compiler, path, "--emit", "obj", "-o", path + ".o", "--mlir-disable-threading"]


def main(compiler, config_path, workdir):
    paths = write_configs(config_path, workdir, DEPTHS)

    lines = {}
    for layers, path in paths.items():
        subprocess.run([compiler, path, "--emit", "eert", "-o", path + ".mlir"], check=True)
        with open(path + ".mlir") as f:
            lines[layers] = sum(1 for _ in f)
    small, middle, large = (lines[d] for d in DEPTHS)
    first, second = middle - small, large - middle
    print(", ".join(f"{d} layers {lines[d]} lines" for d in DEPTHS) +
          f" of eert IR; added per layer {first / 48:.1f} then {second / 96:.1f}")
    linear = abs(second - 2 * first) <= IR_TOLERANCE * second
    print("IR linear in depth:", "ok" if linear else "MISMATCH")

    times = {layers: [] for layers in DEPTHS}
    for _ in range(ROUNDS):
        for layers, path in paths.items():
            times[layers].append(cpu_seconds(compile_command(compiler, path)))
    fastest = {layers: min(times[layers]) for layers in DEPTHS}
    ratio = fastest[DEPTHS[-1]] / fastest[DEPTHS[0]]
    print(", ".join(f"{d} layers {fastest[d]:.2f} s" for d in DEPTHS) +
          f" of CPU time; {DEPTHS[-1]} / {DEPTHS[0]} layers {ratio:.1f}x (linear 4-6, quadratic 16)")
    print("no quadratic compile time:", "ok" if ratio <= TIME_BOUND else f"MISMATCH ({ratio:.1f}x > {TIME_BOUND}x)")


if __name__ == "__main__":
    main(*sys.argv[1:])
