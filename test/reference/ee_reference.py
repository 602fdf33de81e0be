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


def round_bf16(t):
    """t rounded to bf16 (to nearest even) and held in fp32."""
    return t.to(torch.bfloat16).to(torch.float32)


class _BF16Linear(torch.autograd.Function):
    """x W^T in bf16 mixed precision (DESIGN.md, Precision): both factors
    rounded to bf16, the products accumulated in fp32; the backward products
    take the output gradient rounded to bf16 as well and give fp32 gradients."""

    @staticmethod
    def forward(ctx, x, weight):
        xr, wr = round_bf16(x), round_bf16(weight)
        ctx.save_for_backward(xr, wr)
        return xr @ wr.t()

    @staticmethod
    def backward(ctx, dy):
        xr, wr = ctx.saved_tensors
        dyr = round_bf16(dy)
        return dyr @ wr, dyr.reshape(-1, dyr.shape[-1]).t() @ xr.reshape(-1, xr.shape[-1])


def linear_bf16(x, weight):
    return _BF16Linear.apply(x, weight)


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


# ---------------------------------------------------------------------------
# Checkpoints (safetensors written and read here, from the format's spec) and
# the whole early-exit model of DESIGN.md 3.1.
# ---------------------------------------------------------------------------

import json
import os
import struct

import numpy as np

_DTYPES = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    base = 8 + size
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = data[base + begin:base + end]
        if entry["dtype"] == "BF16":  # the upper 16 bits of an fp32 value
            array = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=_DTYPES[entry["dtype"]]).astype(np.float32)
        tensors[name] = torch.from_numpy(array.reshape(entry["shape"]).copy())
    return tensors


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        blob = tensor.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


class EarlyExitModel:
    """Llama decoder with early exits on CPU, in fp32 or (precision "bf16") in
    bf16 mixed precision: every weight stored in bf16 (the weights given are
    rounded; they are the leaves gradients are taken of) and every linear
    product on bf16 factors with fp32 accumulation (linear_bf16); norms,
    rotary, attention, SwiGLU, residuals, losses and confidences in fp32."""

    def __init__(self, config, weights, precision="fp32"):
        self.c = config
        self.precision = precision
        self.linear = linear_bf16 if precision == "bf16" else linear
        self.w = {name: round_bf16(t) for name, t in weights.items()} if precision == "bf16" else weights
        ee = config.get("early_exit") or {}
        self.exit_layers = ee.get("exit_layer_nums", [])
        self.pre_exit = ee.get("pre_exit", False)
        self.use_norm = ee.get("use_exit_norm", False)
        self.use_mlp = ee.get("use_exit_mlp", False)
        self.use_block = ee.get("use_exit_block", False)
        self.untie_exits = ee.get("untie_exit_output_weights", False)
        self.heads = config["num_attention_heads"]
        self.kv_heads = config.get("num_key_value_heads") or self.heads
        self.eps = config.get("rms_norm_eps", 1e-6)
        self.theta = config.get("rope_theta", 10000.0)

    @staticmethod
    def load(directory, precision="fp32"):
        with open(os.path.join(directory, "config.json")) as f:
            config = json.load(f)
        return EarlyExitModel(config, read_safetensors(os.path.join(directory, "model.safetensors")), precision)

    def mlp(self, x, prefix):
        w = self.w
        gate, up = self.linear(x, w[prefix + ".gate_proj.weight"]), self.linear(x, w[prefix + ".up_proj.weight"])
        return self.linear(swiglu(gate, up), w[prefix + ".down_proj.weight"])

    def block(self, x, positions, prefix):
        """One decoder block; returns (output, mid-layer residual). Its rotated
        keys and values are kept in self.kv[prefix] when self.kv is a dict."""
        w = self.w
        n = rms_norm(x, w[prefix + ".input_layernorm.weight"], self.eps)
        q = rotary(self.linear(n, w[prefix + ".self_attn.q_proj.weight"]), positions, self.heads, self.theta)
        k = rotary(self.linear(n, w[prefix + ".self_attn.k_proj.weight"]), positions, self.kv_heads, self.theta)
        v = self.linear(n, w[prefix + ".self_attn.v_proj.weight"])
        if getattr(self, "kv", None) is not None:
            self.kv[prefix] = (k, v)
        h = x + self.linear(attention(q, k, v, self.heads, self.kv_heads), w[prefix + ".self_attn.o_proj.weight"])
        y = h + self.mlp(rms_norm(h, w[prefix + ".post_attention_layernorm.weight"], self.eps), prefix + ".mlp")
        return y, h

    def exit_head(self, k, z, h, layer, positions):
        w, prefix = self.w, f"exits.{k}"
        if self.use_block:
            z = self.block(z, positions, prefix + ".block")[0]
        if self.use_mlp:
            post = w[f"model.layers.{layer - 1}.post_attention_layernorm.weight"]
            z = h + self.mlp(rms_norm(h, post, self.eps), prefix + ".mlp")
        if self.use_norm:
            z = rms_norm(z, w[prefix + ".norm.weight"], self.eps)
        out = w[prefix + ".lm_head.weight"] if self.untie_exits else w["model.embed_tokens.weight"]
        return self.linear(z, out)

    def forward(self, ids):
        """Logits of every exit (in order) and of the final head, for ids [B, S]."""
        w = self.w
        batch, seq = ids.shape
        positions = torch.arange(seq).expand(batch, seq)
        x = w["model.embed_tokens.weight"][ids.long()]
        exits = {}
        for i in range(self.c["num_hidden_layers"]):
            layer = i + 1
            if self.pre_exit and layer in self.exit_layers:
                exits[layer] = self.exit_head(self.exit_layers.index(layer), x, None, layer, positions)
            y, h = self.block(x, positions, f"model.layers.{i}")
            if not self.pre_exit and layer in self.exit_layers:
                exits[layer] = self.exit_head(self.exit_layers.index(layer), y, h, layer, positions)
            x = y
        head = w["model.embed_tokens.weight"] if self.c.get("tie_word_embeddings", False) else w["lm_head.weight"]
        final = self.linear(rms_norm(x, w["model.norm.weight"], self.eps), head)
        return [exits[layer] for layer in self.exit_layers] + [final]

    def eval(self, tokens, seq_len, batch=8):
        """Mean cross-entropy of every exit and the final head over consecutive windows."""
        windows = len(tokens) // (seq_len + 1)
        data = torch.tensor(tokens[:windows * (seq_len + 1)], dtype=torch.int64).reshape(windows, seq_len + 1)
        totals = None
        with torch.no_grad():
            for first in range(0, windows, batch):
                chunk = data[first:first + batch]
                logits = self.forward(chunk[:, :-1])
                losses = [cross_entropy(l, chunk[:, 1:]).item() * chunk[:, 1:].numel() for l in logits]
                totals = losses if totals is None else [a + b for a, b in zip(totals, losses)]
        return [t / (windows * seq_len) for t in totals]

    def greedy(self, prompt, new_tokens):
        """Full-depth greedy decoding, recomputing the whole sequence each step (no cache)."""
        ids = list(prompt)
        with torch.no_grad():
            for _ in range(new_tokens):
                final = self.forward(torch.tensor([ids]))[-1]
                ids.append(int(torch.argmax(final[0, -1])))
        return ids[len(prompt):]


    def early_exit_generate(self, prompt, new_tokens, thresholds):
        """Token-level early-exit greedy decoding, recomputing the whole sequence
        each step: a token comes from the first exit (in order) whose confidence
        (max softmax probability) at the last position reaches its threshold
        (thresholds: exit index -> value; absent exits are not taken), else from
        the final head. Returns [(token, exit index or "final", confidence)]."""
        ids, records = list(prompt), []
        with torch.no_grad():
            for _ in range(new_tokens):
                logits = self.forward(torch.tensor([ids]))
                choice = None
                for k, exit_logits in enumerate(logits[:-1]):
                    conf = exit_confidence(exit_logits[0, -1]).item()
                    if k in thresholds and conf >= thresholds[k]:
                        choice = (int(torch.argmax(exit_logits[0, -1])), k, conf)
                        break
                if choice is None:
                    final = logits[-1][0, -1]
                    choice = (int(torch.argmax(final)), "final", exit_confidence(final).item())
                records.append(choice)
                ids.append(choice[0])
        return records

    def kv_caches(self, ids):
        """Rotated keys and values [seq, kv features] of every attention (decoder
        layers and block exits) by weight prefix, over the sequence ids."""
        self.kv = {}
        try:
            with torch.no_grad():
                self.forward(torch.tensor([ids]))
            return {prefix: (k[0], v[0]) for prefix, (k, v) in self.kv.items()}
        finally:
            self.kv = None


def random_weights(config, std, seed):
    """Weights for `config` named as in DESIGN.md 3.2: N(0, std) matrices, norms near 1."""
    g = torch.Generator().manual_seed(seed)
    hidden, ffn, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    kv = (config.get("num_key_value_heads") or config["num_attention_heads"]) * hidden // config["num_attention_heads"]
    shapes = {}

    def block(prefix):
        shapes.update({prefix + ".input_layernorm.weight": [hidden], prefix + ".self_attn.q_proj.weight": [hidden, hidden],
                       prefix + ".self_attn.k_proj.weight": [kv, hidden], prefix + ".self_attn.v_proj.weight": [kv, hidden],
                       prefix + ".self_attn.o_proj.weight": [hidden, hidden],
                       prefix + ".post_attention_layernorm.weight": [hidden]})
        mlp(prefix + ".mlp")

    def mlp(prefix):
        shapes.update({prefix + ".gate_proj.weight": [ffn, hidden], prefix + ".up_proj.weight": [ffn, hidden],
                       prefix + ".down_proj.weight": [hidden, ffn]})

    shapes["model.embed_tokens.weight"] = [vocab, hidden]
    for i in range(config["num_hidden_layers"]):
        block(f"model.layers.{i}")
    shapes["model.norm.weight"] = [hidden]
    if not config.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = [vocab, hidden]
    ee = config.get("early_exit") or {}
    for k in range(len(ee.get("exit_layer_nums", []))):
        if ee.get("use_exit_norm"):
            shapes[f"exits.{k}.norm.weight"] = [hidden]
        if ee.get("use_exit_mlp"):
            mlp(f"exits.{k}.mlp")
        if ee.get("use_exit_block"):
            block(f"exits.{k}.block")
        if ee.get("untie_exit_output_weights"):
            shapes[f"exits.{k}.lm_head.weight"] = [vocab, hidden]
    weights = {}
    for name, shape in shapes.items():
        if len(shape) == 1:
            weights[name] = 1.0 + 0.1 * torch.randn(shape, generator=g)
        else:
            weights[name] = std * torch.randn(shape, generator=g)
    return weights


def objective(model, ids, labels, iteration):
    """The training objective L = L_final + sum_k w_k(t) CE(exit_k / T_k) (DESIGN.md 1, item 2)."""
    ee = model.c.get("early_exit") or {}
    logits = model.forward(ids)
    loss = cross_entropy(logits[-1], labels)
    n = len(model.exit_layers)
    targets = ee.get("exit_layer_weight", [1.0] * n)
    inits = ee.get("exit_layer_weight_init", targets)
    temperatures = ee.get("exit_layer_temperature", [1.0] * n)
    for k in range(n):
        w = loss_weight(iteration, inits[k], targets[k], ee.get("exit_layer_weight_warmup_iters", 0),
                        ee.get("exit_layer_weight_warmup_style", "linear"))
        loss = loss + w * cross_entropy(logits[k], labels, temperatures[k])
    return loss
