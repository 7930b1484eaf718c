//===- KilnOps.h - kiln dialect operations ----------------------*- C++ -*-===//
#ifndef KILN_DIALECT_KILN_IR_KILNOPS_H
#define KILN_DIALECT_KILN_IR_KILNOPS_H

#include "kiln/Dialect/Kiln/IR/KilnDialect.h"
#include "kiln/Dialect/Kiln/IR/KilnTypes.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "kiln/Dialect/Kiln/KilnInterfaces.h.inc"

#define GET_OP_CLASSES
#include "kiln/Dialect/Kiln/KilnOps.h.inc"

namespace kiln {
/// Shape helpers shared by verifiers, shape inference and the evaluator.
/// Dynamic dimensions are mlir::ShapedType::kDynamic.

/// Normalises a possibly negative dimension index against `rank`; returns
/// std::nullopt when out of range.
std::optional<int64_t> normalizeDim(int64_t dim, int64_t rank);

/// PyTorch broadcasting of two shapes; failure if incompatible static dims.
mlir::FailureOr<llvm::SmallVector<int64_t>>
broadcastShapes(llvm::ArrayRef<int64_t> a, llvm::ArrayRef<int64_t> b);

/// Value of an i64 SSA value defined by a constant, if any.
std::optional<int64_t> getConstantI64(mlir::Value v);

/// The type of `v` when it is a ranked tensor with a static shape, else null.
mlir::RankedTensorType getStaticTensorType(mlir::Value v);

/// The first NameLoc name inside `loc` (the importer's module path), or "".
std::string getLocName(mlir::Location loc);
} // namespace kiln

#endif
