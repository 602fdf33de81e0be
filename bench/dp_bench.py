"""Parallel scaling of `BIN train`: 1 rank against 2 ranks, one thread each.

For the small and medium configs of decode_bench.py, the same checkpoint,
global batch and sequence length: training tokens/s on one rank and under
`mpirun -np 2` as DP = 2 (plain and with the distributed optimizer, a binary
compiled with `ee-compile --use-distributed-optimizer`), PP = 2
(1F1B over the step's micro-batches, `ee-compile --pp 2`) and TP = 2
(`ee-compile --tp 2`), side by side in one run, and the scaling efficiency
(tokens/s on N ranks over N times the one-rank rate). PP = 2 runs at M and
2M micro-batches per step; its rows also show the 1F1B bound M / (M + 1) and
the share of it reached. The first iteration (warm-up) is not timed. Every
run is repeated --repeats times, the repeats interleaved (all layouts once,
then again), and each row is the median; efficiencies are of medians.

With --baseline-compile (another checkout's build/bin/ee-compile, whose
binaries use that checkout's runtime), the one-rank and DP = 2 rows run with
its binaries too, interleaved with ours in the same run; "vs baseline" is our
rate over its rate for the same layout.

Usage: python3 bench/dp_bench.py [--iters 4] [--repeats 3] [--configs small,medium]
                                 [--json out.json] [--baseline-compile OTHER/build/bin/ee-compile]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from decode_bench import CONFIGS  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SHAPES = {"small": (16, 128, 2), "medium": (8, 128, 2)}  # global batch, seq len, micro batch


def tokens_per_second(binary, ranks, checkpoint, corpus, save, iters, shape, extra):
    batch, seq, micro = shape
    launcher = [] if ranks == 1 else [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe",
                                      "-np", str(ranks), "-x", "OMP_NUM_THREADS=1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(launcher + [binary, "train", "--load", checkpoint, "--data", corpus, "--iters", str(iters),
                               "--global-batch", str(batch), "--micro-batch", str(micro), "--seq-len", str(seq),
                               "--lr", "1e-4", "--log-interval", "1", "--save", save, "--save-interval", "0",
                               *extra], check=True, env=env, stdout=subprocess.DEVNULL)
    with open(os.path.join(save, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    first, last = records[0], records[-1]
    return (last["iteration"] - first["iteration"]) * batch * seq / (last["elapsed_seconds"] - first["elapsed_seconds"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ee-compile", default=os.path.join(ROOT, "build", "bin", "ee-compile"))
    parser.add_argument("--iters", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--configs", default="small,medium")
    parser.add_argument("--json")
    parser.add_argument("--baseline-compile", help="another build's ee-compile, for baseline rows")
    args = parser.parse_args()
    rows = []
    work = tempfile.mkdtemp(prefix="ee-dp-bench-")
    try:
        corpus = os.path.join(work, "corpus.txt")
        with open(corpus, "w") as f:
            f.write(open(os.path.join(ROOT, "README.md")).read() * 20)
        for name in args.configs.split(","):
            config = dict(CONFIGS[name], architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu")
            path = os.path.join(work, name + ".json")
            with open(path, "w") as f:
                json.dump(config, f)
            batch, seq, micro = SHAPES[name]
            # PP = 2 at M = batch / micro micro-batches, and at twice as many
            # (a global batch twice as large: the same micro-batches, so the
            # one-rank rate per token is the same).
            pipelines = [(batch // micro, batch), (2 * batch // micro, 2 * batch)]
            zero = ("--use-distributed-optimizer",)
            layouts = [(), zero, ("--tp", "2")] + [("--pp", "2", "--microbatches", str(m)) for m, _ in pipelines]
            binaries = {}
            for layout in layouts:
                binaries[layout] = os.path.join(work, name + "".join(layout))
                subprocess.run([args.ee_compile, path, *layout, "-o", binaries[layout]], check=True,
                               stderr=subprocess.DEVNULL)
            if args.baseline_compile:
                binaries["baseline"] = os.path.join(work, name + "-baseline")
                subprocess.run([args.baseline_compile, path, "-o", binaries["baseline"]], check=True,
                               stderr=subprocess.DEVNULL)
            binary, checkpoint = binaries[()], os.path.join(work, name + ".ck")
            subprocess.run([binary, "init", "--out", checkpoint, "--seed", "1"], check=True, stderr=subprocess.DEVNULL)
            base = baseline_base = None
            runs = [("1 rank", 1, (), [], batch, None)]
            if args.baseline_compile:
                runs.append(("1 rank base", 1, "baseline", [], batch, None))
            runs.append(("DP=2", 2, (), [], batch, None))
            if args.baseline_compile:
                runs.append(("DP=2 base", 2, "baseline", [], batch, None))
            runs.append(("DP=2 ZeRO-1", 2, zero, list(zero), batch, None))
            for m, global_batch in pipelines:
                # The 1F1B bound on P = 2 stages: M / (M + P - 1) of the ranks busy.
                runs.append((f"PP=2 M={m}", 2, ("--pp", "2", "--microbatches", str(m)), [], global_batch,
                             m / (m + 1)))
            runs.append(("TP=2", 2, ("--tp", "2"), [], batch, None))
            rates = {label: [] for label, *_ in runs}
            for repeat in range(args.repeats):
                for label, ranks, layout, extra, global_batch, bound in runs:
                    save = os.path.join(work, f"{name}-{label.replace(' ', '_')}-{repeat}")
                    rates[label].append(tokens_per_second(binaries[layout], ranks, checkpoint, corpus, save,
                                                          args.iters, (global_batch, seq, micro), extra))
                    shutil.rmtree(save, ignore_errors=True)
                    print(".", end="", file=sys.stderr, flush=True)
            for label, ranks, layout, extra, global_batch, bound in runs:
                rate = statistics.median(rates[label])
                base = base or rate
                if layout == "baseline":
                    # Against the baseline's own one-rank rate; ours against it.
                    baseline_base = baseline_base if ranks > 1 else rate
                    efficiency = rate / (ranks * baseline_base)
                    ours = next(r for r in rows if r["config"] == name and r["layout"] == label[:-len(" base")])
                    ours["vs_baseline"] = ours["tokens_per_second"] / rate
                else:
                    efficiency = rate / (ranks * base)
                rows.append({"config": name, "layout": label, "ranks": ranks, "tokens_per_second": rate,
                             "runs": rates[label], "efficiency": efficiency, "bound": bound,
                             "of_bound": efficiency / bound if bound else None, "vs_baseline": None})
        print(file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'config':>7} | {'layout':>12} | {'tokens/s':>9} | {'scaling efficiency':>18} | "
          f"{'1F1B bound':>10} | {'of bound':>8} | {'vs baseline':>11}")
    print("-" * 95)
    for r in rows:
        bound = f"{100 * r['bound']:>9.1f}% | {100 * r['of_bound']:>7.1f}%" if r["bound"] else f"{'':>10} | {'':>8}"
        versus = f"{r['vs_baseline']:>10.3f}x" if r["vs_baseline"] else f"{'':>11}"
        print(f"{r['config']:>7} | {r['layout']:>12} | {r['tokens_per_second']:>9.0f} | "
              f"{100 * r['efficiency']:>17.1f}% | {bound} | {versus}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
