# lit configuration for the pass tests: `// RUN: kerasc-opt %s -pass | FileCheck %s`.
import os
import lit.formats

config.name = "kerasc"
config.test_format = lit.formats.ShTest(True)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.kerasc_obj_root, "lit")
config.environment["PATH"] = os.pathsep.join(
    [config.kerasc_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")])
