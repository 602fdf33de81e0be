"""Compile time is linear in depth: ee-compile's time for a 192-layer model is
at most 10 times its time for a 24-layer one. Eight times the layers give 8.2
times the time here (2026-12-02; a little above 8 from cache effects of the
larger IR); before the memory planner and the code generator were made linear
it was 13.4 (24 layers 1.4 s, 192 layers 19 s, 3000 layers 438 s), and any
quadratic step comes back above 10.

Each depth is compiled three times to an object file (the link's fixed cost
would hide the growth) and the least CPU time (user + system, all threads) of
each compared: CPU time, unlike wall time, barely moves when the tests running
beside this one load the machine, and the minimum is the run disturbed least.

Usage: compile_time_test.py EE_COMPILE CONFIG.json WORKDIR
"""
import json
import os
import resource
import subprocess
import sys


def main(compiler, config_path, workdir):
    with open(config_path) as f:
        config = json.load(f)
    fastest = {}
    for layers in (24, 192):
        config["num_hidden_layers"] = layers
        path = os.path.join(workdir, f"layers-{layers}.json")
        with open(path, "w") as f:
            json.dump(config, f)
        times = []
        for _ in range(3):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([compiler, path, "--emit", "obj", "-o", path + ".o"], check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        fastest[layers] = min(times)
    ratio = fastest[192] / fastest[24]
    print(f"24 layers {fastest[24]:.2f} s, 192 layers {fastest[192]:.2f} s of CPU time, ratio {ratio:.1f}")
    print("compile time linear in depth:", "ok" if ratio <= 10 else f"MISMATCH (ratio {ratio:.1f} > 10)")


if __name__ == "__main__":
    main(*sys.argv[1:])
