# lit configuration for Kiln: tools from the build tree, FileCheck and not
# from LLVM 19 only (another FileCheck is installed on the machine).
import os
import shutil
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
config.substitutions.append(("%kiln_obj", config.kiln_obj_root))
# test/install: `cmake --install` of this build and a consumer project.
if shutil.which("cmake") and shutil.which("ninja"):
    config.available_features.add("install")

# --- Circle/TFLite export (test/Export/Circle, test/e2e/litert) -------------
import shutil
config.excludes.append("node_modules")
config.substitutions.append(
    ("%kiln_circle_schema",
     os.path.join(config.kiln_src_root, "include", "kiln", "Export", "Circle",
                  "schema", "kiln_circle.fbs")))
# LiteRT end-to-end tests need Node and the pinned @litertjs/core package
# (scripts/setup-deps runs `npm ci` in test/e2e/litert); without them they are
# UNSUPPORTED rather than failing.
_litert_dir = os.path.join(config.kiln_src_root, "test", "e2e", "litert")
_node = shutil.which("node", path=config.environment["PATH"])
if _node and os.path.isdir(os.path.join(_litert_dir, "node_modules", "@litertjs", "core")):
    config.available_features.add("litert")
    config.substitutions.append(
        ("%litert_run", _node + " " + os.path.join(_litert_dir, "run.mjs")))
# The official Circle 0.10 / TFLite schemas, beside the repository in
# ../shared/reference when present: Kiln's files must decode with them too.
_reference = os.path.normpath(os.path.join(config.kiln_src_root, "..", "shared", "reference"))
if os.path.isfile(os.path.join(_reference, "circle_schema.fbs")) and shutil.which("flatc"):
    config.available_features.add("reference-schemas")
    config.substitutions.append(("%reference_schemas", _reference))
# Debian's Chromium (package chromium), for screenshots of HTML reports.
if os.path.exists("/usr/bin/chromium"):
    config.available_features.add("chromium")

# Third-party fixtures (test/e2e/fixtures): ../shared/fixtures beside the
# checkout, or the folder in KILN_FIXTURES; without it those tests are
# UNSUPPORTED.
_fixtures = os.path.normpath(os.environ.get("KILN_FIXTURES") or
                             os.path.join(config.kiln_src_root, "..", "shared", "fixtures"))
if os.path.isdir(_fixtures):
    config.available_features.add("fixtures")
    config.substitutions.append(("%fixtures", _fixtures))
