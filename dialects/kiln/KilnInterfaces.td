//===- KilnInterfaces.td - Shape inference for kiln ops ----*- tablegen -*-===//
#ifndef KILN_DIALECT_KILN_IR_KILNINTERFACES_TD
#define KILN_DIALECT_KILN_IR_KILNINTERFACES_TD

include "mlir/IR/OpBase.td"

def Kiln_ShapeInferenceOpInterface : OpInterface<"ShapeInferenceOpInterface"> {
  let cppNamespace = "::kiln";
  let description = [{
    Ops that can compute a more precise result type from their operands
    (ranks, static dimensions, constant shape operands). Imported graphs start
    with unranked tensors; once the export adapter fixes argument shapes,
    `kiln-infer-shapes` refines every result with this interface.
  }];
  let methods = [
    InterfaceMethod<[{
      Returns the inferred type of result 0, as precise as the operand types
      allow, or a null type if nothing can be said. The element type is kept.
    }], "::mlir::Type", "inferResultType", (ins)>,
  ];
}

#endif // KILN_DIALECT_KILN_IR_KILNINTERFACES_TD
