"""The GEMM rates our kernels reach: best of five 1024^3 products through the
runtime's eert_linear (fp32) and eert_linear_bf16_f32 (bf16 inputs, fp32
accumulation), in FLOP/s, printed as JSON.

Run as its own process (train_bench.py and decode_bench.py do): in a process
that has loaded PyTorch, its OpenMP settings halve the runtime's threads.

Usage: python3 bench/gemm_rates.py PATH/TO/libeert.so THREADS
"""
import ctypes
import json
import os
import subprocess
import sys
import time

import numpy as np


def measure(library):
    lib = ctypes.CDLL(library)
    n = ctypes.c_int64(1024)
    rng = np.random.default_rng(0)
    a, w, out = (rng.random((1024, 1024), dtype=np.float32) for _ in range(3))
    # bf16 bit patterns of values in [2^-7, 1)
    a16, w16 = (rng.integers(0x3c00, 0x3f80, (1024, 1024)).astype(np.uint16) for _ in range(2))
    ptr = lambda x: x.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    rates = {}
    for dtype, call in [("fp32", lambda: lib.eert_linear(ptr(a), ptr(w), ptr(out), n, n, n)),
                        ("bf16", lambda: lib.eert_linear_bf16_f32(ptr(a16), ptr(w16), ptr(out), n, n, n))]:
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            call()
            best = min(best, time.perf_counter() - t)
        rates[dtype] = 2 * 1024 ** 3 / best
    return rates


def gemm_rates(library, threads):
    """The rates measured in a fresh process with `threads` OpenMP threads."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), library, str(threads)], check=True, env=env,
                         capture_output=True, text=True).stdout
    return json.loads(out)


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1])))
