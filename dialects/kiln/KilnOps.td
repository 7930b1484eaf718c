//===- KilnOps.td - kiln dialect operations ----------------*- tablegen -*-===//
#ifndef KILN_DIALECT_KILN_IR_KILNOPS_TD
#define KILN_DIALECT_KILN_IR_KILNOPS_TD

include "kiln/KilnDialect.td"
include "kiln/KilnTypes.td"
include "kiln/KilnInterfaces.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

defvar ShapeInfer = DeclareOpInterfaceMethods<Kiln_ShapeInferenceOpInterface>;

//===----------------------------------------------------------------------===//
// Values that are not tensors
//===----------------------------------------------------------------------===//

def Kiln_ConstantOp : Kiln_Op<"constant", [ConstantLike, Pure]> {
  let summary = "Tensor constant (weights, buffers, literal tensors)";
  let description = [{
    Weights are `dense_resource` blobs backed by the source tensor's storage;
    small literals may be `dense`. The result type equals the attribute's type,
    except that after `kiln-fold-fake-quant` the result may carry a
    `!quant.uniform` element type whose storage type is the attribute's
    integer element type.

    ```mlir
    %w = kiln.constant dense_resource<w0> : tensor<64x64xf32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs AnyTensor:$result);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Kiln_NoneOp : Kiln_Op<"none", [ConstantLike, Pure]> {
  let summary = "TorchScript None, as !kiln.none or an empty !kiln.optional";
  let results = (outs AnyTypeOf<[Kiln_NoneType, Kiln_OptionalType]>:$result);
  let assemblyFormat = "attr-dict `:` type($result)";
  let hasFolder = 1;
}

def Kiln_SomeOp : Kiln_Op<"some", [Pure]> {
  let summary = "Wraps a value into a present !kiln.optional";
  let arguments = (ins AnyType:$value);
  let results = (outs Kiln_OptionalType:$result);
  let assemblyFormat = "$value attr-dict `:` type($value) `->` qualified(type($result))";
  let hasVerifier = 1;
}

def Kiln_IsNoneOp : Kiln_Op<"is_none", [Pure]> {
  let summary = "aten::__is__(x, None); folds when presence is known";
  let arguments = (ins AnyType:$value);
  let results = (outs I1:$result);
  let assemblyFormat = "$value attr-dict `:` type($value)";
  let hasFolder = 1;
}

def Kiln_UncheckedCastOp : Kiln_Op<"unchecked_cast", [Pure]> {
  let summary = "prim::unchecked_cast: refines a value's type (Optional[T] -> T)";
  let arguments = (ins AnyType:$value);
  let results = (outs AnyType:$result);
  let assemblyFormat = "$value attr-dict `:` type($value) `->` type($result)";
  let hasFolder = 1;
}

def Kiln_TupleOp : Kiln_Op<"tuple", [Pure]> {
  let summary = "prim::TupleConstruct";
  let arguments = (ins Variadic<AnyType>:$elements);
  let results = (outs AnyTuple:$result);
  let assemblyFormat = "($elements^ `:` type($elements))? attr-dict `->` type($result)";
  let hasVerifier = 1;
}

def Kiln_TupleGetOp : Kiln_Op<"tuple_get", [Pure]> {
  let summary = "prim::TupleIndex / TupleUnpack of one element";
  let arguments = (ins AnyTuple:$tuple, I64Attr:$index);
  let results = (outs AnyType:$result);
  let assemblyFormat = "$tuple `[` $index `]` attr-dict `:` type($tuple) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Kiln_ListOp : Kiln_Op<"list", [Pure]> {
  let summary = "prim::ListConstruct";
  let arguments = (ins Variadic<AnyType>:$elements);
  let results = (outs Kiln_ListType:$result);
  let assemblyFormat = "($elements^ `:` type($elements))? attr-dict `->` qualified(type($result))";
  let hasVerifier = 1;
}

def Kiln_ListGetOp : Kiln_Op<"list_get", [Pure]> {
  let summary = "aten::__getitem__ on a list (negative index counts from the end)";
  let arguments = (ins Kiln_ListType:$list, I64:$index);
  let results = (outs AnyType:$result);
  let assemblyFormat = "$list `[` $index `]` attr-dict `:` qualified(type($list)) `->` type($result)";
  let hasFolder = 1;
}

def Kiln_ListAppendOp : Kiln_Op<"list_append",
    [Pure, AllTypesMatch<["list", "result"]>]> {
  let summary = "aten::append as a value: the list with one more element";
  let description = [{
    TorchScript lists are mutable; the importer turns `aten::append` into a
    new list value (the mutated list is threaded through `scf.if` results).
    Canonicalizes `list_append(kiln.list(xs), y)` to `kiln.list(xs, y)`.

    ```mlir
    %l1 = kiln.list_append %l0, %t : !kiln.list<tensor<*xf32>>, tensor<*xf32>
    ```
  }];
  let arguments = (ins Kiln_ListType:$list, AnyType:$value);
  let results = (outs Kiln_ListType:$result);
  let assemblyFormat = "$list `,` $value attr-dict `:` qualified(type($list)) `,` type($value)";
  let hasVerifier = 1;
  let hasCanonicalizeMethod = 1;
}

def Kiln_ShapeOp : Kiln_Op<"shape", [Pure]> {
  let summary = "aten::size(x): the shape as a list of i64";
  let arguments = (ins AnyTensor:$input);
  let results = (outs Kiln_ListType:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` qualified(type($result))";
}

def Kiln_SizeOp : Kiln_Op<"size", [Pure]> {
  let summary = "aten::size(x, dim); folds when that dimension is static";
  let arguments = (ins AnyTensor:$input, I64:$dim);
  let results = (outs I64:$result);
  let assemblyFormat = "$input `[` $dim `]` attr-dict `:` type($input)";
  let hasFolder = 1;
}

def Kiln_RankOp : Kiln_Op<"rank", [Pure]> {
  let summary = "aten::dim(x); folds for ranked tensors";
  let arguments = (ins AnyTensor:$input);
  let results = (outs I64:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasFolder = 1;
}

def Kiln_CausalMaskOp : Kiln_Op<"causal_mask", [Pure, ShapeInfer]> {
  let summary = "Additive causal mask of scaled_dot_product_attention(is_causal=True)";
  let description = [{
    A `[queries, keys]` float tensor: 0 where key `j <= i` for query `i`,
    `-inf` elsewhere (PyTorch's top-left aligned `tril`). It folds to a
    constant once both sizes are constants.

    ```mlir
    %m = kiln.causal_mask %l, %s : tensor<16x16xf32>
    ```
  }];
  let arguments = (ins I64:$queries, I64:$keys);
  let results = (outs TensorOf<[AnyFloat]>:$result);
  let assemblyFormat = "$queries `,` $keys attr-dict `:` type($result)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Kiln_FromScalarOp : Kiln_Op<"from_scalar", [Pure]> {
  let summary = "A 0-d tensor from an i64/f64/i1 scalar (scalar operands of ATen ops)";
  let arguments = (ins AnyTypeOf<[I64, F64, I1]>:$scalar);
  let results = (outs 0DTensorOf<[AnyType]>:$result);
  let assemblyFormat = "$scalar attr-dict `:` type($scalar) `->` type($result)";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

class Kiln_BinaryOp<string mnemonic, string aten>
    : Kiln_Op<mnemonic, [Pure, ShapeInfer]> {
  let summary = "aten::" # aten # " with PyTorch broadcasting";
  let arguments = (ins AnyTensor:$lhs, AnyTensor:$rhs);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Kiln_AddOp : Kiln_BinaryOp<"add", "add">;
def Kiln_SubOp : Kiln_BinaryOp<"sub", "sub">;
def Kiln_MulOp : Kiln_BinaryOp<"mul", "mul">;
def Kiln_DivOp : Kiln_BinaryOp<"div", "div (true division)">;
def Kiln_PowOp : Kiln_BinaryOp<"pow", "pow (exponent as a tensor, usually 0-d)">;

def Kiln_WhereOp : Kiln_Op<"where", [Pure, ShapeInfer]> {
  let summary = "aten::where(cond, a, b) (masked_fill is where(mask, value, x))";
  let arguments = (ins AnyTensor:$condition, AnyTensor:$lhs, AnyTensor:$rhs);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$condition `,` $lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

class Kiln_UnaryOp<string mnemonic, string aten>
    : Kiln_Op<mnemonic, [Pure, ShapeInfer]> {
  let summary = "aten::" # aten;
  let arguments = (ins AnyTensor:$input);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Kiln_NegOp : Kiln_UnaryOp<"neg", "neg">;
def Kiln_RsqrtOp : Kiln_UnaryOp<"rsqrt", "rsqrt">;
def Kiln_SiluOp : Kiln_UnaryOp<"silu", "silu">;
def Kiln_SigmoidOp : Kiln_UnaryOp<"sigmoid", "sigmoid">;

def Kiln_CastOp : Kiln_Op<"cast", [Pure, ShapeInfer]> {
  let summary = "aten::to / type_as: changes the element type only";
  let arguments = (ins AnyTensor:$input);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Contractions and reductions
//===----------------------------------------------------------------------===//

def Kiln_LinearOp : Kiln_Op<"linear", [Pure, ShapeInfer]> {
  let summary = "aten::linear: y = x W^T + b, W is [out_features, in_features]";
  let arguments = (ins AnyTensor:$input, AnyTensor:$weight,
                       Optional<AnyTensor>:$bias);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Kiln_MatmulOp : Kiln_Op<"matmul", [Pure, ShapeInfer]> {
  let summary = "aten::matmul with batch broadcasting and adjoint flags";
  let description = [{
    `adj_x` / `adj_y` transpose the last two dimensions of the operand before
    the product (as TFLite BATCH_MATMUL does); the importer always sets them
    false, `kiln-unroll-heads` uses `adj_y` to express `q @ k^T` without a
    transpose.
  }];
  let arguments = (ins AnyTensor:$lhs, AnyTensor:$rhs,
                       DefaultValuedAttr<BoolAttr, "false">:$adj_x,
                       DefaultValuedAttr<BoolAttr, "false">:$adj_y);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Kiln_MeanOp : Kiln_Op<"mean", [Pure, ShapeInfer]> {
  let summary = "aten::mean.dim";
  let arguments = (ins AnyTensor:$input, DenseI64ArrayAttr:$dims,
                       DefaultValuedAttr<BoolAttr, "false">:$keep_dims);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$input $dims attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Kiln_SoftmaxOp : Kiln_Op<"softmax", [Pure, ShapeInfer]> {
  let summary = "aten::softmax(x, dim)";
  let arguments = (ins AnyTensor:$input, I64Attr:$dim);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$input `dim` `=` $dim attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Kiln_EmbeddingOp : Kiln_Op<"embedding", [Pure, ShapeInfer]> {
  let summary = "aten::embedding(weight, indices): rows of a [vocab, hidden] table";
  let arguments = (ins AnyTensor:$weight, TensorOf<[AnySignlessInteger]>:$indices);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$weight `[` $indices `]` attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

def Kiln_ReshapeOp : Kiln_Op<"reshape", [Pure, ShapeInfer]> {
  let summary = "aten::view / reshape with i64 sizes (one may be -1)";
  let arguments = (ins AnyTensor:$input, Variadic<I64>:$sizes);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$input `(` $sizes `)` attr-dict `:` functional-type($input, results)";
  let hasVerifier = 1;
}

def Kiln_TransposeOp : Kiln_Op<"transpose", [Pure, ShapeInfer]> {
  let summary = "aten::transpose(x, dim0, dim1)";
  let arguments = (ins AnyTensor:$input, I64Attr:$dim0, I64Attr:$dim1);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$input $dim0 `,` $dim1 attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Kiln_PermuteOp : Kiln_Op<"permute", [Pure, ShapeInfer]> {
  let summary = "aten::permute(x, dims)";
  let arguments = (ins AnyTensor:$input, DenseI64ArrayAttr:$permutation);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$input $permutation attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Kiln_UnsqueezeOp : Kiln_Op<"unsqueeze", [Pure, ShapeInfer]> {
  let summary = "aten::unsqueeze(x, dim)";
  let arguments = (ins AnyTensor:$input, I64Attr:$dim);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$input `dim` `=` $dim attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Kiln_SqueezeOp : Kiln_Op<"squeeze", [Pure, ShapeInfer]> {
  let summary = "aten::squeeze(x, dim)";
  let arguments = (ins AnyTensor:$input, I64Attr:$dim);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$input `dim` `=` $dim attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Kiln_ExpandOp : Kiln_Op<"expand", [Pure, ShapeInfer]> {
  let summary = "aten::expand(x, sizes): broadcast to sizes (-1 keeps a dim)";
  let arguments = (ins AnyTensor:$input, Variadic<I64>:$sizes);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$input `(` $sizes `)` attr-dict `:` functional-type($input, results)";
  let hasVerifier = 1;
}

def Kiln_RepeatInterleaveOp : Kiln_Op<"repeat_interleave", [Pure, ShapeInfer]> {
  let summary = "aten::repeat_interleave(x, repeats, dim) with a constant count";
  let arguments = (ins AnyTensor:$input, I64Attr:$repeats, I64Attr:$dim);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$input `repeats` `=` $repeats `dim` `=` $dim attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Kiln_SliceOp : Kiln_Op<"slice", [Pure, ShapeInfer]> {
  let summary = "aten::slice(x, dim, start, end, step) with Python clamping";
  let arguments = (ins AnyTensor:$input, I64Attr:$dim, I64:$start, I64:$end,
                       I64:$step);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = [{
    $input `dim` `=` $dim ` ` `[` $start `:` $end `:` $step `]` attr-dict `:` functional-type($input, results)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def Kiln_SelectOp : Kiln_Op<"select", [Pure, ShapeInfer]> {
  let summary = "aten::select(x, dim, index): drops dim";
  let arguments = (ins AnyTensor:$input, I64Attr:$dim, I64:$index);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$input `dim` `=` $dim ` ` `[` $index `]` attr-dict `:` functional-type($input, results)";
  let hasVerifier = 1;
}

def Kiln_CatOp : Kiln_Op<"cat", [Pure, ShapeInfer]> {
  let summary = "aten::cat(tensors, dim)";
  let arguments = (ins Variadic<AnyTensor>:$inputs, I64Attr:$dim);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$inputs `dim` `=` $dim attr-dict `:` functional-type($inputs, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

def Kiln_FakeQuantOp : Kiln_Op<"fake_quant", [Pure, ShapeInfer]> {
  let summary = "aten::fake_quantize_per_tensor_affine";
  let description = [{
    `y = (clamp(round(x / scale) + zero_point, qmin, qmax) - zero_point) * scale`
    with round-half-to-even, as PyTorch computes it. `qmin`/`qmax` name the
    integer type the tensor is meant to have (e.g. -32768..32767 is int16).

    ```mlir
    %y = kiln.fake_quant %x scale(0.125) zero_point(0) range [-128, 127] : tensor<*xf32> -> tensor<*xf32>
    ```
  }];
  let arguments = (ins AnyTensor:$input, F64Attr:$scale, I64Attr:$zero_point,
                       I64Attr:$qmin, I64Attr:$qmax);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = [{
    $input `scale` `(` $scale `)` `zero_point` `(` $zero_point `)`
    `range` ` ` `[` $qmin `,` $qmax `]` attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Kiln_FakeQuantPerAxisOp : Kiln_Op<"fake_quant_per_axis", [Pure, ShapeInfer]> {
  let summary = "aten::fake_quantize_per_channel_affine";
  let description = [{
    One scale and zero point per index of `axis` (output channels of a weight,
    or heads of an attention tensor).

    ```mlir
    %y = kiln.fake_quant_per_axis %w axis(0) scales[0.1, 0.2] zero_points[0, 0] range [-128, 127] : tensor<2x4xf32> -> tensor<2x4xf32>
    ```
  }];
  let arguments = (ins AnyTensor:$input, I64Attr:$axis,
                       DenseF64ArrayAttr:$scales, DenseI64ArrayAttr:$zero_points,
                       I64Attr:$qmin, I64Attr:$qmax);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = [{
    $input `axis` `(` $axis `)` `scales` custom<F64Array>($scales) `zero_points` $zero_points
    `range` ` ` `[` $qmin `,` $qmax `]` attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Kiln_QuantizeOp : Kiln_Op<"quantize", [Pure, ShapeInfer]> {
  let summary = "Float (or quantized) tensor to a !quant.uniform tensor";
  let description = [{
    Made by `kiln-fold-fake-quant` where a quantized value is needed but the
    producer is float (function arguments, float-only ops), or to requantize
    between two quantized types. Values round half to even and clamp to the
    storage range of the result type, exactly as the fake quant did.
  }];
  let arguments = (ins AnyTensor:$input);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Kiln_DequantizeOp : Kiln_Op<"dequantize", [Pure, ShapeInfer]> {
  let summary = "!quant.uniform tensor to float";
  let description = [{
    Made by `kiln-fold-fake-quant` where a float consumer (a function result, a
    float-only op) reads a quantized value.
  }];
  let arguments = (ins AnyTensor:$input);
  let results = (outs AnyTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

#endif // KILN_DIALECT_KILN_IR_KILNOPS_TD
