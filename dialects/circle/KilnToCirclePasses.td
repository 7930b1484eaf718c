//===- Passes.td - Kiln conversion passes ------------------*- tablegen -*-===//
#ifndef KILN_CONVERSION_PASSES_TD
#define KILN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def LegalizeToCircle : Pass<"kiln-legalize-to-circle", "::mlir::func::FuncOp"> {
  let summary = "Lower kiln ops to circle ops (Circle or TFLite flavor)";
  let description = [{
    Every kiln op becomes one or a few circle ops on static shapes; shape,
    permutation, axis and slice operands become int32 `circle.const`s.

    | kiln | circle |
    |---|---|
    | linear | fully_connected (keep_num_dims) |
    | matmul | batch_matmul (adj_x / adj_y) |
    | add, sub, mul, div, neg, rsqrt, sigmoid, cast | same-named op, logistic |
    | pow x 2 | mul x, x (other exponents: pow) |
    | silu | logistic + mul |
    | mean, softmax (last axis), embedding, where | mean, softmax, gather, select_v2 |
    | reshape, (un)squeeze | reshape |
    | transpose, permute | transpose |
    | slice, select | strided_slice |
    | expand | broadcast_to |
    | repeat_interleave | reshape + broadcast_to + reshape |
    | cat | concatenation |
    | constant, quantize, dequantize | const, quantize, dequantize |

    `flavor=circle` may use Circle-only operators: the RMSNorm chain
    `w * (x * rsqrt(mean(x*x, -1) + eps))` becomes `rms_norm`, and uint4
    weights stay uint4.

    `flavor=tflite` only produces what the TFLite runtime runs: quantized ops
    its kernels lack (neg on an asymmetric grid, div and rsqrt other than
    int16, pow, cast, where, gather on a per-channel table) compute in float
    between dequantize and quantize; neg on a symmetric grid is an integer
    multiply by -1 (both flavors);
    softmax and logistic take TFLite's fixed output scales (1/32768 for int16,
    1/256 with zero point -128 for int8) followed by a requantize; int4
    weights stay INT4 (LiteRT's FULLY_CONNECTED takes them with int8, int16
    and float inputs). Per-row uint8 tables are kept integer (exact): an
    embedding table whose output is quantized per tensor is stored in that
    output's grid, and a linear with uint8 per-channel weights becomes
    fully_connected(concatenation(x, x), [a | b]) with a + b = q - zero_point
    in int8 (a channel with |q - zero_point| = 255 computes in float, with a
    warning). uint4 tensors and per-axis quantized activations are refused
    with a diagnostic naming the tensor.

    An RMSNorm that quantizes only its input and output (TICO's `rms_norm`),
    both int16 per tensor, runs on TFLite's integer kernels: the sum of
    squares is one BATCH_MATMUL per row (exact in the int64 accumulator)
    written on several grids a factor `rms-norm-tier-ratio` apart, each
    followed by ADD eps, RSQRT and MUL x; per row, SELECT_V2 takes the finest
    grid whose sum did not saturate (SUB, CAST to bool); a last MUL applies
    sqrt(N) times the weight into the output grid. Relative error of the
    rsqrt below ratio / 131068 plus the kernels' roundings.

    Anything that cannot be lowered (an op left from an earlier stage, a
    dynamic shape) is an error at the op's location.
  }];
  let options = [
    Option<"flavor", "flavor", "std::string", /*default=*/"\"circle\"",
           "Target format: circle (Circle-only ops and types allowed) or tflite">,
    Option<"integerRmsNorm", "integer-rms-norm", "bool", /*default=*/"true",
           "tflite: lower an RMSNorm with int16 input and output but float "
           "intermediates to integer kernels (else it computes in float)">,
    Option<"rmsNormTierRatio", "rms-norm-tier-ratio", "double", /*default=*/"4.0",
           "tflite integer RMSNorm: range factor between the grids of the mean of "
           "squares (smaller is more precise and adds more tiers)">,
  ];
  let statistics = [
    Statistic<"numLowered", "num-lowered", "kiln ops lowered">,
    Statistic<"numFloatIslands", "num-float-islands", "Quantized ops computed in float for the target">,
    Statistic<"numRmsNorm", "num-rms-norm", "RMSNorm chains fused into rms_norm">,
    Statistic<"numIntegerRmsNorm", "num-integer-rms-norm",
              "Float-intermediate RMSNorms lowered to TFLite integer kernels">,
  ];
  let dependentDialects = ["::kiln::circle::CircleDialect",
                           "::mlir::quant::QuantizationDialect"];
}

def CheckIntegerOnly : Pass<"kiln-check-integer-only", "::mlir::func::FuncOp"> {
  let summary = "Report (or refuse) float compute in a lowered circle function";
  let description = [{
    An NPU runs integers: in a fully fake-quantized model every exported op
    should run on quantized tensors. A *float op* is a circle op (other than
    `circle.const`) with a float operand or result, except the
    `circle.quantize` of a float model input and the `circle.dequantize` of a
    float model output.

    Each float op is reported at its location (the model's Python line and
    module path): as a remark, or with `fail=true` as an error that fails
    the pass (`kiln-convert --integer-only`). The statistic counts them.
  }];
  let options = [
    Option<"fail", "fail", "bool", /*default=*/"true",
           "Float ops are errors (else remarks)">,
  ];
  let statistics = [
    Statistic<"numFloatOps", "num-float-ops", "Float ops between the model's inputs and outputs">,
  ];
}

def ExactMaskedSoftmax : Pass<"kiln-exact-masked-softmax", "::mlir::func::FuncOp"> {
  let summary = "Masked keys get exactly zero probability in TFLite's int16 softmax";
  let description = [{
    TFLite's int16 `SOFTMAX` reads exp(x - max) from a table over [-10, 0]
    and clamps below it, so a masked key still gets about 2 steps of 2^-15
    of probability: summed over the masked keys of a long prefill the
    leak is 0.03 at 512 keys and 0.125 at 2048, and queries attend to the
    future. For every int16 `circle.softmax(circle.add(scores, mask))`
    whose mask operand comes from the function's inputs or constants by data
    movement only, the probabilities are masked and renormalized in int16
    kernels TFLite has:

    ```
    keep = 1 + mul(mask, 1){RELU_N1_TO_1}   // 1 kept, 0 masked (grid 1/32767)
    q    = p * keep                          // masked keys exactly 0
    w    = (1/T) / mean(q, -1)               // 1 / sum(q), per row
    p'   = q * w
    ```

    The mask contract is additive: 0 for a kept key, at most -1 for a masked
    one (kiln_torch's -100, Hugging Face's finfo.min). `kiln-convert
    --format tflite` runs it after `kiln-legalize-to-circle`.

    Before:
    ```mlir
    %x = circle.add %scores, %mask : ...
    %p = circle.softmax %x : ... -> tensor<1x4x8x!quant.uniform<i16:f32, 3.0517578125E-5>>
    ```
    After: `%p` followed by the mul, add, mul, mean, div and mul above; the
    users of `%p` read `p'`.
  }];
  let statistics = [
    Statistic<"numRewritten", "num-rewritten", "Masked softmaxes renormalized over the kept keys">,
  ];
}

#endif // KILN_CONVERSION_PASSES_TD
