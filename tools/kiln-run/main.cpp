//===- main.cpp - kiln-run: evaluate kiln / circle IR with ATen ----------===//
//
// The dialects of kiln::registerAllDialects (include/kiln/InitAll.h); this
// tool registers them itself so that it does not depend on every pass.
//
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/Circle/IR/CircleDialect.h"
#include "kiln/Dialect/Kiln/IR/KilnDialect.h"
#include "kiln/Runtime/Evaluator.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/QuantOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<mlir::func::FuncDialect, mlir::arith::ArithDialect,
                  mlir::scf::SCFDialect, mlir::tensor::TensorDialect,
                  mlir::quant::QuantizationDialect, kiln::KilnDialect,
                  kiln::circle::CircleDialect>();
  return kiln::runtime::kilnRunMain(argc, argv, registry);
}
