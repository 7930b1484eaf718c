//===- Passes.h - Kiln conversion passes ------------------------*- C++ -*-===//
#ifndef KILN_CONVERSION_PASSES_H
#define KILN_CONVERSION_PASSES_H

#include "kiln/Dialect/Circle/IR/CircleDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/QuantOps.h"
#include "mlir/Pass/Pass.h"

namespace kiln {
#define GEN_PASS_DECL
#include "kiln/Dialect/Circle/KilnToCirclePasses.h.inc"

#define GEN_PASS_REGISTRATION
#include "kiln/Dialect/Circle/KilnToCirclePasses.h.inc"

/// The float ops of a lowered circle function (kiln-check-integer-only's
/// definition: circle ops other than constants with a float operand or
/// result, except the quantize of a float input and the dequantize of a
/// float output), in program order.
llvm::SmallVector<mlir::Operation *> findFloatOps(mlir::func::FuncOp func);

/// "file:line" of an op's location (through names and call sites), or "".
std::string sourceLine(mlir::Location loc);
} // namespace kiln

#endif
