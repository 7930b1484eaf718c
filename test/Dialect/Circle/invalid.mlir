// RUN: kiln-opt %s --split-input-file --verify-diagnostics

func.func @activation(%a: tensor<2xf32>) {
  // expected-error @+1 {{unknown fused_activation_function 'GELU'}}
  %0 = circle.add %a, %a {fused_activation_function = "GELU"} : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  return
}

// -----

func.func @fc_depth(%x: tensor<1x64xf32>, %w: tensor<32x48xf32>) {
  // expected-error @+1 {{input depth 64 differs from filter 48}}
  %0 = circle.fully_connected %x, %w : (tensor<1x64xf32>, tensor<32x48xf32>) -> tensor<1x32xf32>
  return
}

// -----

func.func @bmm_contraction(%a: tensor<4x16x8xf32>) {
  // expected-error @+1 {{contracting dimensions differ: 8 vs 16}}
  %0 = circle.batch_matmul %a, %a : (tensor<4x16x8xf32>, tensor<4x16x8xf32>) -> tensor<4x16x8xf32>
  return
}

// -----

func.func @reshape_count(%a: tensor<2x3xf32>, %s: tensor<2xi32>) {
  // expected-error @+1 {{element count changes from 6 to 8}}
  %0 = circle.reshape %a, %s : (tensor<2x3xf32>, tensor<2xi32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @rope_mode(%a: tensor<1x4x16x16xf32>) {
  // expected-error @+1 {{mode must be GPT_NEOX or GPT_J, got 'LLAMA'}}
  %0 = circle.rope %a, %a, %a {mode = "LLAMA"} : (tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  return
}

// -----

func.func @unary_shape(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{input and output shapes differ}}
  %0 = circle.rsqrt %a : (tensor<2x3xf32>) -> tensor<3x2xf32>
  return
}

// -----

func.func @const_storage() {
  // expected-error @+1 {{value element type 'i16' does not store}}
  %0 = circle.const dense<[1, 2]> : tensor<2xi16> as tensor<2x!quant.uniform<i8:f32, 0.5>>
  return
}
