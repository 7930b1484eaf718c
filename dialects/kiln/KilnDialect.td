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
  // `kiln.name` on function arguments and results is checked here.
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let extraClassDeclaration = [{
    /// The name of a function argument or result at the model's interface
    /// (TorchScript parameter names; SignatureDef input/output names in the
    /// exported file): a non-empty string.
    static constexpr ::llvm::StringLiteral getNameAttrName() {
      return ::llvm::StringLiteral("kiln.name");
    }
    /// On a function: its SignatureDef key when it differs from its name.
    static constexpr ::llvm::StringLiteral getSignatureAttrName() {
      return ::llvm::StringLiteral("kiln.signature");
    }
    /// On a function: the attention variant an export adapter produced.
    static constexpr ::llvm::StringLiteral getVariantAttrName() {
      return ::llvm::StringLiteral("kiln.variant");
    }
  }];
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
