// RUN: kiln-opt %s --split-input-file --verify-diagnostics

func.func @broadcast_mismatch(%a: tensor<2x3xf32>, %b: tensor<4x3xf32>) {
  // expected-error @+1 {{operands are not broadcast-compatible: [2, 3] and [4, 3]}}
  %0 = kiln.add %a, %b : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @wrong_result_shape(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{result shape [3, 2] is incompatible with inferred shape [2, 3]}}
  %0 = kiln.neg %a : (tensor<2x3xf32>) -> tensor<3x2xf32>
  return
}

// -----

func.func @linear_features(%x: tensor<1x16x64xf32>, %w: tensor<32x48xf32>) {
  // expected-error @+1 {{input features 64 differ from weight in_features 48}}
  %0 = kiln.linear %x, %w : (tensor<1x16x64xf32>, tensor<32x48xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @linear_weight_rank(%x: tensor<1x16x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{weight must be [out_features, in_features], got rank 1}}
  %0 = kiln.linear %x, %w : (tensor<1x16x64xf32>, tensor<64xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @matmul_contraction(%a: tensor<1x4x16x8xf32>, %b: tensor<1x4x16x8xf32>) {
  // expected-error @+1 {{contracting dimensions differ: 8 vs 16}}
  %0 = kiln.matmul %a, %b : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @mean_repeated(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{dimension -1 repeated}}
  %0 = kiln.mean %a [1, -1] : (tensor<2x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @softmax_dim(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{dimension 2 out of range for rank 2}}
  %0 = kiln.softmax %a dim = 2 : (tensor<2x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @reshape_two_inferred(%a: tensor<2x3xf32>) {
  %m = arith.constant -1 : i64
  // expected-error @+1 {{at most one size may be -1}}
  %0 = kiln.reshape %a(%m, %m) : (tensor<2x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @reshape_count(%a: tensor<2x3xf32>) {
  %c4 = arith.constant 4 : i64
  // expected-error @+1 {{cannot view [2, 3] as [4, 4]}}
  %0 = kiln.reshape %a(%c4, %c4) : (tensor<2x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @permute_not_permutation(%a: tensor<2x3x4xf32>) {
  // expected-error @+1 {{is not a permutation}}
  %0 = kiln.permute %a [0, 0, 1] : (tensor<2x3x4xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @expand_incompatible(%a: tensor<2x3xf32>) {
  %c4 = arith.constant 4 : i64
  // expected-error @+1 {{cannot expand [2, 3] to [4, 4]}}
  %0 = kiln.expand %a(%c4, %c4) : (tensor<2x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @repeat_zero(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{repeats must be positive, got 0}}
  %0 = kiln.repeat_interleave %a repeats = 0 dim = 0 : (tensor<2x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @slice_step(%a: tensor<2x3xf32>) {
  %c0 = arith.constant 0 : i64
  // expected-error @+1 {{step must be positive, got 0}}
  %0 = kiln.slice %a dim = 1 [%c0 : %c0 : %c0] : (tensor<2x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @select_index(%a: tensor<2x3xf32>) {
  %c5 = arith.constant 5 : i64
  // expected-error @+1 {{index 5 out of range for size 3}}
  %0 = kiln.select %a dim = 1 [%c5] : (tensor<2x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @cat_mismatch(%a: tensor<2x3xf32>, %b: tensor<4x3xf32>) {
  // expected-error @+1 {{inputs differ outside the concatenated dimension: [2, 3] and [4, 3]}}
  %0 = kiln.cat %a, %b dim = 1 : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @fake_quant_scale(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{scale must be positive and finite, got 0}}
  %0 = kiln.fake_quant %a scale(0.0) zero_point(0) range [-128, 127] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @fake_quant_zero_point(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{zero point 200 outside [-128, 127]}}
  %0 = kiln.fake_quant %a scale(0.5) zero_point(200) range [-128, 127] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @fake_quant_range(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{qmin 127 must be below qmax -128}}
  %0 = kiln.fake_quant %a scale(0.5) zero_point(0) range [127, -128] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @per_axis_count(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{axis 0 has size 2 but 3 scales}}
  %0 = kiln.fake_quant_per_axis %a axis(0) scales [0.1, 0.1, 0.1] zero_points [0, 0, 0] range [-8, 7] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @per_axis_lengths(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{has 2 scales but 1 zero points}}
  %0 = kiln.fake_quant_per_axis %a axis(0) scales [0.1, 0.1] zero_points [0] range [-8, 7] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @constant_storage() {
  // expected-error @+1 {{quantized result needs integer storage of width 8, got 'f32'}}
  %0 = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32> as tensor<2x!quant.uniform<i8:f32, 0.5>>
  return
}

// -----

func.func @tuple_index(%t: tuple<tensor<*xf32>>) {
  // expected-error @+1 {{index 1 out of range for a tuple of 1}}
  %0 = kiln.tuple_get %t[1] : tuple<tensor<*xf32>> -> tensor<*xf32>
  return
}

// -----

func.func @some_type(%t: tensor<2xf32>) {
  // expected-error @+1 {{wraps 'tensor<2xf32>' into '!kiln.optional<tensor<3xf32>>'}}
  %0 = kiln.some %t : tensor<2xf32> -> !kiln.optional<tensor<3xf32>>
  return
}

// -----

func.func @quantize_to_float(%a: tensor<2xf32>) {
  // expected-error @+1 {{result must have a quantized element type}}
  %0 = kiln.quantize %a : (tensor<2xf32>) -> tensor<2xf32>
  return
}

// -----

func.func @dequantize_type(%a: tensor<2x!quant.uniform<i8:f32, 0.5>>) {
  // expected-error @+1 {{result element type must be the expressed type 'f32'}}
  %0 = kiln.dequantize %a : (tensor<2x!quant.uniform<i8:f32, 0.5>>) -> tensor<2xf16>
  return
}

// -----

func.func @list_append_element_type(%l: !kiln.list<i64>, %t: tensor<*xf32>) {
  // expected-error @+1 {{appends 'tensor<*xf32>' to a list of 'i64'}}
  %0 = kiln.list_append %l, %t : !kiln.list<i64>, tensor<*xf32>
  return
}
