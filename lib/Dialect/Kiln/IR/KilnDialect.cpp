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

/// `kiln.name` is a non-empty string; other `kiln.*` interface attributes
/// are not constrained here.
static LogicalResult verifyInterfaceAttribute(Operation *op,
                                              NamedAttribute attr,
                                              const char *what,
                                              unsigned index) {
  if (attr.getName() != KilnDialect::getNameAttrName())
    return success();
  auto name = dyn_cast<StringAttr>(attr.getValue());
  if (!name || name.getValue().empty())
    return op->emitOpError()
           << "'" << KilnDialect::getNameAttrName() << "' of " << what << " "
           << index << " must be a non-empty string";
  return success();
}

LogicalResult KilnDialect::verifyRegionArgAttribute(Operation *op, unsigned,
                                                    unsigned index,
                                                    NamedAttribute attr) {
  return verifyInterfaceAttribute(op, attr, "argument", index);
}

LogicalResult KilnDialect::verifyRegionResultAttribute(Operation *op, unsigned,
                                                       unsigned index,
                                                       NamedAttribute attr) {
  return verifyInterfaceAttribute(op, attr, "result", index);
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
