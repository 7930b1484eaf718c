//===- fuzz-circle.cpp - libFuzzer target: the Circle/TFLite reader -------===//
//
//   build-asan/bin/kiln-fuzz-circle corpus/fb -max_total_time=600
//
// Each input goes through --circle-dump and --circle-to-mlir's code
// (dumpCircle, readCircle); diagnostics are discarded.
//
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/Circle/IR/CircleDialect.h"
#include "kiln/Export/Circle/Reader.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/QuantOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>
#include <memory>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::MLIRContext *context = [] {
    mlir::DialectRegistry registry;
    registry.insert<mlir::func::FuncDialect, mlir::quant::QuantizationDialect,
                    kiln::circle::CircleDialect>();
    auto *c = new mlir::MLIRContext(registry);
    c->loadAllAvailableDialects();
    c->getDiagEngine().registerHandler(
        [](mlir::Diagnostic &) { return mlir::success(); });
    return c;
  }();
  // The tools read files into 16-byte aligned buffers.
  std::unique_ptr<char[], void (*)(void *)> copy(
      static_cast<char *>(aligned_alloc(16, (size + 15) / 16 * 16 + 16)), free);
  std::memcpy(copy.get(), data, size);
  llvm::StringRef bytes(copy.get(), size);
  mlir::Location loc = mlir::UnknownLoc::get(context);
  llvm::raw_null_ostream os;
  (void)kiln::circle::dumpCircle(bytes, os, context, loc);
  // A fresh module each time; resources stay with the context (small).
  mlir::OwningOpRef<mlir::ModuleOp> module =
      kiln::circle::readCircle(bytes, context, loc);
  return 0;
}
