"""Training throughput: compiled model binaries vs PyTorch eager, fp32 and bf16, exit overhead, MFU.

In one run, for the small and medium configs of decode_bench.py (same weights,
batch, sequence length and thread count): training tokens/s of a PyTorch eager
step (the reference model, autograd, torch.optim.AdamW) in fp32 and with bf16
autocast, and of `BIN train` compiled with --dtype fp32 and bf16; the step time
with the exits against the same model without them (fp32), next to the exits'
share of the FLOPs; and model FLOPs utilisation against the GEMM rates
measured through the runtime's own fp32 and bf16 kernels. Prints a table and,
with --json, JSON.

Usage: python3 bench/train_bench.py [--threads 2] [--steps 3] [--configs small,medium] [--json out.json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "reference"))
sys.path.insert(0, os.path.dirname(__file__))
import ee_reference as ref  # noqa: E402
from decode_bench import CONFIGS  # noqa: E402
from flops import attention_flops_per_token, matmul_flops_per_token  # noqa: E402
from gemm_rates import gemm_rates  # noqa: E402

SHAPES = {"small": (8, 128), "medium": (4, 128)}  # (global batch, seq len)


def ours(ee_compile, config, work, name, batch, seq, steps, env, data, dtype="fp32"):
    path = os.path.join(work, name + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    binary = os.path.join(work, name + "." + dtype)
    subprocess.run([ee_compile, path, "--dtype", dtype, "-o", binary], check=True)
    run = binary + ".run"
    # One warm-up step, then `steps` timed ones (the last log record covers them).
    subprocess.run([binary, "train", "--data", data, "--iters", str(steps + 1), "--global-batch", str(batch),
                    "--seq-len", str(seq), "--lr", "1e-4", "--save", run, "--log-interval", "1"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    records = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
    seconds = records[-1]["elapsed_seconds"] - records[0]["elapsed_seconds"]
    return steps * batch * seq / seconds, os.path.join(run, "iter_%07d" % (steps + 1))


def torch_eager(checkpoint, tokens, batch, seq, steps, autocast=False):
    """PyTorch eager steps on fp32 weights, or with bf16 autocast (its matmuls
    on bf16 copies, as a PyTorch user trains in mixed precision on a CPU)."""
    model = ref.EarlyExitModel.load(checkpoint)
    params = list(model.w.values())
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    window = torch.tensor(tokens[:batch * (seq + 1)], dtype=torch.int64).reshape(batch, seq + 1)
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = ref.objective(model, window[:, :-1], window[:, 1:], 0)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - t)
    return steps * batch * seq / sum(times[1:])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ee-compile", default=os.path.join(os.path.dirname(__file__), "..", "build", "bin", "ee-compile"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--configs", default="small,medium")
    parser.add_argument("--json")
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    torch.set_num_threads(args.threads)
    rates = gemm_rates(os.path.join(os.path.dirname(os.path.abspath(args.ee_compile)), "..", "lib", "libeert.so"),
                       args.threads)
    results = []
    with tempfile.TemporaryDirectory() as work:
        data = os.path.join(work, "data.txt")
        with open(data, "wb") as f:
            f.write(bytes((i * 7 + i // 13) % 251 for i in range(400_000)))
        tokens = list(open(data, "rb").read())
        for name in args.configs.split(","):
            config = CONFIGS[name]
            batch, seq = SHAPES[name]
            tps, checkpoint = ours(args.ee_compile, config, work, name, batch, seq, args.steps, env, data)
            bf16_tps, _ = ours(args.ee_compile, config, work, name, batch, seq, args.steps, env, data, "bf16")
            plain = {k: v for k, v in config.items() if k != "early_exit"}
            plain_tps, _ = ours(args.ee_compile, plain, work, name + "-no-exits", batch, seq, args.steps, env, data)
            torch_tps = torch_eager(checkpoint, tokens, batch, seq, args.steps)
            autocast_tps = torch_eager(checkpoint, tokens, batch, seq, args.steps, autocast=True)
            flops = matmul_flops_per_token(config) + attention_flops_per_token(config, seq)
            plain_flops = matmul_flops_per_token(config, False) + attention_flops_per_token(config, seq)
            results.append({"config": name, "batch": batch, "seq_len": seq, "tokens_per_second": tps,
                            "bf16_tokens_per_second": bf16_tps, "torch_tokens_per_second": torch_tps,
                            "torch_autocast_tokens_per_second": autocast_tps, "no_exit_tokens_per_second": plain_tps,
                            "exit_time_overhead": plain_tps / tps - 1, "exit_flop_share": 1 - plain_flops / flops,
                            "mfu_of_gemm_rate": tps * flops / rates["fp32"],
                            "bf16_mfu_of_bf16_gemm_rate": bf16_tps * flops / rates["bf16"]})
    print(f"threads {args.threads}, measured GEMM rates {rates['fp32'] / 1e9:.1f} GFLOP/s fp32, "
          f"{rates['bf16'] / 1e9:.1f} GFLOP/s bf16 inputs, {args.steps} timed steps")
    header = ("config", "batch x seq", "torch fp32 tok/s", "torch bf16 autocast", "ours fp32", "ours bf16",
              "ours bf16 / torch bf16", "MFU fp32 / fp32 rate", "MFU bf16 / bf16 rate", "exit time overhead (fp32)",
              "exit FLOP share")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in results:
        print(f"| {r['config']} | {r['batch']}x{r['seq_len']} | {r['torch_tokens_per_second']:.0f} | "
              f"{r['torch_autocast_tokens_per_second']:.0f} | {r['tokens_per_second']:.0f} | "
              f"{r['bf16_tokens_per_second']:.0f} | "
              f"{r['bf16_tokens_per_second'] / r['torch_autocast_tokens_per_second']:.2f}x | "
              f"{100 * r['mfu_of_gemm_rate']:.0f}% | {100 * r['bf16_mfu_of_bf16_gemm_rate']:.0f}% | "
              f"{100 * r['exit_time_overhead']:.1f}% | {100 * r['exit_flop_share']:.1f}% |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gemm_flops_per_second": rates, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
