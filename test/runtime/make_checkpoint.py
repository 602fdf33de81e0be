"""Writes a modified copy of a checkpoint for the binary's tests.

Usage: make_checkpoint.py MODE SOURCE_DIR DEST_DIR
MODE: overlap | drop:NAME | reshape:NAME | int32:NAME   damaged headers, data kept
      nan:NAME | inf:NAME                               one element of an F32 tensor set
      shard                                             two files and an index
"""
import json
import shutil
import struct
import sys


def write_raw(path, header, body):
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + body)


def write_subset(path, header, body, names):
    """A file holding the tensors `names`, their bytes taken from `body`."""
    subset, blobs, offset = {}, [], 0
    for name in names:
        begin, end = header[name]["data_offsets"]
        subset[name] = dict(header[name], data_offsets=[offset, offset + end - begin])
        blobs.append(body[begin:end])
        offset += end - begin
    write_raw(path, subset, b"".join(blobs))


def main(mode, source, dest):
    shutil.copy(f"{source}/config.json", f"{dest}/config.json")
    with open(f"{source}/model.safetensors", "rb") as f:
        data = f.read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    body = data[8 + size:]
    names = [k for k in header if k != "__metadata__"]
    action, _, name = mode.partition(":")
    if action == "shard":
        shards = {f"model-0000{i + 1}-of-00002.safetensors": names[i::2] for i in range(2)}
        for shard, members in shards.items():
            write_subset(f"{dest}/{shard}", header, body, members)
        with open(f"{dest}/model.safetensors.index.json", "w") as f:
            json.dump({"metadata": {}, "weight_map": {n: s for s, ms in shards.items() for n in ms}}, f)
        return
    if action == "overlap":
        for key in ("data_offsets", "shape", "dtype"):
            header[names[1]][key] = header[names[0]][key]
    elif action == "drop":
        del header[name]
    elif action == "reshape":
        rows, cols = header[name]["shape"]
        header[name]["shape"] = [rows // 2, cols * 2]
    elif action == "int32":
        header[name]["dtype"] = "I32"
    elif action in ("nan", "inf"):
        # The third element, so that a check of only the first would miss it.
        begin = header[name]["data_offsets"][0] + 8
        value = struct.pack("<f", float(action))
        body = body[:begin] + value + body[begin + 4:]
    write_raw(f"{dest}/model.safetensors", header, body)


if __name__ == "__main__":
    main(*sys.argv[1:])
