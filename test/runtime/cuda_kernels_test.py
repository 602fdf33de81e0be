"""Every CUDA kernel against its CPU kernel, on random inputs, through both C ABIs.

Usage: cuda_kernels_test.py PATH/TO/libeert.so PATH/TO/libeert_cuda.so [--sizes test|1.3b|all]

The CPU runtime (itself checked against the PyTorch reference by
kernels_test.py) is the reference here: both libraries are loaded side by
side (RTLD_LOCAL), the same inputs go to the CPU kernel on host memory and to
the CUDA kernel on device memory, and the results must agree: fp32 results to
1e-4 relative (different summation orders), bf16 ones to one bf16 rounding.
Forward and backward kernels, fp32 and bf16, at the test models' sizes and
at a layer of the 1.3B EE-LLM config (examples/eellm-1.3b.json). Bad input
(ids, labels, cache positions) must be reported by eert_backend_check.
Needs only PyTorch (CPU tensors), as a GPU machine has it.
"""
import ctypes
import sys
import unittest

import torch

CPU = ctypes.CDLL(sys.argv.pop(1), mode=ctypes.RTLD_LOCAL)
GPU = ctypes.CDLL(sys.argv.pop(1), mode=ctypes.RTLD_LOCAL)
SIZES = "all"
if len(sys.argv) > 2 and sys.argv[1] == "--sizes":
    SIZES = sys.argv.pop(2)
    sys.argv.pop(1)
for lib in (CPU, GPU):
    lib.eert_last_error.restype = ctypes.c_char_p
    lib.eert_memory_allocate.restype = ctypes.c_void_p
    lib.eert_memory_allocate.argtypes = [ctypes.c_int64]
    lib.eert_memory_free.argtypes = [ctypes.c_void_p]
    lib.eert_memory_to_backend.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    lib.eert_memory_to_host.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    lib.eert_take_nonfinite_updates.restype = ctypes.c_int32
if GPU.eert_backend_start() != 0:
    sys.exit("cuda_kernels_test: " + GPU.eert_last_error().decode())
# This harness calls kernels on backend memory itself: a window for it (a
# no-op on a GPU; against libeert in its guarded mode, what lets it run).
GPU.eert_memory_host_access(1)

# The shapes: (name, hidden, heads, kv_heads, head_dim, intermediate, vocab, batch, seq).
SHAPES = {
    "test": [("tiny", 32, 4, 2, 8, 64, 96, 2, 12), ("gqa", 64, 8, 2, 8, 176, 256, 3, 33)],
    "1.3b": [("eellm-1.3b", 2048, 32, 32, 64, 5504, 32000, 1, 512)],
}
CASES = SHAPES["test"] + SHAPES["1.3b"] if SIZES == "all" else SHAPES[SIZES]


def i64(v):
    return ctypes.c_int64(int(v))


def f32(v):
    return ctypes.c_float(float(v))


def bf16(t):
    """A float tensor rounded to bf16 (PyTorch's rounding), as int16 bits."""
    return t.to(torch.bfloat16).view(torch.int16)


def widened(bits):
    return bits.view(torch.bfloat16).float()


class Buffers:
    """Host tensors for the CPU kernel and device copies for the CUDA kernel."""

    def __init__(self):
        self.device = []

    def host(self, t):
        return ctypes.c_void_p(t.data_ptr())

    def gpu(self, t):
        pointer = GPU.eert_memory_allocate(max(1, t.numel() * t.element_size()))
        if not pointer:
            raise RuntimeError(GPU.eert_last_error().decode())
        GPU.eert_memory_to_backend(pointer, t.data_ptr(), t.numel() * t.element_size())
        self.device.append(pointer)
        return ctypes.c_void_p(pointer)

    def back(self, pointer, like):
        out = torch.empty_like(like)
        GPU.eert_memory_to_host(out.data_ptr(), pointer, out.numel() * out.element_size())
        return out

    def free(self):
        for pointer in self.device:
            GPU.eert_memory_free(pointer)


class CudaKernelTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.buffers = Buffers()

    def tearDown(self):
        self.buffers.free()

    def run_both(self, name, args, outputs, status=False):
        """Calls `name` on both backends. `args` lists tensors (inputs and
        outputs alike, by position) and scalars; `outputs` the indices of the
        tensors the kernel writes. Returns (cpu outputs, gpu outputs)."""
        b = self.buffers
        cpu_args, gpu_args, copies = [], [], {}
        for i, a in enumerate(args):
            if isinstance(a, torch.Tensor):
                host = a.clone() if i in outputs else a
                copies[i] = host
                cpu_args.append(b.host(host))
                gpu_args.append(b.gpu(a))
            elif a is None:
                cpu_args.append(None)
                gpu_args.append(None)
            else:
                cpu_args.append(a)
                gpu_args.append(a)
        cpu_status = getattr(CPU, name)(*cpu_args)
        gpu_status = getattr(GPU, name)(*gpu_args)
        check = GPU.eert_backend_check()
        self.assertEqual(check, 0, GPU.eert_last_error().decode())
        if status:
            self.assertEqual(cpu_status, 0, CPU.eert_last_error().decode())
            self.assertEqual(gpu_status, 0, GPU.eert_last_error().decode())
        return ([copies[i] for i in outputs],
                [b.back(gpu_args[i].value, copies[i]) for i in outputs])

    def close(self, cpu, gpu, what, rtol=1e-4, atol=1e-5):
        if cpu.dtype == torch.int16:  # bf16 bits: one rounding apart
            cpu, gpu, rtol, atol = widened(cpu), widened(gpu), 1.6e-2, 1e-3
        torch.testing.assert_close(gpu, cpu, rtol=rtol, atol=atol, msg=lambda m: f"{what}: {m}")

    def shapes(self):
        for case in CASES:
            with self.subTest(shape=case[0]):
                yield case

    def test_elementwise(self):
        for name, hidden, heads, kv, d, inter, vocab, batch, seq in self.shapes():
            n = batch * seq * inter
            gate, up, dy = torch.randn(n), torch.randn(n), torch.randn(n)
            for kernel, extra in [("eert_add", []), ("eert_swiglu", [])]:
                c, g = self.run_both(kernel, [gate, up, torch.zeros(n), i64(n)], [2])
                self.close(c[0], g[0], kernel)
            c, g = self.run_both("eert_swiglu_bf16", [gate, up, torch.zeros(n, dtype=torch.int16), i64(n)], [2])
            self.close(c[0], g[0], "eert_swiglu_bf16")
            c, g = self.run_both("eert_scale", [gate, f32(0.37), torch.zeros(n), i64(n)], [2])
            self.close(c[0], g[0], "eert_scale")
            c, g = self.run_both("eert_swiglu_backward", [gate, up, dy, torch.zeros(n), torch.zeros(n), i64(n)], [3, 4])
            self.close(c[0], g[0], "dgate")
            self.close(c[1], g[1], "dup")
            c, g = self.run_both("eert_to_bf16", [gate * 100, torch.zeros(n, dtype=torch.int16), i64(n)], [1])
            self.assertTrue(torch.equal(c[0], g[0]), "eert_to_bf16 rounds as the CPU (to nearest even)")
            bits = bf16(gate)
            c, g = self.run_both("eert_from_bf16", [bits, torch.zeros(n), i64(n)], [1])
            self.assertTrue(torch.equal(c[0], g[0]), "eert_from_bf16 is exact")

    def test_rms_norm(self):
        for name, hidden, heads, kv, d, inter, vocab, batch, seq in self.shapes():
            rows = batch * seq
            x, w, dy = torch.randn(rows, hidden), 1 + 0.1 * torch.randn(hidden), torch.randn(rows, hidden)
            common = [i64(rows), i64(hidden), f32(1e-5)]
            c, g = self.run_both("eert_rms_norm", [x, w, torch.zeros(rows, hidden)] + common, [2])
            self.close(c[0], g[0], "eert_rms_norm")
            wb = bf16(w)
            c, g = self.run_both("eert_rms_norm_bf16", [x, wb, torch.zeros(rows, hidden, dtype=torch.int16)] + common, [2])
            self.close(c[0], g[0], "eert_rms_norm_bf16")
            c, g = self.run_both("eert_rms_norm_bf16_f32", [x, wb, torch.zeros(rows, hidden)] + common, [2])
            self.close(c[0], g[0], "eert_rms_norm_bf16_f32")
            for kernel, weight in [("eert_rms_norm_backward", w), ("eert_rms_norm_backward_bf16", wb)]:
                c, g = self.run_both(kernel, [x, weight, dy, torch.zeros(rows, hidden), torch.zeros(hidden),
                                              i64(rows), i64(hidden), f32(1e-5)], [3, 4])
                self.close(c[0], g[0], kernel + " dinput")
                self.close(c[1], g[1], kernel + " dweight", rtol=1e-4, atol=1e-4)

    def test_linear(self):
        for name, hidden, heads, kv, d, inter, vocab, batch, seq in self.shapes():
            for rows in (1, 3, batch * seq):  # decode, a few rows, training
                x, w, dy = torch.randn(rows, hidden), 0.05 * torch.randn(inter, hidden), torch.randn(rows, inter)
                dims = [i64(rows), i64(hidden), i64(inter)]
                c, g = self.run_both("eert_linear", [x, w, torch.zeros(rows, inter)] + dims, [2])
                self.close(c[0], g[0], "eert_linear", rtol=1e-3, atol=1e-3)
                xb, wb, dyb = bf16(x), bf16(w), bf16(dy)
                c, g = self.run_both("eert_linear_bf16", [xb, wb, torch.zeros(rows, inter, dtype=torch.int16)] + dims, [2])
                self.close(c[0], g[0], "eert_linear_bf16")
                c, g = self.run_both("eert_linear_bf16_f32", [xb, wb, torch.zeros(rows, inter)] + dims, [2])
                self.close(c[0], g[0], "eert_linear_bf16_f32", rtol=1e-3, atol=1e-3)
                c, g = self.run_both("eert_linear_backward_input", [dy, w, torch.zeros(rows, hidden)] + dims, [2])
                self.close(c[0], g[0], "eert_linear_backward_input", rtol=1e-3, atol=1e-3)
                c, g = self.run_both("eert_linear_backward_weight", [dy, x, torch.zeros(inter, hidden)] + dims, [2])
                self.close(c[0], g[0], "eert_linear_backward_weight", rtol=1e-3, atol=1e-3)
                c, g = self.run_both("eert_linear_backward_input_bf16", [dyb, wb, torch.zeros(rows, hidden)] + dims, [2])
                self.close(c[0], g[0], "eert_linear_backward_input_bf16", rtol=1e-3, atol=1e-3)
                c, g = self.run_both("eert_linear_backward_weight_bf16", [dyb, xb, torch.zeros(inter, hidden)] + dims, [2])
                self.close(c[0], g[0], "eert_linear_backward_weight_bf16", rtol=1e-3, atol=1e-3)

    def test_rotary(self):
        for name, hidden, heads, kv, d, inter, vocab, batch, seq in self.shapes():
            tokens = batch * seq
            x = torch.randn(tokens, heads * d)
            positions = torch.randint(0, 2048, (tokens,), dtype=torch.int32)
            for kernel in ("eert_rotary", "eert_rotary_backward"):
                c, g = self.run_both(kernel, [x, positions, torch.zeros(tokens, heads * d), i64(tokens), i64(heads),
                                              i64(d), f32(10000.0)], [2])
                self.close(c[0], g[0], kernel, rtol=1e-4, atol=1e-4)

    def test_attention(self):
        for name, hidden, heads, kv, d, inter, vocab, batch, seq in self.shapes():
            tokens = batch * seq
            q, k, v = torch.randn(tokens, heads * d), torch.randn(tokens, kv * d), torch.randn(tokens, kv * d)
            dy = torch.randn(tokens, heads * d)
            dims = [i64(batch), i64(seq), i64(heads), i64(kv), i64(d)]
            c, g = self.run_both("eert_attention", [q, k, v, torch.zeros(tokens, heads * d)] + dims, [3])
            self.close(c[0], g[0], "eert_attention")
            c, g = self.run_both("eert_attention_backward",
                                 [q, k, v, dy, torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)] + dims,
                                 [4, 5, 6])
            for what, cpu, gpu in zip(("dquery", "dkey", "dvalue"), c, g):
                self.close(cpu, gpu, "eert_attention_backward " + what, rtol=1e-3, atol=1e-3)

    def test_attention_cached(self):
        for name, hidden, heads, kv, d, inter, vocab, batch, seq in self.shapes():
            max_positions, cache_rows = seq + 8, batch + 1
            k_cache = torch.randn(cache_rows, max_positions, kv * d)
            v_cache = torch.randn(cache_rows, max_positions, kv * d)
            # A prompt per row (seq tokens each, rows null), then one decode
            # token per sequence at scattered rows and positions.
            for tokens_seq, positions, rows in [
                    (seq, torch.arange(seq, dtype=torch.int32).repeat(batch), None),
                    (1, torch.randint(0, max_positions, (batch,), dtype=torch.int32),
                     torch.randperm(cache_rows)[:batch].to(torch.int32))]:
                tokens = batch * tokens_seq
                q, k, v = torch.randn(tokens, heads * d), torch.randn(tokens, kv * d), torch.randn(tokens, kv * d)
                c, g = self.run_both("eert_attention_cached",
                                     [q, k, v, k_cache, v_cache, positions, rows, torch.zeros(tokens, heads * d),
                                      i64(batch), i64(tokens_seq), i64(cache_rows), i64(max_positions), i64(heads),
                                      i64(kv), i64(d)], [3, 4, 7], status=True)
                self.close(c[0], g[0], "k cache")
                self.close(c[1], g[1], "v cache")
                self.close(c[2], g[2], "eert_attention_cached")

    def test_losses(self):
        for name, hidden, heads, kv, d, inter, vocab, batch, seq in self.shapes():
            tokens = batch * seq
            logits = 3 * torch.randn(tokens, vocab)
            labels = torch.randint(0, vocab, (tokens,), dtype=torch.int32)
            for temperature in (1.0, 0.7):
                c, g = self.run_both("eert_cross_entropy", [logits, labels, torch.zeros(1), i64(tokens), i64(vocab),
                                                            f32(temperature)], [2], status=True)
                self.close(c[0], g[0], "eert_cross_entropy", rtol=1e-5, atol=1e-6)
                c, g = self.run_both("eert_cross_entropy_backward",
                                     [logits, labels, torch.zeros(tokens, vocab), i64(tokens), i64(vocab),
                                      f32(temperature), f32(0.5)], [2], status=True)
                self.close(c[0], g[0], "eert_cross_entropy_backward", rtol=1e-4, atol=1e-7)
            c, g = self.run_both("eert_exit_confidence", [logits, torch.zeros(tokens), i64(tokens), i64(vocab)], [1])
            self.close(c[0], g[0], "eert_exit_confidence")
            # The vocab-parallel forms over a TP group of one (group 1): their
            # own kernels (row maxima, sums, terms) on the GPU.
            tp = i64(1)
            c, g = self.run_both("eert_cross_entropy_parallel", [logits, labels, torch.zeros(1), i64(tokens),
                                                                 i64(vocab), f32(0.7), tp], [2], status=True)
            self.close(c[0], g[0], "eert_cross_entropy_parallel", rtol=1e-5, atol=1e-6)
            c, g = self.run_both("eert_cross_entropy_backward_parallel",
                                 [logits, labels, torch.zeros(tokens, vocab), i64(tokens), i64(vocab), f32(0.7),
                                  f32(0.5), tp], [2], status=True)
            self.close(c[0], g[0], "eert_cross_entropy_backward_parallel", rtol=1e-4, atol=1e-7)
            c, g = self.run_both("eert_exit_confidence_parallel", [logits, torch.zeros(tokens), i64(tokens),
                                                                   i64(vocab), tp], [1], status=True)
            self.close(c[0], g[0], "eert_exit_confidence_parallel")

    def test_exit_decision(self):
        # Rows that decide greedily, rows that sample (plain, top-k, top-p,
        # both) and rows below their threshold, each with its own state: the
        # same decisions, tokens and next states as the CPU, bit for bit.
        options = [(0.0, 0.0, 0, 1.0), (0.0, 1.0, 0, 1.0), (0.3, 0.8, 5, 1.0), (0.0, 1.2, 0, 0.9),
                   (2.0, 1.0, 0, 1.0), (0.5, 0.7, 3, 0.95), (0.0, 1.0, 1, 1.0)]
        for name, hidden, heads, kv, d, inter, vocab, batch, seq in self.shapes():
            tokens = batch * seq
            logits, confidence = 3 * torch.randn(tokens, vocab), torch.rand(tokens)
            choice = torch.tensor([options[t % len(options)] for t in range(tokens)], dtype=torch.float32)
            state = torch.randint(-2**62, 2**62, (tokens,), dtype=torch.int64)
            c, g = self.run_both("eert_exit_decision",
                                 [logits, confidence, choice, state, torch.zeros(tokens, dtype=torch.int32),
                                  torch.zeros(tokens, dtype=torch.int32), torch.zeros(tokens),
                                  torch.zeros(tokens, dtype=torch.int64), i64(tokens), i64(vocab)],
                                 [4, 5, 6, 7], status=True)
            for what, index in (("decision", 0), ("token", 1), ("next state", 3)):
                self.assertTrue(torch.equal(c[index], g[index]), f"eert_exit_decision {what}: {c[index]} vs {g[index]}")
            self.assertGreater(int((c[0] == 1).sum()), 0)
            self.close(c[2], g[2], "eert_exit_decision logprob", rtol=1e-5, atol=1e-5)
            for temperature, top_k, top_p in ((0.0, 0, 1.0), (0.8, 0, 1.0), (1.1, 7, 1.0), (1.0, 0, 0.8)):
                c, g = self.run_both("eert_sampling_distribution", [logits[0].clone(), i64(vocab), f32(temperature),
                                                                    i64(top_k), f32(top_p), torch.zeros(vocab)], [5])
                self.close(c[0], g[0], "eert_sampling_distribution", rtol=1e-6, atol=1e-7)

    def test_embedding(self):
        for name, hidden, heads, kv, d, inter, vocab, batch, seq in self.shapes():
            tokens = batch * seq
            table, dy = torch.randn(vocab, hidden), torch.randn(tokens, hidden)
            ids = torch.randint(0, vocab, (tokens,), dtype=torch.int32)
            ids[1] = ids[0]  # a repeated id sums its rows
            dims = [i64(tokens), i64(vocab), i64(hidden)]
            c, g = self.run_both("eert_embedding_lookup", [table, ids, torch.zeros(tokens, hidden)] + dims, [2], True)
            self.close(c[0], g[0], "eert_embedding_lookup", rtol=0, atol=0)
            c, g = self.run_both("eert_embedding_lookup_bf16", [bf16(table), ids, torch.zeros(tokens, hidden)] + dims,
                                 [2], True)
            self.close(c[0], g[0], "eert_embedding_lookup_bf16", rtol=0, atol=0)
            c, g = self.run_both("eert_embedding_backward", [ids, dy, torch.full((vocab, hidden), 7.0)] + dims, [2],
                                 True)
            self.close(c[0], g[0], "eert_embedding_backward", rtol=1e-5, atol=1e-5)
            tp = [i64(1)]  # the vocab-parallel forms over a TP group of one
            c, g = self.run_both("eert_embedding_lookup_parallel", [table, ids, torch.zeros(tokens, hidden)] + dims + tp,
                                 [2], True)
            self.close(c[0], g[0], "eert_embedding_lookup_parallel", rtol=0, atol=0)
            c, g = self.run_both("eert_embedding_backward_parallel",
                                 [ids, dy, torch.full((vocab, hidden), 7.0)] + dims + tp, [2], True)
            self.close(c[0], g[0], "eert_embedding_backward_parallel", rtol=1e-5, atol=1e-5)
            c, g = self.run_both("eert_gather_columns", [dy, torch.zeros(tokens, hidden), i64(tokens), i64(hidden)] + tp,
                                 [1], True)
            self.close(c[0], g[0], "eert_gather_columns", rtol=0, atol=0)

    def test_optimizer_and_sums(self):
        for name, hidden, heads, kv, d, inter, vocab, batch, seq in self.shapes():
            n = hidden * inter + 13
            param, grad = torch.randn(n), torch.randn(n)
            m, v = 0.1 * torch.randn(n), torch.rand(n)
            for step in (1, 7):
                c, g = self.run_both("eert_adamw", [param, grad, m, v, i64(n), f32(0.5), f32(1e-3), f32(0.9),
                                                   f32(0.95), f32(1e-8), f32(0.1), i64(step)], [0, 2, 3])
                for what, cpu, gpu in zip(("param", "exp_avg", "exp_avg_sq"), c, g):
                    self.close(cpu, gpu, "eert_adamw " + what, rtol=1e-5, atol=1e-6)
            c, g = self.run_both("eert_adamw_bf16", [torch.zeros(n, dtype=torch.int16), param, grad, m, v, i64(n),
                                                    f32(1.0), f32(1e-3), f32(0.9), f32(0.95), f32(1e-8), f32(0.0),
                                                    i64(3)], [0, 1])
            self.close(c[0], g[0], "eert_adamw_bf16 param")
            self.close(c[1], g[1], "eert_adamw_bf16 master", rtol=1e-5, atol=1e-6)
            c, g = self.run_both("eert_inner_product", [param, grad, torch.zeros(1), i64(n)], [2])
            self.close(c[0], g[0], "eert_inner_product", rtol=1e-6, atol=1e-4)
        # The count of updates that left a weight infinite: one per call.
        GPU.eert_take_nonfinite_updates()
        bad = torch.ones(1000)
        bad[500] = float("inf")
        b = self.buffers
        pointers = [b.gpu(t) for t in (bad, torch.ones(1000), torch.zeros(1000), torch.zeros(1000))]
        for step in (1, 2):
            GPU.eert_adamw(*pointers, i64(1000), f32(1), f32(1e-3), f32(0.9), f32(0.95), f32(1e-8), f32(0),
                           i64(step))
        self.assertEqual(GPU.eert_take_nonfinite_updates(), 2)
        self.assertEqual(GPU.eert_take_nonfinite_updates(), 0)

    def test_first_nonfinite(self):
        n = 3 * 65536 + 17
        for bad, where, non_negative, want in [(None, [], 0, n), (float("nan"), [190000], 0, 190000),
                                               (float("inf"), [70000, 5], 0, 5), (-1.0, [9], 0, n),
                                               (-1.0, [9], 1, 9)]:
            values = torch.ones(n)
            for i in where:
                values[i] = bad
            values[3] = -0.0
            index = ctypes.c_uint64()
            GPU.eert_first_nonfinite(self.buffers.gpu(values), i64(n), i64(non_negative), ctypes.byref(index))
            self.assertEqual(index.value, want, (bad, where, non_negative))

    def assertFault(self, status, message):
        # The CUDA kernels record the fault for eert_backend_check; a CPU
        # kernel (this harness run against libeert itself) fails its call.
        self.assertEqual(max(status, GPU.eert_backend_check()), 1)
        self.assertIn(message, GPU.eert_last_error().decode())
        self.assertEqual(GPU.eert_backend_check(), 0)

    def test_faults(self):
        # Bad input is reported by eert_backend_check with the CPU's wording,
        # and the device keeps working after it.
        b = self.buffers
        table, out = b.gpu(torch.randn(10, 4)), b.gpu(torch.zeros(3, 4))
        ids = b.gpu(torch.tensor([1, 12, 3], dtype=torch.int32))
        self.assertFault(GPU.eert_embedding_lookup(table, ids, out, i64(3), i64(10), i64(4)),
                         "token id 12 at position 1 is outside the vocabulary [0, 10)")
        logits, loss = b.gpu(torch.randn(2, 10)), b.gpu(torch.zeros(1))
        labels = b.gpu(torch.tensor([3, -1], dtype=torch.int32))
        self.assertFault(GPU.eert_cross_entropy(logits, labels, loss, i64(2), i64(10), f32(1)),
                         "label -1 at position 1 is outside the vocabulary [0, 10)")
        cache = b.gpu(torch.zeros(1, 4, 8))
        q, kv = b.gpu(torch.randn(1, 8)), b.gpu(torch.randn(1, 8))
        positions = b.gpu(torch.tensor([4], dtype=torch.int32))
        self.assertFault(GPU.eert_attention_cached(q, kv, kv, cache, cache, positions, None, b.gpu(torch.zeros(1, 8)),
                                                   i64(1), i64(1), i64(1), i64(4), i64(1), i64(1), i64(8)),
                         "position 4 of token 0 is outside the KV cache [0, 4)")
        row, decided = b.gpu(torch.randn(2, 10)), b.gpu(torch.ones(2))
        choice = b.gpu(torch.tensor([[0.0, 1.0, 0, 1.0], [0.0, 1.0, 0, 1.5]]))
        ints = [b.gpu(torch.zeros(2, dtype=torch.int64)) for _ in range(4)]
        self.assertFault(GPU.eert_exit_decision(row, decided, choice, ints[0], ints[1], ints[2], b.gpu(torch.zeros(2)),
                                                ints[3], i64(2), i64(10)),
                         "token 1 needs temperature >= 0, top_k in [0, vocab] and 0 < top_p <= 1")


if __name__ == "__main__":
    unittest.main()
