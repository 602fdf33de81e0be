"""Writes a damaged Megatron indexed dataset (.idx + a valid 64-token .bin) for
the readers' tests.

Usage: hostile_index.py MODE OUTPUT_PREFIX
MODE: counts     a sequence count of 2^61 in a 60-byte index
      pointer    a sequence starting past the end of the .bin
      size       a sequence running past the end of the .bin
      dtype      dtype code 7 (float32)
      documents  a document index that decreases
      overlap    100 sequences each spanning the whole .bin
      token      a token id of 300 (the test models have 256)
"""
import struct
import sys


def index(code, sizes, pointers, documents, sequences=None):
    out = b"MMIDIDX\x00\x00" + struct.pack("<QB", 1, code)
    out += struct.pack("<QQ", len(sizes) if sequences is None else sequences, len(documents))
    out += struct.pack(f"<{len(sizes)}i", *sizes)
    out += struct.pack(f"<{len(pointers)}q", *pointers)
    out += struct.pack(f"<{len(documents)}q", *documents)
    return out


def main(mode, prefix):
    tokens = list(range(64))
    if mode == "token":
        tokens[10] = 300
    with open(prefix + ".bin", "wb") as f:
        f.write(struct.pack("<64H", *tokens))
    idx = {
        "counts": index(8, [64], [0], [0, 1], sequences=1 << 61),
        "pointer": index(8, [64, 4], [0, 200], [0, 2]),
        "size": index(8, [32, 40], [0, 64], [0, 2]),
        "dtype": index(7, [64], [0], [0, 1]),
        "documents": index(8, [32, 32], [0, 64], [0, 2, 1, 2]),
        "overlap": index(8, [64] * 100, [0] * 100, [0, 100]),
        "token": index(8, [64], [0], [0, 1]),
    }[mode]
    with open(prefix + ".idx", "wb") as f:
        f.write(idx)


if __name__ == "__main__":
    main(*sys.argv[1:])
