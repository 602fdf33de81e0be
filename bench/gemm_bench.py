"""fp32 matrix products of the runtime per shape class: oneDNN, OpenBLAS and the runtime's choice.

Calls the runtime's kernels (eert_linear, eert_linear_backward_input,
eert_linear_backward_weight; through their C ABI) at the shapes of the
small and medium bench configs (decode_bench.py): training and prefill (a
micro-batch of 2 x 128 tokens), decode (1 to 32 rows) and the vocabulary
head, each with EERT_GEMM=onednn, =openblas, =fewrows and unset (the runtime's choice
per shape, cpu/Gemm.cpp), in child processes of this one run, repeats
interleaved; prints GFLOP/s medians and the fastest library per row (the
few-row kernel where it applies: forward products of up to 16 rows).

Usage: python3 bench/gemm_bench.py [--lib build/lib/libeert.so] [--threads 1] [--repeats 5]
"""
import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.dirname(__file__))
from decode_bench import CONFIGS  # noqa: E402

LIBRARIES = {"oneDNN": "onednn", "OpenBLAS": "openblas", "few-row kernel": "fewrows", "runtime's choice": None}
# bf16 (eert_linear_bf16, forward products): oneDNN, the few-row kernel on
# AVX512-BF16 and on its portable path, and the runtime's choice.
BF16_LIBRARIES = {"oneDNN": {"EERT_GEMM": "onednn"}, "few-row AVX512-BF16": {"EERT_GEMM": "fewrows"},
                  "few-row portable": {"EERT_GEMM": "fewrows", "EERT_BF16_PORTABLE": "1"},
                  "runtime's choice": {}}


def shapes():
    """(class, config, kernel, rows, in features, out features)."""
    rows = []
    for name in ("small", "medium"):
        c = CONFIGS[name]
        h, f, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
        for kernel in ("forward", "backward input", "backward weight"):
            rows += [("training", name, kernel, 256, h, h), ("training", name, kernel, 256, h, f),
                     ("training", name, kernel, 256, f, h), ("vocabulary head", name, kernel, 256, h, v)]
        for r in (1, 2, 4, 8, 16, 32):
            rows += [("decode", name, "forward", r, h, f), ("decode", name, "forward", r, h, v)]
    return rows


def child(lib_path, repeats, dtype):
    lib = ctypes.CDLL(lib_path)
    fp = ctypes.POINTER(ctypes.c_float)
    i64 = ctypes.c_int64
    results = []
    for cls, name, kernel, rows, k, n in shapes():
        if dtype == "bf16":
            if kernel != "forward":
                continue
            u16 = ctypes.POINTER(ctypes.c_uint16)
            xb = np.random.randint(0x3c00, 0x3f80, size=(rows, k)).astype(np.uint16)
            wb = np.random.randint(0x3c00, 0x3f80, size=(n, k)).astype(np.uint16)
            yb = np.empty((rows, n), np.uint16)
            q = lambda a: a.ctypes.data_as(u16)  # noqa: E731
            results.append(timed(lambda: lib.eert_linear_bf16(q(xb), q(wb), q(yb), i64(rows), i64(k), i64(n)),
                                 rows, n, k, repeats))
            continue
        x = np.random.rand(rows, k).astype(np.float32)
        w = np.random.rand(n, k).astype(np.float32)
        y = np.random.rand(rows, n).astype(np.float32)
        out = {"forward": np.empty((rows, n), np.float32), "backward input": np.empty((rows, k), np.float32),
               "backward weight": np.empty((n, k), np.float32)}[kernel]
        p = lambda a: a.ctypes.data_as(fp)  # noqa: E731
        call = {"forward": lambda: lib.eert_linear(p(x), p(w), p(out), i64(rows), i64(k), i64(n)),
                "backward input": lambda: lib.eert_linear_backward_input(p(y), p(w), p(out), i64(rows), i64(k), i64(n)),
                "backward weight": lambda: lib.eert_linear_backward_weight(p(y), p(x), p(out), i64(rows), i64(k), i64(n))}[kernel]
        results.append(timed(call, rows, n, k, repeats))
    print(json.dumps(results))


def timed(call, rows, n, k, repeats):
    """GFLOP/s, the median of `repeats` timings."""
    call()  # the first call builds a oneDNN primitive
    reps = max(3, int(2e9 / (2 * rows * n * k)))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(reps):
            call()
        times.append((time.perf_counter() - start) / reps)
    return 2 * rows * n * k / statistics.median(times) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lib", default=os.path.join(ROOT, "build", "lib", "libeert.so"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=["fp32", "bf16"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.lib, args.repeats, args.child)
    runs = [("fp32", label, {"EERT_GEMM": value} if value else {}) for label, value in LIBRARIES.items()]
    runs += [("bf16", label, env) for label, env in BF16_LIBRARIES.items()]
    rates = {(dtype, label): [] for dtype, label, _ in runs}
    for _ in range(3):  # interleaved rounds; each row's median over them
        for dtype, label, forced in runs:
            env = {k: v for k, v in os.environ.items() if k not in ("EERT_GEMM", "EERT_BF16_PORTABLE")}
            env.update(forced, OMP_NUM_THREADS=str(args.threads))
            out = subprocess.run([sys.executable, __file__, "--child", dtype, "--lib", args.lib, "--repeats",
                                  str(args.repeats)], env=env, check=True, capture_output=True, text=True).stdout
            rates[(dtype, label)].append(json.loads(out))
            print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(f"{args.threads} thread(s), GFLOP/s (median of 3 rounds)\n")
    print("| class | config | kernel | rows x in -> out | " + " | ".join(LIBRARIES) + " | fastest |")
    print("|---" * (5 + len(LIBRARIES)) + "|")
    for i, (cls, name, kernel, rows, k, n) in enumerate(shapes()):
        medians = {label: statistics.median(r[i] for r in rates[("fp32", label)]) for label in LIBRARIES}
        # The few-row kernel multiplies forward products of up to 16 rows only.
        few = kernel == "forward" and rows <= 16
        candidates = ["oneDNN", "OpenBLAS"] + (["few-row kernel"] if few else [])
        fastest = max(candidates, key=lambda label: medians[label])
        cells = [f"{medians[label]:.0f}" if label != "few-row kernel" or few else "" for label in LIBRARIES]
        print(f"| {cls} | {name} | {kernel} | {rows} x {k} -> {n} | " + " | ".join(cells) + f" | {fastest} |")

    print(f"\nbf16 inputs and weights, fp32 accumulation, bf16 result (eert_linear_bf16), GFLOP/s\n")
    print("| class | config | rows x in -> out | " + " | ".join(BF16_LIBRARIES) + " | over fp32's choice |")
    print("|---" * (4 + len(BF16_LIBRARIES)) + "|")
    forward = [(i, shape) for i, shape in enumerate(shapes()) if shape[2] == "forward"]
    for j, (i, (cls, name, kernel, rows, k, n)) in enumerate(forward):
        medians = {label: statistics.median(r[j] for r in rates[("bf16", label)]) for label in BF16_LIBRARIES}
        few = rows <= 16
        cells = [f"{medians[label]:.0f}" if few or not label.startswith("few-row") else "" for label in BF16_LIBRARIES]
        speedup = medians["runtime's choice"] / statistics.median(r[i] for r in rates[("fp32", "runtime's choice")])
        print(f"| {cls} | {name} | {rows} x {k} -> {n} | " + " | ".join(cells) + f" | {speedup:.2f}x |")


if __name__ == "__main__":
    main()