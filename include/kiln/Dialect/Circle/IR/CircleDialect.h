//===- CircleDialect.h - The circle dialect ---------------------*- C++ -*-===//
#ifndef KILN_DIALECT_CIRCLE_IR_CIRCLEDIALECT_H
#define KILN_DIALECT_CIRCLE_IR_CIRCLEDIALECT_H

#include "mlir/Dialect/Quant/QuantOps.h"
#include "mlir/IR/Dialect.h"

#include "kiln/Dialect/Circle/CircleDialect.h.inc"

#endif
