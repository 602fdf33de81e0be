"""Writes a text file's bytes as a Megatron indexed dataset, following
Megatron-LM's MMapIndexedDataset layout (uint16 tokens, one document).

Usage: write_indexed.py TEXT_FILE OUTPUT_PREFIX
"""
import struct
import sys

import numpy as np

tokens = np.frombuffer(open(sys.argv[1], "rb").read(), dtype=np.uint8).astype(np.uint16)
with open(sys.argv[2] + ".bin", "wb") as f:
    f.write(tokens.tobytes())
with open(sys.argv[2] + ".idx", "wb") as f:
    f.write(b"MMIDIDX\x00\x00")
    f.write(struct.pack("<Q", 1))
    f.write(struct.pack("<B", 8))  # uint16
    f.write(struct.pack("<Q", 1))  # sequences
    f.write(struct.pack("<Q", 2))  # document index entries
    f.write(np.array([len(tokens)], dtype=np.int32).tobytes())
    f.write(np.array([0], dtype=np.int64).tobytes())
    f.write(np.array([0, 1], dtype=np.int64).tobytes())
