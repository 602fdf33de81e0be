"""A cuda model binary (the 1.3B EE-LLM config, bf16) on one GPU: training MFU and batch-1 decode, beside PyTorch eager bf16.

Usage: cuda_model_bench.py BINARY [--json FILE] [--work DIR] [--steps 4] [--global-batch 8]
       [--micro-batch 2] [--seq-len 2048] [--prompt 64] [--tokens 128] [--early-exit-thres 0.0]

What scripts/gpu-check.sh runs after the kernel and model checks (BINARY:
`ee-compile examples/eellm-1.3b.json --target cuda --dtype bf16`). In one run:
- training: `BINARY train` on a synthetic byte corpus, one warm-up step and
  --steps timed ones (from its metrics.jsonl), tokens/s and MFU: training
  FLOPs (bench/flops.py) against the GPU's dense bf16 peak and PyTorch's
  measured 8192^3 bf16 matmul rate;
- decode: `BINARY generate` at batch 1 from the trained checkpoint, at full
  depth (its baseline run) and with --early-exit-thres (0: every token leaves
  at the first exit, the early path's upper bound on random weights, whose
  confidences are too low for a usual threshold), each against the HBM
  bound: bandwidth over the bf16 weight bytes a token reads (mean layers run
  plus one head) and its fp32 KV cache reads;
- PyTorch eager on the same shapes, where PyTorch sees a GPU: the same model
  written as a PyTorch user would (bf16 autocast over fp32 weights with
  torch.optim.AdamW for training, bf16 weights and a KV cache with
  scaled_dot_product_attention for decode), on its own random weights (a
  speed baseline: the numerics are checked by the model checks).
Prints one table (the rows' targets from issue 16) and, with --json, JSON.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flops import attention_flops_per_token, heads, layer_weights, matmul_flops_per_token  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
    torch_gpu = torch.cuda.is_available()
except ImportError:
    torch_gpu = False

# Dense bf16 tensor-core peaks (NVIDIA data sheets, SXM forms) and HBM bandwidths, by device name.
PEAKS = [("H200", 989e12, 4.8e12), ("H100 PCIe", 756e12, 2.0e12), ("H100", 989e12, 3.35e12),
         ("A100", 312e12, 2.0e12), ("B200", 2250e12, 8.0e12)]


def run(binary, *args, timeout):
    prefix = os.environ.get("EERT_RUN_PREFIX", "").split()
    done = subprocess.run([*prefix, binary, *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{os.path.basename(binary)} {args[0]}: exit {done.returncode}: {done.stderr.strip()[-400:]}")
    return done.stdout


def measured_rates():
    """PyTorch's bf16 matmul rate and copy bandwidth on this GPU (median of 5)."""
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    src = torch.empty(1 << 30, device="cuda", dtype=torch.uint8)
    dst = torch.empty_like(src)

    def timed(body, repeats=10):
        body()
        times = []
        for _ in range(5):
            torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(repeats):
                body()
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t) / repeats)
        return sorted(times)[2]

    rate = 2 * 8192 ** 3 / timed(lambda: a @ a)
    bandwidth = 2 * src.numel() / timed(lambda: dst.copy_(src))
    return rate, bandwidth


class TorchLlama:
    """The config's model in PyTorch eager: fp32 weights trained under bf16
    autocast, or bf16 weights for decode."""

    def __init__(self, c, dtype):
        self.c, self.h, self.n = c, c["hidden_size"], c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.d = self.h // self.heads
        self.exits = c.get("early_exit", {}).get("exit_layer_nums", [])
        self.weights_exit = c.get("early_exit", {}).get("exit_layer_weight", [1.0] * len(self.exits))
        kv, f = self.kv_heads * self.d, c["intermediate_size"]
        g = torch.Generator(device="cuda").manual_seed(1)

        def make(*shape):
            if len(shape) == 1:
                return torch.ones(shape, device="cuda", dtype=dtype)
            return (0.02 * torch.randn(shape, device="cuda", generator=g)).to(dtype)

        self.embed = make(c["vocab_size"], self.h)
        self.layers = [dict(n1=make(self.h), q=make(self.h, self.h), k=make(kv, self.h), v=make(kv, self.h),
                            o=make(self.h, self.h), n2=make(self.h), gate=make(f, self.h), up=make(f, self.h),
                            down=make(self.h, f)) for _ in range(self.n)]
        self.exit_norms = [make(self.h) for _ in self.exits]
        self.final_norm = make(self.h)
        inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, self.d, 2, device="cuda").float() / self.d))
        freqs = torch.arange(c["max_position_embeddings"], device="cuda").float()[:, None] * inv
        self.cos, self.sin = torch.cat((freqs, freqs), -1).cos(), torch.cat((freqs, freqs), -1).sin()
        self.eps = c.get("rms_norm_eps", 1e-6)

    def parameters(self):
        return [self.embed, self.final_norm, *self.exit_norms, *(w for layer in self.layers for w in layer.values())]

    def norm(self, x, w):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps) * w.float()).to(x.dtype)

    def rotate(self, x, positions):  # x [B, heads, S, d]
        cos, sin = self.cos[positions].to(x.dtype), self.sin[positions].to(x.dtype)
        half = self.d // 2
        return x * cos + torch.cat((-x[..., half:], x[..., :half]), -1) * sin

    def block(self, x, w, positions, cache=None, start=0):
        b, s, _ = x.shape
        y = self.norm(x, w["n1"])
        q = (y @ w["q"].t()).view(b, s, self.heads, self.d).transpose(1, 2)
        k = (y @ w["k"].t()).view(b, s, self.kv_heads, self.d).transpose(1, 2)
        v = (y @ w["v"].t()).view(b, s, self.kv_heads, self.d).transpose(1, 2)
        q, k = self.rotate(q, positions), self.rotate(k, positions)
        if cache is not None:
            cache[0][:, :, start:start + s], cache[1][:, :, start:start + s] = k, v
            k, v = cache[0][:, :, :start + s], cache[1][:, :, :start + s]
        grouped = {"enable_gqa": True} if self.kv_heads != self.heads else {}  # PyTorch >= 2.5
        a = F.scaled_dot_product_attention(q, k, v, is_causal=cache is None or s > 1, **grouped)
        x = x + a.transpose(1, 2).reshape(b, s, self.h) @ w["o"].t()
        y = self.norm(x, w["n2"])
        return x + (F.silu(y @ w["gate"].t()) * (y @ w["up"].t())) @ w["down"].t()

    def loss(self, ids, labels):
        positions = torch.arange(ids.shape[1], device="cuda")
        x, total = self.embed[ids], 0.0
        for i, w in enumerate(self.layers):
            x = self.block(x, w, positions)
            if i + 1 in self.exits:
                k = self.exits.index(i + 1)
                logits = self.norm(x, self.exit_norms[k]) @ self.embed.t()
                total = total + self.weights_exit[k] * F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten())
        logits = self.norm(x, self.final_norm) @ self.embed.t()
        return total + F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten())

    def train_tokens_per_second(self, global_batch, micro, seq, steps):
        params = self.parameters()
        for p in params:
            p.requires_grad_(True)
        optimizer = torch.optim.AdamW(params, lr=1e-4)
        ids = torch.randint(0, 256, (micro, seq + 1), device="cuda")
        times = []
        for _ in range(steps + 1):
            torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(global_batch // micro):
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss = self.loss(ids[:, :-1], ids[:, 1:]) / (global_batch // micro)
                loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        return steps * global_batch * seq / sum(times[1:])

    @torch.no_grad()
    def decode_tokens_per_second(self, prompt, tokens):
        cache = [(torch.empty(1, self.kv_heads, len(prompt) + tokens, self.d, device="cuda", dtype=self.embed.dtype),
                  torch.empty(1, self.kv_heads, len(prompt) + tokens, self.d, device="cuda", dtype=self.embed.dtype))
                 for _ in self.layers]

        def step(ids, start):
            x = self.embed[ids]
            positions = torch.arange(start, start + ids.shape[1], device="cuda")
            for w, c in zip(self.layers, cache):
                x = self.block(x, w, positions, c, start)
            return int(torch.argmax(self.norm(x[:, -1], self.final_norm) @ self.embed.t()))

        token = step(torch.tensor([prompt], device="cuda"), 0)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for n in range(tokens - 1):
            token = step(torch.tensor([[token]], device="cuda"), len(prompt) + n)
        return (tokens - 1) / (time.perf_counter() - t)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--json")
    parser.add_argument("--work")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--global-batch", type=int, default=8)
    parser.add_argument("--micro-batch", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--prompt", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--early-exit-thres", default="0.0")
    args = parser.parse_args()
    info = json.loads(run(args.binary, "info", timeout=60))
    c = info["config"]
    name = torch.cuda.get_device_name() if torch_gpu else os.environ.get("EERT_DEVICE_NAME", "")
    peak, nominal_bandwidth = next(((p, b) for key, p, b in PEAKS if key in name), (None, None))
    rate, bandwidth = measured_rates() if torch_gpu else (None, nominal_bandwidth)
    report = {"device": name, "dtype": info["dtype"], "bf16_peak_flops": peak, "torch_bf16_matmul_flops": rate,
              "bandwidth_bytes_per_second": bandwidth, "bandwidth_measured": torch_gpu,
              "global_batch": args.global_batch, "micro_batch": args.micro_batch, "seq_len": args.seq_len}
    work = args.work or tempfile.mkdtemp(prefix="cuda-model-bench-")
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data.txt")
    with open(data, "wb") as f:
        f.write(bytes((i * 7 + i // 13) % 251 for i in range(2 * args.global_batch * (args.seq_len + 1) * (args.steps + 2))))
    save = os.path.join(work, "run")
    run(args.binary, "train", "--data", data, "--iters", str(args.steps + 1), "--global-batch", str(args.global_batch),
        "--micro-batch", str(args.micro_batch), "--seq-len", str(args.seq_len), "--lr", "1e-4", "--save", save,
        "--log-interval", "1", timeout=300)
    records = [json.loads(line) for line in open(os.path.join(save, "metrics.jsonl"))]
    seconds = records[-1]["elapsed_seconds"] - records[0]["elapsed_seconds"]
    flops = matmul_flops_per_token(c) + attention_flops_per_token(c, args.seq_len)
    report["train_tokens_per_second"] = tps = args.steps * args.global_batch * args.seq_len / seconds
    report["train_mfu_of_peak"] = tps * flops / peak if peak else None
    report["train_mfu_of_torch_matmul"] = tps * flops / rate if rate else None

    checkpoint = os.path.join(save, open(os.path.join(save, "latest")).read().strip())
    prompt = [(7 * i + 3) % 256 for i in range(args.prompt)]
    out = run(args.binary, "generate", "--load", checkpoint, "--prompt-ids", ",".join(map(str, prompt)),
              "--max-new-tokens", str(args.tokens), "--early-exit-thres", args.early_exit_thres, "--json",
              timeout=300).splitlines()
    summary = json.loads(out[-1])["summary"]
    kv = 2 * c["num_hidden_layers"] * (c.get("num_key_value_heads") or c["num_attention_heads"]) \
        * (c["hidden_size"] // c["num_attention_heads"]) * 4 * (args.prompt + args.tokens / 2)

    def bound(layers):  # tokens/s the bandwidth allows when a token reads `layers` layers and one head
        return bandwidth / (2 * (layers * layer_weights(c) + c["vocab_size"] * c["hidden_size"]) + kv) \
            if bandwidth else None

    report["decode_full_tokens_per_second"] = summary["full_depth_tokens_per_second"]
    report["decode_full_bound"] = bound(c["num_hidden_layers"])
    report["decode_early_tokens_per_second"] = summary["tokens_per_second"]
    report["decode_early_mean_layers"] = summary["mean_layers"]
    report["decode_early_bound"] = bound(summary["mean_layers"])
    if torch_gpu:
        model = TorchLlama(c, torch.float32)
        report["torch_train_tokens_per_second"] = model.train_tokens_per_second(
            args.global_batch, args.micro_batch, args.seq_len, args.steps)
        del model
        torch.cuda.empty_cache()
        report["torch_decode_tokens_per_second"] = TorchLlama(c, torch.bfloat16).decode_tokens_per_second(
            prompt, args.tokens)

    def pct(x):
        return f"{100 * x:.0f}%" if x else "-"

    def num(x):
        return f"{x:.0f}" if x else "-"

    torch_train, torch_decode = report.get("torch_train_tokens_per_second"), report.get("torch_decode_tokens_per_second")
    print(f"{name or 'unknown GPU'}: bf16 peak {num(peak and peak / 1e12)} TFLOP/s, PyTorch matmul "
          f"{num(rate and rate / 1e12)} TFLOP/s, bandwidth {num(bandwidth and bandwidth / 1e9)} GB/s "
          f"({'measured' if torch_gpu else 'nominal'}); {info['dtype']}, batch {args.global_batch} x {args.seq_len}, "
          f"micro-batch {args.micro_batch}")
    print("| what | ours | PyTorch eager bf16 | ours / PyTorch | of bound | target |")
    print("|---|---|---|---|---|---|")
    print(f"| training tok/s (MFU of peak; of matmul rate) | {num(tps)} ({pct(report['train_mfu_of_peak'])}; "
          f"{pct(report['train_mfu_of_torch_matmul'])}) | {num(torch_train)} | "
          f"{f'{tps / torch_train:.2f}x' if torch_train else '-'} | - | MFU >= 35% of peak |")
    for label, key, target in (("decode full depth tok/s", "full", ">= 50% of bound, >= 3x PyTorch"),
                               (f"decode early exit {args.early_exit_thres} tok/s "
                                f"({summary['mean_layers']:.1f} layers)", "early", "-")):
        value, limit = report[f"decode_{key}_tokens_per_second"], report[f"decode_{key}_bound"]
        print(f"| {label} | {num(value)} | {num(torch_decode) if key == 'full' else '-'} | "
              f"{f'{value / torch_decode:.2f}x' if torch_decode and key == 'full' else '-'} | "
              f"{pct(limit and value / limit)} of {num(limit)} | {target} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
