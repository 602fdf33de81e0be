"""Prefill and batch-1 decode throughput: compiled model binaries vs PyTorch eager.

For a small (8 layers, hidden 512, vocab 4096) and a medium (12 layers, hidden
1024, vocab 8192) model, on the same weights and thread count, in one run:
our binary's KV-cached generation against a PyTorch eager KV-cached Llama, the
ratio, and decode as a fraction of the memory-bandwidth bound (weight bytes per
token over a measured copy bandwidth). Prints a table and, with --json, JSON.

Usage: python3 bench/decode_bench.py [--ee-compile build/bin/ee-compile] [--threads 2]
       [--prompt 64] [--tokens 32] [--json out.json] [--configs small,medium]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "reference"))
import ee_reference as ref  # noqa: E402

CONFIGS = {
    "small": {"vocab_size": 4096, "hidden_size": 512, "intermediate_size": 1376, "num_hidden_layers": 8,
              "num_attention_heads": 8, "num_key_value_heads": 8, "max_position_embeddings": 512,
              "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True,
              "early_exit": {"exit_layer_nums": [2, 4], "use_exit_norm": True}},
    "medium": {"vocab_size": 8192, "hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 12,
               "num_attention_heads": 16, "num_key_value_heads": 16, "max_position_embeddings": 512,
               "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True,
               "early_exit": {"exit_layer_nums": [3, 6], "use_exit_norm": True}},
}


def linear_in_weight_dtype(x, weight):
    """PyTorch's product in the weight's dtype (bf16 weights: a bf16 matmul),
    the result widened to fp32 for the fp32 rest."""
    return ref.linear(x.to(weight.dtype), weight).float()


class TorchKVModel:
    """PyTorch eager Llama with a KV cache (final head only), the baseline: in
    fp32, or with bf16 weights (every product a bf16 matmul, as a PyTorch user
    serves a bfloat16 checkpoint on a CPU)."""

    def __init__(self, model, dtype=torch.float32):
        self.m = ref.EarlyExitModel(model.c, {n: t.to(dtype) for n, t in model.w.items()})
        self.m.linear = linear_in_weight_dtype
        self.layers = model.c["num_hidden_layers"]

    def step(self, ids, start, cache):
        m, w = self.m, self.m.w
        positions = torch.arange(start, start + ids.shape[1]).expand(1, ids.shape[1])
        x = w["model.embed_tokens.weight"][ids].float()
        for i in range(self.layers):
            p = f"model.layers.{i}"
            n = ref.rms_norm(x, w[p + ".input_layernorm.weight"].float(), m.eps)
            q = ref.rotary(m.linear(n, w[p + ".self_attn.q_proj.weight"]), positions, m.heads, m.theta)
            k = ref.rotary(m.linear(n, w[p + ".self_attn.k_proj.weight"]), positions, m.kv_heads, m.theta)
            v = m.linear(n, w[p + ".self_attn.v_proj.weight"])
            if i in cache:
                k, v = torch.cat([cache[i][0], k], 1), torch.cat([cache[i][1], v], 1)
            cache[i] = (k, v)
            keys = torch.arange(k.shape[1]).expand(1, k.shape[1])
            a = ref.attention(q, k, v, m.heads, m.kv_heads, q_positions=positions, k_positions=keys)
            h = x + m.linear(a, w[p + ".self_attn.o_proj.weight"])
            x = h + m.mlp(ref.rms_norm(h, w[p + ".post_attention_layernorm.weight"].float(), m.eps), p + ".mlp")
        head = w["model.embed_tokens.weight"] if m.c.get("tie_word_embeddings") else w["lm_head.weight"]
        return m.linear(ref.rms_norm(x[:, -1:], w["model.norm.weight"].float(), m.eps), head)

    def generate(self, prompt, tokens):
        cache = {}
        with torch.no_grad():
            t0 = time.perf_counter()
            logits = self.step(torch.tensor([prompt]), 0, cache)
            token = int(torch.argmax(logits[0, -1]))
            t1 = time.perf_counter()
            out = [token]
            for n in range(tokens - 1):
                logits = self.step(torch.tensor([[token]]), len(prompt) + n, cache)
                token = int(torch.argmax(logits[0, -1]))
                out.append(token)
            t2 = time.perf_counter()
        return out, len(prompt) / (t1 - t0), (tokens - 1) / (t2 - t1)


def copy_bandwidth():
    """Best of five 256 MiB copies, counting bytes read plus written."""
    src = np.ones(64 << 20, dtype=np.float32)
    dst = np.empty_like(src)
    best = math.inf
    for _ in range(5):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    return 2 * src.nbytes / best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ee-compile", default=os.path.join(os.path.dirname(__file__), "..", "build", "bin", "ee-compile"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--configs", default="small,medium")
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    bandwidth = copy_bandwidth()
    prompt = [(7 * i + 3) % 256 for i in range(args.prompt)]
    results = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.configs.split(","):
            config = CONFIGS[name]
            path = os.path.join(work, name + ".json")
            with open(path, "w") as f:
                json.dump(config, f)
            checkpoint = os.path.join(work, name + ".ckpt")
            binaries = {dtype: os.path.join(work, f"{name}.{dtype}") for dtype in ("fp32", "bf16")}
            for dtype, binary in binaries.items():
                subprocess.run([args.ee_compile, path, "--dtype", dtype, "-o", binary], check=True)
            subprocess.run([binaries["fp32"], "init", "--out", checkpoint, "--seed", "1"], check=True, env=env,
                           stderr=subprocess.DEVNULL)
            model = ref.EarlyExitModel.load(checkpoint)
            elements = sum(t.numel() for n, t in model.w.items() if not n.startswith("exits."))
            row = {"config": name, "weight_mib": 4 * elements / 2**20}
            for dtype, binary in binaries.items():
                out = subprocess.run([binary, "generate", "--load", checkpoint, "--prompt-ids",
                                      ",".join(map(str, prompt)), "--max-new-tokens", str(args.tokens), "--json"],
                                     check=True, env=env, capture_output=True, text=True).stdout.splitlines()
                summary = json.loads(out[-1])["summary"]
                row[f"{dtype}_tokens"] = [json.loads(line)["token_id"] for line in out[:-1]]
                row[f"{dtype}_prefill_tps"] = summary["prefill_tokens_per_second"]
                row[f"{dtype}_decode_tps"] = summary["tokens_per_second"]
                row[f"{dtype}_bandwidth_bound_tps"] = bandwidth / (elements * (2 if dtype == "bf16" else 4))
            for dtype, torch_dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
                tokens, prefill, decode = TorchKVModel(model, torch_dtype).generate(prompt, args.tokens)
                row[f"torch_{dtype}_tokens"] = tokens
                row[f"torch_{dtype}_prefill_tps"], row[f"torch_{dtype}_decode_tps"] = prefill, decode
            results.append(row)
    print(f"threads {args.threads}, prompt {args.prompt} tokens, {args.tokens} new tokens, "
          f"copy bandwidth {bandwidth / 1e9:.1f} GB/s")
    header = ("config", "fp32 weights MiB", "prefill tok/s: torch fp32", "torch bf16", "ours fp32", "ours bf16",
              "decode tok/s: torch fp32", "torch bf16", "ours fp32", "ours bf16", "ours bf16 / ours fp32",
              "ours bf16 / torch bf16", "% of bw bound fp32", "bf16", "same tokens fp32 (bf16)")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in results:
        print(f"| {r['config']} | {r['weight_mib']:.0f} | {r['torch_fp32_prefill_tps']:.0f} | "
              f"{r['torch_bf16_prefill_tps']:.0f} | {r['fp32_prefill_tps']:.0f} | {r['bf16_prefill_tps']:.0f} | "
              f"{r['torch_fp32_decode_tps']:.1f} | {r['torch_bf16_decode_tps']:.1f} | {r['fp32_decode_tps']:.1f} | "
              f"{r['bf16_decode_tps']:.1f} | {r['bf16_decode_tps'] / r['fp32_decode_tps']:.2f}x | "
              f"{r['bf16_decode_tps'] / r['torch_bf16_decode_tps']:.2f}x | "
              f"{100 * r['fp32_decode_tps'] / r['fp32_bandwidth_bound_tps']:.0f}% | "
              f"{100 * r['bf16_decode_tps'] / r['bf16_bandwidth_bound_tps']:.0f}% | "
              f"{r['fp32_tokens'] == r['torch_fp32_tokens']} ({r['bf16_tokens'] == r['torch_bf16_tokens']}) |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"bandwidth_bytes_per_second": bandwidth, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
