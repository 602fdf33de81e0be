"""The compiled update step against torch.optim.AdamW: clipping, weight decay,
bias correction and the summed micro-batches, on one rank and on the
data-parallel (also with ZeRO-1) and pipeline layouts.

On a corpus whose windows are all the same, three training steps from one
checkpoint (two micro-batches per step, --clip-grad small enough that every
step clips, weight decay 0.1, a constant learning rate) must leave the
weights and AdamW moments of three PyTorch steps of the independent
reference: autograd of the objective, torch.nn.utils.clip_grad_norm_ and
torch.optim.AdamW with decay on matrices only (Megatron-LM's groups). The
checks: each weight's change over the three steps within 1e-3 (relative, per
tensor), each moment within 1e-3, every logged gradient norm within 1e-4 of
PyTorch's. Layouts: one rank; DP = 2 (each replica one micro-batch, the
all-reduce of the compiled step); PP = 2 (tied embedding summed between the
stages, the norm over both).

Usage: optimizer_test.py EE_COMPILE CONFIG.json WORKDIR
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
from harness import Tally, report, run  # noqa: E402

SEQ_LEN = 16
STEPS = 3
LR, CLIP, DECAY, BETAS, EPS = 1e-2, 0.05, 0.1, (0.9, 0.95), 1e-8


def relative(a, b):
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def reference(checkpoint, window):
    """PyTorch's weights, moments and gradient norms after STEPS steps."""
    model = ref.EarlyExitModel.load(checkpoint)
    params = dict(model.w)
    for tensor in params.values():
        tensor.requires_grad_(True)
    decay = [t for t in params.values() if t.dim() > 1]
    no_decay = [t for t in params.values() if t.dim() == 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": DECAY},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=LR, betas=BETAS, eps=EPS)
    ids = torch.tensor([window[:-1]], dtype=torch.int64)
    labels = torch.tensor([window[1:]], dtype=torch.int64)
    norms = []
    for step in range(STEPS):
        optimizer.zero_grad()
        # Two identical micro-batches: the mean is one's objective.
        ref.objective(model, ids, labels, step).backward()
        norms.append(torch.nn.utils.clip_grad_norm_(list(params.values()), CLIP).item())
        optimizer.step()
    state = {name: optimizer.state[t] for name, t in params.items()}
    return ({name: t.detach() for name, t in params.items()},
            {name: (s["exp_avg"], s["exp_avg_sq"]) for name, s in state.items()}, norms)


def main(ee_compile, config_path, workdir):
    tally = Tally()
    with open(config_path) as f:
        config = json.load(f)
    checkpoint = os.path.join(workdir, "ckpt")
    os.makedirs(checkpoint, exist_ok=True)
    initial = ref.random_weights(config, 0.08, 5)
    ref.write_safetensors(os.path.join(checkpoint, "model.safetensors"), initial)
    with open(os.path.join(checkpoint, "config.json"), "w") as f:
        json.dump(config, f)
    window = list(b"Early exits... xy")  # SEQ_LEN + 1 bytes
    assert len(window) == SEQ_LEN + 1
    corpus = os.path.join(workdir, "corpus.txt")
    with open(corpus, "wb") as f:
        f.write(bytes(window) * 64)
    want_weights, want_moments, want_norms = reference(checkpoint, window)

    mpirun = [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", "2",
              "-x", "OMP_NUM_THREADS=1"]
    zero = ["--use-distributed-optimizer"]  # compiled in, and named to train

    def check(tag, layout, launcher, extra):
        problems = []
        binary = os.path.join(workdir, "bin" + "".join(layout))
        if not os.path.exists(binary):
            run(ee_compile, config_path, *layout, "-o", binary)
        save = os.path.join(workdir, tag.replace(" ", "_").replace("=", "").replace("-", ""))
        run(*launcher, binary, "train", "--load", checkpoint, "--data", corpus, "--iters", str(STEPS),
            "--global-batch", "2", "--micro-batch", "1", "--seq-len", str(SEQ_LEN), "--lr", str(LR),
            "--lr-decay-style", "constant", "--clip-grad", str(CLIP), "--weight-decay", str(DECAY),
            "--adam-beta1", str(BETAS[0]), "--adam-beta2", str(BETAS[1]), "--adam-eps", str(EPS),
            "--log-interval", "1", "--save", save, *extra)
        final = os.path.join(save, f"iter_{STEPS:07d}")
        got = ref.read_safetensors(os.path.join(final, "model.safetensors"))
        moments = ref.read_safetensors(os.path.join(final, "optimizer.safetensors"))
        with open(os.path.join(save, "metrics.jsonl")) as f:
            norms = [json.loads(line)["grad_norm"] for line in f]
        for name, want in want_weights.items():
            error = relative(got[name] - initial[name], want - initial[name])
            if error > 1e-3:
                problems.append(f"{tag}: the update of {name} differs (relative error {error:.2e})")
            for k, key in enumerate(["exp_avg.", "exp_avg_sq."]):
                error = relative(moments[key + name], want_moments[name][k])
                if error > 1e-3:
                    problems.append(f"{tag}: {key}{name} differs (relative error {error:.2e})")
        for step, (g, w) in enumerate(zip(norms, want_norms)):
            if abs(g - w) > 1e-4 * w:
                problems.append(f"{tag}: step {step + 1} gradient norm {g} vs PyTorch's {w}")
        if len(norms) != STEPS or not all(n > CLIP for n in want_norms):
            problems.append(f"{tag}: {len(norms)} logged norms {norms}; every step must clip ({want_norms})")
        return problems

    for tag, layout, launcher, extra in [("one rank", [], [], []), ("DP=2", [], mpirun, []),
                                         ("DP=2 ZeRO-1", zero, mpirun, zero),
                                         ("PP=2", ["--pp", "2"], mpirun, [])]:
        report(tally, tag, lambda: check(tag, layout, launcher, extra))
    return tally.close()


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main(*sys.argv[1:]))
