//===- KilnDialect.cpp - kiln dialect registration and types --------------===//
#include "kiln/Dialect/Kiln/IR/KilnDialect.h"
#include "kiln/Dialect/Kiln/IR/KilnOps.h"
#include "kiln/Dialect/Kiln/IR/KilnTypes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace kiln;

#include "kiln/Dialect/Kiln/KilnDialect.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "kiln/Dialect/Kiln/KilnTypes.cpp.inc"

void KilnDialect::initialize() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "kiln/Dialect/Kiln/KilnTypes.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "kiln/Dialect/Kiln/KilnOps.cpp.inc"
      >();
}

Operation *KilnDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                            Type type, Location loc) {
  if (isa<NoneType, OptionalType>(type) && isa<UnitAttr>(value))
    return builder.create<NoneOp>(loc, type);
  if (auto elements = dyn_cast<ElementsAttr>(value))
    if (isa<TensorType>(type))
      return builder.create<ConstantOp>(loc, type, elements);
  if (auto typed = dyn_cast<TypedAttr>(value))
    if (isa<IntegerType, FloatType, IndexType>(type) && typed.getType() == type)
      return builder.create<arith::ConstantOp>(loc, type, typed);
  return nullptr;
}
