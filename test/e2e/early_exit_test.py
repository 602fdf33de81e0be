"""Early-exit generation of compiled model binaries against the PyTorch reference.

The reference decides every token by recomputing the whole sequence at full
depth (so its exit decisions see consistent KV by construction): the first exit
whose confidence reaches its threshold gives the token, else the final head.
For every config, on a reference-written checkpoint (weights large enough for
peaked distributions):

(a) no threshold, and a threshold above 1: the tokens of full-depth greedy
    decoding, every one from the final head;
(b) per-exit thresholds that make tokens exit at several heads (at least two
    different heads, every confidence 1e-3 away from its threshold): tokens and exit
    choices equal the reference's, and after the generation every KV cache
    (decoder layers and block exits) equals the keys/values of a full-depth
    pass over the final sequence (1e-4 relative);
(d) threshold 0: every token from the first active exit (all exits, then only
    the last exit via --exit-layers); per-exit thresholds (first exit never,
    second always) give the second exit;
(e) prompts of different lengths in one batch: each sequence's tokens and exits
    equal those of the sequence alone;
(f) the compiled exit decisions against the reference's semantics on a sweep:
    each exit alone (--exit-layers) at thresholds 0.1-0.9, and all exits at
    once, every token's exit and token equal the reference's (thresholds within
    1e-3 of a confidence the reference compares are skipped: a tie is either);
(c) with METHODS "recompute pipeline", the pipeline method under mpirun on a
    binary compiled with --pp 2 gives the same tokens, exits and KV caches,
    alone and for the batch of (e) (its sequences interleaved on the stages).

Usage: early_exit_test.py EE_COMPILE WORKDIR METHODS CONFIG.json...
"""
import itertools
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
sys.path.insert(0, os.path.dirname(__file__))
import ee_reference as ref  # noqa: E402
from harness import Tally, run  # noqa: E402

NEW_TOKENS = 12
PROMPTS = [[72, 101, 108, 108, 111, 44, 32], [3, 1, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11]]


def generate(command, checkpoint, prompts, *options, save_kv=None):
    """Per prompt: [(token, exit, confidence)] from `generate --json`."""
    args = list(command) + ["generate", "--load", checkpoint, "--max-new-tokens", str(NEW_TOKENS), "--json",
                            "--no-baseline"]
    for prompt in prompts:
        args += ["--prompt-ids", ",".join(map(str, prompt))]
    if save_kv:
        args += ["--save-kv", save_kv]
    lines = [json.loads(line) for line in run(*args, *options).splitlines()]
    records = [[] for _ in prompts]
    for line in lines[:-1]:
        records[line.get("sequence", 0)].append((line["token_id"], line["exit"], line["confidence"]))
    return records


def decisions(records):
    return [(token, exit) for token, exit, _ in records]


def exit_confidences(model, prompt, records):
    """Per exit: its confidence at every position that decided a token."""
    ids = list(prompt) + [t for t, _, _ in records]
    with torch.no_grad():
        logits = model.forward(torch.tensor([ids[:-1]]))
    return [ref.exit_confidence(l[0, len(prompt) - 1:]).tolist() for l in logits[:-1]]


def pick_thresholds(model, prompt):
    """Per-exit thresholds under which the reference takes at least two different
    heads, with every confidence it compares at least 1e-3 (relative) away from
    its threshold: each exit's threshold splits its confidences along the
    full-depth trajectory at one of their widest gaps (saturated exits, always
    ~1, are not taken)."""
    full = model.early_exit_generate(prompt, NEW_TOKENS, {})
    options = []
    for values in exit_confidences(model, prompt, full):
        values = sorted(set(values))
        gaps = sorted(((b - a, (a + b) / 2) for a, b in zip(values, values[1:]) if b - a > 1e-3 * b), reverse=True)
        options.append([mid for _, mid in gaps[:3]] + [2.0])
    for choice in sorted(itertools.product(*[range(len(o)) for o in options]), key=sum):
        thresholds = {k: options[k][i] for k, i in enumerate(choice)}
        records = model.early_exit_generate(prompt, NEW_TOKENS, thresholds)
        seen = exit_confidences(model, prompt, records)
        separated = all(abs(c - thresholds[k]) > 1e-3 * thresholds[k] for k, cs in enumerate(seen) for c in cs)
        if len({e for _, e, _ in records}) >= 2 and separated:
            return thresholds, records
    raise RuntimeError("no thresholds separate the exits of this model")


def compare_caches(path, model, sequences):
    """Problems where a saved cache differs from the reference over `sequences`."""
    saved = ref.read_safetensors(path)
    problems = []
    for row, ids in enumerate(sequences):
        expected = model.kv_caches(ids)
        for prefix, (k, v) in expected.items():
            for suffix, want in [(".key", k), (".value", v)]:
                name = prefix + suffix
                if name not in saved:
                    problems.append(f"cache {name} missing")
                    continue
                got = saved[name][row, :len(ids)]
                error = (got - want).norm() / want.norm()
                if error > 1e-4:
                    problems.append(f"sequence {row}: cache {name} differs (relative error {error:.2e})")
    return problems


def check_config(ee_compile, workdir, methods, config_path):
    name = os.path.splitext(os.path.basename(config_path))[0]
    with open(config_path) as f:
        config = json.load(f)
    exits = len(config["early_exit"]["exit_layer_nums"])
    binary = os.path.join(workdir, name)
    run(ee_compile, config_path, "-o", binary)
    checkpoint = os.path.join(workdir, name + ".ck")
    os.makedirs(checkpoint, exist_ok=True)
    ref.write_safetensors(os.path.join(checkpoint, "model.safetensors"), ref.random_weights(config, 0.3, 7))
    with open(os.path.join(checkpoint, "config.json"), "w") as f:
        json.dump(config, f)
    model = ref.EarlyExitModel.load(checkpoint)
    command = [binary]
    problems = []
    prompt = PROMPTS[0]

    # (a) full depth without a threshold or with one above 1.
    expected = model.greedy(prompt, NEW_TOKENS)
    for options in [(), ("--early-exit-thres", "1.01")]:
        got = generate(command, checkpoint, [prompt], *options)[0]
        if [t for t, _, _ in got] != expected or any(e != "final" for _, e, _ in got):
            problems.append(f"(a) {options or 'no threshold'}: {decisions(got)} vs full depth {expected}")

    # (b) exits at several heads; tokens, exits and the KV caches.
    thresholds, want = pick_thresholds(model, prompt)
    threshold_options = ("--exit-thresholds", ",".join(repr(thresholds[k]) for k in range(exits)))
    kv_path = os.path.join(workdir, name + ".kv.safetensors")
    got = generate(command, checkpoint, [prompt], *threshold_options, save_kv=kv_path)[0]
    if decisions(got) != decisions(want):
        problems.append(f"(b) thresholds {thresholds}: {decisions(got)}\n    reference {decisions(want)}")
    final_sequence = list(prompt) + [t for t, _, _ in want][:-1]
    problems += ["(b) " + p for p in compare_caches(kv_path, model, [final_sequence])]
    taken = sorted({str(e) for _, e, _ in got})

    # (d) threshold 0: the first active exit; per-exit thresholds.
    for options, exit in [(("--early-exit-thres", "0"), 0),
                          (("--early-exit-thres", "0", "--exit-layers",
                            str(config["early_exit"]["exit_layer_nums"][-1])), exits - 1),
                          (("--exit-thresholds", ",".join(["2"] * (exits - 1) + ["0"])), exits - 1)]:
        got = generate(command, checkpoint, [prompt], *options)[0]
        if any(e != exit for _, e, _ in got):
            problems.append(f"(d) {' '.join(options)}: exits {[e for _, e, _ in got]}, expected all {exit}")

    # (e) a batch of prompts of different lengths equals each alone.
    batch = generate(command, checkpoint, PROMPTS, *threshold_options)
    for p, one in enumerate(PROMPTS):
        alone = generate(command, checkpoint, [one], *threshold_options)[0]
        if decisions(batch[p]) != decisions(alone):
            problems.append(f"(e) prompt {p} in a batch: {decisions(batch[p])}\n    alone {decisions(alone)}")

    # (f) a threshold sweep of the compiled decisions.
    layers = config["early_exit"]["exit_layer_nums"]
    swept = 0
    for active in [[k] for k in range(exits)] + [list(range(exits))]:
        for threshold in [0.1 * i for i in range(1, 10)]:
            thresholds = {k: threshold for k in active}
            want_sweep = model.early_exit_generate(prompt, NEW_TOKENS, thresholds)
            seen = exit_confidences(model, prompt, want_sweep)
            if any(abs(c - threshold) < 1e-3 for k in active for c in seen[k]):
                continue
            got = generate(command, checkpoint, [prompt], "--early-exit-thres", repr(threshold),
                           "--exit-layers", ",".join(str(layers[k]) for k in active))[0]
            swept += 1
            if decisions(got) != decisions(want_sweep):
                problems.append(f"(f) exits {active} at {threshold:.1f}: {decisions(got)}\n"
                                f"    reference {decisions(want_sweep)}")
    if swept < 2 * (exits + 1):
        problems.append(f"(f) only {swept} thresholds were clear of ties")

    # (c) the pipeline method on two ranks: same tokens, exits and caches.
    if "pipeline" in methods:
        pipelined = os.path.join(workdir, name + ".pp2")
        run(ee_compile, config_path, "--pp", "2", "-o", pipelined)
        mpirun = [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", "2",
                  "-x", "OMP_NUM_THREADS=1", pipelined]
        pipeline_kv = os.path.join(workdir, name + ".pp2.kv.safetensors")
        got = generate(mpirun, checkpoint, [prompt], *threshold_options, "--method", "pipeline",
                       save_kv=pipeline_kv)[0]
        if decisions(got) != decisions(want):
            problems.append(f"(c) pipeline: {decisions(got)}\n    reference {decisions(want)}")
        problems += ["(c) pipeline " + p for p in compare_caches(pipeline_kv, model, [final_sequence])]
        # A batch, its sequences interleaved on the stages: the recompute batch's
        # tokens and exits, and every cache of every sequence.
        batch_kv = os.path.join(workdir, name + ".pp2.batch.kv.safetensors")
        piped = generate(mpirun, checkpoint, PROMPTS, *threshold_options, "--method", "pipeline", save_kv=batch_kv)
        for p, one in enumerate(PROMPTS):
            if decisions(piped[p]) != decisions(batch[p]):
                problems.append(f"(c) pipeline batch, prompt {p}: {decisions(piped[p])}\n    recompute {decisions(batch[p])}")
        sequences = [list(one) + [t for t, _, _ in piped[p]][:-1] for p, one in enumerate(PROMPTS)]
        problems += ["(c) pipeline batch " + p for p in compare_caches(batch_kv, model, sequences)]
    print(f"  {name}: thresholds {[round(t, 4) for t in thresholds.values()]}, heads taken {taken}, "
          f"{swept} swept thresholds, "
          f"{'ok' if not problems else 'MISMATCH'}")
    return problems


def main(ee_compile, workdir, methods, *configs):
    os.makedirs(workdir, exist_ok=True)
    tally = Tally()
    for config_path in configs:
        try:
            problems = check_config(ee_compile, workdir, methods.split(), config_path)
        except Exception as error:  # a failed command is a failed config
            problems = [str(error)]
        tally.add(problems)
    return tally.close()


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main(*sys.argv[1:]))
