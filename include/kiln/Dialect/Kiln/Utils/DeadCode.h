//===- DeadCode.h - The one dead-code cleanup -------------------*- C++ -*-===//
//
// Importer, shape inference and lowering all leave ops nobody uses (size
// arithmetic of untaken paths, casts a signature update made redundant, the
// float chain a fused op replaced). They all clean up with this: MLIR's
// region DCE (mlir/Transforms/RegionUtils.h) over the op's regions.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_DIALECT_KILN_UTILS_DEADCODE_H
#define KILN_DIALECT_KILN_UTILS_DEADCODE_H

namespace mlir {
class Operation;
} // namespace mlir

namespace kiln {
/// Erases every side-effect-free op without users (repeatedly) inside `root`'s
/// regions; `root` itself stays. Returns whether anything was erased.
bool eraseDeadCode(mlir::Operation *root);
} // namespace kiln

#endif
