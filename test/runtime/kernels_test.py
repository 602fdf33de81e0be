"""The runtime's CPU kernels (through their C ABI) against the PyTorch reference.

Usage: kernels_test.py PATH/TO/libeert.so
"""
import ctypes
import os
import sys
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
import ee_reference as ref  # noqa: E402

LIB = ctypes.CDLL(sys.argv.pop(1))
F32P = ctypes.POINTER(ctypes.c_float)
I32P = ctypes.POINTER(ctypes.c_int32)
I64, F32 = ctypes.c_int64, ctypes.c_float
for name, restype in [("eert_embedding_lookup", ctypes.c_int32), ("eert_embedding_lookup_bf16", ctypes.c_int32),
                      ("eert_attention_cached", ctypes.c_int32),
                      ("eert_embedding_backward", ctypes.c_int32), ("eert_cross_entropy_backward", ctypes.c_int32),
                      ("eert_cross_entropy", ctypes.c_int32), ("eert_sample", ctypes.c_int32),
                      ("eert_speculative_accept", ctypes.c_int32), ("eert_exit_decision", ctypes.c_int32),
                      ("eert_take_nonfinite_updates", ctypes.c_int32),
                      ("eert_last_error", ctypes.c_char_p)]:
    getattr(LIB, name).restype = restype


def f32(t):
    """A contiguous float32 numpy array (kept alive by the caller) and its pointer."""
    a = np.ascontiguousarray(t.detach().numpy() if isinstance(t, torch.Tensor) else t, dtype=np.float32)
    return a, a.ctypes.data_as(F32P)


def i32(t):
    a = np.ascontiguousarray(t.numpy() if isinstance(t, torch.Tensor) else t, dtype=np.int32)
    return a, a.ctypes.data_as(I32P)


U16P = ctypes.POINTER(ctypes.c_uint16)


def bf16(t):
    """A tensor rounded to bf16 (PyTorch's rounding), as its 16 bits and their pointer."""
    a = np.ascontiguousarray(t.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16))
    return a, a.ctypes.data_as(U16P)


def from_bf16_bits(bits):
    return torch.from_numpy(bits.astype(np.int32) << 16).view(torch.float32)


def out(*shape):
    a = np.zeros(shape, dtype=np.float32)
    return a, a.ctypes.data_as(F32P)


class KernelTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)

    def assertClose(self, ours, reference, rtol=1e-5, atol=1e-6):
        reference = reference.detach().numpy() if isinstance(reference, torch.Tensor) else reference
        np.testing.assert_allclose(ours, reference, rtol=rtol, atol=atol)

    def test_first_nonfinite(self):
        # Several chunks of 65536 values, the bad value in a later one; the
        # first of two bad values; a negative value only with non_negative.
        n = 3 * 65536 + 17
        index = ctypes.c_uint64()
        for bad, where, non_negative, want in [(None, [], 0, n), (float("nan"), [190000], 0, 190000),
                                               (float("inf"), [70000, 5], 0, 5), (-1.0, [9], 0, n),
                                               (-1.0, [9], 1, 9), (float("-inf"), [n - 1], 1, n - 1)]:
            values = np.ones(n, dtype=np.float32)
            for i in where:
                values[i] = bad
            values[3] = -0.0  # not below zero
            LIB.eert_first_nonfinite(values.ctypes.data_as(F32P), I64(n), I64(non_negative), ctypes.byref(index))
            self.assertEqual(index.value, want, (bad, where, non_negative))

    def adamw(self, param, grad, m, v, lr, step, decay=0.1):
        LIB.eert_adamw(param.ctypes.data_as(F32P), grad.ctypes.data_as(F32P), m.ctypes.data_as(F32P),
                       v.ctypes.data_as(F32P), I64(param.size), F32(0.5), F32(lr), F32(0.9), F32(0.95),
                       F32(1e-8), F32(decay), I64(step))

    def test_adamw_step_and_nonfinite_count(self):
        # Several chunks of the kernel; one step against torch.optim.AdamW
        # (grad_scale 0.5 applied to the gradient first).
        n = 3 * 16384 + 5
        weight = torch.randn(n)
        grad = torch.randn(n)
        reference = torch.nn.Parameter(weight.clone())
        optimizer = torch.optim.AdamW([reference], lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
        reference.grad = 0.5 * grad
        optimizer.step()
        param, g = weight.numpy().copy(), grad.numpy().copy()
        m, v = np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
        LIB.eert_take_nonfinite_updates()
        self.adamw(param, g, m, v, 1e-2, 1)
        self.assertClose(param, reference.detach(), rtol=1e-5, atol=1e-6)
        self.assertClose(m, optimizer.state[reference]["exp_avg"])
        self.assertClose(v, optimizer.state[reference]["exp_avg_sq"])
        self.assertEqual(LIB.eert_take_nonfinite_updates(), 0)
        # A call that leaves a weight of a later chunk infinite counts once,
        # however many; taking the count starts it again.
        param[40000] = np.inf
        param[40001] = np.nan
        for step in (2, 3):
            self.adamw(param, g, m, v, 1e-2, step)
        self.assertEqual(LIB.eert_take_nonfinite_updates(), 2)
        self.assertEqual(LIB.eert_take_nonfinite_updates(), 0)

    def test_bf16_conversion(self):
        # Round to nearest even (ties both ways), overflow to infinity, NaN kept,
        # subnormals; and back exactly.
        values = torch.cat([torch.randn(1000) * 1e3, torch.tensor([
            1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, -(1.0 + 2 ** -8), 3.4e38, -3.4e38, float("inf"),
            float("-inf"), 1e-40, -1e-41, 0.0, -0.0])])
        x, xp = f32(values)
        bits = np.zeros(len(values), dtype=np.uint16)
        LIB.eert_to_bf16(xp, bits.ctypes.data_as(U16P), I64(len(values)))
        want, _ = bf16(values)
        np.testing.assert_array_equal(bits, want)
        nan_bits = np.zeros(1, dtype=np.uint16)
        LIB.eert_to_bf16(f32(torch.tensor([float("nan")]))[1], nan_bits.ctypes.data_as(U16P), I64(1))
        self.assertTrue(torch.isnan(from_bf16_bits(nan_bits)).all())
        back, backp = out(len(values))
        LIB.eert_from_bf16(bits.ctypes.data_as(U16P), backp, I64(len(values)))
        np.testing.assert_array_equal(back, values.to(torch.bfloat16).float().numpy())

    def test_linear_bf16(self):
        # bf16 inputs, fp32 accumulation: against the exact product of the
        # rounded inputs; a bf16 result within one rounding of it. Every path:
        # the few-row kernel (AVX512-BF16 or portable) up to 16 rows, whole and
        # partial 32-value blocks, threads for a large weight (and an odd
        # number of output pairs per thread); oneDNN beyond.
        for rows in [1, 2, 5, 8, 9, 16, 24, 70]:
            for inputs, outputs in [(48, 40), (50, 41), (352, 384), (352, 387)]:
                x, w = torch.randn(rows, inputs), torch.randn(outputs, inputs)
                (xa, xp), (wa, wp) = bf16(x), bf16(w)
                exact = (x.to(torch.bfloat16).double() @ w.to(torch.bfloat16).double().T).float()
                o, op = out(rows, outputs)
                LIB.eert_linear_bf16_f32(xp, wp, op, I64(rows), I64(inputs), I64(outputs))
                self.assertClose(o, exact, rtol=1e-5, atol=1e-4)
                bits = np.zeros((rows, outputs), dtype=np.uint16)
                LIB.eert_linear_bf16(xp, wp, bits.ctypes.data_as(U16P), I64(rows), I64(inputs), I64(outputs))
                np.testing.assert_allclose(from_bf16_bits(bits).numpy(), exact.numpy(), rtol=2 ** -8, atol=1e-3,
                                           err_msg=f"{rows} x {inputs} -> {outputs}")

    def assertBF16Close(self, bits, exact, msg=""):
        """bf16 results within one rounding of the fp32 computation on the same bf16 inputs."""
        np.testing.assert_allclose(from_bf16_bits(bits).numpy(), exact.numpy(), rtol=2 ** -8, atol=1e-6,
                                   err_msg=msg)

    def test_bf16_norm_swiglu_embedding(self):
        # The kernels of a --dtype bf16 model: fp32 inputs computed in fp32
        # with bf16 weights, the result rounded to bf16 once (or kept fp32).
        rows, cols, n = 7, 130, 7 * 130 + 3
        x, w = torch.randn(rows, cols) * 3, torch.randn(cols)
        (xa, xp), (wa, wp) = f32(x), bf16(w)
        wr = w.to(torch.bfloat16).float()
        exact = ref.rms_norm(x, wr, 1e-5)
        bits = np.zeros((rows, cols), dtype=np.uint16)
        LIB.eert_rms_norm_bf16(xp, wp, bits.ctypes.data_as(U16P), I64(rows), I64(cols), F32(1e-5))
        self.assertBF16Close(bits, exact, "rms_norm")
        o, op = out(rows, cols)
        LIB.eert_rms_norm_bf16_f32(xp, wp, op, I64(rows), I64(cols), F32(1e-5))
        self.assertClose(o, exact)
        a, b = torch.randn(n) * 4, torch.randn(n)
        (aa, ap), (ba, bp) = f32(a), f32(b)
        bits = np.zeros(n, dtype=np.uint16)
        LIB.eert_swiglu_bf16(ap, bp, bits.ctypes.data_as(U16P), I64(n))
        self.assertBF16Close(bits, torch.nn.functional.silu(a) * b, "swiglu")
        table, ids = torch.randn(50, 16), torch.randint(0, 50, (3, 7))
        (ta, tp), (ia, ip), (o, op) = bf16(table), i32(ids), out(3, 7, 16)
        self.assertEqual(LIB.eert_embedding_lookup_bf16(tp, ip, op, I64(21), I64(50), I64(16)), 0)
        np.testing.assert_array_equal(o, table.to(torch.bfloat16).float()[ids].numpy())
        (ia, ip) = i32([3, 50])
        self.assertNotEqual(LIB.eert_embedding_lookup_bf16(tp, ip, op, I64(2), I64(50), I64(16)), 0)
        self.assertIn(b"token id 50 at position 1 is outside the vocabulary [0, 50)", LIB.eert_last_error())

    def test_adamw_bf16_updates_the_master(self):
        # The fp32 master takes eert_adamw's step; the bf16 parameter is the
        # updated master rounded.
        n = 2 * 16384 + 9
        weight, grad = torch.randn(n), torch.randn(n)
        master, g = weight.numpy().copy(), grad.numpy().copy()
        m, v = np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
        want, wm, wv = master.copy(), m.copy(), v.copy()
        self.adamw(want, g, wm, wv, 1e-2, 1)
        param = np.zeros(n, dtype=np.uint16)
        LIB.eert_adamw_bf16(param.ctypes.data_as(U16P), master.ctypes.data_as(F32P), g.ctypes.data_as(F32P),
                            m.ctypes.data_as(F32P), v.ctypes.data_as(F32P), I64(n), F32(0.5), F32(1e-2),
                            F32(0.9), F32(0.95), F32(1e-8), F32(0.1), I64(1))
        np.testing.assert_array_equal(master, want)
        np.testing.assert_array_equal(m, wm)
        np.testing.assert_array_equal(v, wv)
        np.testing.assert_array_equal(param, bf16(torch.from_numpy(want))[0])

    def test_embedding_lookup(self):
        table, ids = torch.randn(50, 16), torch.randint(0, 50, (3, 7))
        (t, tp), (i, ip), (o, op) = f32(table), i32(ids), out(3, 7, 16)
        self.assertEqual(LIB.eert_embedding_lookup(tp, ip, op, I64(21), I64(50), I64(16)), 0)
        self.assertClose(o, table[ids])

    def test_embedding_lookup_rejects_bad_ids(self):
        (t, tp), (i, ip), (o, op) = f32(torch.randn(10, 4)), i32([3, 10]), out(2, 4)
        self.assertNotEqual(LIB.eert_embedding_lookup(tp, ip, op, I64(2), I64(10), I64(4)), 0)
        self.assertIn(b"token id 10 at position 1 is outside the vocabulary [0, 10)", LIB.eert_last_error())

    def test_rms_norm(self):
        x, w = torch.randn(5, 3, 32) * 3, torch.randn(32)
        (xa, xp), (wa, wp), (o, op) = f32(x), f32(w), out(5, 3, 32)
        LIB.eert_rms_norm(xp, wp, op, I64(15), I64(32), F32(1e-5))
        self.assertClose(o, ref.rms_norm(x, w, 1e-5))

    def test_linear(self):
        # Every code path: 1-8 rows (decode, recomputed entries: one kernel per
        # row count, whole and partial 16-float blocks, an odd output count,
        # threads for a large weight, or from 2 rows on for a medium one),
        # 9-16 rows (two such halves), 17-32 rows (oneDNN, or OpenBLAS's
        # transposed product), many rows.
        shapes = [(48, 40), (50, 41), (352, 384), (128, 352)]
        for rows in list(range(1, 10)) + [16, 24, 33, 70]:
            for inputs, outputs in shapes:
                x, w = torch.randn(rows, inputs), torch.randn(outputs, inputs)
                (xa, xp), (wa, wp), (o, op) = f32(x), f32(w), out(rows, outputs)
                LIB.eert_linear(xp, wp, op, I64(rows), I64(inputs), I64(outputs))
                self.assertClose(o, ref.linear(x, w), rtol=1e-4, atol=1e-4)

    def test_rotary(self):
        heads, d = 3, 16
        x = torch.randn(2, 9, heads * d)
        pos = torch.tensor([list(range(9)), list(range(100, 109))], dtype=torch.int32)
        (xa, xp), (pa, pp), (o, op) = f32(x), i32(pos), out(2, 9, heads * d)
        LIB.eert_rotary(xp, pp, op, I64(18), I64(heads), I64(d), F32(10000.0))
        self.assertClose(o, ref.rotary(x, pos, heads, 10000.0), rtol=1e-4, atol=1e-5)
        # In place gives the same.
        LIB.eert_rotary(xp, pp, xp, I64(18), I64(heads), I64(d), F32(10000.0))
        self.assertClose(xa, o)
        # Another theta and head size right after (the frequency table follows).
        for theta, width in [(500000.0, 16), (500000.0, 8)]:
            y = torch.randn(2, 9, heads * width)
            (ya, yp), (o2, op2) = f32(y), out(2, 9, heads * width)
            LIB.eert_rotary(yp, pp, op2, I64(18), I64(heads), I64(width), F32(theta))
            self.assertClose(o2, ref.rotary(y, pos, heads, theta), rtol=1e-4, atol=1e-5)

    def test_attention_gqa_causal(self):
        batch, seq, heads, kv, d = 2, 7, 4, 2, 8
        q, k, v = torch.randn(batch, seq, heads * d), torch.randn(batch, seq, kv * d), torch.randn(batch, seq, kv * d)
        (qa, qp), (ka, kp), (va, vp), (o, op) = f32(q), f32(k), f32(v), out(batch, seq, heads * d)
        LIB.eert_attention(qp, kp, vp, op, I64(batch), I64(seq), I64(heads), I64(kv), I64(d))
        self.assertClose(o, ref.attention(q, k, v, heads, kv), rtol=1e-4, atol=1e-5)

    def test_attention_cached_prefill_then_decode(self):
        # Prefill 5 tokens, then decode the 6th: equals causal attention over all 6.
        batch, heads, kv, d, cap = 2, 4, 1, 8, 16
        q, k, v = torch.randn(batch, 6, heads * d), torch.randn(batch, 6, kv * d), torch.randn(batch, 6, kv * d)
        (kc, kcp), (vc, vcp) = out(batch, cap, kv * d), out(batch, cap, kv * d)
        full = ref.attention(q, k, v, heads, kv)
        for start, length in [(0, 5), (5, 1)]:
            sl = slice(start, start + length)
            pos = torch.arange(start, start + length, dtype=torch.int32).expand(batch, length)
            (qa, qp), (ka, kp), (va, vp), (pa, pp) = f32(q[:, sl]), f32(k[:, sl]), f32(v[:, sl]), i32(pos)
            o, op = out(batch, length, heads * d)
            status = LIB.eert_attention_cached(qp, kp, vp, kcp, vcp, pp, None, op, I64(batch), I64(length),
                                               I64(batch), I64(cap), I64(heads), I64(kv), I64(d))
            self.assertEqual(status, 0)
            self.assertClose(o, full[:, sl], rtol=1e-4, atol=1e-5)
        self.assertClose(kc[:, :6], k)
        self.assertClose(vc[:, :6], v)

    def test_attention_cached_long_context(self):
        # Contexts over whole and partial 16-score blocks of the softmax, wide
        # score ranges (the vectorised exponential), 1- and 2-token steps (the
        # loops for few pairs, over whole and partial 16-lane slices of a
        # 40-wide head) and a 4-token step (the GEMMs).
        heads, kv, d, cap = 4, 2, 40, 96
        q, k, v = torch.randn(1, 75, heads * d) * 3, torch.randn(1, 75, kv * d) * 3, torch.randn(1, 75, kv * d)
        (kc, kcp), (vc, vcp) = out(1, cap, kv * d), out(1, cap, kv * d)
        full = ref.attention(q, k, v, heads, kv)
        for start, length in [(0, 37), (37, 1), (38, 2), (40, 4), (44, 31)]:
            sl = slice(start, start + length)
            pos = torch.arange(start, start + length, dtype=torch.int32).expand(1, length)
            (qa, qp), (ka, kp), (va, vp), (pa, pp) = f32(q[:, sl]), f32(k[:, sl]), f32(v[:, sl]), i32(pos)
            o, op = out(1, length, heads * d)
            self.assertEqual(LIB.eert_attention_cached(qp, kp, vp, kcp, vcp, pp, None, op, I64(1), I64(length),
                                                       I64(1), I64(cap), I64(heads), I64(kv), I64(d)), 0)
            self.assertClose(o, full[:, sl], rtol=1e-4, atol=1e-5)

    def test_attention_cached_rejects_positions_outside_cache(self):
        (q, qp), (k, kp), (kc, kcp), (vc, vcp), (o, op) = out(1, 1, 8), out(1, 1, 8), out(1, 4, 8), out(1, 4, 8), out(1, 1, 8)
        p, pp = i32([[4]])
        self.assertNotEqual(LIB.eert_attention_cached(qp, kp, kp, kcp, vcp, pp, None, op, I64(1), I64(1), I64(1),
                                                      I64(4), I64(1), I64(1), I64(8)), 0)
        self.assertIn(b"position 4 of token 0 is outside the KV cache [0, 4)", LIB.eert_last_error())
        p, pp = i32([[3]])
        r, rp = i32([[1]])
        self.assertNotEqual(LIB.eert_attention_cached(qp, kp, kp, kcp, vcp, pp, rp, op, I64(1), I64(1), I64(1),
                                                      I64(4), I64(1), I64(1), I64(8)), 0)
        self.assertIn(b"cache row 1 of token 0 is outside the KV cache's 1 rows", LIB.eert_last_error())

    def test_attention_cached_ragged_rows(self):
        # Three sequences in one call with different token counts and cache rows
        # (as early-exit generation batches them): each equals causal attention
        # over its own sequence.
        heads, kv, d, cap, lengths = 4, 2, 8, 16, [5, 2, 7]
        seqs = [(torch.randn(n, heads * d), torch.randn(n, kv * d), torch.randn(n, kv * d)) for n in lengths]
        (kc, kcp), (vc, vcp) = out(3, cap, kv * d), out(3, cap, kv * d)
        # The first n-1 tokens of each sequence, then its last token together with
        # sequence 2's entries given in reverse row order.
        for part in [lambda n: range(0, n - 1), lambda n: range(n - 1, n)]:
            order = [(row, t) for row in [2, 0, 1] for t in part(lengths[row])]
            q = torch.stack([seqs[row][0][t] for row, t in order])
            k = torch.stack([seqs[row][1][t] for row, t in order])
            v = torch.stack([seqs[row][2][t] for row, t in order])
            (qa, qp), (ka, kp), (va, vp) = f32(q), f32(k), f32(v)
            (pa, pp), (ra, rp) = i32([[t for _, t in order]]), i32([[row for row, _ in order]])
            o, op = out(1, len(order), heads * d)
            status = LIB.eert_attention_cached(qp, kp, vp, kcp, vcp, pp, rp, op, I64(1), I64(len(order)),
                                               I64(3), I64(cap), I64(heads), I64(kv), I64(d))
            self.assertEqual(status, 0)
            for i, (row, t) in enumerate(order):
                q_, k_, v_ = seqs[row]
                full = ref.attention(q_[None], k_[None], v_[None], heads, kv)[0]
                self.assertClose(o[0, i], full[t], rtol=1e-4, atol=1e-5)

    def test_swiglu_and_add(self):
        # Whole and partial 16-float blocks; threads from 16384 elements on.
        for shape in [(3, 5, 24), (7, 13), (40001,)]:
            g, u = torch.randn(*shape) * 4, torch.randn(*shape)
            (ga, gp), (ua, up), (o, op) = f32(g), f32(u), out(*shape)
            LIB.eert_swiglu(gp, up, op, I64(g.numel()))
            self.assertClose(o, ref.swiglu(g, u))
            LIB.eert_add(gp, up, op, I64(g.numel()))
            self.assertClose(o, g + u)
        # Gates beyond the vectorised exponential's clamped range.
        g, u = torch.tensor([-200.0, -90.0, -30.0, 0.0, 30.0, 90.0, 200.0]), torch.full((7,), 0.5)
        (ga, gp), (ua, up), (o, op) = f32(g), f32(u), out(7)
        LIB.eert_swiglu(gp, up, op, I64(7))
        self.assertClose(o, ref.swiglu(g, u), rtol=1e-6, atol=1e-30)

    def test_cross_entropy_with_temperature(self):
        logits, labels = torch.randn(2, 9, 64) * 5, torch.randint(0, 64, (2, 9))
        (la, lp), (ta, tp) = f32(logits), i32(labels)
        for temperature in [1.0, 0.5, 2.5]:
            loss = ctypes.c_float()
            self.assertEqual(LIB.eert_cross_entropy(lp, tp, ctypes.byref(loss), I64(18), I64(64), F32(temperature)), 0)
            self.assertAlmostEqual(loss.value, ref.cross_entropy(logits, labels, temperature).item(), places=5)

    def test_cross_entropy_rejects_bad_labels(self):
        (la, lp), (ta, tp) = f32(torch.randn(2, 8)), i32([1, -1])
        loss = ctypes.c_float()
        self.assertNotEqual(LIB.eert_cross_entropy(lp, tp, ctypes.byref(loss), I64(2), I64(8), F32(1.0)), 0)
        self.assertIn(b"label -1 at position 1", LIB.eert_last_error())

    def test_exit_confidence(self):
        for vocab, spread in [(100, 3), (256, 30), (7, 1)]:
            logits = torch.randn(4, 3, vocab) * spread
            (la, lp), (c, cp) = f32(logits), out(4, 3)
            LIB.eert_exit_confidence(lp, cp, I64(12), I64(vocab))
            self.assertClose(c, ref.exit_confidence(logits))

    def sample(self, logits, temperature, top_k, top_p, seed):
        la, lp = f32(logits)
        state = ctypes.c_uint64(seed)
        return LIB.eert_sample(lp, I64(len(logits)), F32(temperature), I64(top_k), F32(top_p), ctypes.byref(state))

    def test_sampling(self):
        logits = torch.randn(40) * 2
        best = int(torch.argmax(logits))
        self.assertEqual(self.sample(logits, 0.0, 0, 1.0, 1), best)  # greedy
        self.assertEqual(self.sample(logits, 1.0, 1, 1.0, 7), best)  # top-k 1
        self.assertEqual(self.sample(logits, 1.0, 0, 1e-6, 7), best)  # tiny nucleus
        draws = [self.sample(logits, 0.8, 0, 1.0, seed) for seed in range(50)]
        self.assertEqual(draws, [self.sample(logits, 0.8, 0, 1.0, seed) for seed in range(50)])  # seeded
        top5 = set(torch.topk(logits, 5).indices.tolist())
        self.assertTrue(all(self.sample(logits, 2.0, 5, 1.0, s) in top5 for s in range(300)))

    def test_sampling_follows_the_distribution(self):
        logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])
        la, lp = f32(logits)
        state = ctypes.c_uint64(42)
        counts = np.zeros(5)
        n = 20000
        for _ in range(n):
            counts[LIB.eert_sample(lp, I64(5), F32(0.7), I64(0), F32(1.0), ctypes.byref(state))] += 1
        expected = torch.softmax(logits / 0.7, dim=0).numpy()
        np.testing.assert_allclose(counts / n, expected, atol=0.015)

    def test_exit_decision(self):
        # Per token: (threshold, temperature, top_k, top_p) and a random state.
        logits = torch.randn(6, 40) * 2
        confidence = ref.exit_confidence(logits)
        choice = torch.tensor([[0.0, 0.0, 0, 1.0], [2.0, 0.0, 0, 1.0], [0.0, 0.9, 5, 1.0],
                               [confidence[3].item(), 1.3, 0, 0.8], [0.0, 1.0, 1, 1.0], [0.5, 0.7, 0, 1.0]])
        states = (ctypes.c_uint64 * 6)(*[11, 12, 13, 14, 15, 16])
        next_states = (ctypes.c_uint64 * 6)()
        decision, token = (ctypes.c_int32 * 6)(), (ctypes.c_int32 * 6)()
        (la, lp), (ca, cp), (oa, op), (pa, pp) = f32(logits), f32(confidence), f32(choice), out(6)
        self.assertEqual(LIB.eert_exit_decision(lp, cp, op, states, decision, token, pp, next_states,
                                                I64(6), I64(40)), 0)
        log_softmax = torch.log_softmax(logits, dim=-1)
        for t in range(6):
            taken = confidence[t].item() >= choice[t, 0].item()
            self.assertEqual(decision[t], int(taken), f"token {t}")
            if not taken:
                self.assertEqual((token[t], pa[t].item(), next_states[t]), (-1, 0.0, states[t]))
                continue
            state = ctypes.c_uint64(states[t])
            row, row_pointer = f32(logits[t].contiguous())
            want = LIB.eert_sample(row_pointer, I64(40), F32(choice[t, 1].item()), I64(int(choice[t, 2].item())),
                                   F32(choice[t, 3].item()), ctypes.byref(state))
            self.assertEqual((token[t], next_states[t]), (want, state.value), f"token {t}")
            self.assertAlmostEqual(pa[t].item(), log_softmax[t, token[t]].item(), places=4)
        self.assertEqual(token[0], int(torch.argmax(logits[0])))  # greedy
        self.assertEqual(next_states[0], 11)  # greedy draws nothing
        self.assertEqual(decision[3], 1)  # confidence == threshold exits
        bad = torch.tensor([[0.0, -1.0, 0, 1.0]] + [[0.0, 0.0, 0, 1.0]] * 5)
        (ba, bp) = f32(bad)
        self.assertEqual(LIB.eert_exit_decision(lp, cp, bp, states, decision, token, pp, next_states,
                                                I64(6), I64(40)), 1)
        self.assertIn(b"needs temperature >= 0", LIB.eert_last_error())

    def distribution(self, logits, temperature, top_k, top_p):
        (la, lp), (p, pp) = f32(logits), out(len(logits))
        LIB.eert_sampling_distribution(lp, I64(len(logits)), F32(temperature), I64(top_k), F32(top_p), pp)
        return p

    def test_sampling_distribution(self):
        logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, 1.5])
        self.assertClose(self.distribution(logits, 0.7, 0, 1.0), torch.softmax(logits / 0.7, dim=0))
        top3 = torch.zeros(6)
        top3[[0, 5, 1]] = torch.softmax(logits[[0, 5, 1]] / 1.3, dim=0)
        self.assertClose(self.distribution(logits, 1.3, 3, 1.0), top3)
        # Nucleus: the smallest prefix reaching 0.6 is {0, 5} (0.43 + 0.26).
        full = torch.softmax(logits, dim=0)
        nucleus = torch.zeros(6)
        nucleus[[0, 5]] = full[[0, 5]] / full[[0, 5]].sum()
        self.assertClose(self.distribution(logits, 1.0, 0, 0.6), nucleus)
        self.assertEqual(self.distribution(logits, 0.0, 0, 1.0).tolist(), [1.0, 0, 0, 0, 0, 0])  # greedy

    def test_speculative_accept_keeps_the_full_distribution(self):
        # A token drafted from q, kept or replaced by the rule, is distributed as p.
        q = torch.tensor([0.5, 0.3, 0.1, 0.1, 0.0])
        p = torch.tensor([0.1, 0.2, 0.3, 0.2, 0.2])
        (qa, qp), (pa, pp) = f32(q), f32(p)
        state = ctypes.c_uint64(3)
        drafts = torch.multinomial(q, 20000, replacement=True, generator=torch.Generator().manual_seed(0))
        counts, accepted = np.zeros(5), 0
        for d in drafts.tolist():
            kept = LIB.eert_speculative_accept(qp, pp, I64(d), I64(5), ctypes.byref(state))
            accepted += kept < 0
            counts[d if kept < 0 else kept] += 1
        np.testing.assert_allclose(counts / len(drafts), p.numpy(), atol=0.015)
        # The acceptance rate is sum(min(p, q)) = 0.1 + 0.2 + 0.1 + 0.1.
        self.assertAlmostEqual(accepted / len(drafts), 0.5, delta=0.015)
        # Equal distributions accept everything; a one-hot p rejects every other token.
        self.assertEqual(LIB.eert_speculative_accept(qp, qp, I64(1), I64(5), ctypes.byref(state)), -1)
        onehot = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0])
        (oa, op) = f32(onehot)
        self.assertEqual(LIB.eert_speculative_accept(qp, op, I64(0), I64(5), ctypes.byref(state)), 2)
        self.assertEqual(LIB.eert_speculative_accept(op, op, I64(2), I64(5), ctypes.byref(state)), -1)


class BackwardKernelTest(unittest.TestCase):
    """Each backward kernel against torch.autograd of the reference primitive."""

    def setUp(self):
        torch.manual_seed(1)

    def assertClose(self, ours, reference, rtol=1e-4, atol=1e-6):
        np.testing.assert_allclose(ours, reference.detach().numpy(), rtol=rtol, atol=atol)

    def vjp(self, fn, inputs, dy):
        inputs = [t.clone().requires_grad_(True) for t in inputs]
        out = fn(*inputs)
        out.backward(dy)
        return [t.grad for t in inputs]

    def test_linear(self):
        # A small layer, a wide output, and an input much wider than the output
        # (the down projection's shape, which the default choice gives OpenBLAS).
        for batch, seq, inputs, outputs, tol in [(3, 5, 24, 16, 1e-6), (2, 40, 64, 200, 1e-4),
                                                 (2, 40, 300, 64, 1e-4)]:
            x, w = torch.randn(batch, seq, inputs), torch.randn(outputs, inputs)
            dy = torch.randn(batch, seq, outputs)
            dx_ref, dw_ref = self.vjp(ref.linear, [x, w], dy)
            (da, dp), (wa, wp), (xa, xp) = f32(dy), f32(w), f32(x)
            (dx, dxp), (dw, dwp) = out(batch, seq, inputs), out(outputs, inputs)
            rows = I64(batch * seq)
            LIB.eert_linear_backward_input(dp, wp, dxp, rows, I64(inputs), I64(outputs))
            LIB.eert_linear_backward_weight(dp, xp, dwp, rows, I64(inputs), I64(outputs))
            self.assertClose(dx, dx_ref, rtol=1e-5, atol=tol)
            self.assertClose(dw, dw_ref, rtol=1e-5, atol=tol)

    def test_rms_norm(self):
        x, w, dy = torch.randn(4, 6, 32) * 2, torch.randn(32), torch.randn(4, 6, 32)
        dx_ref, dw_ref = self.vjp(lambda a, b: ref.rms_norm(a, b, 1e-5), [x, w], dy)
        (xa, xp), (wa, wp), (da, dp), (dx, dxp), (dw, dwp) = f32(x), f32(w), f32(dy), out(4, 6, 32), out(32)
        LIB.eert_rms_norm_backward(xp, wp, dp, dxp, dwp, I64(24), I64(32), F32(1e-5))
        self.assertClose(dx, dx_ref)
        self.assertClose(dw, dw_ref)

    def test_linear_bf16(self):
        # bf16 factors (the output gradient rounded, the bf16 weight and saved
        # input), fp32 accumulation: against the exact products of the
        # rounded values, in fp32.
        for batch, seq, inputs, outputs in [(3, 5, 24, 16), (2, 40, 64, 200), (2, 40, 300, 64)]:
            x, w = torch.randn(batch, seq, inputs), torch.randn(outputs, inputs)
            dy = torch.randn(batch, seq, outputs)
            xr, wr, dyr = (t.to(torch.bfloat16).double() for t in (x, w, dy))
            (da, dp), (wa, wp), (xa, xp) = bf16(dy), bf16(w), bf16(x)
            (dx, dxp), (dw, dwp) = out(batch, seq, inputs), out(outputs, inputs)
            rows = I64(batch * seq)
            LIB.eert_linear_backward_input_bf16(dp, wp, dxp, rows, I64(inputs), I64(outputs))
            LIB.eert_linear_backward_weight_bf16(dp, xp, dwp, rows, I64(inputs), I64(outputs))
            self.assertClose(dx, (dyr @ wr).float(), rtol=1e-5, atol=1e-4)
            self.assertClose(dw, (dyr.reshape(-1, outputs).T @ xr.reshape(-1, inputs)).float(), rtol=1e-5, atol=1e-3)

    def test_rms_norm_bf16_weight(self):
        x, w, dy = torch.randn(4, 6, 32) * 2, torch.randn(32), torch.randn(4, 6, 32)
        wr = w.to(torch.bfloat16).float()
        dx_ref, dw_ref = self.vjp(lambda a, b: ref.rms_norm(a, b, 1e-5), [x, wr], dy)
        (xa, xp), (wa, wp), (da, dp), (dx, dxp), (dw, dwp) = f32(x), bf16(w), f32(dy), out(4, 6, 32), out(32)
        LIB.eert_rms_norm_backward_bf16(xp, wp, dp, dxp, dwp, I64(24), I64(32), F32(1e-5))
        self.assertClose(dx, dx_ref)
        self.assertClose(dw, dw_ref)

    def test_rotary(self):
        x, dy = torch.randn(2, 7, 32), torch.randn(2, 7, 32)
        pos = torch.tensor([list(range(7)), list(range(20, 27))], dtype=torch.int32)
        (dx_ref,) = self.vjp(lambda a: ref.rotary(a, pos, 2, 10000.0), [x], dy)
        (da, dp), (pa, pp), (dx, dxp) = f32(dy), i32(pos), out(2, 7, 32)
        LIB.eert_rotary_backward(dp, pp, dxp, I64(14), I64(2), I64(16), F32(10000.0))
        self.assertClose(dx, dx_ref)

    def test_attention_gqa(self):
        b, s, h, kv, d = 2, 6, 4, 2, 8
        q, k, v, dy = torch.randn(b, s, h * d), torch.randn(b, s, kv * d), torch.randn(b, s, kv * d), torch.randn(b, s, h * d)
        dq_ref, dk_ref, dv_ref = self.vjp(lambda a, c, e: ref.attention(a, c, e, h, kv), [q, k, v], dy)
        (qa, qp), (ka, kp), (va, vp), (da, dp) = f32(q), f32(k), f32(v), f32(dy)
        (dq, dqp), (dk, dkp), (dv, dvp) = out(b, s, h * d), out(b, s, kv * d), out(b, s, kv * d)
        LIB.eert_attention_backward(qp, kp, vp, dp, dqp, dkp, dvp, I64(b), I64(s), I64(h), I64(kv), I64(d))
        self.assertClose(dq, dq_ref)
        self.assertClose(dk, dk_ref)
        self.assertClose(dv, dv_ref)

    def test_swiglu(self):
        for shape in [(3, 4, 20), (7, 13), (40001,)]:
            g, u, dy = torch.randn(*shape) * 3, torch.randn(*shape), torch.randn(*shape)
            dg_ref, du_ref = self.vjp(ref.swiglu, [g, u], dy)
            (ga, gp), (ua, up), (da, dp), (dg, dgp), (du, dup) = f32(g), f32(u), f32(dy), out(*shape), out(*shape)
            LIB.eert_swiglu_backward(gp, up, dp, dgp, dup, I64(g.numel()))
            self.assertClose(dg, dg_ref)
            self.assertClose(du, du_ref)

    def test_embedding_with_repeated_ids(self):
        table, dy = torch.randn(10, 8), torch.randn(2, 5, 8)
        ids = torch.tensor([[1, 3, 1, 9, 0], [3, 3, 2, 1, 7]])
        (dt_ref,) = self.vjp(lambda t: t[ids], [table], dy)
        (ia, ip), (da, dp), (dt, dtp) = i32(ids), f32(dy), out(10, 8)
        self.assertEqual(LIB.eert_embedding_backward(ip, dp, dtp, I64(10), I64(10), I64(8)), 0)
        self.assertClose(dt, dt_ref)

    def test_cross_entropy(self):
        logits, labels = torch.randn(2, 5, 30) * 3, torch.randint(0, 30, (2, 5))
        for temperature, dloss in [(1.0, 1.0), (2.0, 0.3)]:
            (dl_ref,) = self.vjp(lambda l: ref.cross_entropy(l, labels, temperature) * dloss, [logits], torch.tensor(1.0))
            (la, lp), (ta, tp), (dl, dlp) = f32(logits), i32(labels), out(2, 5, 30)
            self.assertEqual(LIB.eert_cross_entropy_backward(lp, tp, dlp, I64(10), I64(30), F32(temperature),
                                                             F32(dloss)), 0)
            self.assertClose(dl, dl_ref)


if __name__ == "__main__":
    unittest.main(verbosity=2)
