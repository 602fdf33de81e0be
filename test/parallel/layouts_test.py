"""3D-parallel gradients and training under mpirun against one rank and PyTorch.

Layouts are (TP, PP, DP): a binary compiled with --tp TP and --pp P (or
--pp-split) run on TP * PP * DP ranks. For each config: `grad` under (2,1,1)
and (1,2,1), and for the first config also (1,1,2), (1,3,1) with an exit on
every stage, (1,4,1), (1,2,2), (2,2,1) and (2,2,2), equals `grad` of one rank
and torch.autograd of the independent reference within 1e-4 relative per
tensor. On the first config, 20 training iterations under (1,2,1), (1,2,2)
with ZeRO-1, (1,3,1), (1,4,1), (2,1,1), (2,2,1) and (2,2,2) with ZeRO-1 log
the same losses as one rank and end with the same weights (1e-4); a checkpoint
saved half-way under (2,2,1) resumes under (1,1,1) and (1,4,1), one saved on
one rank resumes under (2,2,2); and early-exit generation (thresholds from 0
to none, sampling, a batch) with the pipeline method on (1,2,1), (1,3,1),
(1,4,1) and (2,2,1) and with the recompute method on two tensor-parallel
ranks, and tensor-parallel `eval`, equal one rank's.

With --dtype bf16 every binary is compiled in bf16 mixed precision and the
same checks run with bf16's tolerances (those of test/e2e/bf16_test.py): 2e-3 relative for losses, 2e-2
per tensor, against the one-rank bf16 run and the reference in bf16 mode.
A layout sums in another order, and where an fp32 result then differs in its
last bits its rounding to bf16 can differ by a whole bf16 unit (2^-8); the
gradients of tensor-parallel layouts measure up to 1e-3 from one rank's, and
20 training iterations at lr 1e-2 carry that to about 1e-2 in the weights.
Generation and eval keep fp32's checks.

Usage: layouts_test.py [--dtype bf16] EE_COMPILE WORKDIR CORPUS CONFIG.json...
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

SEQ_LEN, BATCH, ITERS, MICROBATCHES = 16, 4, 20, 4
# Relative tolerances of losses and of tensors (gradients, trained weights)
# against one rank and the reference: fp32's, or bf16's under --dtype bf16.
TOLERANCES = {"fp32": (1e-4, 1e-4), "bf16": (2e-3, 2e-2)}
LOSS_TOLERANCE, TENSOR_TOLERANCE = TOLERANCES["fp32"]


def mpirun(ranks):
    if ranks == 1:
        return []
    return [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", str(ranks),
            "-x", "OMP_NUM_THREADS=1"]


def relative(a, b):
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def compare_tensors(tag, got, want):
    if set(got) != set(want):
        return [f"{tag}: tensor names differ: {sorted(set(got) ^ set(want))}"]
    return [f"{tag}: {name} differs (relative error {relative(got[name], w):.2e})"
            for name, w in want.items() if relative(got[name], w) > TENSOR_TOLERANCE]


def reference_gradients(checkpoint, tokens, precision):
    model = ref.EarlyExitModel.load(checkpoint, precision)
    for tensor in model.w.values():
        tensor.requires_grad_(True)
    window = torch.tensor(tokens[:BATCH * (SEQ_LEN + 1)], dtype=torch.int64).reshape(BATCH, SEQ_LEN + 1)
    ref.objective(model, window[:, :-1], window[:, 1:], 0).backward()
    return {name: tensor.grad for name, tensor in model.w.items()}


def grad(binary, ranks, checkpoint, corpus, out):
    report = json.loads(run(*mpirun(ranks), binary, "grad", "--load", checkpoint, "--data", corpus,
                            "--seq-len", str(SEQ_LEN), "--global-batch", str(BATCH), "--out", out))
    return report["loss"], ref.read_safetensors(out)


def train(binary, ranks, save, load, corpus, iters, micro_batch, *extra):
    run(*mpirun(ranks), binary, "train", "--load", load, "--data", corpus, "--iters", str(iters),
        "--global-batch", "8", "--micro-batch", str(micro_batch), "--seq-len", str(SEQ_LEN),
        "--lr", "1e-2", "--lr-warmup-iters", "2", "--lr-decay-iters", str(ITERS), "--log-interval", "1",
        "--save", save, *extra)
    records = {}
    with open(os.path.join(save, "metrics.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            records[record["iteration"]] = [record["loss"], record["final"]] + [e["loss"] for e in record["exits"]]
    with open(os.path.join(save, "latest")) as f:
        latest = os.path.join(save, f.read().strip())
    return records, ref.read_safetensors(os.path.join(latest, "model.safetensors"))


def compare_runs(tag, got, want):
    (got_losses, got_weights), (want_losses, want_weights) = got, want
    problems = []
    for iteration, expected in sorted(want_losses.items()):
        actual = got_losses.get(iteration)
        if actual is None:
            problems.append(f"{tag}: no losses logged at iteration {iteration}")
        elif max(abs(a - e) / max(abs(e), 1e-6) for a, e in zip(actual, expected)) > LOSS_TOLERANCE:
            problems.append(f"{tag}: iteration {iteration} losses {actual} vs one rank {expected}")
    return problems + compare_tensors(tag, got_weights, want_weights)


def main(ee_compile, workdir, corpus, *configs, dtype="fp32"):
    global LOSS_TOLERANCE, TENSOR_TOLERANCE
    LOSS_TOLERANCE, TENSOR_TOLERANCE = TOLERANCES[dtype]
    dtype_options = ["--dtype", dtype]
    with open(corpus, "rb") as f:
        tokens = list(f.read())
    tally = Tally()
    for index, config_path in enumerate(configs):
        name = os.path.splitext(os.path.basename(config_path))[0]
        print(name)
        path = lambda item: os.path.join(workdir, name, item)  # noqa: E731,B023
        os.makedirs(path(""), exist_ok=True)
        with open(config_path) as f:
            config = json.load(f)
        layers = config["num_hidden_layers"]
        # (tag, ranks, ee-compile layout options)
        layouts = [("(2,1,1)", 2, ["--tp", "2"]), ("(1,2,1)", 2, ["--pp", "2"])]
        if index == 0:
            layouts += [("(1,1,2)", 2, []),
                        ("(1,3,1) split 1,2,1, an exit on every stage", 3, ["--pp-split", "1,2,1"]),
                        (f"(1,{layers},1) a layer per stage", layers, ["--pp", str(layers)]),
                        ("(1,2,2)", 4, ["--pp", "2"]),
                        ("(2,2,1)", 4, ["--tp", "2", "--pp", "2"]),
                        ("(2,2,2)", 8, ["--tp", "2", "--pp", "2"])]
        binaries = {(): path("one")}
        run(ee_compile, config_path, *dtype_options, "-o", binaries[()])

        def binary(options):
            """The binary of a layout, compiled the first time it is asked for."""
            if tuple(options) not in binaries:
                binaries[tuple(options)] = path("bin" + "".join(options).replace(",", "-"))
                run(ee_compile, config_path, *options, *dtype_options, "--microbatches", str(MICROBATCHES),
                    "-o", binaries[tuple(options)])
            return binaries[tuple(options)]
        for _, _, options in layouts:
            binary(options)
        checkpoint = path("ckpt")
        os.makedirs(checkpoint, exist_ok=True)
        ref.write_safetensors(os.path.join(checkpoint, "model.safetensors"), ref.random_weights(config, 0.08, 9))
        with open(os.path.join(checkpoint, "config.json"), "w") as f:
            json.dump(config, f)
        want_loss, one = grad(binaries[()], 1, checkpoint, corpus, path("grads-one.safetensors"))
        autograd = reference_gradients(checkpoint, tokens, dtype)
        report(tally, "grad on one rank vs PyTorch", lambda: compare_tensors("one rank", one, autograd))
        for tag, ranks, options in layouts:
            def check_grad(tag=tag, ranks=ranks, options=options):
                loss, got = grad(binaries[tuple(options)], ranks, checkpoint, corpus,
                                 path(f"grads-{ranks}.safetensors"))
                problems = compare_tensors(tag + " vs one rank", got, one)
                problems += compare_tensors(tag + " vs PyTorch", got, autograd)
                if abs(loss - want_loss) > LOSS_TOLERANCE * abs(want_loss):
                    problems.append(f"{tag}: loss {loss} vs one rank {want_loss}")
                return problems
            report(tally, "grad " + tag, check_grad)
        if index != 0:
            continue

        single = train(binaries[()], 1, path("train-one"), checkpoint, corpus, ITERS, 2)
        # ZeRO-1 is compiled into the update step and named to train as well.
        zero = ["--use-distributed-optimizer"]
        runs = [("(1,2,1)", 2, ["--pp", "2"], 2, []),
                ("(1,2,2) ZeRO-1", 4, ["--pp", "2"] + zero, 1, zero),
                ("(1,3,1) split 1,2,1", 3, ["--pp-split", "1,2,1"], 2, []),
                (f"(1,{layers},1)", layers, ["--pp", str(layers)], 2, []),
                ("(2,1,1)", 2, ["--tp", "2"], 2, []),
                ("(2,2,1)", 4, ["--tp", "2", "--pp", "2"], 2, []),
                ("(2,2,2) ZeRO-1", 8, ["--tp", "2", "--pp", "2"] + zero, 1, zero)]
        for tag, ranks, options, micro, extra in runs:
            report(tally, "train " + tag, lambda tag=tag, ranks=ranks, options=options, micro=micro, extra=extra:
                   compare_runs(tag, train(binary(options), ranks, path("train-" + tag.replace(" ", "_")),
                                           checkpoint, corpus, ITERS, micro, *extra), single))

        # Half the run under one layout, the rest under another.
        tp_pp = ["--tp", "2", "--pp", "2"]
        resumes = [("(2,2,1) then (1,1,1)", (4, tp_pp, 2), (1, [], 2)),
                   (f"(2,2,1) then (1,{layers},1)", (4, tp_pp, 2), (layers, ["--pp", str(layers)], 2)),
                   ("(1,1,1) then (2,2,2)", (1, [], 2), (8, tp_pp, 1))]
        for tag, first, second in resumes:
            def check_resume(tag=tag, first=first, second=second):
                save = path("resume-" + tag.replace(" ", "_"))
                train(binaries[tuple(first[1])], first[0], save, checkpoint, corpus, ITERS // 2, first[2])
                return compare_runs(tag, train(binaries[tuple(second[1])], second[0], save, save, corpus,
                                               ITERS, second[2]), single)
            report(tally, "resume " + tag, check_resume)

        # Evaluation and early-exit generation from the trained weights: the
        # pipeline method on the PP layouts, the recompute method on TP ranks.
        trained = path("train-one")
        def evaluate(binary, ranks):
            return json.loads(run(*mpirun(ranks), binary, "eval", "--load", trained, "--data", corpus,
                                  "--seq-len", str(SEQ_LEN), "--json"))
        def same_eval(got, want):
            pairs = [(got["final"]["loss"], want["final"]["loss"])]
            pairs += [(g["loss"], w["loss"]) for g, w in zip(got["exits"], want["exits"])]
            return all(abs(g - w) <= 1e-4 * abs(w) for g, w in pairs)
        requests = [["--prompt-ids", "72,101,108", "--early-exit-thres", str(t)] for t in (0.0, 0.2, 0.205, 0.21, 0.5)]
        requests += [["--prompt-ids", "72,101,108"],
                     ["--prompt-ids", "72,101,108", "--early-exit-thres", "0.2", "--temperature", "0.8",
                      "--top-k", "20", "--seed", "7"],
                     ["--prompt-ids", "72,101,108", "--prompt-ids", "84,104,101,32,76,111", "--early-exit-thres", "0.205"]]
        def records(binary, ranks, method, request):
            out = run(*mpirun(ranks), binary, "generate", "--load", trained, "--max-new-tokens", "10", "--json",
                      "--no-baseline", "--method", method, *request)
            return [(t.get("sequence", 0), t["token_id"], t["exit"], t["confidence"])
                    for t in map(json.loads, out.splitlines()) if "token_id" in t]
        def same_tokens(got, want):
            return len(got) == len(want) and all(
                g[:3] == w[:3] and abs(g[3] - w[3]) <= 1e-4 for g, w in zip(got, want))
        want_eval = evaluate(binaries[()], 1)
        want_records = [records(binaries[()], 1, "recompute", request) for request in requests]
        early = sum(r[2] != "final" for rs in want_records for r in rs)
        print(f"  ({early} of {sum(map(len, want_records))} reference tokens exit early)")
        inference = [("(1,2,1) pipeline", 2, ["--pp", "2"], "pipeline"),
                     ("(1,3,1) pipeline", 3, ["--pp-split", "1,2,1"], "pipeline"),
                     (f"(1,{layers},1) pipeline", layers, ["--pp", str(layers)], "pipeline"),
                     ("(2,1,1) recompute, eval", 2, ["--tp", "2"], "recompute"),
                     ("(2,2,1) pipeline", 4, tp_pp, "pipeline"),
                     ("(2,2,1) binary, recompute on TP = 2", 2, tp_pp, "recompute")]
        for tag, ranks, options, method in inference:
            def check_inference(tag=tag, ranks=ranks, options=options, method=method):
                problems = []
                if method == "recompute" and not same_eval(evaluate(binaries[tuple(options)], ranks), want_eval):
                    problems.append(f"eval {tag} differs from one rank")
                for request, want in zip(requests, want_records):
                    if not same_tokens(records(binaries[tuple(options)], ranks, method, request), want):
                        problems.append(f"generate {tag} {' '.join(request)}: tokens, exits or confidences differ")
                return problems
            report(tally, "generate " + tag, check_inference)
    return tally.close()


if __name__ == "__main__":
    torch.set_num_threads(1)
    arguments = sys.argv[1:]
    dtype = "fp32"
    if arguments[:1] == ["--dtype"]:
        dtype, arguments = arguments[1], arguments[2:]
    sys.exit(main(*arguments, dtype=dtype))
