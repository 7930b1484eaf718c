//===- RmsNorm.h - RMSNorm matching and its integer TFLite form -*- C++ -*-===//
//
// Private to lib/Conversion/KilnToCircle (IntegerRmsNorm.cpp says how).
//
//===----------------------------------------------------------------------===//
#ifndef KILN_LIB_CONVERSION_KILNTOCIRCLE_RMSNORM_H
#define KILN_LIB_CONVERSION_KILNTOCIRCLE_RMSNORM_H

#include "kiln/Dialect/Kiln/IR/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/PatternMatch.h"

#include <optional>

namespace kiln {
/// Matches `x * rsqrt(mean(x*x or pow(x, 2), last axis, keepdim) + eps)`
/// (either operand order, x possibly behind dequantizes) and returns x as
/// the multiply sees it, setting `eps` (a float constant or an integer on
/// its quantized grid); null if `m` is not such a multiply.
mlir::Value matchRmsNormalized(MulOp m, std::optional<float> &eps);

/// TFLite flavor, before float islands: an RMSNorm whose input and output
/// are int16 per tensor but whose intermediates are float (TICO's rms_norm)
/// becomes integer TFLite kernels (BATCH_MATMUL, ADD, RSQRT, MUL, SUB, CAST,
/// SELECT_V2, RESHAPE) that compute the mean of squares exactly and choose,
/// per row, the finest of several grids for it. `tierRatio` is the range
/// factor between consecutive grids. Returns how many norms it rewrote.
unsigned lowerRmsNormsToIntegerTflite(mlir::IRRewriter &rw,
                                      mlir::func::FuncOp func,
                                      double tierRatio);
} // namespace kiln

#endif
