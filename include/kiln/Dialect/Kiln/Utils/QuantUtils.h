//===- QuantUtils.h - Quantization parameter math ---------------*- C++ -*-===//
//
// The arithmetic that turns PyTorch fake-quant parameters into MLIR quant
// types and integer weights, kept free of IR walking so gtest checks it
// directly.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_DIALECT_KILN_UTILS_QUANTUTILS_H
#define KILN_DIALECT_KILN_UTILS_QUANTUTILS_H

#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/BuiltinAttributeInterfaces.h"
#include "mlir/IR/BuiltinTypes.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln {
/// The integer type a (qmin, qmax) range stands for.
struct StorageKind {
  unsigned bits;
  bool isSigned;
  /// "int4", "uint4", "int8", "uint8", "int16", "int32".
  std::string name() const;
};

/// int4/int8/int16/int32 with full or narrow range (e.g. -127..127), and
/// uint4/uint8 with 0..2^bits-1. Anything else matches no type.
std::optional<StorageKind> storageKindForRange(int64_t qmin, int64_t qmax);

/// PyTorch's fake-quant value mapping: clamp(nearbyint(x / scale) + zp),
/// rounding half to even as torch.fake_quantize_* does in float arithmetic.
int64_t quantizeValue(float x, float scale, int64_t zeroPoint, int64_t qmin,
                      int64_t qmax);

/// The fake-quant output for x: (q - zp) * scale.
float fakeQuantValue(float x, float scale, int64_t zeroPoint, int64_t qmin,
                     int64_t qmax);

/// !quant.uniform<iN<qmin:qmax>:f32, scale:zp> (storage chosen by the range),
/// or null with `error` set when the range matches no type.
mlir::quant::UniformQuantizedType
getPerTensorType(mlir::MLIRContext *ctx, double scale, int64_t zeroPoint,
                 int64_t qmin, int64_t qmax, std::string &error);

mlir::quant::UniformQuantizedPerAxisType
getPerAxisType(mlir::MLIRContext *ctx, llvm::ArrayRef<double> scales,
               llvm::ArrayRef<int64_t> zeroPoints, int32_t axis, int64_t qmin,
               int64_t qmax, std::string &error);

/// The integer element type storing values of `q` (i8, ui8, i4, ui4, ...).
mlir::IntegerType getStorageElementType(mlir::quant::QuantizedType q);

/// The integers stored in a constant of a quantized type (dense integers or
/// a resource blob; one per element, zero- or sign-extended from the storage
/// width); nullopt if unreadable.
std::optional<std::vector<int64_t>> readStoredIntegers(mlir::ElementsAttr attr,
                                                       mlir::quant::QuantizedType q);
} // namespace kiln

#endif
