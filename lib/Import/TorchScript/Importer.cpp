//===- Importer.cpp - TorchScript to kiln ---------------------------------===//
//
// Built with exceptions: LibTorch reports errors by throwing c10::Error, and
// every entry point here turns those into MLIR diagnostics.
//
//===----------------------------------------------------------------------===//
#include "kiln/Import/TorchScript/Importer.h"
#include "kiln/Dialect/Kiln/IR/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/FileSystem.h"

#include <torch/script.h>

using namespace mlir;

OwningOpRef<ModuleOp>
kiln::importTorchScript(llvm::StringRef path, MLIRContext &context,
                        const TorchScriptImportOptions &options) {
  context.loadDialect<func::FuncDialect, KilnDialect>();
  Location fileLoc = FileLineColLoc::get(&context, path, 0, 0);
  if (!llvm::sys::fs::exists(path)) {
    emitError(fileLoc) << "cannot open '" << path << "': no such file";
    return nullptr;
  }
  try {
    torch::jit::Module module = torch::jit::load(path.str());
    if (!module.find_method(options.methodName)) {
      emitError(fileLoc) << "TorchScript module has no method '"
                         << options.methodName << "'";
      return nullptr;
    }
    emitError(fileLoc) << "TorchScript graph import is not implemented yet";
    return nullptr;
  } catch (const c10::Error &e) {
    emitError(fileLoc) << "'" << path
                       << "' is not a readable TorchScript file: "
                       << e.what_without_backtrace();
  } catch (const std::exception &e) {
    emitError(fileLoc) << "failed to load '" << path << "': " << e.what();
  }
  return nullptr;
}
