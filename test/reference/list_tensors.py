"""Prints each tensor of a safetensors file as `name DTYPE`, in name order."""
import json
import sys

with open(sys.argv[1], "rb") as f:
    size = int.from_bytes(f.read(8), "little")
    header = json.loads(f.read(size))
for name in sorted(header):
    if name != "__metadata__":
        print(name, header[name]["dtype"])
