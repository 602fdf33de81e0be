"""The cuda backend's GEMMs and attention at the 1.3B EE-LLM config's sizes, beside PyTorch's on the same GPU.

Usage: cuda_kernel_bench.py PATH/TO/libeert_cuda.so [--json FILE] [--repeats N]

Each case is timed as the median of N runs of 20 back-to-back calls between
two synchronizations; ours through the C ABI (eert_linear_bf16,
eert_attention, eert_attention_cached), PyTorch's as eager bf16 (matmul,
scaled_dot_product_attention) where PyTorch sees a GPU. Prints one table and
writes it as JSON with --json.
"""
import argparse
import ctypes
import json
import statistics
import time

import torch

parser = argparse.ArgumentParser()
parser.add_argument("library")
parser.add_argument("--json")
parser.add_argument("--repeats", type=int, default=5)
args = parser.parse_args()

lib = ctypes.CDLL(args.library)
lib.eert_last_error.restype = ctypes.c_char_p
lib.eert_memory_allocate.restype = ctypes.c_void_p
lib.eert_memory_allocate.argtypes = [ctypes.c_int64]
if lib.eert_backend_start() != 0:
    raise SystemExit("cuda_kernel_bench: " + lib.eert_last_error().decode())
I64, F32 = ctypes.c_int64, ctypes.c_float
torch_gpu = torch.cuda.is_available()


def device_buffer(nbytes):
    pointer = lib.eert_memory_allocate(nbytes)
    if not pointer:
        raise SystemExit(lib.eert_last_error().decode())
    lib.eert_memory_zero(ctypes.c_void_p(pointer), I64(nbytes))
    return ctypes.c_void_p(pointer)


def timed(call, synchronize, calls=20):
    call()
    synchronize()
    samples = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        synchronize()
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def ours_sync():
    lib.eert_memory_synchronize()
    if lib.eert_backend_check() != 0:
        raise SystemExit(lib.eert_last_error().decode())


rows = []
hidden, inter, vocab, heads, head_dim = 2048, 5504, 32000, 32, 64
# GEMMs: training rows (micro-batch 4 x 2048 tokens), decode (1 row).
for tokens in (8192, 1):
    for name, n_in, n_out in [("qkv", hidden, 3 * hidden), ("mlp up", hidden, 2 * inter),
                              ("mlp down", inter, hidden), ("logits", hidden, vocab)]:
        x, w, y = device_buffer(2 * tokens * n_in), device_buffer(2 * n_out * n_in), device_buffer(2 * tokens * n_out)
        seconds = timed(lambda: lib.eert_linear_bf16(x, w, y, I64(tokens), I64(n_in), I64(n_out)), ours_sync)
        flops, nbytes = 2 * tokens * n_in * n_out, 2 * (tokens * n_in + n_out * n_in + tokens * n_out)
        row = {"case": f"linear bf16 {name} {tokens}x{n_in}->{n_out}", "ours_ms": seconds * 1e3,
               "ours_tflops": flops / seconds / 1e12, "ours_gbps": nbytes / seconds / 1e9}
        if torch_gpu:
            a = torch.randn(tokens, n_in, device="cuda", dtype=torch.bfloat16)
            b = torch.randn(n_out, n_in, device="cuda", dtype=torch.bfloat16)
            t = timed(lambda: a @ b.t(), torch.cuda.synchronize)
            row.update({"torch_ms": t * 1e3, "torch_tflops": flops / t / 1e12})
        rows.append(row)
# Attention: training (batch 4, seq 2048, fp32 as our kernels take it), decode over 2048 cached positions.
batch, seq = 4, 2048
q = device_buffer(4 * batch * seq * heads * head_dim)
k, v, o = (device_buffer(4 * batch * seq * heads * head_dim) for _ in range(3))
seconds = timed(lambda: lib.eert_attention(q, k, v, o, I64(batch), I64(seq), I64(heads), I64(heads), I64(head_dim)),
                ours_sync, calls=3)
flops = 4 * batch * heads * seq * seq * head_dim / 2  # causal: half the square
row = {"case": f"attention fp32 causal {batch}x{seq}, {heads} heads of {head_dim}", "ours_ms": seconds * 1e3,
       "ours_tflops": flops / seconds / 1e12}
if torch_gpu:
    tq = torch.randn(batch, heads, seq, head_dim, device="cuda", dtype=torch.bfloat16)
    t = timed(lambda: torch.nn.functional.scaled_dot_product_attention(tq, tq, tq, is_causal=True),
              torch.cuda.synchronize, calls=3)
    row.update({"torch_ms": t * 1e3, "torch_tflops": flops / t / 1e12, "torch_note": "bf16 SDPA"})
rows.append(row)
positions = 2048
cache_k, cache_v = device_buffer(4 * positions * heads * head_dim), device_buffer(4 * positions * heads * head_dim)
qd, kd, vd, od = (device_buffer(4 * heads * head_dim) for _ in range(4))
pos = (ctypes.c_int32 * 1)(positions - 1)
pos_device = device_buffer(4)
lib.eert_memory_to_backend(pos_device, pos, I64(4))
seconds = timed(lambda: lib.eert_attention_cached(qd, kd, vd, cache_k, cache_v, pos_device, None, od, I64(1), I64(1),
                                                  I64(1), I64(positions), I64(heads), I64(heads), I64(head_dim)),
                ours_sync)
nbytes = 2 * 4 * positions * heads * head_dim
rows.append({"case": f"decode attention fp32 over {positions} positions, {heads} heads", "ours_ms": seconds * 1e3,
             "ours_gbps": nbytes / seconds / 1e9})

print(f"{'case':<58} {'ours ms':>9} {'TFLOP/s':>8} {'GB/s':>7} {'torch ms':>9} {'TFLOP/s':>8}")
for r in rows:
    def cell(key, width, digits):
        return f"{r[key]:>{width}.{digits}f}" if key in r else " " * (width - 1) + "-"
    print(f"{r['case']:<58} {cell('ours_ms', 9, 3)} {cell('ours_tflops', 8, 1)} {cell('ours_gbps', 7, 0)} "
          f"{cell('torch_ms', 9, 3)} {cell('torch_tflops', 8, 1)}")
if args.json:
    with open(args.json, "w") as f:
        json.dump(rows, f, indent=1)
