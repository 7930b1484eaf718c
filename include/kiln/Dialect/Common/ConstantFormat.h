//===- ConstantFormat.h - Shared assembly of kiln/circle constants -*- C++
//-*-===//
//
//   kiln.constant dense<1.0> : tensor<4xf32>
//   kiln.constant dense_resource<w> : tensor<2x4xi8> as
//   tensor<2x4x!quant.uniform<i8:f32:0, {...}>>
//
// The attribute carries its own type; `as` names the result type only when it
// differs (quantized results stored as integers).
//
//===----------------------------------------------------------------------===//
#ifndef KILN_DIALECT_COMMON_CONSTANTFORMAT_H
#define KILN_DIALECT_COMMON_CONSTANTFORMAT_H

#include "mlir/IR/BuiltinAttributeInterfaces.h"
#include "mlir/IR/OpImplementation.h"

namespace kiln {
inline mlir::ParseResult parseConstantOp(mlir::OpAsmParser &parser,
                                         mlir::OperationState &result) {
  mlir::Attribute value;
  if (parser.parseOptionalAttrDict(result.attributes) ||
      parser.parseAttribute(value))
    return mlir::failure();
  auto elements = llvm::dyn_cast<mlir::ElementsAttr>(value);
  if (!elements)
    return parser.emitError(parser.getCurrentLocation(),
                            "expected an elements attribute");
  mlir::Type type = elements.getType();
  if (succeeded(parser.parseOptionalKeyword("as")) && parser.parseType(type))
    return mlir::failure();
  result.addAttribute("value", value);
  result.addTypes(type);
  return mlir::success();
}

inline void printConstantOp(mlir::OpAsmPrinter &p, mlir::Operation *op,
                            mlir::ElementsAttr value) {
  p.printOptionalAttrDict(op->getAttrs(), /*elidedAttrs=*/{"value"});
  p << ' ';
  p.printAttribute(value);
  if (op->getResult(0).getType() != value.getType())
    p << " as " << op->getResult(0).getType();
}
} // namespace kiln

#endif
