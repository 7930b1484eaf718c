//===- OpVersion.h - Operator versions a TFLite runtime expects -*- C++ -*-===//
//
// TFLite runtimes register each builtin kernel for a range of versions, and an
// operator's version in OperatorCode.version says which features of the kernel
// it needs (int8 or int16 tensors, per-channel weights, keep_num_dims, ...).
// These are the rules of TFLite's op versioning (tools/versioning) for the
// operators Kiln writes, restated over plain codes so they can be tested
// alone. Codes are those of the schemas: BuiltinOperator and TensorType.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_EXPORT_CIRCLE_OPVERSION_H
#define KILN_EXPORT_CIRCLE_OPVERSION_H

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <vector>

namespace kiln::circle {

/// What the versioning rules look at in one operator input or output.
struct TensorSignature {
  /// TensorType code (FLOAT32 = 0, INT8 = 9, INT16 = 7, ...).
  int8_t type = 0;
  /// An optional input left out (-1 in Operator.inputs).
  bool absent = false;
  std::vector<int64_t> shape;
  /// Has a QuantizationParameters table.
  bool quantized = false;
  /// Number of scales; > 1 for per-axis quantization.
  size_t numScales = 0;
  int32_t quantizedDimension = 0;
  /// Its first scale (MUL compares scales).
  float scale = 0.0f;

  static TensorSignature none() {
    TensorSignature s;
    s.absent = true;
    return s;
  }
};

/// Options fields that change an operator's version.
struct OptionsSignature {
  bool keepNumDims = false;              // FULLY_CONNECTED
  bool shuffledWeights = false;          // FULLY_CONNECTED SHUFFLED4x16INT8
  bool asymmetricQuantizeInputs = false; // FULLY_CONNECTED, BATCH_MATMUL
  bool potScaleInt16 = true;             // ADD, SUB
  int32_t batchDims = 0;                 // GATHER
  bool offset = false;                   // STRIDED_SLICE
  int32_t ellipsisMask = 0;              // STRIDED_SLICE
  int32_t newAxisMask = 0;               // STRIDED_SLICE
};

/// The version to write in OperatorCode.version for an operator with these
/// inputs, outputs and options. Operators without rules (and Circle-only
/// ones) are version 1.
int32_t getOperatorVersion(int32_t builtinCode,
                           llvm::ArrayRef<TensorSignature> inputs,
                           llvm::ArrayRef<TensorSignature> outputs,
                           const OptionsSignature &options);

} // namespace kiln::circle

#endif // KILN_EXPORT_CIRCLE_OPVERSION_H
