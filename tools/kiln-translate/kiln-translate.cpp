//===- kiln-translate.cpp - Kiln's mlir-translate -------------------------===//
//
//   kiln-translate --mlir-to-circle model.mlir -o model.circle
//       [--circle-flavor=circle|tflite] [--force-external-buffers]
//   kiln-translate --circle-to-mlir model.circle
//   kiln-translate --circle-dump model.tflite
//
//===----------------------------------------------------------------------===//
#include "kiln/Export/Circle/Reader.h"
#include "kiln/Export/Circle/Writer.h"
#include "kiln/InitAll.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  // Every Kiln dialect parses, so that ops the writer cannot take get its
  // diagnostic rather than a parse error.
  kiln::circle::registerToCircleTranslation(kiln::registerAllDialects);
  kiln::circle::registerFromCircleTranslations();
  return mlir::failed(
             mlir::mlirTranslateMain(argc, argv, "Kiln translation driver\n"))
             ? 1
             : 0;
}
