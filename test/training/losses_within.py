"""Says, per head, whether the second eval report's loss is within a relative
tolerance of the first's: losses_within.py FIRST.json SECOND.json TOLERANCE."""
import json
import sys

first, second = (json.load(open(path)) for path in sys.argv[1:3])
tolerance = float(sys.argv[3])
pairs = [(f"exit {a['exit']}", a["loss"], b["loss"]) for a, b in zip(first["exits"], second["exits"])]
pairs.append(("final", first["final"]["loss"], second["final"]["loss"]))
for head, a, b in pairs:
    verdict = "within" if abs(b - a) <= tolerance * abs(a) else "NOT within"
    print(f"{head}: {verdict} {tolerance:g} ({a:.4f} vs {b:.4f}, {abs(b - a) / abs(a):.2%})")
