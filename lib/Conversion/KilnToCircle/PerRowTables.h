//===- PerRowTables.h - integer forms of per-row tables for TFLite -*- C++
//-*-===//
//
// Private to lib/Conversion/KilnToCircle (PerRowTables.cpp says how).
//
//===----------------------------------------------------------------------===//
#ifndef KILN_LIB_CONVERSION_KILNTOCIRCLE_PERROWTABLES_H
#define KILN_LIB_CONVERSION_KILNTOCIRCLE_PERROWTABLES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/PatternMatch.h"

namespace kiln {
/// TFLite flavor, before float islands: a per-row quantized embedding table
/// with a per-tensor quantized result is stored in the result's grid, and a
/// linear with uint8 per-channel weights becomes FULLY_CONNECTED of [x, x]
/// with the weights minus their zero points in two int8 halves. Both exact.
/// Returns how many ops it rewrote.
unsigned lowerPerRowTablesForTflite(mlir::IRRewriter &rw,
                                    mlir::func::FuncOp func);
} // namespace kiln

#endif
