"""Bubble filling executed: partial micro-batches add their exit losses' gradients.

A binary compiled with --pp 4 --microbatches 1 --fill-bubbles 2 plans partial
micro-batches in the 1F1B bubbles, each running down to a stage holding exits
(its depth, read from the plan). On a corpus whose windows are all the same,
one training step (no clipping) must use the gradient of
  L(window) + sum over partial micro-batches j of sum_{exits k on stages <= depth_j} w_k L_k(window)
(each partial micro-batch weighted like a micro-batch of the step); AdamW's
first moment after one step is 0.1 x that gradient, which is compared with
PyTorch autograd of the independent reference (1e-4 relative per tensor). The
measured trace shows the partial passes on the planned stages, the logged loss
is the global batch's objective alone, and `grad` differentiates the plain
objective.

Usage: bubble_test.py EE_COMPILE WORKDIR CONFIG.json
"""
import json
import os
import shutil
import subprocess
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
import ee_reference as ref  # noqa: E402
from harness import Tally, run  # noqa: E402

SEQ_LEN = 16


def relative(a, b):
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def main(ee_compile, workdir, config_path):
    tally = Tally()
    with open(config_path) as f:
        config = json.load(f)
    binary = os.path.join(workdir, "bin")
    run(ee_compile, config_path, "--pp", "4", "--microbatches", "1", "--fill-bubbles", "2", "-o", binary)
    plan = json.loads(run(binary, "info"))["training_pipeline"]
    depth = {}
    for s, passes in enumerate(plan["schedule"]):
        for p in passes:
            if p[0] == "f":
                depth[int(p[1:])] = max(depth.get(int(p[1:]), -1), s)
    exits_up_to = lambda d: [k for s in range(d + 1) for k in plan["stages"][s]["exits"]]  # noqa: E731
    print(f"  partial micro-batches: {len(depth)}, exits reached: {[exits_up_to(d) for d in depth.values()]}")
    problems = [] if len(depth) == plan["filled_microbatches"] > 0 else ["the plan fills no bubble"]

    checkpoint = os.path.join(workdir, "ckpt")
    os.makedirs(checkpoint, exist_ok=True)
    ref.write_safetensors(os.path.join(checkpoint, "model.safetensors"), ref.random_weights(config, 0.08, 9))
    with open(os.path.join(checkpoint, "config.json"), "w") as f:
        json.dump(config, f)
    window = list(b"In the beginning ")[:SEQ_LEN + 1]
    corpus = os.path.join(workdir, "corpus.txt")
    with open(corpus, "wb") as f:
        f.write(bytes(window) * 64)

    mpirun = [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", "4", "-x", "OMP_NUM_THREADS=1"]
    save = os.path.join(workdir, "save")
    run(*mpirun, binary, "train", "--load", checkpoint, "--data", corpus, "--iters", "1", "--global-batch", "1",
        "--micro-batch", "1", "--seq-len", str(SEQ_LEN), "--lr", "1e-3", "--clip-grad", "0", "--log-interval", "1",
        "--save", save, "--trace", os.path.join(workdir, "trace.json"))
    moments = ref.read_safetensors(os.path.join(save, "iter_0000001", "optimizer.safetensors"))
    with open(os.path.join(save, "metrics.jsonl")) as f:
        logged = json.loads(f.readline())["loss"]
    with open(os.path.join(save, "iter_0000001", "trainer_state.json")) as f:
        consumed = json.load(f)["consumed_samples"]

    model = ref.EarlyExitModel.load(checkpoint)
    for tensor in model.w.values():
        tensor.requires_grad_(True)
    ids = torch.tensor([window[:-1]], dtype=torch.int64)
    labels = torch.tensor([window[1:]], dtype=torch.int64)
    plain = ref.objective(model, ids, labels, 0)
    logits = model.forward(ids)
    weights = config["early_exit"]["exit_layer_weight"]
    filled = plain + sum(weights[k] * ref.cross_entropy(logits[k], labels)
                         for d in depth.values() for k in exits_up_to(d))
    filled.backward()
    worst = 0.0
    for name, tensor in model.w.items():
        error = relative(moments["exp_avg." + name] / 0.1, tensor.grad)
        worst = max(worst, error)
        if error > 1e-4:
            problems.append(f"step gradient of {name}: relative error {error:.2e}")
    print(f"  step gradient with partial micro-batches vs PyTorch: worst relative error {worst:.2e}")
    if abs(logged - plain.item()) > 1e-4 * abs(plain.item()):
        problems.append(f"logged loss {logged} is not the global batch's objective {plain.item()}")
    if consumed != 1 + len(depth):
        problems.append(f"consumed {consumed} samples, not the batch and {len(depth)} partial ones")

    with open(os.path.join(workdir, "trace.json")) as f:
        events = json.load(f)["traceEvents"]
    for s in range(4):
        ran = sorted(e["name"] for e in events if e.get("tid") == s and e.get("cat", "").startswith("partial"))
        want = sorted(p for p in plan["schedule"][s] if p[0] in "fb")
        if ran != want:
            problems.append(f"stage {s} ran partial passes {ran}, planned {want}")
    tally.add(problems)
    print(f"  train with bubble filling: {'ok' if not problems else 'MISMATCH'}")

    # grad is the plain objective's gradient.
    problems = []
    plain_grads = torch.autograd.grad(ref.objective(model, ids, labels, 0), list(model.w.values()))
    out = os.path.join(workdir, "grads.safetensors")
    run(*mpirun, binary, "grad", "--load", checkpoint, "--data", corpus, "--seq-len", str(SEQ_LEN),
        "--global-batch", "1", "--out", out)
    ours = ref.read_safetensors(out)
    for (name, _), want in zip(model.w.items(), plain_grads):
        if relative(ours[name], want) > 1e-4:
            problems.append(f"grad of {name} is not the plain objective's")
    tally.add(problems)
    print(f"  grad without partial micro-batches: {'ok' if not problems else 'MISMATCH'}")
    return tally.close()


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main(*sys.argv[1:]))
