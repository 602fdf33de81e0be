"""Helpers of memory-guard.test: training logs and checkpoints compared, and the guard itself.

Usage: memory_guard_compare.py log PLAIN GUARDED | checkpoint PLAIN GUARDED | guard LIBEERT
"""
import ctypes
import filecmp
import os
import re
import subprocess
import sys


def losses(path):
    # The numbers of each iteration line but its timings (tokens/s, ETA).
    return [re.sub(r"(tokens/s|ETA)[^|]*", "", line) for line in open(path)]


mode = sys.argv[1]
if mode == "log":
    plain, guarded = losses(sys.argv[2]), losses(sys.argv[3])
    assert plain and plain == guarded, (plain, guarded)
    print("same")
elif mode == "checkpoint":
    # A save directory's `latest` names its newest checkpoint.
    folders = [os.path.join(d, open(os.path.join(d, "latest")).read().strip()) for d in sys.argv[2:4]]
    for name in ("model.safetensors", "optimizer.safetensors"):
        a, b = (os.path.join(folder, name) for folder in folders)
        assert filecmp.cmp(a, b, shallow=False), name
    print("same")
elif mode == "guard":
    lib = ctypes.CDLL(sys.argv[2])
    lib.eert_memory_allocate.restype = ctypes.c_void_p
    lib.eert_memory_allocate.argtypes = [ctypes.c_int64]
    pointer = lib.eert_memory_allocate(64)
    value = ctypes.c_float(42.0)
    lib.eert_memory_to_backend(ctypes.c_void_p(pointer), ctypes.byref(value), ctypes.c_int64(4))
    back = ctypes.c_float()
    lib.eert_memory_to_host(ctypes.byref(back), ctypes.c_void_p(pointer), ctypes.c_int64(4))
    print("copied back:", back.value)
    lib.eert_memory_host_access(ctypes.c_int64(1))
    print("read in a window:", ctypes.c_float.from_address(pointer).value)
    lib.eert_memory_host_access(ctypes.c_int64(0))
    sys.stdout.flush()
    # Outside a window, in a child (the read kills it).
    child = subprocess.run([sys.executable, "-c", f"""
import ctypes
lib = ctypes.CDLL({sys.argv[2]!r})
lib.eert_memory_allocate.restype = ctypes.c_void_p
p = lib.eert_memory_allocate(ctypes.c_int64(64))
print(ctypes.c_float.from_address(p).value)
"""], capture_output=True)
    print("read outside a window:", f"killed by signal {-child.returncode}" if child.returncode < 0
          else f"exit {child.returncode} {child.stdout!r}")
