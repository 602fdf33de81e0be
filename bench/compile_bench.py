"""Compile time against depth: CPU time of `ee-compile --emit obj` at 48, 96,
192 and 384 layers of the test model, and the growth of the per-layer cost.

Each depth is compiled --repeats times, interleaved with the other depths and
single-threaded, and the median CPU time (user + system) reported. The growth
ratio between two doublings, (T(2n) - T(n)) / (T(n) - T(n/2)), is 2 for a
linear compiler and 4 for a quadratic one; fixed costs cancel in the
differences. test/tools/compile-time.test keeps only a loose guard, since
this machine's CPU time moves too much for a tight bound in a test.

Usage: python3 bench/compile_bench.py [--ee-compile build/bin/ee-compile] [--repeats 5] [--json out.json]
"""
import argparse
import importlib.util
import json
import os
import statistics
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DEPTHS = (48, 96, 192, 384)


def load_test_helpers():
    path = os.path.join(ROOT, "test", "tools", "compile_time_test.py")
    spec = importlib.util.spec_from_file_location("compile_time_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ee-compile", default=os.path.join(ROOT, "build", "bin", "ee-compile"))
    parser.add_argument("--config", default=os.path.join(ROOT, "test", "e2e", "Inputs", "norm-exits.json"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    helpers = load_test_helpers()
    with tempfile.TemporaryDirectory() as work:
        paths = helpers.write_configs(args.config, work, DEPTHS)
        times = {layers: [] for layers in DEPTHS}
        for _ in range(args.repeats):
            for layers, path in paths.items():
                times[layers].append(helpers.cpu_seconds(helpers.compile_command(args.ee_compile, path)))
    median = {layers: statistics.median(times[layers]) for layers in DEPTHS}
    rows = []
    print(f"{'layers':>6} | {'CPU s (median)':>14} | {'min':>6} | {'max':>6} | {'ms per added layer':>18} | {'growth ratio':>12}")
    print("-" * 78)
    previous_step = None
    for index, layers in enumerate(DEPTHS):
        step = growth = None
        if index:
            below = DEPTHS[index - 1]
            step = (median[layers] - median[below]) / (layers - below) * 1000
            if previous_step:
                growth = (median[layers] - median[below]) / (median[below] - median[DEPTHS[index - 2]])
            previous_step = step
        rows.append({"layers": layers, "cpu_s": median[layers], "min_s": min(times[layers]),
                     "max_s": max(times[layers]), "ms_per_layer": step, "growth_ratio": growth})
        print(f"{layers:>6} | {median[layers]:>14.2f} | {min(times[layers]):>6.2f} | {max(times[layers]):>6.2f} | "
              f"{'' if step is None else f'{step:.1f}':>18} | {'' if growth is None else f'{growth:.2f}':>12}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
