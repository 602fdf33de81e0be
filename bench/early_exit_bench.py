"""Early-exit generation: a threshold sweep of both methods on the README demo's model.

For each threshold (1.0 down to 0.1) and each method (KV recomputation in one
process; the pipeline method on 2 MPI ranks of one thread each), generates
greedily from held-out prompts (the Book of Revelation, not trained on), one
prompt at a time (batch 1; --batch N gives N prompts per call), and prints: decode tokens/s, the speedup over
full-depth decoding measured by the same binary in the same process, mean layers
run per token, the share of tokens taken at an early exit, and the agreement of
the tokens with full-depth greedy output (position by position). Then the
targets: at the lowest threshold whose output agrees on >= 90% of tokens,
recompute's speedup (goal >= 2x), and whether the pipeline method beats
recompute wherever more than half of the tokens exit early; each speedup is
also given as a share of its ideal, L / (mean layers run).

Then self-speculative decoding (--method speculative, lossless) for every
draft exit and draft length (--draft-tokens, 0: adaptive): the speedup over
full depth, the drafts' acceptance rate, tokens per verification pass, and the
ideal speedup they imply: generated tokens x L over the layers run, counting
each draft step's layers up to the exit and each verification pass's layers
after it once (a batched pass costs one token's weight reads).

Last, serving (`BIN serve`, one process): C concurrent clients (1, 4 and 16)
each sending requests one after another (--serve-requests each, held-out
prompts, --tokens new tokens at threshold --serve-threshold), with continuous
batching (--max-batch 16) and without (--max-batch 1): throughput in generated
tokens/s and the p50/p99 request latency, against the targets at 16 clients
(throughput >= 4x one client's, p99 latency <= 3x one client's).

Usage: python3 bench/early_exit_bench.py [--run build/demo/run] [--eval-text build/demo/kjv-eval.txt]
       [--ee-compile build/bin/ee-compile] [--prompts 16] [--prompt-bytes 48] [--tokens 64]
       [--threads 2] [--thresholds 1.0,0.9,...] [--repeat 3] [--json out.json]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def checkpoint_dir(run):
    """A save directory's latest checkpoint, or the directory itself."""
    latest = os.path.join(run, "latest")
    if os.path.isfile(latest):
        with open(latest) as f:
            return os.path.join(run, f.read().strip())
    return run


def held_out_prompts(path, count, size):
    """`count` prompts of `size` bytes from evenly spaced places of the text."""
    with open(path, "rb") as f:
        text = f.read()
    step = max((len(text) - size) // count, 1)
    prompts = []
    for i in range(count):
        chunk = text[i * step:i * step + size]
        prompts.append(chunk.decode("utf-8", "replace").encode("utf-8")[:size])
    return prompts


def generate(command, checkpoint, prompts, tokens, threshold, env, options=()):
    """(tokens per prompt, summary) of one `generate --json` run over a batch of prompts."""
    args = command + ["generate", "--load", checkpoint, "--max-new-tokens", str(tokens), "--json", *options]
    for prompt in prompts:
        args += ["--prompt-ids", ",".join(map(str, prompt))]
    if threshold is not None:
        args += ["--early-exit-thres", repr(threshold)]
    out = subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    generated = [[] for _ in prompts]
    for line in lines[:-1]:
        generated[line.get("sequence", 0)].append(line["token_id"])
    return generated, lines[-1]["summary"]


def serve_benchmark(binary, checkpoint, prompts, tokens, threshold, requests_each, env):
    """Rows of (batching, clients, tokens/s, p50 s, p99 s) over real HTTP."""
    rows = []
    for batching, max_batch in [("on", 16), ("off", 1)]:
        server = subprocess.Popen([binary, "serve", "--load", checkpoint, "--port", "0", "--max-batch", str(max_batch)],
                                  stderr=subprocess.PIPE, text=True, env=env)
        try:
            line = server.stderr.readline()
            url = line.split(" on ")[1].split()[0]
            # Untimed requests first: the first touches of the arenas and
            # caches (a batch's are sized for 16 sequences) are not measured.
            for c in range(16):
                warm = json.dumps({"prompts": [bytes(prompts[c % len(prompts)]).decode("latin-1")],
                                   "tokens_to_generate": tokens}).encode()
                urllib.request.urlopen(urllib.request.Request(url + "/api", data=warm, method="PUT"),
                                       timeout=600).read()
            for clients in (1, 4, 16):
                latencies, generated, lock = [], [0], threading.Lock()

                def client(c):
                    for r in range(requests_each):
                        prompt = prompts[(c * requests_each + r) % len(prompts)]
                        body = json.dumps({"prompts": [bytes(prompt).decode("latin-1")], "tokens_to_generate": tokens,
                                           "early_exit_thres": threshold}).encode()
                        start = time.perf_counter()
                        req = urllib.request.Request(url + "/api", data=body, method="PUT",
                                                     headers={"Content-Type": "application/json"})
                        with urllib.request.urlopen(req, timeout=600) as response:
                            answer = json.loads(response.read())
                        with lock:
                            latencies.append(time.perf_counter() - start)
                            generated[0] += len(answer["tokens"][0])

                start = time.perf_counter()
                threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                wall = time.perf_counter() - start
                latencies.sort()
                rows.append({"batching": batching, "clients": clients, "tokens_per_second": generated[0] / wall,
                             "p50_seconds": latencies[len(latencies) // 2],
                             "p99_seconds": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]})
                print(".", end="", file=sys.stderr, flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default=os.path.join(ROOT, "build", "demo", "run"))
    parser.add_argument("--eval-text", default=os.path.join(ROOT, "build", "demo", "kjv-eval.txt"))
    parser.add_argument("--ee-compile", default=os.path.join(ROOT, "build", "bin", "ee-compile"))
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--prompt-bytes", type=int, default=48)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="OpenMP threads of the recompute method")
    parser.add_argument("--thresholds", default="1.0,0.9,0.8,0.7,0.6,0.5,0.4,0.3,0.2,0.1")
    parser.add_argument("--batch", type=int, default=1, help="prompts per generate call")
    parser.add_argument("--repeat", type=int, default=3, help="runs per generate call, their median timed")
    parser.add_argument("--draft-tokens", default="0,2,3", help="speculative draft lengths (0: adaptive)")
    parser.add_argument("--serve-requests", type=int, default=8, help="requests per client in the serving benchmark")
    parser.add_argument("--serve-threshold", type=float, default=0.8)
    parser.add_argument("--pp-split", help="layers per pipeline stage (ee-compile --pp-split); default: the cost model's")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    checkpoint = checkpoint_dir(args.run)
    if not os.path.isfile(os.path.join(checkpoint, "config.json")):
        sys.exit(f"no trained checkpoint in {args.run}: run scripts/demo.sh first")
    thresholds = [float(t) for t in args.thresholds.split(",")]
    prompts = [list(p) for p in held_out_prompts(args.eval_text, args.prompts, args.prompt_bytes)]
    work = tempfile.mkdtemp(prefix="ee-bench-")
    try:
        config = os.path.join(checkpoint, "config.json")
        binary, pipelined = os.path.join(work, "model"), os.path.join(work, "model.pp2")
        subprocess.run([args.ee_compile, config, "-o", binary], check=True)
        split = ["--pp-split", args.pp_split] if args.pp_split else []
        subprocess.run([args.ee_compile, config, "--pp", "2", *split, "-o", pipelined], check=True)
        recompute_env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
        methods = {
            "recompute": ([binary], recompute_env),
            "pipeline": ([shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", "2",
                          "-x", "OMP_NUM_THREADS=1", "-x", "OPENBLAS_NUM_THREADS=1", pipelined], dict(os.environ)),
        }
        # Full-depth greedy tokens per prompt: the reference output.
        batches = [prompts[i:i + args.batch] for i in range(0, len(prompts), args.batch)]
        full = [t for b in batches for t in generate([binary], checkpoint, b, args.tokens, None, recompute_env)[0]]
        results = []
        for threshold in thresholds:
            for method, (command, env) in methods.items():
                rates, speedups, layers, early, agree, total = [], [], 0.0, 0, 0, 0
                wants = iter(full)
                for batch in batches:
                    # Timings vary 10-20% between runs here: each batch runs
                    # --repeat times and gives its median rate and speedup
                    # (the tokens are the same every time).
                    runs = [generate(command, checkpoint, batch, args.tokens, threshold, env)
                            for _ in range(args.repeat)]
                    generated, summary = runs[0]
                    rates.append(statistics.median(s["tokens_per_second"] for _, s in runs))
                    speedups.append(statistics.median(s["speedup"] for _, s in runs))
                    count = sum(len(tokens) for tokens in generated)
                    layers += summary["mean_layers"] * count
                    early += sum(e["tokens"] for e in summary["exits"] if e["exit"] != "final")
                    agree += sum(sum(a == b for a, b in zip(tokens, next(wants))) for tokens in generated)
                    total += count
                results.append({
                    "threshold": threshold, "method": method,
                    "tokens_per_second": sum(rates) / len(rates),
                    "speedup": sum(speedups) / len(speedups),
                    "mean_layers": layers / total, "early_fraction": early / total, "agreement": agree / total})
                print(".", end="", file=sys.stderr, flush=True)
        with open(config) as f:
            model = json.load(f)
        speculative = []
        for exit_layer in model["early_exit"]["exit_layer_nums"]:
            for k in [int(k) for k in args.draft_tokens.split(",")]:
                options = ["--method", "speculative", "--draft-exit", str(exit_layer), "--draft-tokens", str(k)]
                rates, speedups, agree, total, stats = [], [], 0, 0, dict.fromkeys(
                    ("drafted_tokens", "accepted_tokens", "verify_passes"), 0)
                wants = iter(full)
                for batch in batches:
                    runs = [generate([binary], checkpoint, batch, args.tokens, None, recompute_env, options)
                            for _ in range(args.repeat)]
                    generated, summary = runs[0]
                    rates.append(statistics.median(s["tokens_per_second"] for _, s in runs))
                    speedups.append(statistics.median(s["speedup"] for _, s in runs))
                    for key in stats:
                        stats[key] += summary["speculative"][key]
                    agree += sum(sum(a == b for a, b in zip(tokens, next(wants))) for tokens in generated)
                    total += sum(len(tokens) for tokens in generated)
                layers, below = model["num_hidden_layers"], exit_layer - model["early_exit"].get("pre_exit", False)
                steps = stats["drafted_tokens"] + stats["verify_passes"]
                decoded = stats["accepted_tokens"] + stats["verify_passes"]
                speculative.append({
                    "draft_exit_layer": exit_layer, "draft_tokens": k or "adaptive",
                    "tokens_per_second": sum(rates) / len(rates), "speedup": sum(speedups) / len(speedups),
                    "acceptance_rate": stats["accepted_tokens"] / max(stats["drafted_tokens"], 1),
                    "tokens_per_pass": decoded / stats["verify_passes"],
                    "ideal_speedup": decoded * layers / (steps * below + stats["verify_passes"] * (layers - below)),
                    "agreement": agree / total})
                print(".", end="", file=sys.stderr, flush=True)
        serving = serve_benchmark(binary, checkpoint, prompts, args.tokens, args.serve_threshold,
                                  args.serve_requests, recompute_env)
        print(file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"model: {model['num_hidden_layers']} layers, hidden {model['hidden_size']}, vocab {model['vocab_size']}, "
          f"exits after layers {model['early_exit']['exit_layer_nums']}; checkpoint {checkpoint}")
    print(f"{len(prompts)} held-out prompts of {args.prompt_bytes} bytes, {args.tokens} new tokens each, batch {args.batch}, "
          f"median of {args.repeat} runs; "
          f"recompute: 1 process x {args.threads} threads; pipeline: 2 ranks x 1 thread")
    print()
    header = f"{'threshold':>9} | {'method':>9} | {'decode tok/s':>12} | {'speedup':>7} | {'mean layers':>11} | " \
             f"{'of ideal':>8} | {'early exits':>11} | {'agreement':>9}"
    print(header)
    print("-" * len(header))
    for r in results:
        r["of_ideal"] = r["speedup"] * r["mean_layers"] / model["num_hidden_layers"]
        print(f"{r['threshold']:>9.2f} | {r['method']:>9} | {r['tokens_per_second']:>12.0f} | {r['speedup']:>6.2f}x | "
              f"{r['mean_layers']:>11.2f} | {100 * r['of_ideal']:>7.0f}% | {100 * r['early_fraction']:>10.1f}% | "
              f"{100 * r['agreement']:>8.1f}%")
    print()
    header = f"{'speculative: draft exit':>23} | {'drafts':>8} | {'decode tok/s':>12} | {'speedup':>7} | " \
             f"{'acceptance':>10} | {'tokens/pass':>11} | {'ideal':>6} | {'agreement':>9}"
    print(header)
    print("-" * len(header))
    for r in speculative:
        print(f"{'layer ' + str(r['draft_exit_layer']):>23} | {r['draft_tokens']:>8} | {r['tokens_per_second']:>12.0f} | "
              f"{r['speedup']:>6.2f}x | {100 * r['acceptance_rate']:>9.1f}% | {r['tokens_per_pass']:>11.2f} | "
              f"{r['ideal_speedup']:>5.2f}x | {100 * r['agreement']:>8.1f}%")
    best = max(speculative, key=lambda r: r["speedup"])
    exact = all(r["agreement"] == 1.0 for r in speculative)
    print(f"speculative: best {best['speedup']:.2f}x (draft exit at layer {best['draft_exit_layer']}, "
          f"{best['draft_tokens']} drafts; target >= 1.25x: {'met' if best['speedup'] >= 1.25 else 'NOT met'}); "
          f"output {'identical to' if exact else 'DIFFERENT from'} full depth")
    print()
    print(f"serving: {args.serve_requests} requests per client, {args.tokens} tokens each at threshold "
          f"{args.serve_threshold}, one process x {args.threads} threads")
    header = f"{'batching':>8} | {'clients':>7} | {'tokens/s':>9} | {'x 1 client':>10} | {'p50 s':>7} | " \
             f"{'p99 s':>7} | {'p99 x 1 client':>14}"
    print(header)
    print("-" * len(header))
    for r in serving:
        one = next(o for o in serving if o["batching"] == r["batching"] and o["clients"] == 1)
        r["throughput_vs_one"] = r["tokens_per_second"] / one["tokens_per_second"]
        r["p99_vs_one"] = r["p99_seconds"] / one["p99_seconds"]
        print(f"{r['batching']:>8} | {r['clients']:>7} | {r['tokens_per_second']:>9.0f} | "
              f"{r['throughput_vs_one']:>9.2f}x | {r['p50_seconds']:>7.3f} | {r['p99_seconds']:>7.3f} | "
              f"{r['p99_vs_one']:>13.2f}x")
    top = next(r for r in serving if r["batching"] == "on" and r["clients"] == 16)
    print(f"at 16 clients with batching: throughput {top['throughput_vs_one']:.2f}x one client (target >= 4x: "
          f"{'met' if top['throughput_vs_one'] >= 4 else 'NOT met'}), p99 latency {top['p99_vs_one']:.2f}x "
          f"(target <= 3x: {'met' if top['p99_vs_one'] <= 3 else 'NOT met'})")
    print()
    recompute = [r for r in results if r["method"] == "recompute"]
    good = [r for r in recompute if r["agreement"] >= 0.9]
    if good:
        best = min(good, key=lambda r: r["threshold"])
        verdict = "met" if best["speedup"] >= 2 else "NOT met"
        print(f"lowest threshold with >= 90% agreement: {best['threshold']:.2f}; recompute speedup "
              f"{best['speedup']:.2f}x (target >= 2x: {verdict})")
    else:
        print("no threshold keeps >= 90% agreement")
    pipeline = {r["threshold"]: r for r in results if r["method"] == "pipeline"}
    contested = [r for r in recompute if r["early_fraction"] > 0.5]
    wins = [r for r in contested if pipeline[r["threshold"]]["tokens_per_second"] > r["tokens_per_second"]]
    print(f"thresholds with > 50% early exits: {len(contested)}; pipeline faster than recompute at {len(wins)} of them"
          f" (target: all)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"early_exit": results, "speculative": speculative, "serving": serving}, f, indent=1)


if __name__ == "__main__":
    main()
