//===- KilnTypes.td - TorchScript non-tensor value types ---*- tablegen -*-===//
#ifndef KILN_DIALECT_KILN_IR_KILNTYPES_TD
#define KILN_DIALECT_KILN_IR_KILNTYPES_TD

include "kiln/KilnDialect.td"

def Kiln_NoneType : Kiln_Type<"None", "none"> {
  let summary = "TorchScript None";
}

def Kiln_OptionalType : Kiln_Type<"Optional", "optional"> {
  let summary = "TorchScript Optional[T]: either None or a value of type T";
  let parameters = (ins "::mlir::Type":$elementType);
  let assemblyFormat = "`<` $elementType `>`";
}

def Kiln_ListType : Kiln_Type<"List", "list"> {
  let summary = "TorchScript List[T] (int lists for shapes, tensor lists)";
  let parameters = (ins "::mlir::Type":$elementType);
  let assemblyFormat = "`<` $elementType `>`";
}

#endif // KILN_DIALECT_KILN_IR_KILNTYPES_TD
