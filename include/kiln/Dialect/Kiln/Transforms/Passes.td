//===- Passes.td - Kiln transformation passes --------------*- tablegen -*-===//
#ifndef KILN_DIALECT_KILN_TRANSFORMS_PASSES_TD
#define KILN_DIALECT_KILN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def InferShapes : Pass<"kiln-infer-shapes", "::mlir::func::FuncOp"> {
  let summary = "Refine kiln result types from operand shapes and constant sizes";
  let description = [{
    Imported graphs carry unranked tensors. Once arguments have static types,
    this pass walks the function in order and replaces each kiln op's result
    type with the one its `ShapeInferenceOpInterface` computes, then lets the
    folders turn `kiln.size` and shape arithmetic into constants. It iterates
    to a fixed point, so sizes computed from refined types feed later
    reshapes.

    Before:
    ```mlir
    func.func @f(%x: tensor<2x3xf32>) -> tensor<*xf32> {
      %0 = kiln.neg %x : (tensor<2x3xf32>) -> tensor<*xf32>
      return %0 : tensor<*xf32>
    }
    ```
    After:
    ```mlir
    func.func @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
      %0 = kiln.neg %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
      return %0 : tensor<2x3xf32>
    }
    ```
    Function result types are updated to match what is returned when
    `update-signature` is set (the default).
  }];
  let options = [
    Option<"updateSignature", "update-signature", "bool", /*default=*/"true",
           "Rewrite the function's result types to the refined types">,
  ];
  let statistics = [
    Statistic<"numRefined", "num-refined", "Number of result types refined">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // KILN_DIALECT_KILN_TRANSFORMS_PASSES_TD
