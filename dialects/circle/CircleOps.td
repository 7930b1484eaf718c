//===- CircleOps.td - One op per Circle builtin operator ---*- tablegen -*-===//
#ifndef KILN_DIALECT_CIRCLE_IR_CIRCLEOPS_TD
#define KILN_DIALECT_CIRCLE_IR_CIRCLEOPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Circle_Dialect : Dialect {
  let name = "circle";
  let cppNamespace = "::kiln::circle";
  let summary = "Circle / TFLite builtin operators, one op each";
  let description = [{
    Each op is one Circle builtin operator; its attributes mirror the fields of
    the operator's options table in the FlatBuffer schema (same names, same
    defaults), so the writer maps attributes to option fields one to one.
    Operands that the FlatBuffer passes as tensors (reshape shapes, transpose
    permutations, slice bounds, mean axes) are tensor operands here too,
    usually `circle.const`. Tensors may carry `!quant.uniform` element types.
    Circle-only operators (`rms_norm`, `rope`) are marked as such; the TFLite
    flavor of the legalization never produces them.
  }];
  let dependentDialects = ["::mlir::quant::QuantizationDialect"];
}

class Circle_Op<string mnemonic, list<Trait> traits = []>
    : Op<Circle_Dialect, mnemonic, !listconcat(traits, [Pure])> {
  // The builtin operator this op is written as (name in BuiltinOperator).
  string builtinOperator = "";
  let extraClassDeclaration = [{
    /// Name of the FlatBuffer BuiltinOperator this op is written as.
    static ::llvm::StringRef getBuiltinOperatorName() { return "}] # builtinOperator # [{"; }
  }];
}

// FlatBuffer enum ActivationFunctionType, as its string names.
def Circle_FusedActivationAttr : DefaultValuedStrAttr<StrAttr, "NONE">;

def Circle_ConstOp : Circle_Op<"const", [ConstantLike]> {
  let summary = "A constant tensor (a FlatBuffer buffer)";
  let description = [{
    Quantized weights keep integer storage values in the attribute (a resource
    blob) and the `!quant.uniform` type on the result.
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs AnyTensor:$output);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let hasFolder = 1;
}

class Circle_BinaryOp<string mnemonic, string builtin>
    : Circle_Op<mnemonic> {
  let summary = builtin # " (elementwise, broadcasting)";
  let builtinOperator = builtin;
  let arguments = (ins AnyTensor:$lhs, AnyTensor:$rhs,
                       Circle_FusedActivationAttr:$fused_activation_function);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Circle_AddOp : Circle_BinaryOp<"add", "ADD">;
def Circle_SubOp : Circle_BinaryOp<"sub", "SUB">;
def Circle_MulOp : Circle_BinaryOp<"mul", "MUL">;
def Circle_DivOp : Circle_BinaryOp<"div", "DIV">;

def Circle_PowOp : Circle_Op<"pow"> {
  let summary = "POW";
  let builtinOperator = "POW";
  let arguments = (ins AnyTensor:$lhs, AnyTensor:$rhs);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

class Circle_UnaryOp<string mnemonic, string builtin>
    : Circle_Op<mnemonic> {
  let summary = builtin;
  let builtinOperator = builtin;
  let arguments = (ins AnyTensor:$input);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Circle_RsqrtOp : Circle_UnaryOp<"rsqrt", "RSQRT">;
def Circle_NegOp : Circle_UnaryOp<"neg", "NEG">;
def Circle_LogisticOp : Circle_UnaryOp<"logistic", "LOGISTIC">;
def Circle_QuantizeOp : Circle_UnaryOp<"quantize", "QUANTIZE">;
def Circle_DequantizeOp : Circle_UnaryOp<"dequantize", "DEQUANTIZE">;
def Circle_CastOp : Circle_UnaryOp<"cast", "CAST">;

def Circle_FullyConnectedOp : Circle_Op<"fully_connected"> {
  let summary = "FULLY_CONNECTED: output = input x filter^T + bias";
  let builtinOperator = "FULLY_CONNECTED";
  let arguments = (ins AnyTensor:$input, AnyTensor:$filter,
                       Optional<AnyTensor>:$bias,
                       Circle_FusedActivationAttr:$fused_activation_function,
                       DefaultValuedStrAttr<StrAttr, "DEFAULT">:$weights_format,
                       DefaultValuedAttr<BoolAttr, "false">:$keep_num_dims,
                       DefaultValuedAttr<BoolAttr, "false">:$asymmetric_quantize_inputs);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = [{
    $input `,` $filter (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Circle_BatchMatMulOp : Circle_Op<"batch_matmul"> {
  let summary = "BATCH_MATMUL with adjoint flags";
  let builtinOperator = "BATCH_MATMUL";
  let arguments = (ins AnyTensor:$x, AnyTensor:$y,
                       DefaultValuedAttr<BoolAttr, "false">:$adj_x,
                       DefaultValuedAttr<BoolAttr, "false">:$adj_y,
                       DefaultValuedAttr<BoolAttr, "false">:$asymmetric_quantize_inputs);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$x `,` $y attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Circle_SoftmaxOp : Circle_Op<"softmax"> {
  let summary = "SOFTMAX over the last axis";
  let builtinOperator = "SOFTMAX";
  let arguments = (ins AnyTensor:$input, DefaultValuedAttr<F32Attr, "1.0f">:$beta);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Circle_MeanOp : Circle_Op<"mean"> {
  let summary = "MEAN over the axes given by a constant int32 tensor";
  let builtinOperator = "MEAN";
  let arguments = (ins AnyTensor:$input, TensorOf<[I32]>:$axis,
                       DefaultValuedAttr<BoolAttr, "false">:$keep_dims);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$input `,` $axis attr-dict `:` functional-type(operands, results)";
}

def Circle_ReshapeOp : Circle_Op<"reshape"> {
  let summary = "RESHAPE to the shape in an int32 tensor";
  let builtinOperator = "RESHAPE";
  let arguments = (ins AnyTensor:$input, TensorOf<[I32]>:$shape);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$input `,` $shape attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Circle_TransposeOp : Circle_Op<"transpose"> {
  let summary = "TRANSPOSE by an int32 permutation tensor";
  let builtinOperator = "TRANSPOSE";
  let arguments = (ins AnyTensor:$input, TensorOf<[I32]>:$perm);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$input `,` $perm attr-dict `:` functional-type(operands, results)";
}

def Circle_StridedSliceOp : Circle_Op<"strided_slice"> {
  let summary = "STRIDED_SLICE";
  let builtinOperator = "STRIDED_SLICE";
  let arguments = (ins AnyTensor:$input, TensorOf<[I32]>:$begin,
                       TensorOf<[I32]>:$end, TensorOf<[I32]>:$strides,
                       DefaultValuedAttr<I32Attr, "0">:$begin_mask,
                       DefaultValuedAttr<I32Attr, "0">:$end_mask,
                       DefaultValuedAttr<I32Attr, "0">:$ellipsis_mask,
                       DefaultValuedAttr<I32Attr, "0">:$new_axis_mask,
                       DefaultValuedAttr<I32Attr, "0">:$shrink_axis_mask,
                       DefaultValuedAttr<BoolAttr, "false">:$offset);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$input `,` $begin `,` $end `,` $strides attr-dict `:` functional-type(operands, results)";
}

def Circle_SliceOp : Circle_Op<"slice"> {
  let summary = "SLICE by begin and size int32 tensors";
  let builtinOperator = "SLICE";
  let arguments = (ins AnyTensor:$input, TensorOf<[I32]>:$begin,
                       TensorOf<[I32]>:$size);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$input `,` $begin `,` $size attr-dict `:` functional-type(operands, results)";
}

def Circle_ConcatenationOp : Circle_Op<"concatenation"> {
  let summary = "CONCATENATION along axis";
  let builtinOperator = "CONCATENATION";
  let arguments = (ins Variadic<AnyTensor>:$values, I32Attr:$axis,
                       Circle_FusedActivationAttr:$fused_activation_function);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$values attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Circle_GatherOp : Circle_Op<"gather"> {
  let summary = "GATHER rows of params by indices";
  let builtinOperator = "GATHER";
  let arguments = (ins AnyTensor:$params, TensorOf<[I32, I64]>:$indices,
                       DefaultValuedAttr<I32Attr, "0">:$axis,
                       DefaultValuedAttr<I32Attr, "0">:$batch_dims);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$params `,` $indices attr-dict `:` functional-type(operands, results)";
}

def Circle_SelectV2Op : Circle_Op<"select_v2"> {
  let summary = "SELECT_V2 (broadcasting where)";
  let builtinOperator = "SELECT_V2";
  let arguments = (ins TensorOf<[I1]>:$condition, AnyTensor:$x, AnyTensor:$y);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$condition `,` $x `,` $y attr-dict `:` functional-type(operands, results)";
}

def Circle_BroadcastToOp : Circle_Op<"broadcast_to"> {
  let summary = "BROADCAST_TO the shape in an int32 tensor";
  let builtinOperator = "BROADCAST_TO";
  let arguments = (ins AnyTensor:$input, TensorOf<[I32]>:$shape);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$input `,` $shape attr-dict `:` functional-type(operands, results)";
}

def Circle_RmsNormOp : Circle_Op<"rms_norm"> {
  let summary = "RMS_NORM (Circle only): x * rsqrt(mean(x^2, -1) + epsilon) * gamma";
  let builtinOperator = "RMS_NORM";
  let arguments = (ins AnyTensor:$input, AnyTensor:$gamma,
                       DefaultValuedAttr<F32Attr, "1e-06f">:$epsilon);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$input `,` $gamma attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Circle_RopeOp : Circle_Op<"rope"> {
  let summary = "ROPE (Circle only): rotary embedding with sin/cos tables";
  let builtinOperator = "ROPE";
  let arguments = (ins AnyTensor:$input, AnyTensor:$sin_table, AnyTensor:$cos_table,
                       DefaultValuedStrAttr<StrAttr, "GPT_NEOX">:$mode);
  let results = (outs AnyTensor:$output);
  let assemblyFormat = "$input `,` $sin_table `,` $cos_table attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

#endif // KILN_DIALECT_CIRCLE_IR_CIRCLEOPS_TD
