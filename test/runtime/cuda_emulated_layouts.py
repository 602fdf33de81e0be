"""Multi-rank cuda binaries on emulated GPUs (NCCL over MPI) against the single-rank cpu binary.

Three training iterations on DP = 2 (plain and ZeRO-1), TP = 2, PP = 2 and PP = 3 log the same losses
and save the same weights as one cpu rank (1e-4 relative); greedy early-exit generation (tokens
at every exit) with the recompute method on TP = 2 and the pipeline method on PP = 2 gives one
rank's tokens, exits and confidences. The cuda binaries find libeert_cuda_emu.so as libeert_cuda.so through LD_LIBRARY_PATH, which
mpirun passes on.

Usage: cuda_emulated_layouts.py CPU CUDA CUDA_ZERO CUDA_TP2 CUDA_PP2 CUDA_PP3 CORPUS WORKDIR
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
import ee_reference as ref  # noqa: E402
from harness import Tally, report, run  # noqa: E402

TOLERANCE = 1e-4
# Thresholds where three iterations' confidences leave tokens at each exit.
THRESHOLDS = ("0.02", "0.025")


def mpirun(ranks):
    if ranks == 1:
        return []
    return [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", str(ranks),
            "-x", "OMP_NUM_THREADS=1", "-x", "LD_LIBRARY_PATH"]


def train(binary, ranks, load, corpus, save, *extra):
    run("timeout", "300", *mpirun(ranks), binary, "train", "--load", load, "--data", corpus,
        "--iters", "3", "--global-batch", "8", "--micro-batch", "2", "--seq-len", "16", "--lr", "1e-2",
        "--lr-warmup-iters", "1", "--log-interval", "1", "--save", save, *extra)
    with open(os.path.join(save, "metrics.jsonl")) as f:
        losses = [[r["loss"], r["final"]] + [e["loss"] for e in r["exits"]] for r in map(json.loads, f)]
    with open(os.path.join(save, "latest")) as f:
        weights = ref.read_safetensors(os.path.join(save, f.read().strip(), "model.safetensors"))
    return losses, weights


def compare(got, want):
    (got_losses, got_weights), (want_losses, want_weights) = got, want
    problems = []
    if len(got_losses) != len(want_losses):
        problems.append(f"{len(got_losses)} iterations logged, one rank {len(want_losses)}")
    for i, (g, w) in enumerate(zip(got_losses, want_losses)):
        if max(abs(a - b) / max(abs(b), 1e-6) for a, b in zip(g, w)) > TOLERANCE:
            problems.append(f"iteration {i}: losses {g} vs one rank {w}")
    if set(got_weights) != set(want_weights):
        return problems + ["tensor names differ"]
    for name, w in want_weights.items():
        error = ((got_weights[name] - w).norm() / w.norm().clamp_min(1e-30)).item()
        if error > TOLERANCE:
            problems.append(f"{name} differs (relative error {error:.2e})")
    return problems


def tokens(binary, ranks, load, method):
    got = []
    for threshold in THRESHOLDS:
        out = run("timeout", "300", *mpirun(ranks), binary, "generate", "--load", load, "--max-new-tokens",
                  "8", "--json", "--no-baseline", "--method", method, "--prompt-ids", "72,101,108",
                  "--early-exit-thres", threshold)
        got += [(t["token_id"], t["exit"], t["confidence"]) for t in map(json.loads, out.splitlines())
                if "token_id" in t]
    return got


def same_tokens(got, want):
    if len(got) != len(want) or any(g[:2] != w[:2] or abs(g[2] - w[2]) > 1e-4 for g, w in zip(got, want)):
        return [f"tokens {got} vs one rank {want}"]
    return []


def main(cpu, cuda, cuda_zero, cuda_tp2, cuda_pp2, cuda_pp3, corpus, workdir):
    checkpoint = os.path.join(workdir, "ckpt")
    run(cpu, "init", "--out", checkpoint, "--seed", "3")
    single = train(cpu, 1, checkpoint, corpus, os.path.join(workdir, "one"))
    tally = Tally()
    layouts = [("DP = 2", cuda, [], 2), ("DP = 2 ZeRO-1", cuda_zero, ["--use-distributed-optimizer"], 2),
               ("TP = 2", cuda_tp2, [], 2), ("PP = 2", cuda_pp2, [], 2),
               # The tied embedding's gradients go from the last stage to the first, past the middle.
               ("PP = 3", cuda_pp3, [], 3)]
    for tag, binary, extra, ranks in layouts:
        save = os.path.join(workdir, tag.replace(" ", "").replace("=", ""))
        report(tally, "train " + tag, lambda binary=binary, save=save, extra=extra, ranks=ranks:
               compare(train(binary, ranks, checkpoint, corpus, save, *extra), single))
    trained = os.path.join(workdir, "one")
    want = tokens(cpu, 1, trained, "recompute")
    early = sum(t[1] != "final" for t in want)
    print(f"  ({early} of {len(want)} tokens exit early)")
    report(tally, "generate TP = 2 recompute",
           lambda: same_tokens(tokens(cuda_tp2, 2, trained, "recompute"), want))
    report(tally, "generate PP = 2 pipeline",
           lambda: same_tokens(tokens(cuda_pp2, 2, trained, "pipeline"), want))
    return tally.close()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
