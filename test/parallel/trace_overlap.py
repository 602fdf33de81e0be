"""Checks a `BIN train --trace` file of a data-parallel run with the compiled
update step: on every rank, the gradient all-reduces are on the rank's
communication track, the first of them starts inside the step's last
backward pass (the update step's `forward+backward` span, or a stage's last
`B` pass) before nine tenths of it have run (the last layer's gradients are
final after the forward pass and the head's backward, about 40% in here; the
margin is for a rank the machine's other ranks delay), and all of them end
before the step's optimizer span does.

Usage: trace_overlap.py TRACE.json
"""
import json
import sys


def main(path):
    with open(path) as f:
        trace = json.load(f)
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    ranks = trace["otherData"]["data_parallel"] * trace["otherData"]["pipeline_stages"]
    problems = []
    for rank in range(ranks):
        mine = [e for e in events if e["tid"] == rank]
        for iteration in sorted({e["args"].get("iteration") for e in mine}):
            now = [e for e in mine if e["args"].get("iteration") == iteration]
            backward = [e for e in now if e["cat"] == "backward" and
                        (e["name"] == "forward+backward" or e["name"][0] in "Bb")]
            optimizer = [e for e in now if e["name"] == "optimizer"]
            reduces = [e for e in events if e["tid"] == ranks + rank and e["args"].get("iteration") == iteration
                       and e["name"] == "gradient all-reduce"]
            if not backward or len(optimizer) != 1 or not reduces:
                problems.append(f"rank {rank} iteration {iteration}: {len(backward)} backward spans, "
                                f"{len(optimizer)} optimizer spans, {len(reduces)} all-reduces")
                continue
            last = max(backward, key=lambda e: e["ts"])
            first = min(e["ts"] for e in reduces)
            if not last["ts"] <= first <= last["ts"] + 0.9 * last["dur"]:
                problems.append(f"rank {rank} iteration {iteration}: the first all-reduce starts at "
                                f"{first - last['ts']:.0f} us of a {last['dur']:.0f} us backward pass")
            done = optimizer[0]["ts"] + optimizer[0]["dur"]
            if any(e["ts"] + e["dur"] > done + 1 for e in reduces):
                problems.append(f"rank {rank} iteration {iteration}: an all-reduce ends after the update")
    for problem in problems:
        print("FAIL", problem)
    print("all-reduces inside the backward pass:", "ok" if not problems else "MISMATCH")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
