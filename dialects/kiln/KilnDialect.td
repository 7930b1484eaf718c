//===- KilnDialect.td - The kiln model-level dialect -------*- tablegen -*-===//
#ifndef KILN_DIALECT_KILN_IR_KILNDIALECT_TD
#define KILN_DIALECT_KILN_IR_KILNDIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Kiln_Dialect : Dialect {
  let name = "kiln";
  let cppNamespace = "::kiln";
  let summary = "Model-level tensor ops close to ATen semantics";
  let description = [{
    The `kiln` dialect is what the TorchScript importer produces. Tensor ops
    follow ATen semantics (broadcasting, negative dims, PyTorch layouts) so an
    imported graph is a faithful copy of the user's model. TorchScript values
    that are not tensors are represented explicitly: `!kiln.none`,
    `!kiln.optional<T>`, builtin `tuple<...>`, `!kiln.list<T>`, and `i64`,
    `f64`, `i1` scalars on which `arith` computes. Shape and index arguments
    of ops (view sizes, slice bounds, sizes) are SSA `i64` values, so once the
    export adapter fixes the input shapes, `kiln.size` folds and the whole
    shape computation folds to constants.

    Quantization is written as `kiln.fake_quant` / `kiln.fake_quant_per_axis`
    ops, exactly as the PyTorch graph has it, until `kiln-fold-fake-quant`
    turns them into `!quant.uniform` types.
  }];
  let useDefaultTypePrinterParser = 1;
  let hasConstantMaterializer = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::quant::QuantizationDialect"];
}

class Kiln_Type<string name, string typeMnemonic, list<Trait> traits = []>
    : TypeDef<Kiln_Dialect, name, traits> {
  let mnemonic = typeMnemonic;
}

class Kiln_Op<string mnemonic, list<Trait> traits = []>
    : Op<Kiln_Dialect, mnemonic, traits>;

#endif // KILN_DIALECT_KILN_IR_KILNDIALECT_TD
