"""Independent PyTorch reference of the early-exit model's primitives.

Written from ../shared/DESIGN.md (section 3.1 semantics, Hugging Face Llama
conventions) only; it never calls the compiler's or the runtime's code. Tests
call both and compare.
"""
import math

import torch
import torch.nn.functional as F


def rms_norm(x, weight, eps):
    """x / sqrt(mean(x^2) + eps) * weight over the last dimension (fp32, as HF)."""
    variance = x.pow(2).mean(-1, keepdim=True)
    return x * torch.rsqrt(variance + eps) * weight


def linear(x, weight):
    """x W^T with W stored [out, in]."""
    return x @ weight.t()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rotary(x, positions, heads, theta):
    """HF Llama rotary embedding on x [..., tokens, heads*d] at integer positions [..., tokens]."""
    head_dim = x.shape[-1] // heads
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    freqs = positions.float()[..., None] * inv_freq  # [..., tokens, d/2]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[..., None, :], emb.sin()[..., None, :]
    xh = x.reshape(*x.shape[:-1], heads, head_dim)
    out = xh * cos + rotate_half(xh) * sin
    return out.reshape(x.shape)


def attention(q, k, v, heads, kv_heads, q_positions=None, k_positions=None):
    """Causal grouped-query attention. q [B, S, H*d], k/v [B, T, KV*d].

    Query i attends to key j when k_positions[j] <= q_positions[i]
    (default: the token indices, i.e. a causal mask within one sequence).
    """
    batch, seq, _ = q.shape
    keys = k.shape[1]
    d = q.shape[-1] // heads
    qh = q.reshape(batch, seq, heads, d).transpose(1, 2)
    kh = k.reshape(batch, keys, kv_heads, d).transpose(1, 2)
    vh = v.reshape(batch, keys, kv_heads, d).transpose(1, 2)
    group = heads // kv_heads
    kh = kh.repeat_interleave(group, dim=1)
    vh = vh.repeat_interleave(group, dim=1)
    scores = qh @ kh.transpose(-1, -2) / math.sqrt(d)
    if q_positions is None:
        q_positions = torch.arange(seq).expand(batch, seq)
    if k_positions is None:
        k_positions = torch.arange(keys).expand(batch, keys)
    allowed = k_positions[:, None, None, :] <= q_positions[:, None, :, None]
    scores = scores.masked_fill(~allowed, float("-inf"))
    out = torch.softmax(scores, dim=-1) @ vh
    return out.transpose(1, 2).reshape(batch, seq, heads * d)


def swiglu(gate, up):
    return F.silu(gate) * up


def cross_entropy(logits, labels, temperature=1.0):
    """Mean token cross-entropy of logits / temperature."""
    flat = logits.reshape(-1, logits.shape[-1]) / temperature
    return F.cross_entropy(flat, labels.reshape(-1).long())


def exit_confidence(logits):
    """Maximum softmax probability per token."""
    return torch.softmax(logits, dim=-1).max(dim=-1).values


def loss_weight(iteration, init, target, warmup_iters, style):
    """w(t): init -> target over warmup_iters, linear or cosine, then target."""
    if warmup_iters <= 0 or iteration >= warmup_iters:
        return target
    progress = iteration / warmup_iters
    if style == "cosine":
        return target + (init - target) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return init + (target - init) * progress
