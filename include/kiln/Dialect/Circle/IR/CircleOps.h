//===- CircleOps.h - circle dialect operations ------------------*- C++ -*-===//
#ifndef KILN_DIALECT_CIRCLE_IR_CIRCLEOPS_H
#define KILN_DIALECT_CIRCLE_IR_CIRCLEOPS_H

#include "kiln/Dialect/Circle/IR/CircleDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "kiln/Dialect/Circle/CircleOps.h.inc"

#endif
