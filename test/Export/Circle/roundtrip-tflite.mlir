// writer -> reader -> writer for the TFLite flavor. The reader records the
// flavor: without --circle-flavor the writer keeps it.
// RUN: kiln-translate --mlir-to-circle --circle-flavor=tflite %s -o %t.tflite
// RUN: kiln-translate --circle-to-mlir --mlir-print-debuginfo %t.tflite -o %t.mlir
// RUN: kiln-translate --mlir-to-circle %t.mlir -o %t.again.tflite
// RUN: cmp %t.tflite %t.again.tflite
// Locations inline (which leaves out the resource section):
// RUN: kiln-translate --circle-to-mlir --mlir-print-debuginfo --mlir-print-local-scope %t.tflite | FileCheck %s

// CHECK: module attributes {kiln.flavor = "tflite"}
// CHECK: func.func @tfl(%{{.*}}: tensor<1x4x!quant.uniform<i16:f32, 1.000000e-03>> {kiln.name = "input_0"} loc("input_0")) -> (tensor<1x2x!quant.uniform<i16:f32, 2.000000e-03>> {kiln.name = "output_0"})
// CHECK: circle.const dense<{{\[\[}}1, 2, 3, 4], [-1, -2, -3, -4]]> : tensor<2x4xi8> as tensor<2x4x!quant.uniform<i8:f32:0, {1.000000e-01,2.000000e-01}>> loc("w")
// CHECK: circle.const {kiln.quant_scales = array<f64: 1.000000e-04, 2.000000e-04>} dense<[7, -7]> : tensor<2xi64> loc("b")
// CHECK: circle.fully_connected %{{.*}}, %{{.*}}, %{{.*}} : {{.*}} loc("y")

// TFLite flavor: quantized int16 activations, int8 weights, an int64 bias.
func.func @tfl(%x: tensor<1x4x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x2x!quant.uniform<i16:f32, 0.002>> {
  %w = circle.const dense<[[1, 2, 3, 4], [-1, -2, -3, -4]]> : tensor<2x4xi8> as tensor<2x4x!quant.uniform<i8:f32:0, {0.1, 0.2}>> loc("w")
  %b = circle.const {kiln.quant_scales = array<f64: 1.0e-4, 2.0e-4>} dense<[7, -7]> : tensor<2xi64> loc("b")
  %y = circle.fully_connected %x, %w, %b : (tensor<1x4x!quant.uniform<i16:f32, 0.001>>, tensor<2x4x!quant.uniform<i8:f32:0, {0.1, 0.2}>>, tensor<2xi64>) -> tensor<1x2x!quant.uniform<i16:f32, 0.002>> loc("y")
  return %y : tensor<1x2x!quant.uniform<i16:f32, 0.002>>
}
