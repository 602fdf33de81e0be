# lit configuration of the ee compiler's regression tests.
import os
import shutil
import subprocess

import lit.formats

config.name = "EE"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.ee_obj_root, "test")
config.excludes = ["Inputs", "unit", "fuzz", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in"]

config.environment["FILECHECK_OPTS"] = "--enable-var-scope --dump-input=fail --dump-input-context=3"
config.environment["PATH"] = os.pathsep.join(
    [config.ee_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")]
)
# Debian's python3 (the one with python3-torch), not a python earlier on PATH.
config.substitutions.append(("%python", "/usr/bin/python3"))
config.substitutions.append(("%eert_lib", os.path.join(config.ee_obj_root, "lib", "libeert.so")))
config.substitutions.append(("%ee_src_root", config.ee_src_root))
config.substitutions.append(("%ee_obj_root", config.ee_obj_root))
config.substitutions.append(("%examples", os.path.join(config.ee_src_root, "examples")))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "import", "Inputs")))

# The cuda backend: "cuda-backend" where it was built, "cuda-gpu" where its
# probe finds a usable GPU (the GPU tests REQUIRE it and show as UNSUPPORTED
# elsewhere, with the reason noted here), "cuda-stub" where the toolkit's
# stub libcuda is there to test the loader's error with.
if config.ee_cuda_backend == "ON":
    config.available_features.add("cuda-backend")
    config.substitutions.append(
        ("%eert_cuda_lib", os.path.join(config.ee_obj_root, "lib", "libeert_cuda.so")))
    config.substitutions.append(("%eert_cuda_probe", os.path.join(config.ee_tools_dir, "eert-cuda-probe")))
    # The backend on an emulated GPU (runtime/cuda/emulator), which runs anywhere.
    config.substitutions.append(
        ("%eert_cuda_emu_lib", os.path.join(config.ee_obj_root, "lib", "libeert_cuda_emu.so")))
    probe = subprocess.run([os.path.join(config.ee_tools_dir, "eert-cuda-probe")],
                           capture_output=True, text=True)
    if probe.returncode == 0:
        config.available_features.add("cuda-gpu")
    else:
        device = [line for line in probe.stdout.splitlines() if line.startswith("device:")]
        lit_config.note("GPU tests unsupported here: " + (device[-1] if device else probe.stderr))
    if config.ee_cuda_stub and os.path.exists(config.ee_cuda_stub):
        config.available_features.add("cuda-stub")
        config.substitutions.append(("%cuda_stub_dir", os.path.dirname(config.ee_cuda_stub)))
else:
    lit_config.note("the cuda backend is not built (no CUDA toolkit): its tests are unsupported")

# Portable bundles need patchelf; their test runs them in an empty root
# (chroot needs root).
if shutil.which("patchelf"):
    config.available_features.add("patchelf")
if os.geteuid() == 0 and shutil.which("chroot") and shutil.which("patchelf"):
    config.available_features.add("chroot")
else:
    lit_config.note("the portable-bundle test needs root, chroot and patchelf: unsupported here")

# EERT_MEMORY_GUARD=1 in lit's environment runs every test with the cpu
# backend's memory guarded as a GPU's is (runtime/cpu/Memory.cpp).
if os.environ.get("EERT_MEMORY_GUARD"):
    config.environment["EERT_MEMORY_GUARD"] = os.environ["EERT_MEMORY_GUARD"]

# `lit --param target=cuda` runs the tests with every model binary compiled
# for the cuda backend (on a GPU machine with a build): `ee-compile` on PATH
# becomes a wrapper adding --target cuda, and the feature target-cuda marks
# the tests that cannot run so (several ranks, --tp/--pp: NCCL is not
# driven yet; cpu-only tools).
target = lit_config.params.get("target", "cpu")
if target not in ("cpu", "cuda"):
    lit_config.fatal("--param target= takes cpu or cuda, not " + target)
if target == "cuda":
    if config.ee_cuda_backend != "ON":
        lit_config.fatal("--param target=cuda needs the cuda backend, which this build lacks")
    if "cuda-gpu" not in config.available_features:
        lit_config.fatal("--param target=cuda needs a usable GPU (see the note above)")
    config.available_features.add("target-cuda")
    wrappers = os.path.join(config.ee_obj_root, "test", "target-cuda-bin")
    os.makedirs(wrappers, exist_ok=True)
    wrapper = os.path.join(wrappers, "ee-compile")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\nexec "%s" --target cuda "$@"\n' % os.path.join(config.ee_tools_dir, "ee-compile"))
    os.chmod(wrapper, 0o755)
    config.environment["PATH"] = os.pathsep.join([wrappers, config.environment["PATH"]])
