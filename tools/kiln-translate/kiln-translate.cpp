//===- kiln-translate.cpp - Kiln's mlir-translate -------------------------===//
//
//   kiln-translate --mlir-to-circle model.mlir -o model.circle
//       [--circle-flavor=circle|tflite] [--force-external-buffers]
//   kiln-translate --circle-to-mlir model.circle
//   kiln-translate --circle-dump model.tflite
//
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/Circle/IR/CircleDialect.h"
#include "kiln/Dialect/Kiln/IR/KilnDialect.h"
#include "kiln/Export/Circle/Reader.h"
#include "kiln/Export/Circle/Writer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/QuantOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  // Every dialect of Kiln's pipeline parses, so that ops the writer cannot
  // take get its diagnostic rather than a parse error.
  kiln::circle::registerToCircleTranslation(
      [](mlir::DialectRegistry &registry) {
        registry.insert<mlir::func::FuncDialect, mlir::arith::ArithDialect,
                        mlir::scf::SCFDialect, mlir::tensor::TensorDialect,
                        mlir::quant::QuantizationDialect, kiln::KilnDialect,
                        kiln::circle::CircleDialect>();
      });
  kiln::circle::registerFromCircleTranslations();
  return mlir::failed(
             mlir::mlirTranslateMain(argc, argv, "Kiln translation driver\n"))
             ? 1
             : 0;
}
