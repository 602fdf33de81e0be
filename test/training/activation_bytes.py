"""Prints the activation bytes per token of an entry point in each `BIN info`
report, and whether they strictly decrease from one report to the next.

Usage: activation_bytes.py ENTRY INFO.json...
"""
import json
import sys

entry = sys.argv[1]
sizes = []
for path in sys.argv[2:]:
    info = json.load(open(path))
    sizes.append(next(e["activation_bytes_per_token"] for e in info["entries"] if e["name"] == entry))
print(sizes)
print("decreasing" if all(a > b for a, b in zip(sizes, sizes[1:])) else "not decreasing")
