"""Writes a damaged copy of a checkpoint for the binary's error tests.

Usage: make_checkpoint.py MODE SOURCE_DIR DEST_DIR
MODE: overlap | drop:NAME | reshape:NAME | int32:NAME
"""
import json
import shutil
import struct
import sys


def main(mode, source, dest):
    shutil.copy(f"{source}/config.json", f"{dest}/config.json")
    with open(f"{source}/model.safetensors", "rb") as f:
        data = f.read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    body = data[8 + size:]
    action, _, name = mode.partition(":")
    if action == "overlap":
        first, second = [k for k in header if k != "__metadata__"][:2]
        for key in ("data_offsets", "shape", "dtype"):
            header[second][key] = header[first][key]
    elif action == "drop":
        del header[name]
    elif action == "reshape":
        rows, cols = header[name]["shape"]
        header[name]["shape"] = [rows // 2, cols * 2]
    elif action == "int32":
        header[name]["dtype"] = "I32"
    text = json.dumps(header).encode()
    with open(f"{dest}/model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + body)


if __name__ == "__main__":
    main(*sys.argv[1:])
