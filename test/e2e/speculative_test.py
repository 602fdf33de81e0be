"""Self-speculative decoding (--method speculative) against the PyTorch reference.

For every config, on a reference-written checkpoint whose layers after the
first exit are damped (their output projections scaled by 0.25) and whose
heads all project with one matrix, so that the exits agree with the final head
often but not always:

(a) greedy: for every draft exit and draft length (1, 3 and adaptive), the
    tokens equal the reference's full-depth greedy decoding, and across them
    some drafts are accepted and some rejected (both paths run);
(b) after a speculative generation, every KV cache (decoder layers and block
    exits) equals the keys/values of a teacher-forced full-depth pass over
    the final sequence (1e-4 relative): the draft's entries below the exit are
    the full model's, and rejected drafts leave nothing behind;
(c) a batch of four prompts of different lengths: each sequence's tokens equal
    the reference's greedy decoding of that prompt alone, its caches those of
    the reference, and past its end (the longest sequence's length is saved)
    its cache rows hold zeros; and a batch of 12 more random prompts, each
    drafting from the last exit, equals full depth too;
(d) requests the method refuses: early-exit thresholds, a draft exit that does
    not exist, too many draft tokens, and (with mpirun available) two pipeline
    ranks, each with a message naming the problem.

Then, on the first config without damping (exits that disagree): sampling at
temperature 1.5 with top-k 3, the joint distribution of the first three
generated tokens over 800 sequences (seeds 0..799, one batch) passes a
chi-square test against the full model's exact distribution (p > 1e-3), for
speculative decoding with 2 drafts and for plain full-depth sampling; the same
counts fail it against the distribution that taking every draft would give
(the test can tell the difference).

Usage: speculative_test.py EE_COMPILE WORKDIR CONFIG.json...
"""
import itertools
import json
import os
import shutil
import subprocess
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
sys.path.insert(0, os.path.dirname(__file__))
import ee_reference as ref  # noqa: E402
from early_exit_test import compare_caches  # noqa: E402
from harness import Tally, report, run  # noqa: E402

NEW_TOKENS = 14
PROMPTS = [[72, 101, 108, 108, 111, 44, 32], [3, 1, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11], [40, 41]]


def generate(binary, checkpoint, prompts, *options, new_tokens=NEW_TOKENS):
    """(tokens per prompt, summary) of `generate --json --method speculative`."""
    args = [binary, "generate", "--load", checkpoint, "--max-new-tokens", str(new_tokens), "--json",
            "--no-baseline", "--method", "speculative"]
    for prompt in prompts:
        args += ["--prompt-ids", ",".join(map(str, prompt))]
    lines = [json.loads(line) for line in run(*args, *options).splitlines()]
    tokens = [[] for _ in prompts]
    for line in lines[:-1]:
        tokens[line.get("sequence", 0)].append(line["token_id"])
    return tokens, lines[-1]["summary"]


def checkpoint_for(workdir, name, config, damp):
    weights = ref.random_weights(config, 0.3, 7)
    if damp:
        first_exit = config["early_exit"]["exit_layer_nums"][0]
        for i in range(first_exit, config["num_hidden_layers"]):
            for proj in ("self_attn.o_proj", "mlp.down_proj"):
                weights[f"model.layers.{i}.{proj}.weight"] *= 0.25
        # Every head projects with the final head's matrix.
        if not config.get("tie_word_embeddings", False):
            weights["lm_head.weight"] = weights["model.embed_tokens.weight"].clone()
        for k in range(len(config["early_exit"]["exit_layer_nums"])):
            if f"exits.{k}.lm_head.weight" in weights:
                weights[f"exits.{k}.lm_head.weight"] = weights["model.embed_tokens.weight"].clone()
    checkpoint = os.path.join(workdir, name + (".damped" if damp else "") + ".ck")
    os.makedirs(checkpoint, exist_ok=True)
    ref.write_safetensors(os.path.join(checkpoint, "model.safetensors"), weights)
    with open(os.path.join(checkpoint, "config.json"), "w") as f:
        json.dump(config, f)
    return checkpoint


def refused(binary, checkpoint, *options, launcher=()):
    """Problems unless generate exits non-zero with an error on stderr."""
    args = list(launcher) + [binary, "generate", "--load", checkpoint, "--prompt-ids", "1,2",
                             "--max-new-tokens", "3", "--method", "speculative", *options]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if result.returncode == 0 or "error" not in result.stderr:
        return [f"{' '.join(options) or ' '.join(launcher[:1])}: not refused (rc {result.returncode}, "
                f"stderr {result.stderr.strip()[-200:]!r})"]
    return []


def check_config(ee_compile, workdir, config_path):
    name = os.path.splitext(os.path.basename(config_path))[0]
    with open(config_path) as f:
        config = json.load(f)
    layers = config["early_exit"]["exit_layer_nums"]
    binary = os.path.join(workdir, name)
    run(ee_compile, config_path, "-o", binary)
    checkpoint = checkpoint_for(workdir, name, config, damp=True)
    model = ref.EarlyExitModel.load(checkpoint)
    problems = []
    want = [model.greedy(p, NEW_TOKENS) for p in PROMPTS]

    # (a) every draft exit and length: the full model's greedy tokens.
    drafted = accepted = 0
    for layer, k in itertools.product(layers, ("1", "3", "0")):
        got, summary = generate(binary, checkpoint, PROMPTS[:1], "--draft-exit", str(layer), "--draft-tokens", k)
        if got[0] != want[0]:
            problems.append(f"(a) draft exit {layer}, {k} drafts: {got[0]}\n    full depth {want[0]}")
        drafted += summary["speculative"]["drafted_tokens"]
        accepted += summary["speculative"]["accepted_tokens"]
    if not 0 < accepted < drafted:
        problems.append(f"(a) {accepted} of {drafted} drafts accepted: the test needs both outcomes")

    # (b) the KV caches after rejected drafts were rolled back.
    kv_path = os.path.join(workdir, name + ".speculative.kv.safetensors")
    got, _ = generate(binary, checkpoint, PROMPTS[:1], "--draft-tokens", "3", "--save-kv", kv_path)
    problems += ["(b) " + p for p in compare_caches(kv_path, model, [PROMPTS[0] + got[0][:-1]])]

    # (c) a batch: every sequence as alone, its caches too, and zeros past
    # each sequence's end.
    batch_kv = os.path.join(workdir, name + ".speculative.batch.kv.safetensors")
    got, _ = generate(binary, checkpoint, PROMPTS, "--save-kv", batch_kv)
    for p, tokens in enumerate(got):
        if tokens != want[p]:
            problems.append(f"(c) prompt {p} in a batch: {tokens}\n    full depth {want[p]}")
    sequences = [PROMPTS[p] + got[p][:-1] for p in range(len(PROMPTS))]
    problems += ["(c) " + p for p in compare_caches(batch_kv, model, sequences)]
    for cache_name, cache in ref.read_safetensors(batch_kv).items():
        for row, ids in enumerate(sequences):
            if cache[row, len(ids):].abs().sum() > 0:
                problems.append(f"(c) sequence {row}: {cache_name} has entries past its end")

    many = [torch.randint(0, config["vocab_size"], (n,), generator=torch.Generator().manual_seed(n)).tolist()
            for n in range(2, 14)]
    got, _ = generate(binary, checkpoint, many, "--draft-exit", str(layers[-1]))
    for p, tokens in enumerate(got):
        want_p = model.greedy(many[p], NEW_TOKENS)
        if tokens != want_p:
            problems.append(f"(c) random prompt {p}: {tokens}\n    full depth {want_p}")

    # (d) refused requests.
    problems += refused(binary, checkpoint, "--early-exit-thres", "0.5")
    problems += refused(binary, checkpoint, "--draft-exit", str(config["num_hidden_layers"] + 1))
    problems += refused(binary, checkpoint, "--draft-tokens", "33")
    mpirun = shutil.which("mpirun")
    if mpirun and name == "norm-exits":
        pipelined = binary + ".pp2"
        run(ee_compile, config_path, "--pp", "2", "-o", pipelined)
        problems += refused(pipelined, checkpoint, launcher=[mpirun, "--allow-run-as-root", "--oversubscribe",
                                                              "-np", "2", "-x", "OMP_NUM_THREADS=1"])
    print(f"  {name}: {accepted} of {drafted} drafts accepted, {'ok' if not problems else 'MISMATCH'}")
    return problems


def sampling_distribution(logits, temperature, top_k):
    keep = torch.topk(logits, top_k).indices
    probs = torch.zeros_like(logits)
    probs[keep] = torch.softmax(logits[keep] / temperature, 0)
    return probs


def joint(model, prompt, head, depth, temperature, top_k):
    """{(t1, .., t_depth): probability} when each token comes from `head`
    (-1: the final head) of the sequence so far, sampled as generate samples."""
    result = {}

    def walk(ids, prefix, probability):
        if len(prefix) == depth:
            result[tuple(prefix)] = probability
            return
        with torch.no_grad():
            logits = model.forward(torch.tensor([ids]))[head][0, -1]
        probs = sampling_distribution(logits, temperature, top_k)
        for token in torch.nonzero(probs).flatten().tolist():
            walk(ids + [token], prefix + [token], probability * probs[token].item())

    walk(list(prompt), [], 1.0)
    return result


def chi_square_p(counts, expected_probs, total):
    """p-value of Pearson's test, cells with expected count < 5 pooled."""
    observed, expected, pooled_o, pooled_e = [], [], 0, 0.0
    for cell, p in expected_probs.items():
        if p * total < 5:
            pooled_o += counts.get(cell, 0)
            pooled_e += p * total
        else:
            observed.append(counts.get(cell, 0))
            expected.append(p * total)
    pooled_o += sum(c for cell, c in counts.items() if cell not in expected_probs)
    if pooled_e > 0 or pooled_o:
        observed.append(pooled_o)
        expected.append(max(pooled_e, 1e-9))
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected))
    dof = len(observed) - 1
    return torch.special.gammaincc(torch.tensor(dof / 2.0), torch.tensor(statistic / 2.0)).item()


def check_sampling(ee_compile, workdir, config_path):
    name = os.path.splitext(os.path.basename(config_path))[0]
    with open(config_path) as f:
        config = json.load(f)
    binary = os.path.join(workdir, name)
    checkpoint = checkpoint_for(workdir, name, config, damp=False)
    model = ref.EarlyExitModel.load(checkpoint)
    prompt, rows, depth, temperature, top_k = [5, 6, 7], 800, 3, 1.5, 3
    full = joint(model, prompt, -1, depth, temperature, top_k)
    exit_only = joint(model, prompt, 0, depth, temperature, top_k)
    problems = []
    for method, extra in [("speculative", ["--draft-tokens", "2"]), ("recompute", [])]:
        args = [binary, "generate", "--load", checkpoint, "--max-new-tokens", str(depth), "--json",
                "--no-baseline", "--method", method, "--temperature", str(temperature), "--top-k", str(top_k),
                "--seed", "0"] + extra
        for _ in range(rows):
            args += ["--prompt-ids", ",".join(map(str, prompt))]
        lines = [json.loads(line) for line in run(*args).splitlines()]
        sequences = [[] for _ in range(rows)]
        for line in lines[:-1]:
            sequences[line.get("sequence", 0)].append(line["token_id"])
        counts = {}
        for tokens in sequences:
            counts[tuple(tokens)] = counts.get(tuple(tokens), 0) + 1
        p = chi_square_p(counts, full, rows)
        print(f"  sampling, {method}: chi-square p = {p:.3g} against the full model"
              + (f", acceptance {lines[-1]['summary']['speculative']['acceptance_rate']:.2f}"
                 if method == "speculative" else ""))
        if p <= 1e-3:
            problems.append(f"{method}: the tokens' distribution differs from the full model's (p = {p:.3g})")
        if method == "speculative":
            rate = lines[-1]["summary"]["speculative"]["acceptance_rate"]
            if not 0 < rate < 1:
                problems.append(f"acceptance rate {rate}: the test needs accepted and rejected drafts")
            if chi_square_p(counts, exit_only, rows) > 1e-3:
                problems.append("the counts also fit the exit's own distribution: the test cannot tell them apart")
    return problems


def main(ee_compile, workdir, *configs):
    os.makedirs(workdir, exist_ok=True)
    tally = Tally()
    for config_path in configs:
        report(tally, os.path.basename(config_path), lambda: check_config(ee_compile, workdir, config_path))
    report(tally, "sampling", lambda: check_sampling(ee_compile, workdir, configs[0]))
    return tally.close()


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main(*sys.argv[1:]))
