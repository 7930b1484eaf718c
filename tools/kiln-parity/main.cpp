//===- main.cpp - kiln-parity: the exported model against PyTorch ---------===//
#include "kiln/Dialect/Circle/IR/CircleDialect.h"
#include "kiln/Dialect/Kiln/IR/KilnDialect.h"
#include "kiln/Runtime/Parity.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/QuantOps.h"
#include "mlir/IR/DialectRegistry.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<mlir::func::FuncDialect, mlir::quant::QuantizationDialect,
                  kiln::KilnDialect, kiln::circle::CircleDialect>();
  return kiln::runtime::kilnParityMain(argc, argv, registry);
}
