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
  /// Name of the method to import.
  std::string methodName = "forward";
  /// Optional "name=1x16x64xf32" hints annotating arguments.
  std::vector<std::string> inputShapes;
};

/// Loads `path` with LibTorch and imports its method into a new module in the
/// kiln dialect. Every failure (missing file, not TorchScript, unsupported
/// ops) is reported as an MLIR diagnostic on `context` and yields null; no
/// LibTorch exception escapes.
mlir::OwningOpRef<mlir::ModuleOp>
importTorchScript(llvm::StringRef path, mlir::MLIRContext &context,
                  const TorchScriptImportOptions &options = {});
} // namespace kiln

#endif
