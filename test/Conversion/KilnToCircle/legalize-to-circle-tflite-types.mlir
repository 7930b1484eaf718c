// Diagnostics name the tensor by its module path (the importer's NameLoc).
// RUN: not kiln-opt %s --split-input-file --kiln-legalize-to-circle=flavor=tflite 2>&1 | FileCheck %s
// The Circle flavor accepts both.
// RUN: kiln-opt %s --split-input-file --kiln-legalize-to-circle=flavor=circle | FileCheck %s --check-prefix=CIRCLE

// CHECK: error: {{.*}}tensor 'model.layers.0.mlp.up_proj.weight' has type uint4, which TFLite lacks (Circle-only); export with --format circle or use a signed int4 recipe
// CIRCLE-LABEL: func.func @uint4_in_tflite
// CIRCLE: circle.fully_connected {{.*}}!quant.uniform<u4:f32:0
func.func @uint4_in_tflite(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %w = kiln.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xui4> as tensor<2x2x!quant.uniform<u4:f32:0, {0.5, 0.25}>> loc("model.layers.0.mlp.up_proj.weight")
  %xq = kiln.quantize %x : (tensor<1x2xf32>) -> tensor<1x2x!quant.uniform<i16:f32, 0.001>>
  %y = kiln.linear %xq, %w : (tensor<1x2x!quant.uniform<i16:f32, 0.001>>, tensor<2x2x!quant.uniform<u4:f32:0, {0.5, 0.25}>>) -> tensor<1x2x!quant.uniform<i16:f32, 0.001>>
  %r = kiln.dequantize %y : (tensor<1x2x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x2xf32>
  return %r : tensor<1x2xf32>
}

// -----

// CHECK: error: {{.*}}tensor 'model.layers.0.self_attn.softmax' is an activation with per-axis quantization, which TFLite lacks; export the head-unrolled prefill variant instead
// CIRCLE-LABEL: func.func @per_head_activation
func.func @per_head_activation(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %q = kiln.quantize %x : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4x!quant.uniform<i16:f32:1, {0.001, 0.002}>> loc("model.layers.0.self_attn.softmax")
  %r = kiln.dequantize %q : (tensor<1x2x4x4x!quant.uniform<i16:f32:1, {0.001, 0.002}>>) -> tensor<1x2x4x4xf32>
  return %r : tensor<1x2x4x4xf32>
}
