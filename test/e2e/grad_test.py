"""`BIN grad` against torch.autograd of the reference objective.

For every config (and a variant with per-exit temperatures and a warm-up,
differentiated at an iteration inside the warm-up): every parameter's gradient
from the compiled backward pass matches autograd within 1e-4 relative
(norm of the difference over the norm), and the losses agree.

Usage: grad_test.py EE_COMPILE WORKDIR DATA_FILE CONFIG.json...
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
sys.path.insert(0, os.path.dirname(__file__))
import ee_reference as ref  # noqa: E402
from harness import Tally, run  # noqa: E402

SEQ_LEN, BATCH = 24, 3




def variants(config):
    """The config as given, and with temperatures and a cosine warm-up mid-way."""
    yield "as given", config, 0
    if config.get("early_exit"):
        warm = json.loads(json.dumps(config))
        n = len(warm["early_exit"]["exit_layer_nums"])
        warm["early_exit"].update({"exit_layer_temperature": [2.0, 0.5, 1.5][:n],
                                   "exit_layer_weight_init": [1.0] * n,
                                   "exit_layer_weight_warmup_iters": 10,
                                   "exit_layer_weight_warmup_style": "cosine"})
        yield "temperatures, warm-up at iteration 3", warm, 3


def check(ee_compile, workdir, tokens, data, name, label, config, iteration):
    problems = []
    os.makedirs(workdir, exist_ok=True)
    config_path, binary = os.path.join(workdir, "config.json"), os.path.join(workdir, "bin")
    with open(config_path, "w") as f:
        json.dump(config, f)
    run(ee_compile, config_path, "-o", binary)
    checkpoint = os.path.join(workdir, "ckpt")
    os.makedirs(checkpoint, exist_ok=True)
    ref.write_safetensors(os.path.join(checkpoint, "model.safetensors"), ref.random_weights(config, 0.08, 9))
    with open(os.path.join(checkpoint, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(checkpoint, "trainer_state.json"), "w") as f:
        json.dump({"iteration": iteration}, f)
    grads_path = os.path.join(workdir, "grads.safetensors")
    report = json.loads(run(binary, "grad", "--load", checkpoint, "--data", data, "--seq-len", str(SEQ_LEN),
                            "--global-batch", str(BATCH), "--out", grads_path))
    ours = ref.read_safetensors(grads_path)

    model = ref.EarlyExitModel.load(checkpoint)
    for tensor in model.w.values():
        tensor.requires_grad_(True)
    window = torch.tensor(tokens[:BATCH * (SEQ_LEN + 1)], dtype=torch.int64).reshape(BATCH, SEQ_LEN + 1)
    loss = ref.objective(model, window[:, :-1], window[:, 1:], iteration)
    loss.backward()
    if abs(report["loss"] - loss.item()) > 1e-4 * abs(loss.item()):
        problems.append(f"loss {report['loss']} vs reference {loss.item()}")
    if set(ours) != set(model.w):
        problems.append(f"gradient names differ: {sorted(set(ours) ^ set(model.w))}")
    worst = 0.0
    for tensor_name, tensor in model.w.items():
        if tensor_name not in ours:
            continue
        error = (ours[tensor_name] - tensor.grad).norm() / tensor.grad.norm().clamp_min(1e-30)
        worst = max(worst, error.item())
        if error > 1e-4:
            problems.append(f"{tensor_name}: relative error {error.item():.2e}")
    print(f"  {label}: {len(ours)} tensors, worst relative error {worst:.2e}, loss {report['loss']:.6f}"
          f" {'ok' if not problems else 'MISMATCH'}")
    return [f"{name} ({label}): {p}" for p in problems]


def main(ee_compile, workdir, data, *configs):
    with open(data, "rb") as f:
        tokens = list(f.read())
    tally = Tally()
    for config_path in configs:
        name = os.path.splitext(os.path.basename(config_path))[0]
        print(name)
        with open(config_path) as f:
            config = json.load(f)
        for index, (label, variant, iteration) in enumerate(variants(config)):
            try:
                problems = check(ee_compile, os.path.join(workdir, f"{name}.{index}"), tokens, data, name, label,
                                 variant, iteration)
            except Exception as error:
                problems = [f"{name} ({label}): {error}"]
            tally.add(problems)
    return tally.close()


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main(*sys.argv[1:]))
