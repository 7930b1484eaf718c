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
    `update-signature` is set (the default). The canonicalization patterns
    are collected once per pass instance. Refinement and folding alternate
    until nothing changes (about one round per decoder layer); with
    `max-rounds=N` a function that has not reached the fixed point after N
    rounds gets a warning.
  }];
  let options = [
    Option<"updateSignature", "update-signature", "bool", /*default=*/"true",
           "Rewrite the function's result types to the refined types">,
    Option<"maxRounds", "max-rounds", "int", /*default=*/"0",
           "Rounds of refinement and folding before giving up with a "
           "warning (0: until the fixed point)">,
  ];
  let statistics = [
    Statistic<"numRefined", "num-refined", "Number of result types refined">,
    Statistic<"numRounds", "num-rounds", "Rounds of refinement and folding run">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def FoldFakeQuant : Pass<"kiln-fold-fake-quant", "::mlir::func::FuncOp"> {
  let summary = "Turn fake quantization into !quant.uniform types and integer weights";
  let description = [{
    Every `kiln.fake_quant` / `kiln.fake_quant_per_axis` becomes a quantized
    element type (MLIR's `!quant.uniform`, per-tensor or per-axis), with the
    storage type named by its `[qmin, qmax]` range (int4, uint4, int8, uint8,
    int16; full or narrow).

    - On a float constant (a weight), the constant becomes integer storage in a
      new resource blob, with the quantized type on the result:
      `kiln.constant dense_resource<w.q> : tensor<64x64xi8> as tensor<64x64x!quant.uniform<i8:f32:0, {...}>>`.
    - On a value computed by a kiln op whose only users are fake quants with
      the same parameters, the op's result takes the quantized type (the
      accelerator writes its output quantized).
    - Data movement (reshape, transpose, permute, (un)squeeze, slice, select,
      expand, repeat_interleave, cat of equally quantized inputs) keeps the
      quantized type of its input.
    - A product (matmul, linear) times a positive scalar constant c whose
      result is fake-quantized to Q (scale s) is written on the grid s / c,
      which holds the same integers as Q holds for the scaled product; the
      multiply becomes an integer multiply by the constant 1 at scale c
      (multiplier exactly 1: requantization the hardware does for free).
      Exact.
    - Negation keeps the scale: a symmetric quantized tensor keeps its type
      (a symmetric grid is closed under negation), an asymmetric one
      (zero point z) takes the zero point qmin + qmax - z. Exact.
    - A concatenation of differently quantized inputs whose result is
      fake-quantized requantizes each input into the result's type (per
      element the same rounding as quantizing the float concatenation).
    - With `integer-only`: an add/sub of two symmetric 16-bit quantized
      tensors whose result the model did not fake-quantize gets the scale
      s_a + s_b (no clipping; at most half a step of that scale of
      rounding), so it runs in integers; and a float function input that the
      model fake-quantizes is read quantized by all its users (a residual add
      too), as an integer accelerator receives it; a fake quant of data
      movement of a float input (the mask sliced for a head) moves onto the
      input (exact). These two change numerics
      by at most half a quantization step; everything else is exact. Also
      with `integer-only`, a per-row quantized embedding table whose output
      is fake-quantized per tensor is stored in that output's grid (exact:
      fake quant commutes with the gather), so the gather is integer.
    - Everywhere else an explicit `kiln.quantize` remains (function inputs,
      requantization between two different types), and `kiln.dequantize`
      where a float consumer reads a quantized value (function results,
      ops that compute in float because an operand is float).
    - Float constant operands of an op whose result is quantized are
      quantized too: a linear's bias to int32 (8-bit activations) or int64
      (16-bit activations) with scale = input scale x weight scale, other
      constants per-tensor symmetric in the result's storage type.

    Numerics are unchanged: each quantized value equals what the fake quant
    computed (up to the bias and constant rounding the hardware does too).

    Before:
    ```mlir
    %w = kiln.constant dense_resource<w> : tensor<4x8xf32>
    %wq = kiln.fake_quant_per_axis %w axis(0) scales [...] zero_points [...] range [-128, 127] : ...
    %x = kiln.fake_quant %arg0 scale(0.001) zero_point(0) range [-32768, 32767] : ...
    %y = kiln.linear %x, %wq : ...
    %yq = kiln.fake_quant %y scale(0.002) zero_point(0) range [-32768, 32767] : ...
    return %yq
    ```
    After:
    ```mlir
    %w = kiln.constant dense_resource<w.q> : tensor<4x8xi8> as tensor<4x8x!quant.uniform<i8:f32:0, {...}>>
    %x = kiln.quantize %arg0 : (tensor<1x8xf32>) -> tensor<1x8x!quant.uniform<i16:f32, 1.0e-03>>
    %y = kiln.linear %x, %w : (...) -> tensor<1x4x!quant.uniform<i16:f32, 2.0e-03>>
    %r = kiln.dequantize %y : ... -> tensor<1x4xf32>
    return %r
    ```
  }];
  let options = [
    Option<"integerOnly", "integer-only", "bool", /*default=*/"false",
           "Also make integer what an integer accelerator needs, at a bounded "
           "numeric cost: fake-quantized inputs read quantized by every user, "
           "unquantized 16-bit sums given the scale s_a + s_b">,
  ];
  let statistics = [
    Statistic<"numWeights", "num-weights", "Weights turned into integer constants">,
    Statistic<"numAbsorbed", "num-absorbed", "Fake quants absorbed into the producer's result type">,
    Statistic<"numInputsQuantized", "num-inputs-quantized", "Fake-quantized float inputs every user reads quantized">,
    Statistic<"numScalesFolded", "num-scales-folded", "Constant multiplies after integer products folded into the product's output grid">,
    Statistic<"numHoisted", "num-hoisted", "Fake quants moved from data movement onto the function input">,
    Statistic<"numNegations", "num-negations", "Negations of symmetric quantized tensors kept on the input's grid">,
    Statistic<"numGriddedTables", "num-gridded-tables", "Per-row embedding tables rewritten into their output's per-tensor grid">,
    Statistic<"numDerivedSums", "num-derived-sums", "Unquantized 16-bit sums given the scale s_a + s_b">,
    Statistic<"numRequantizedCats", "num-requantized-cats", "Concatenations of differently quantized inputs requantized into their output's type">,
    Statistic<"numQuantize", "num-quantize", "Explicit quantize ops left">,
    Statistic<"numDequantize", "num-dequantize", "Explicit dequantize ops inserted">,
  ];
  let dependentDialects = ["::mlir::quant::QuantizationDialect"];
}

def ExportAdapter : Pass<"kiln-export-adapter", "::mlir::ModuleOp"> {
  let summary = "Specialise the unified imported model into a static prefill or decode contract";
  let description = [{
    The imported `@forward` is the HF-like unified model: control flags
    (`use_cache`, `output_attentions`), an optional cache
    (`past_key_value`), tuples and unranked tensors. This pass writes one
    static, branch-free function with a fixed contract:

    | mode | arguments | results |
    |---|---|---|
    | prefill | `hidden_states` [B,S,hidden] (or `input_ids` [B,S]), `attention_mask` [B,1,S,S] (additive), `cos`, `sin` [B,S,head_dim] | `hidden` (`logits` for a whole model), and with `return-kv`: `key`, `value` [B,H_kv,S,head_dim] |
    | decode | the same with S = 1 and a [B,1,1,L+1] mask, plus `past_key`, `past_value` [B,H_kv,L,head_dim] | `hidden`, `new_key`, `new_value` [B,H_kv,1,head_dim]: only this step's entries |
    | append | Q = `seq-len` new tokens after L = `cache-len` past positions: a [B,1,Q,L+Q] mask (causal inside the Q block), `past_key`, `past_value` [B,H_kv,L,head_dim] | as decode, with Q entries: [B,H_kv,Q,head_dim] |

    Steps: flags become constants, `past_key_value` becomes None (prefill)
    or the two cache arguments (decode), arguments take static types, and
    `kiln-infer-shapes` folds every branch, `aten::size` computation and view
    to constants; the returned tuple is flattened. Names are recorded as
    `kiln.name` argument/result attributes (Circle signature names later).

    Already-specialised (traced) modules are bound by role: arguments named
    `hidden_states`/`h`, `input_ids`/`ids`, `attention_mask`/`mask`, `cos`,
    `sin`, `past_key[_i]`, `past_value[_i]` (or given a role with
    `input-roles=NAME=ROLE`). The mask's rank follows the scores it is added
    to: [B,1,S,T] for batched attention, [B,S,T] for per-head graphs (TICO).
    Their results keep their order and get role names.

    hidden size, head_dim and the number of KV heads are read from the
    model (first projection's weight, the head-split view, the second
    projection's weight) unless given as options.

    With `keep-source`, `@forward` is left in place so that a second adapter
    run can add the other mode to the same module (prefill and decode
    sharing every weight).
  }];
  let options = [
    Option<"mode", "mode", "std::string", /*default=*/"\"prefill\"", "prefill, decode or append">,
    Option<"function", "function", "std::string", /*default=*/"\"forward\"", "Function to specialise">,
    Option<"outputName", "output-name", "std::string", /*default=*/"\"\"", "Name of the result function (default: the mode)">,
    Option<"keepSource", "keep-source", "bool", /*default=*/"false", "Keep the source function for another adapter run">,
    Option<"batch", "batch", "int64_t", /*default=*/"1", "Batch size B">,
    Option<"seqLen", "seq-len", "int64_t", /*default=*/"0", "Prefill sequence length S (append: new tokens Q)">,
    Option<"cacheLen", "cache-len", "int64_t", /*default=*/"0", "Decode and append: number of past positions L">,
    Option<"returnKv", "return-kv", "bool", /*default=*/"true", "Return this call's keys and values">,
    Option<"outputAttentions", "output-attentions", "bool", /*default=*/"false", "Also return attention weights">,
    Option<"hiddenSize", "hidden-size", "int64_t", /*default=*/"0", "Override: hidden size (0: read from the model)">,
    Option<"headDim", "head-dim", "int64_t", /*default=*/"0", "Override: head_dim (0: read from the model)">,
    Option<"numKvHeads", "num-kv-heads", "int64_t", /*default=*/"0", "Override: number of KV heads (0: read from the model)">,
    Option<"variant", "variant", "std::string", /*default=*/"\"\"", "Recorded as the function's kiln.variant attribute (prefill, prefill_reference, decode, append)">,
    Option<"inputRoles", "input-roles", "std::string", /*default=*/"\"\"", "Roles of arguments with unusual names: NAME=ROLE[,NAME=ROLE...] (ROLE: hidden_states, input_ids, attention_mask, cos, sin, position_embeddings, past_key, past_value)">,
    Option<"cacheOut", "cache-out", "std::string", /*default=*/"\"auto\"", "Decode keys/values: delta (this step's entries), full (the updated cache), auto (delta for unified models, as returned for single-mode traced modules)">,
    Option<"keyLayout", "key-layout", "std::string", /*default=*/"\"bhsd\"", "Keys in the cache arguments and results: bhsd [B,H_kv,positions,head_dim] or bhds [B,H_kv,head_dim,positions] (transposed: Q*K^T reads the cache as stored)">,
  ];
  let statistics = [
    Statistic<"numOutputs", "num-outputs", "Results of the specialised function">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::scf::SCFDialect"];
}

def UnrollHeads : Pass<"kiln-unroll-heads", "::mlir::func::FuncOp"> {
  let summary = "Rewrite batched attention into one op chain per head, without transposes";
  let description = [{
    The hardware-faithful attention form. Batched attention tensors
    [B, H, S, D] between the head split (view + transpose after the q/k/v
    projections) and the head merge (transpose + view before o_proj) become
    one chain of rank-3 [B, S, D] ops per head:

    - head h of a projection is a slice of the projection output on the
      feature axis ([h*D, (h+1)*D)), so no transpose splits heads;
    - `q @ k^T` is a matmul with `adj_y`, so no transpose makes K^T;
    - heads merge by concatenation on the feature axis;
    - under GQA, query head h reads key/value head h / (H / H_kv): no
      repeat_interleave or expand remains;
    - a per-axis fake quant along the head axis becomes a per-tensor fake
      quant with that head's scale and zero point; a per-tensor one is
      repeated for every head;
    - cache arguments ([B, H_kv, L, D]) are read per head with `kiln.select`,
      and key/value results are re-stacked [B, H_kv, S, D] with reshape and
      concatenation.

    The forms of real models: kiln_torch's (`repeat_interleave`), Hugging
    Face eager and sdpa (view + `transpose(1, 2)`, `repeat_kv` as expand
    [B, H_kv, G, S, D] + view, `transpose(2, 3)` or `(-2, -1)` on keys), and
    graphs that are already one chain per head (TICO `npu_export`: slices
    and selects of the [B, S, H, D] view, heads stacked or concatenated),
    which are left per head with their stack turned into a feature-axis
    concatenation. A graph with nothing batched is returned as it is.

    Works on static prefill and decode graphs (run kiln-export-adapter
    first), for any H, H_kv, head_dim. An attention shape it cannot unroll
    is a diagnostic naming the op.
  }];
  let statistics = [
    Statistic<"numMerges", "num-merges", "Head merges unrolled">,
    Statistic<"numHeadOps", "num-head-ops", "Per-head ops created">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def ExpandGqa : Pass<"kiln-expand-gqa", "::mlir::func::FuncOp"> {
  let summary = "Express GQA key/value sharing by broadcasting instead of a materialised repeat";
  let description = [{
    For the batched `prefill_reference` variant. `repeat_interleave(k, r,
    dim=1)` feeding an attention matmul becomes a grouped matmul: queries
    [B, H, S, D] are viewed as [B, H_kv, r, S, D] and multiplied with
    keys/values viewed as [B, H_kv, 1, S, D], broadcasting over the group
    axis, and the product is viewed back as [B, H, ...]. No copy of the
    keys or values is made. A repeat with other users becomes an explicit
    unsqueeze + expand (a broadcast) + reshape. Hugging Face's `repeat_kv`
    (expand of [B, H_kv, 1, S, D] to [B, H_kv, G, S, D] viewed as
    [B, H, S, D]) is the same repeat and takes the same grouped matmul; a
    transpose of the keys' last two axes feeding the matmul becomes `adj_y`.
  }];
  let statistics = [
    Statistic<"numGroupedMatmuls", "num-grouped-matmuls", "Matmuls rewritten to broadcast over the group axis">,
    Statistic<"numExpanded", "num-expanded", "Repeats rewritten as expand">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

#endif // KILN_DIALECT_KILN_TRANSFORMS_PASSES_TD
