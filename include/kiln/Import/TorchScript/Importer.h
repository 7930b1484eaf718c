//===- Importer.h - TorchScript (.pt) to the kiln dialect -------*- C++ -*-===//
//
// The only LibTorch-facing header of Kiln. It exposes no LibTorch types, so
// its users compile with LLVM's flags (no exceptions).
//
//===----------------------------------------------------------------------===//
#ifndef KILN_IMPORT_TORCHSCRIPT_IMPORTER_H
#define KILN_IMPORT_TORCHSCRIPT_IMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

#include <string>
#include <vector>

namespace kiln {
struct TorchScriptImportOptions {
  /// Name of the method to import; it becomes `func.func @<methodName>`.
  std::string methodName = "forward";
  /// Further methods imported into the same module (e.g. "decode" of a traced
  /// kiln_torch module). Weights they share become the same resource blobs.
  std::vector<std::string> extraMethods;
  /// Optional "name=1x16x64xf32" hints annotating arguments (by the Python
  /// parameter name). "name.0=..." addresses element 0 of a tuple argument
  /// (through Optional), "?" is a dynamic dimension. With hints, the result
  /// type of each kiln op is refined from its operands while importing.
  std::vector<std::string> inputShapes;
  /// Hints that name no argument are ignored instead of being an error
  /// (tools that hint the usual names of inputs they may not have).
  bool ignoreUnusedShapes = false;
  /// Use the file's tensor records in place, in a private mapping, instead
  /// of LibTorch's copy of each (falls back to the copy when the archive
  /// needs it: MappedLoad.cpp).
  bool mappedLoad = true;
  /// Say on stderr which of the two loads was used (and why a copy).
  bool reportLoad = false;
};

/// Loads `path` with LibTorch and imports its method(s) into a new module in
/// the kiln dialect (plus func, scf, arith, tensor). Method calls are inlined,
/// parameters and buffers become `kiln.constant dense_resource<module.path>`
/// blobs that borrow the tensors' memory (kept alive by the blobs, no copy),
/// and every op is located at its Python source with the module path as a
/// name location. Every failure (missing file, not TorchScript, unsupported
/// ops, non-constant quantization parameters) is reported as an MLIR
/// diagnostic on `context` and yields null; no LibTorch exception escapes.
mlir::OwningOpRef<mlir::ModuleOp>
importTorchScript(llvm::StringRef path, mlir::MLIRContext &context,
                  const TorchScriptImportOptions &options = {});
} // namespace kiln

#endif
