// Errors of the writer: each names the tensor or operator at fault, and no
// output file is left behind.
// RUN: not kiln-translate --mlir-to-circle --circle-flavor=tflite --split-input-file %s -o %t.out 2>&1 | FileCheck %s
// RUN: not test -e %t.out

// CHECK: error: loc("norm"): 'circle.rms_norm' (RMS_NORM) is a Circle-only operator: the tflite flavor cannot hold it
func.func @rms(%x: tensor<1x8xf32>) -> tensor<1x8xf32> {
  %g = circle.const dense<1.0> : tensor<8xf32>
  %n = circle.rms_norm %x, %g : (tensor<1x8xf32>, tensor<8xf32>) -> tensor<1x8xf32> loc("norm")
  return %n : tensor<1x8xf32>
}

// -----

// CHECK: error: loc("q_rope"): 'circle.rope' (ROPE) is a Circle-only operator
func.func @rope(%x: tensor<1x1x2x4xf32>, %t: tensor<1x1x2x4xf32>) -> tensor<1x1x2x4xf32> {
  %r = circle.rope %x, %t, %t : (tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x1x2x4xf32> loc("q_rope")
  return %r : tensor<1x1x2x4xf32>
}

// -----

// CHECK: error: loc("layers.0.mlp.w"): tensor 'layers.0.mlp.w' has element type '!quant.uniform<u4:f32, 1.000000e-01:8>' (Circle's UINT4), which the tflite flavor cannot hold
func.func @uint4(%x: tensor<2xf32>) -> tensor<3xf32> {
  %u = circle.const dense<[1, 2, 3]> : tensor<3xui4> as tensor<3x!quant.uniform<u4:f32, 0.1:8>> loc("layers.0.mlp.w")
  %d = circle.dequantize %u : (tensor<3x!quant.uniform<u4:f32, 0.1:8>>) -> tensor<3xf32>
  return %d : tensor<3xf32>
}

// -----

// CHECK: error: tensor 'input_0' has element type 'ui4' (Circle's UINT4)
func.func @uint4_input(%x: tensor<2xui4>) -> tensor<2xui4> {
  return %x : tensor<2xui4>
}

// -----

// CHECK: model.py:7:1: error: 'arith.constant' is not a circle operator: only circle dialect ops (and func.return) can be written
func.func @foreign() -> tensor<2xf32> {
  %c = arith.constant dense<1.0> : tensor<2xf32> loc("model.py":7:1)
  return %c : tensor<2xf32>
}

// -----

// CHECK: error: loc("x"): tensor 'x' has type 'tensor<*xf32>': only ranked tensors can be written
func.func @unranked(%x: tensor<*xf32> loc("x")) -> tensor<*xf32> {
  return %x : tensor<*xf32>
}

// -----

// CHECK: error: tensor 'input_0' has element type 'complex<f32>', which has no Circle/TFLite tensor type
func.func @complex(%x: tensor<2xcomplex<f32>>) -> tensor<2xcomplex<f32>> {
  return %x : tensor<2xcomplex<f32>>
}

// -----

// CHECK: error: no public function to write: each public func.func becomes a subgraph
func.func private @hidden(%x: tensor<2xf32>) -> tensor<2xf32> {
  return %x : tensor<2xf32>
}
func.func private @declared(%x: tensor<2xf32>) -> tensor<2xf32>

// -----

// CHECK: error: signature key 'run' is used twice
func.func @a(%x: tensor<2xf32>) -> tensor<2xf32> attributes {kiln.signature = "run"} {
  return %x : tensor<2xf32>
}
func.func @b(%x: tensor<2xf32>) -> tensor<2xf32> attributes {kiln.signature = "run"} {
  return %x : tensor<2xf32>
}

// -----

// CHECK: error: loc("w"): constant 'w': resource 'short' holds 3 bytes, but 'tensor<2xf32>' needs 8
func.func @short_blob() -> tensor<2xf32> {
  %w = circle.const dense_resource<short> : tensor<2xf32> loc("w")
  return %w : tensor<2xf32>
}
{-#
  dialect_resources: {
    builtin: {
      short: "0x04000000010203"
    }
  }
#-}

// -----

// CHECK: error: loc("w8"): tensor 'w8' has 3 scales, which do not match its quantized dimension 1
func.func @scales(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %w = circle.const dense<1> : tensor<2x4xi8> as tensor<2x4x!quant.uniform<i8:f32:1, {0.1, 0.2, 0.3}>> loc("w8")
  %d = circle.dequantize %w : (tensor<2x4x!quant.uniform<i8:f32:1, {0.1, 0.2, 0.3}>>) -> tensor<2x4xf32>
  return %d : tensor<2x4xf32>
}

// -----

// CHECK: error: 'circle.const' op 'kiln.quant_scales' needs an integer constant
func.func @scales_on_float() -> tensor<2xf32> {
  %w = circle.const {kiln.quant_scales = array<f64: 0.5>} dense<1.0> : tensor<2xf32>
  return %w : tensor<2xf32>
}

// -----

// CHECK: error: 'circle.const' op has 2 'kiln.quant_scales', which do not match dimension 0 of its shape
func.func @bias_scales() -> tensor<3xi64> {
  %b = circle.const {kiln.quant_scales = array<f64: 0.5, 0.25>} dense<1> : tensor<3xi64>
  return %b : tensor<3xi64>
}
