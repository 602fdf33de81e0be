"""Planned pipeline bubbles: plain 1F1B against 1F1B with bubble filling.

For PP = 4 and 6 and 8 micro-batches, on the EE-LLM 1.3B and 7B example
configs, compiles each with `ee-compile --pp 4 --microbatches M
--schedule-trace` (plain, then with `--fill-bubbles 8`) and prints the planned
bubble fraction of each from the cost model, side by side. Planned, not
measured: the schedule's durations come from the cost model (FLOPs per stage).

Usage: python3 bench/schedule_bench.py [--ee-compile build/bin/ee-compile] [--fill 8]
"""
import argparse
import json
import os
import subprocess
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def planned(ee_compile, config, microbatches, fill, work):
    trace = os.path.join(work, "trace.json")
    subprocess.run([ee_compile, config, "--pp", "4", "--microbatches", str(microbatches), "--fill-bubbles",
                    str(fill), "--schedule-trace", trace, "--emit", "primitives", "-o", os.devnull],
                   check=True, stderr=subprocess.DEVNULL)
    with open(trace) as f:
        return json.load(f)["otherData"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ee-compile", default=os.path.join(ROOT, "build", "bin", "ee-compile"))
    parser.add_argument("--fill", type=int, default=8, help="extra partial micro-batches allowed")
    args = parser.parse_args()
    print(f"{'config':>10} | {'PP':>2} | {'M':>2} | {'plain 1F1B':>10} | {'filled':>7} | {'extra micro-batches':>19}")
    print("-" * 66)
    with tempfile.TemporaryDirectory() as work:
        for name in ["eellm-1.3b", "eellm-7b"]:
            config = os.path.join(ROOT, "examples", name + ".json")
            for microbatches in [6, 8]:
                plain = planned(args.ee_compile, config, microbatches, 0, work)
                filled = planned(args.ee_compile, config, microbatches, args.fill, work)
                print(f"{name:>10} | {4:>2} | {microbatches:>2} | {plain['bubble_fraction']:>10.3f} | "
                      f"{filled['bubble_fraction']:>7.3f} | {filled['filled_microbatches']:>19}")


if __name__ == "__main__":
    main()
