//===- InitAll.h - One registration point for every Kiln tool ---*- C++ -*-===//
#ifndef KILN_INITALL_H
#define KILN_INITALL_H

#include "mlir/IR/DialectRegistry.h"

namespace kiln {
/// Dialects every Kiln tool understands: func, arith, scf, tensor, quant,
/// kiln, circle.
void registerAllDialects(mlir::DialectRegistry &registry);
/// Every Kiln pass and named pipeline. New passes plug in here.
void registerAllPasses();
} // namespace kiln

#endif
