"""End to end: configs compiled into model binaries against the PyTorch reference.

For every config: the binary's `init` checkpoint loads in the reference and the
reference's checkpoint loads in the binary; on both, `eval` losses of every exit
and the final head agree within 1e-4 relative, and 32 full-depth greedy tokens
(the binary's KV-cached decoding vs the reference recomputing every step) are
identical.

Usage: e2e_test.py EE_COMPILE WORKDIR DATA_FILE CONFIG.json...
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
sys.path.insert(0, os.path.dirname(__file__))
import ee_reference as ref  # noqa: E402
from harness import Tally, run  # noqa: E402

SEQ_LEN, NEW_TOKENS, PROMPT = 32, 32, [72, 101, 108, 108, 111, 44, 32]




def check_checkpoint(binary, checkpoint, tokens, data, label):
    problems = []
    model = ref.EarlyExitModel.load(checkpoint)
    report = json.loads(run(binary, "eval", "--load", checkpoint, "--data", data, "--seq-len", str(SEQ_LEN), "--json"))
    ours = [e["loss"] for e in report["exits"]] + [report["final"]["loss"]]
    theirs = model.eval(tokens, SEQ_LEN)
    for head, (a, b) in enumerate(zip(ours, theirs)):
        name = "final" if head == len(ours) - 1 else f"exit {head}"
        if abs(a - b) > 1e-4 * abs(b):
            problems.append(f"{label}: {name} eval loss {a:.7f} vs reference {b:.7f}")
    if report["tokens"] != (len(tokens) // (SEQ_LEN + 1)) * SEQ_LEN:
        problems.append(f"{label}: eval counted {report['tokens']} tokens")
    lines = run(binary, "generate", "--load", checkpoint, "--prompt-ids", ",".join(map(str, PROMPT)),
                "--max-new-tokens", str(NEW_TOKENS), "--json").splitlines()
    generated = [json.loads(line)["token_id"] for line in lines[:-1]]
    expected = model.greedy(PROMPT, NEW_TOKENS)
    if generated != expected:
        problems.append(f"{label}: greedy tokens differ\n  binary:    {generated}\n  reference: {expected}")
    print(f"  {label}: eval {['%.5f' % x for x in ours]}, greedy {len(generated)} tokens"
          f" {'ok' if not problems else 'MISMATCH'}")
    return problems


def main(ee_compile, workdir, data, *configs):
    os.makedirs(workdir, exist_ok=True)
    with open(data, "rb") as f:
        tokens = list(f.read())
    tally = Tally()
    for config_path in configs:
        name = os.path.splitext(os.path.basename(config_path))[0]
        print(name)
        binary = os.path.join(workdir, name)
        problems = []
        try:
            run(ee_compile, config_path, "-o", binary)
            ours = os.path.join(workdir, name + ".init")
            run(binary, "init", "--out", ours, "--seed", "11")
            problems += check_checkpoint(binary, ours, tokens, data, "binary init checkpoint")
            theirs = os.path.join(workdir, name + ".reference")
            os.makedirs(theirs, exist_ok=True)
            with open(config_path) as f:
                config = json.load(f)
            ref.write_safetensors(os.path.join(theirs, "model.safetensors"), ref.random_weights(config, 0.08, 5))
            with open(os.path.join(theirs, "config.json"), "w") as f:
                json.dump(config, f)
            problems += check_checkpoint(binary, theirs, tokens, data, "reference checkpoint")
        except Exception as error:  # a failed command is a failed config
            problems.append(str(error))
        tally.add(problems)
    return tally.close()


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main(*sys.argv[1:]))
