"""The cuda backend's C ABI without a usable GPU: every call fails with the reason.

Usage: cuda_no_gpu.py PATH/TO/libeert_cuda.so
"""
import ctypes
import sys

lib = ctypes.CDLL(sys.argv[1])
lib.eert_backend_name.restype = ctypes.c_char_p
lib.eert_last_error.restype = ctypes.c_char_p
lib.eert_memory_allocate.restype = ctypes.c_void_p
lib.eert_memory_allocate.argtypes = [ctypes.c_int64]
print("eert_backend_name:", lib.eert_backend_name().decode())
status = lib.eert_backend_start()
print("eert_backend_start:", status, lib.eert_last_error().decode())
pointer = lib.eert_memory_allocate(64)
print("eert_memory_allocate:", "null" if pointer is None else hex(pointer), lib.eert_last_error().decode())
lib.eert_rms_norm(None, None, None, ctypes.c_int64(1), ctypes.c_int64(8), ctypes.c_float(1e-5))
status = lib.eert_backend_check()
print("eert_rms_norm then eert_backend_check:", status, lib.eert_last_error().decode())
