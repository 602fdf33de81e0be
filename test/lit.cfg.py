# lit configuration of the ee compiler's regression tests.
import os

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
config.substitutions.append(("%examples", os.path.join(config.ee_src_root, "examples")))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "import", "Inputs")))
