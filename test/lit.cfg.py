# lit configuration for Kiln: tools from the build tree, FileCheck and not
# from LLVM 19 only (another FileCheck is installed on the machine).
import os
import lit.formats

config.name = "Kiln"
config.test_format = lit.formats.ShTest(not lit_config.isWindows)
config.suffixes = [".mlir", ".test"]
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "Inputs", "CMakeLists.txt"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.kiln_obj_root, "test")

# Our tools first, then LLVM 19's FileCheck/not/count; nothing else from PATH
# can shadow them.
path = [config.kiln_tools_dir, config.llvm_tools_dir, os.environ.get("PATH", "")]
config.environment["PATH"] = os.pathsep.join(path)
config.environment["PYTHONPATH"] = os.path.join(config.kiln_src_root, "python")
for tool in ["FileCheck", "not", "count"]:
    config.substitutions.append(
        ("\\b" + tool + "\\b", os.path.join(config.llvm_tools_dir, tool)))
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%kiln_src", config.kiln_src_root))
