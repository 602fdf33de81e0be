"""Says, per head, whether the second eval report's loss is lower than the first's."""
import json
import sys

before, after = (json.load(open(path)) for path in sys.argv[1:3])
for b, a in zip(before["exits"], after["exits"]):
    print(f"exit {b['exit']}: {'lower' if a['loss'] < b['loss'] else 'NOT lower'} ({b['loss']:.4f} -> {a['loss']:.4f})")
print(f"final: {'lower' if after['final']['loss'] < before['final']['loss'] else 'NOT lower'}"
      f" ({before['final']['loss']:.4f} -> {after['final']['loss']:.4f})")
