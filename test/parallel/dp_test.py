"""Data-parallel training and gradients under mpirun against the single-rank run.

On one checkpoint and corpus, for each case: the per-iteration losses of
`train` (every head) equal those of one rank within 1e-4 (relative) and the
final weights within 1e-3 (per tensor: norm of the difference over the norm):
  DP = 2, DP = 4 (the compiled update step), DP = 2 on a binary compiled
  with 1000-element gradient buckets (BUCKET_BIN: all-reduces started
  throughout the backward pass), DP = 2 with the distributed optimizer
  (ZeRO-1, ZERO_BIN: compiled with --use-distributed-optimizer), DP = 3
  with ZeRO-1 (block boundaries inside tensors, the last block shorter);
  a checkpoint saved half-way under DP = 2 with ZeRO-1 resumed on one rank,
  and one saved on one rank resumed under DP = 2 with ZeRO-1;
and `grad` under DP = 2 equals `grad` on one rank (itself checked against
PyTorch autograd in test/e2e/grad_test.py).

Usage: dp_test.py BIN BUCKET_BIN ZERO_BIN CHECKPOINT CORPUS WORKDIR
"""
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
import ee_reference as ref  # noqa: E402
from harness import Tally, report, run  # noqa: E402

ITERS = 20
# The replicas sum a gradient in another order than one rank does, and AdamW
# divides each coordinate by its own root-mean-square gradient: where layer 0's
# query and key gradients are still near zero, rounding-level differences move
# weights by up to the learning rate per step. After 20 steps that reaches
# 1-4e-4 of those tensors' norm, depending on which sgemm kernel OpenBLAS picks
# (OPENBLAS_CORETYPE=Haswell on this machine, or a different SwiGLU
# exponential). The weights move by 0.87 of their norm over the 20 steps, so
# one missed or doubled update is off by about 4e-2.
WEIGHT_TOLERANCE = 1e-3


def mpirun(ranks):
    if ranks == 1:
        return []
    return [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", str(ranks),
            "-x", "OMP_NUM_THREADS=1"]


def train(binary, ranks, save, load, corpus, iters, batch, *extra):
    run(*mpirun(ranks), binary, "train", "--load", load, "--data", corpus, "--iters", str(iters),
        "--global-batch", str(batch), "--micro-batch", "2", "--seq-len", "16", "--lr", "1e-2",
        "--lr-warmup-iters", "2", "--lr-decay-iters", str(ITERS), "--log-interval", "1", "--save", save, "--save-interval", "10", *extra)
    records = {}
    with open(os.path.join(save, "metrics.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            records[record["iteration"]] = [record["loss"], record["final"]] + [e["loss"] for e in record["exits"]]
    return records


def weights(directory):
    with open(os.path.join(directory, "latest")) as f:
        return ref.read_safetensors(os.path.join(directory, f.read().strip(), "model.safetensors"))


def relative(a, b):
    return ((a - b).norm() / max(b.norm(), 1e-12)).item()


def compare(tag, got_losses, want_losses, got_weights, want_weights):
    problems = []
    for iteration, want in sorted(want_losses.items()):
        got = got_losses.get(iteration)
        if got is None:
            problems.append(f"{tag}: no losses logged at iteration {iteration}")
            continue
        worst = max(abs(g - w) / max(abs(w), 1e-6) for g, w in zip(got, want))
        if worst > 1e-4:
            problems.append(f"{tag}: iteration {iteration} losses {got} vs one rank {want}")
    for name, want in want_weights.items():
        error = relative(got_weights[name], want)
        if error > WEIGHT_TOLERANCE:
            problems.append(f"{tag}: weight {name} differs (relative error {error:.2e})")
    return problems


def main(binary, bucket_binary, zero_binary, checkpoint, corpus, workdir):
    tally = Tally()
    path = lambda name: os.path.join(workdir, name)  # noqa: E731
    baselines = {}
    for batch in [8, 6]:
        save = path(f"single-{batch}")
        baselines[batch] = (train(binary, 1, save, checkpoint, corpus, ITERS, batch), weights(save))

    # The compiled step starts each bucket's all-reduces inside the backward
    # pass: with 1000-element buckets (bucket_binary) nearly every gradient is
    # its own bucket.
    cases = [("DP=2", binary, 2, 8, []), ("DP=4", binary, 4, 8, []),
             ("DP=2 1000-element buckets", bucket_binary, 2, 8, []),
             ("DP=2 ZeRO-1", zero_binary, 2, 8, ["--use-distributed-optimizer"]),
             ("DP=3 ZeRO-1", zero_binary, 3, 6, ["--use-distributed-optimizer"])]
    for tag, program, ranks, batch, extra in cases:
        def check(tag=tag, program=program, ranks=ranks, batch=batch, extra=extra):
            save = path(tag.replace(" ", "_"))
            losses = train(program, ranks, save, checkpoint, corpus, ITERS, batch, *extra)
            return compare(tag, losses, baselines[batch][0], weights(save), baselines[batch][1])
        report(tally, tag, check)

    # Checkpoints move between layouts: half the run under one, the rest under the other.
    zero = ["--use-distributed-optimizer"]
    for tag, first, second in [("DP=2 ZeRO-1 then one rank", (2, zero), (1, [])),
                               ("one rank then DP=2 ZeRO-1", (1, []), (2, zero))]:
        def check_resume(tag=tag, first=first, second=second):
            save = path(tag.replace(" ", "_"))
            train(zero_binary if first[1] else binary, first[0], save, checkpoint, corpus, ITERS // 2, 8,
                  *first[1])
            losses = train(zero_binary if second[1] else binary, second[0], save, save, corpus, ITERS, 8,
                           *second[1])
            return compare(tag, losses, baselines[8][0], weights(save), baselines[8][1])
        report(tally, tag, check_resume)

    # grad: the average over the replicas is the gradient of the whole batch.
    def check_grad():
        problems = []
        for ranks in [1, 2]:
            run(*mpirun(ranks), binary, "grad", "--load", checkpoint, "--data", corpus, "--seq-len", "16",
                "--global-batch", "4", "--out", path(f"grads-{ranks}.safetensors"))
        one, two = (ref.read_safetensors(path(f"grads-{r}.safetensors")) for r in [1, 2])
        for name, want in one.items():
            error = relative(two[name], want)
            if error > 1e-4:
                problems.append(f"grad DP=2: {name} differs (relative error {error:.2e})")
        return problems
    report(tally, "grad DP=2", check_grad)
    return tally.close()


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main(*sys.argv[1:]))
