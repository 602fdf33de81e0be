"""`BIN serve` over real HTTP: EE-LLM's PUT /api and OpenAI-style POST /v1/completions.

Against a reference-written checkpoint of a byte-level model:
- full-depth greedy answers equal the independent PyTorch reference;
- early-exit answers (tokens and exits) equal `BIN generate --json` on the same
  prompt and thresholds, and a batch of prompts equals each prompt alone;
- concurrent clients each get the answer of their own request;
- malformed JSON, unknown fields, fields of the wrong type, prompts beyond the
  context and too many tokens get HTTP 400 with a message, and the server keeps
  serving;
- the same answers from the pipeline method under mpirun with two stages, and
  from the recompute method on two tensor-parallel ranks (BIN_TP2, --tp 2);
- SIGTERM to rank 0 stops every rank (rank 0 tells the others), mpirun exits 0;
  SIGTERM to mpirun (which forwards it to every rank) stops them all, none
  dying of the signal.

Usage: serve_test.py BIN BIN_PP2 BIN_TP2 WORKDIR CONFIG.json
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
import ee_reference as ref  # noqa: E402
from harness import Tally, run  # noqa: E402


class Server:
    """A `serve` process on a free port, stopped with SIGTERM."""

    def __init__(self, command):
        self.process = subprocess.Popen(command + ["--port", "0"], stderr=subprocess.PIPE, text=True)
        line = self.process.stderr.readline()
        if "serving" not in line:
            raise RuntimeError(f"server did not start: {line}{self.process.stderr.read()}")
        self.url = line.split(" on ")[1].split()[0]
        self.pid = int(line.rsplit("pid ", 1)[1].split(")")[0])  # rank 0, under mpirun too

    def request(self, method, path, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, text.decode(errors="replace")

    def stream(self, body):
        """(status, content type, events) of a streamed POST /v1/completions: each
        `data:` line as JSON, "[DONE]" as itself, in order of arrival."""
        req = urllib.request.Request(self.url + "/v1/completions", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        events = []
        with urllib.request.urlopen(req, timeout=120) as response:
            for line in response:
                line = line.decode().strip()
                if line.startswith("data: "):
                    events.append("[DONE]" if line == "data: [DONE]" else json.loads(line[6:]))
            return response.status, response.headers.get("Content-Type"), events

    def stop(self, signal_mpirun=False):
        """SIGTERM to rank 0 (or to mpirun); the problems of the stop, if any."""
        os.kill(self.process.pid if signal_mpirun else self.pid, signal.SIGTERM)
        started = time.time()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return ["server did not stop on SIGTERM"]
        log = self.process.stderr.read()
        self.process.stderr.close()
        problems = []
        if "server stopped" not in log:
            problems.append(f"no 'server stopped' after SIGTERM: {log[-500:]!r}")
        if "signal" in log or "Segmentation" in log:
            problems.append(f"a rank died of a signal: {log[-500:]!r}")
        # mpirun itself exits 1 whenever it was signalled, however its ranks ended.
        if not signal_mpirun and self.process.returncode != 0:
            problems.append(f"exit {self.process.returncode} after SIGTERM: {log[-500:]!r}")
        if time.time() - started > 10:
            problems.append(f"stopped {time.time() - started:.1f}s after SIGTERM")
        return problems


def api_decisions(response, index=0):
    return list(zip(response["tokens"][index], [e["exit"] for e in response["exits"][index]]))


def cli_decisions(binary, checkpoint, prompt, options):
    out = run(binary, "generate", "--load", checkpoint, "--prompt", prompt, "--json", "--no-baseline", *options)
    lines = [json.loads(line) for line in out.splitlines()][:-1]
    return [(line["token_id"], line["exit"]) for line in lines]


PROMPTS = ["In the beginning", "And God said", "Let"]
BAD = [
    ("malformed JSON", b'{"prompts": ["a"', "malformed JSON"),
    ("not an object", [1, 2], "must be a JSON object"),
    ("no prompts", {"tokens_to_generate": 3}, "prompts argument required"),
    ("prompts of a wrong type", {"prompts": 5}, "'prompts' must be a string or a non-empty list"),
    ("empty prompt list", {"prompts": []}, "'prompts' must be a string or a non-empty list"),
    ("unknown field", {"prompts": ["a"], "max_len": 3}, "unknown field 'max_len'"),
    ("tokens as a string", {"prompts": ["a"], "tokens_to_generate": "3"}, "'tokens_to_generate' must be an integer"),
    ("negative tokens", {"prompts": ["a"], "tokens_to_generate": -1}, "'tokens_to_generate' must be an integer"),
    ("threshold as a string", {"prompts": ["a"], "early_exit_thres": "0.5"}, "'early_exit_thres' must be a number"),
    ("flag as a number", {"prompts": ["a"], "logprobs": 1}, "'logprobs' must be true or false"),
    ("no exit at a layer", {"prompts": ["a"], "exit_layers": [2]}, "'exit_layers': no exit at layer 2"),
    ("too many tokens", {"prompts": ["a"], "tokens_to_generate": 500}, "'tokens_to_generate' must be an integer in [0, 128]"),
    ("beyond the context", {"prompts": ["x" * 120], "tokens_to_generate": 20}, "exceed the context of 128"),
    ("empty prompt", {"prompts": [""], "tokens_to_generate": 2}, "the prompt is empty"),
    ("bad top_p", {"prompts": ["a"], "top_p": 2}, "'top_p' must be a number in [0, 1]"),
]
# Method fields every server refuses (speculative on pipeline servers: below).
BAD_METHOD = [
    ("unknown method", {"prompts": ["a"], "method": "fast"}, "'method' must be recompute, pipeline or speculative"),
    ("draft fields without speculative", {"prompts": ["a"], "method": "recompute", "draft_tokens": 2},
     "'draft_exit' and 'draft_tokens' need"),
    ("draft tokens out of range", {"prompts": ["a"], "method": "speculative", "draft_tokens": 99},
     "'draft_tokens' must be an integer in [0, 32]"),
    ("draft exit at a layer without one", {"prompts": ["a"], "method": "speculative", "draft_exit": 4},
     "'draft_exit': no exit at layer 4"),
    ("speculative with a threshold", {"prompts": ["a"], "method": "speculative", "early_exit_thres": 0.5},
     "takes no early-exit thresholds"),
]

BAD_COMPLETIONS = [
    ("n too large", {"prompt": "a", "n": 200}, "'n' must be an integer in [1, 128]"),
    ("prompts x n", {"prompt": ["a", "b", "c"], "n": 50}, "prompts x n must be at most 128"),
    ("too many stops", {"prompt": "a", "stop": ["a", "b", "c", "d", "e"]}, "at most 4 'stop' sequences"),
    ("empty stop", {"prompt": "a", "stop": ""}, "each 'stop' sequence must have 1 to 256 bytes"),
    ("streamed prompt scores", {"prompt": "a", "stream": True, "echo": True, "logprobs": 0},
     "'stream' cannot carry prompt log-probabilities"),
    ("no prompt", {"max_tokens": 2}, "'prompt' is required"),
    ("wrong model", {"prompt": "a", "model": "gpt-4"}, "unknown model 'gpt-4'"),
]


def check_server(server, binary, checkpoint, model, exit_layers, tag):
    problems = []

    def expect(condition, message):
        if not condition:
            problems.append(f"{tag}: {message}")

    # Full depth equals the reference's greedy decoding.
    status, response = server.request("PUT", "/api", {"prompts": [PROMPTS[0]], "tokens_to_generate": 10})
    expect(status == 200, f"full depth: HTTP {status} {response}")
    if status == 200:
        want = model.greedy(list(PROMPTS[0].encode()), 10)
        expect(response["tokens"][0] == want, f"full depth {response['tokens'][0]} vs reference {want}")
        expect(all(e["exit"] == "final" for e in response["exits"][0]), "full depth took an exit")

    # Early exits equal `generate --json`; a batch equals each prompt alone.
    for threshold in [0.0, 0.4]:
        body = {"prompts": PROMPTS, "tokens_to_generate": 8, "early_exit_thres": threshold, "logprobs": True}
        status, batch = server.request("PUT", "/api", body)
        expect(status == 200, f"threshold {threshold}: HTTP {status} {batch}")
        if status != 200:
            continue
        expect(len(batch["logprobs"][0]) == 8, "logprobs missing")
        for p, prompt in enumerate(PROMPTS):
            cli = cli_decisions(binary, checkpoint, prompt, ["--max-new-tokens", "8", "--early-exit-thres", str(threshold)])
            got = api_decisions(batch, p)
            expect(got == cli, f"threshold {threshold}, prompt {p}: {got} vs generate {cli}")
        if threshold == 0.0:
            expect(all(e["exit"] == 0 for e in batch["exits"][0]), "threshold 0 did not take exit 0")
    # exit_layers: only the last exit is active.
    status, response = server.request("PUT", "/api", {"prompts": "Let", "tokens_to_generate": 4,
                                                      "early_exit_thres": 0.0, "exit_layers": [exit_layers[-1]]})
    expect(status == 200 and all(e["exit"] == len(exit_layers) - 1 for e in response["exits"][0]),
           f"exit_layers: {status} {response}")
    # use_early_exit false: full depth despite a threshold.
    status, response = server.request("PUT", "/api", {"prompts": "Let", "tokens_to_generate": 4,
                                                      "early_exit_thres": 0.0, "use_early_exit": False})
    expect(status == 200 and all(e["exit"] == "final" for e in response["exits"][0]), f"use_early_exit false: {response}")

    # Concurrent clients: each answer is its own request's.
    expected = {}
    for p, prompt in enumerate(PROMPTS):
        status, response = server.request("PUT", "/api", {"prompts": [prompt], "tokens_to_generate": 6, "early_exit_thres": 0.4})
        expected[p] = response["tokens"][0]
    answers, lock = {}, threading.Lock()

    def client(i):
        p = i % len(PROMPTS)
        status, response = server.request("PUT", "/api", {"prompts": [PROMPTS[p]], "tokens_to_generate": 6, "early_exit_thres": 0.4})
        with lock:
            answers[i] = (p, status, response["tokens"][0] if status == 200 else response)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, (p, status, tokens) in sorted(answers.items()):
        expect(status == 200 and tokens == expected[p], f"concurrent client {i}: {status} {tokens} vs {expected[p]}")
    expect(len(answers) == 12, f"{12 - len(answers)} concurrent clients got no answer")

    # Speculative requests (one process): the full model's greedy tokens, for
    # a batch and through both endpoints; a pipeline server refuses them.
    body = {"prompts": PROMPTS, "tokens_to_generate": 10, "method": "speculative", "draft_tokens": 2,
            "draft_exit": exit_layers[-1]}
    status, response = server.request("PUT", "/api", body)
    if tag == "pipeline":
        text = response["error"]["message"] if status == 400 else str(response)
        expect(status == 400 and "is not available" in text, f"speculative on pipeline stages: {status} {text}")
    else:
        expect(status == 200, f"speculative: HTTP {status} {response}")
        for p, prompt in enumerate(PROMPTS if status == 200 else []):
            want = model.greedy(list(prompt.encode()), 10)
            expect(response["tokens"][p] == want, f"speculative, prompt {p}: {response['tokens'][p]} vs {want}")
        expect(status != 200 or "speculative" in response["summary"], "speculative: no draft statistics")
        completion = {"prompt": PROMPTS[0], "max_tokens": 10, "temperature": 0}
        status, full = server.request("POST", "/v1/completions", completion)
        status, response = server.request("POST", "/v1/completions", dict(completion, method="speculative"))
        expect(status == 200 and response["choices"][0]["text"] == full["choices"][0]["text"],
               f"speculative completion: {status} {response} vs full depth {full}")
        status, response = server.request("PUT", "/api", {"prompts": ["a"], "method": "pipeline"})
        expect(status == 400 and "is not available" in response["error"]["message"],
               f"pipeline on one process: {status} {response}")

    # Concurrent requests with different options (continuous batching mixes
    # them in one step on a one-process server): each answer's tokens and exits
    # equal the request's answer alone, its confidences within 1e-4 (other
    # batch sizes take other kernels' rounding).
    mixed = [{"prompts": [PROMPTS[0]], "tokens_to_generate": 8},
             {"prompts": [PROMPTS[1]], "tokens_to_generate": 6, "early_exit_thres": 0.4},
             {"prompts": [PROMPTS[2]], "tokens_to_generate": 10, "exit_thresholds": [0.9, 0.2]},
             {"prompts": [PROMPTS[0]], "tokens_to_generate": 9, "temperature": 0.8, "random_seed": 7},
             {"prompts": ["Let"], "tokens_to_generate": 5, "early_exit_thres": 0.0, "exit_layers": [exit_layers[-1]]},
             {"prompts": [PROMPTS[1], PROMPTS[2]], "tokens_to_generate": 7, "early_exit_thres": 0.6, "top_k": 3,
              "temperature": 1.2, "random_seed": 3},
             {"prompts": [PROMPTS[2]], "tokens_to_generate": 4}]
    if tag != "pipeline":
        # Speculative sequences join the batch too, two draft exits at once.
        mixed += [{"prompts": [PROMPTS[0]], "tokens_to_generate": 6, "method": "speculative"},
                  {"prompts": [PROMPTS[1], "Let"], "tokens_to_generate": 7, "method": "speculative",
                   "draft_exit": exit_layers[-1], "draft_tokens": 2, "temperature": 0.9, "random_seed": 5}]
    def answer(status, response):
        exits = [[(e["exit"], e["layer"]) for e in sequence] for sequence in response.get("exits", [])]
        confidences = [[e["confidence"] for e in sequence] for sequence in response.get("exits", [])]
        return (status, response.get("tokens"), exits), confidences

    def same(a, b):
        return a[0] == b[0] and all(abs(x - y) < 1e-4 for s, t in zip(a[1], b[1]) for x, y in zip(s, t))

    alone = {i: answer(*server.request("PUT", "/api", body)) for i, body in enumerate(mixed)}
    together, lock = {}, threading.Lock()

    def mixed_client(i):
        result = answer(*server.request("PUT", "/api", mixed[i % len(mixed)]))
        with lock:
            together[i] = result

    threads = [threading.Thread(target=mixed_client, args=(i,)) for i in range(2 * len(mixed))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, result in sorted(together.items()):
        expect(result[0][0] == 200 and same(result, alone[i % len(mixed)]),
               f"mixed client {i}: {result} vs alone {alone[i % len(mixed)]}")
    expect(len(together) == 2 * len(mixed), "a mixed client got no answer")

    # Bad requests: 400 with a message; the server keeps serving.
    for name, body, message in BAD + BAD_METHOD:
        if tag == "pipeline" and isinstance(body, dict) and body.get("method") in ("recompute", "speculative"):
            message = "is not available"
        status, response = server.request("PUT", "/api", body)
        text = response["error"]["message"] if isinstance(response, dict) and "error" in response else str(response)
        expect(status == 400 and message in text, f"{name}: HTTP {status} {text!r}, expected 400 with {message!r}")
    for name, body, message in BAD_COMPLETIONS:
        status, response = server.request("POST", "/v1/completions", body)
        text = response["error"]["message"] if isinstance(response, dict) and "error" in response else str(response)
        expect(status == 400 and message in text, f"completions {name}: HTTP {status} {text!r}, expected 400 with {message!r}")

    # OpenAI-style completions still answer, greedy at temperature 0.
    status, response = server.request("POST", "/v1/completions", {"prompt": PROMPTS[0], "max_tokens": 10, "temperature": 0, "logprobs": 0})
    expect(status == 200, f"completions: HTTP {status} {response}")
    if status == 200:
        choice = response["choices"][0]
        expect(response["usage"]["completion_tokens"] == 10, f"completions usage {response['usage']}")
        expect(len(choice["logprobs"]["token_logprobs"]) == 10, "completions logprobs missing")
        expect([e["exit"] for e in choice["exits"]] == ["final"] * 10, "completions took an exit without a threshold")
        expect(response["usage"]["prompt_tokens"] == len(PROMPTS[0]), f"prompt tokens {response['usage']}")
    status, response = server.request("PUT", "/api", {"prompts": [PROMPTS[0]], "tokens_to_generate": 10})
    expect(status == 200 and response["tokens"][0] == model.greedy(list(PROMPTS[0].encode()), 10),
           "after the bad requests the server answers differently")

    # Evaluation harnesses' log-likelihood requests: echo, logprobs, no new
    # tokens; every prompt token after the first scored by the full model.
    status, response = server.request("POST", "/v1/completions", {"prompt": PROMPTS[0], "max_tokens": 0,
                                                                  "echo": True, "logprobs": 2, "temperature": 0})
    if tag == "pipeline":
        expect(status == 400 and "one process" in response["error"]["message"], f"echo+logprobs: {status} {response}")
    else:
        ids = list(PROMPTS[0].encode())
        with torch.no_grad():
            reference = torch.log_softmax(model.forward(torch.tensor([ids]))[-1][0], dim=-1)
        want = [None] + [reference[i - 1, ids[i]].item() for i in range(1, len(ids))]
        expect(status == 200, f"echo+logprobs: HTTP {status} {response}")
        if status == 200:
            logprobs = response["choices"][0]["logprobs"]
            got = logprobs["token_logprobs"]
            expect(response["choices"][0]["text"] == PROMPTS[0], f"echo text {response['choices'][0]['text']!r}")
            expect(len(got) == len(ids) and got[0] is None
                   and all(abs(a - b) < 1e-4 for a, b in zip(got[1:], want[1:])),
                   f"prompt logprobs {got} vs reference {want}")
            best = reference[0].argmax().item()
            top = logprobs["top_logprobs"][1]
            expect(len(top) == 2 and abs(max(top.values()) - reference[0, best].item()) < 1e-4,
                   f"top_logprobs {top} vs best {reference[0, best].item()}")
            expect(logprobs["text_offset"] == list(range(len(ids))), f"text_offset {logprobs['text_offset']}")
        # The same, streamed: one event per token, then the finish, then [DONE].
        status, full = server.request("POST", "/v1/completions", {"prompt": PROMPTS[0], "max_tokens": 10,
                                                                  "temperature": 0, "logprobs": 0})
        status, kind, events = server.stream({"prompt": PROMPTS[0], "max_tokens": 10, "temperature": 0,
                                              "logprobs": 0, "stream": True})
        chunks = [e["choices"][0] for e in events[:-1]]
        expect(status == 200 and kind.startswith("text/event-stream") and events[-1] == "[DONE]"
               and len(chunks) == 11 and "".join(c["text"] for c in chunks) == full["choices"][0]["text"]
               and [c["finish_reason"] for c in chunks] == [None] * 10 + ["length"]
               and [c["logprobs"]["token_logprobs"][0] for c in chunks[:-1]]
               == full["choices"][0]["logprobs"]["token_logprobs"], f"stream: {status} {kind} {events}")
        # n choices (greedy: all alike), and a stop sequence ending the text.
        status, full = server.request("POST", "/v1/completions", {"prompt": PROMPTS[0], "max_tokens": 10,
                                                                  "temperature": 0})
        text = full["choices"][0]["text"] if status == 200 else ""
        status, response = server.request("POST", "/v1/completions", {"prompt": PROMPTS[0], "max_tokens": 10,
                                                                      "temperature": 0, "n": 3})
        expect(status == 200 and [c["text"] for c in response["choices"]] == [text] * 3
               and [c["index"] for c in response["choices"]] == [0, 1, 2]
               and response["usage"]["prompt_tokens"] == len(PROMPTS[0]), f"n 3: {status} {response}")
        stop = text[4:6]
        status, response = server.request("POST", "/v1/completions", {"prompt": PROMPTS[0], "max_tokens": 10,
                                                                      "temperature": 0, "stop": [stop, "\x00"]})
        expect(status == 200 and response["choices"][0]["text"] == text[:text.find(stop)]
               and response["choices"][0]["finish_reason"] == "stop", f"stop {stop!r}: {status} {response}")
        # Streamed with the stop sequence and two choices: each choice's text
        # ends before it, finish_reason stop, the other bytes never sent.
        status, kind, events = server.stream({"prompt": PROMPTS[0], "max_tokens": 10, "temperature": 0,
                                              "stop": [stop], "n": 2, "stream": True})
        for choice in (0, 1):
            mine = [e["choices"][0] for e in events[:-1] if e["choices"][0]["index"] == choice]
            expect("".join(c["text"] for c in mine) == text[:text.find(stop)]
                   and mine[-1]["finish_reason"] == "stop", f"stream with stop, choice {choice}: {mine}")
    # Streaming works wherever completions do (on pipeline stages too).
    request = {"prompt": PROMPTS[1], "max_tokens": 4, "temperature": 0}
    status, whole = server.request("POST", "/v1/completions", request)
    status, kind, events = server.stream(dict(request, stream=True))
    expect(events[-1] == "[DONE]" and "".join(e["choices"][0]["text"] for e in events[:-1])
           == whole["choices"][0]["text"], f"stream of {PROMPTS[1]!r}: {events} vs {whole}")
    return problems


def main(binary, binary_pp2, binary_tp2, workdir, config_path):
    with open(config_path) as f:
        config = json.load(f)
    # Weights large enough for peaked distributions, so thresholds split the exits.
    checkpoint = os.path.join(workdir, "ck")
    os.makedirs(checkpoint, exist_ok=True)
    ref.write_safetensors(os.path.join(checkpoint, "model.safetensors"), ref.random_weights(config, 0.3, 7))
    with open(os.path.join(checkpoint, "config.json"), "w") as f:
        json.dump(config, f)
    exit_layers = config["early_exit"]["exit_layer_nums"]
    model = ref.EarlyExitModel.load(checkpoint)
    tally = Tally()
    mpirun = [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", "2", "-x", "OMP_NUM_THREADS=1"]
    for tag, command in [("recompute", [binary, "serve", "--load", checkpoint]),
                         ("pipeline", mpirun + [binary_pp2, "serve", "--load", checkpoint]),
                         ("tensor-parallel", mpirun + [binary_tp2, "serve", "--load", checkpoint])]:
        server = Server(command)
        try:
            problems = check_server(server, binary, checkpoint, model, exit_layers, tag)
        except Exception as error:
            problems = [f"{tag}: {error}"]
        finally:
            problems += [f"{tag}: {p}" for p in server.stop()]
        if tag != "recompute":
            # The other ranks wait for rank 0's next request; a forwarded SIGTERM
            # must not kill them mid-wait, nor leave them waiting.
            server = Server(command)
            status, response = server.request("PUT", "/api", {"prompts": ["Let"], "tokens_to_generate": 2})
            if status != 200:
                problems.append(f"{tag}: HTTP {status} {response}")
            problems += [f"{tag}, SIGTERM to mpirun: {p}" for p in server.stop(signal_mpirun=True)]
        print(f"  {tag}: {'ok' if not problems else 'MISMATCH'}")
        tally.add(problems)
    return tally.close()


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main(*sys.argv[1:]))
