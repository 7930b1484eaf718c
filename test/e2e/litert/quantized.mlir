// Quantized models in LiteRT: int8 (w8a8) and int16 activations with int8
// per-channel weights (w8a16, int64 bias), with float I/O through
// QUANTIZE/DEQUANTIZE and with int8/int16 I/O directly (LiteRT's Tensor class
// cannot take those; the runner uses its lower-level buffers). Expected
// values: numpy's emulation of the integer arithmetic (Inputs/quantized.py).
// REQUIRES: litert
// RUN: kiln-translate --mlir-to-circle --circle-flavor=tflite %s -o %t.tflite
// RUN: kiln-translate --circle-dump %t.tflite | FileCheck %s --check-prefix=DUMP
// RUN: rm -rf %t.in %t.out && %python %S/Inputs/quantized.py make %t.in
// RUN: %litert_run %t.tflite --signature q8 --inputs %t.in --outputs %t.out
// RUN: %litert_run %t.tflite --signature q16 --inputs %t.in --outputs %t.out
// RUN: %litert_run %t.tflite --signature q8io --inputs %t.in --outputs %t.out | FileCheck %s --check-prefix=IO8
// RUN: %litert_run %t.tflite --signature q16io --inputs %t.in --outputs %t.out | FileCheck %s --check-prefix=IO16
// A float reference input for an int16 model input, quantized by the runner.
// RUN: %litert_run %t.tflite --signature q16io --step q16io_float --inputs %t.in --outputs %t.out
// RUN: %python %S/Inputs/quantized.py check %t.in %t.out | FileCheck %s

// Weights and biases are shared by the float-I/O and integer-I/O signatures:
// int8 weights, int32 bias, int64 bias, then the version string.
// DUMP: buffers: 5
// DUMP-NEXT: buffer #0 empty
// DUMP-NEXT: buffer #1 inline 32 bytes
// DUMP-NEXT: buffer #2 inline 16 bytes
// DUMP-NEXT: buffer #3 inline 32 bytes
// DUMP: op #{{[0-9]+}} FULLY_CONNECTED v4 inputs
// DUMP: op #{{[0-9]+}} ADD v3 {{.*}} pot_scale_int16: false}
// DUMP: op #{{[0-9]+}} SOFTMAX v3
// IO8: ran 'q8io' in LiteRT: y int8[2,4]
// IO16: ran 'q16io' in LiteRT: y int16[2,4]

// CHECK: q8 fc ok
// CHECK-NEXT: q16 fc ok
// CHECK-NEXT: q16 add ok
// CHECK-NEXT: q16 softmax ok
// CHECK-NEXT: q8io y ok
// CHECK-NEXT: q16io y ok
// CHECK-NEXT: q16io_float y ok
// CHECK-NEXT: all outputs match

!x8 = !quant.uniform<i8:f32, 0.05:-3>
!y8 = !quant.uniform<i8:f32, 0.1:2>
!x16 = !quant.uniform<i16:f32, 0.001>
!y16 = !quant.uniform<i16:f32, 0.002>
!w8 = !quant.uniform<i8:f32:0, {0.02, 0.03, 0.04, 0.05}>
!b32 = !quant.uniform<i32:f32:0, {0.001, 0.0015, 0.002, 0.0025}>

module {
  func.func @q8(%x: tensor<2x8xf32> {kiln.name = "x"}) -> (tensor<2x4xf32> {kiln.name = "fc"}) {
    %q = circle.quantize %x : (tensor<2x8xf32>) -> tensor<2x8x!x8>
    %w = circle.const dense<[[-7, -2, 3, -7, -2, 3, -7, -2], [6, -4, 1, 6, -4, 1, 6, -4], [4, -6, -1, 4, -6, -1, 4, -6], [2, 7, -3, 2, 7, -3, 2, 7]]> : tensor<4x8xi8> as tensor<4x8x!w8>
    %b = circle.const dense<[100, -133, 150, -160]> : tensor<4xi32> as tensor<4x!b32>
    %y = circle.fully_connected %q, %w, %b : (tensor<2x8x!x8>, tensor<4x8x!w8>, tensor<4x!b32>) -> tensor<2x4x!y8>
    %fc = circle.dequantize %y : (tensor<2x4x!y8>) -> tensor<2x4xf32>
    return %fc : tensor<2x4xf32>
  }

  func.func @q16(%x: tensor<2x8xf32> {kiln.name = "x"})
      -> (tensor<2x4xf32> {kiln.name = "fc"}, tensor<2x8xf32> {kiln.name = "add"}, tensor<2x8xf32> {kiln.name = "softmax"}) {
    %q = circle.quantize %x : (tensor<2x8xf32>) -> tensor<2x8x!x16>
    %w = circle.const dense<[[-7, -2, 3, -7, -2, 3, -7, -2], [6, -4, 1, 6, -4, 1, 6, -4], [4, -6, -1, 4, -6, -1, 4, -6], [2, 7, -3, 2, 7, -3, 2, 7]]> : tensor<4x8xi8> as tensor<4x8x!w8>
    %b = circle.const {kiln.quant_scales = array<f64: 2.0e-5, 3.0e-5, 4.0e-5, 5.0e-5>} dense<[5000, -6667, 7500, -8000]> : tensor<4xi64>
    %y = circle.fully_connected %q, %w, %b : (tensor<2x8x!x16>, tensor<4x8x!w8>, tensor<4xi64>) -> tensor<2x4x!y16>
    %fc = circle.dequantize %y : (tensor<2x4x!y16>) -> tensor<2x4xf32>
    %a = circle.add %q, %q : (tensor<2x8x!x16>, tensor<2x8x!x16>) -> tensor<2x8x!quant.uniform<i16:f32, 0.0025>>
    %add = circle.dequantize %a : (tensor<2x8x!quant.uniform<i16:f32, 0.0025>>) -> tensor<2x8xf32>
    %s = circle.softmax %q : (tensor<2x8x!x16>) -> tensor<2x8x!quant.uniform<i16:f32, 3.0517578125e-05>>
    %sm = circle.dequantize %s : (tensor<2x8x!quant.uniform<i16:f32, 3.0517578125e-05>>) -> tensor<2x8xf32>
    return %fc, %add, %sm : tensor<2x4xf32>, tensor<2x8xf32>, tensor<2x8xf32>
  }

  func.func @q8io(%x: tensor<2x8x!x8> {kiln.name = "x"}) -> (tensor<2x4x!y8> {kiln.name = "y"}) {
    %w = circle.const dense<[[-7, -2, 3, -7, -2, 3, -7, -2], [6, -4, 1, 6, -4, 1, 6, -4], [4, -6, -1, 4, -6, -1, 4, -6], [2, 7, -3, 2, 7, -3, 2, 7]]> : tensor<4x8xi8> as tensor<4x8x!w8>
    %b = circle.const dense<[100, -133, 150, -160]> : tensor<4xi32> as tensor<4x!b32>
    %y = circle.fully_connected %x, %w, %b : (tensor<2x8x!x8>, tensor<4x8x!w8>, tensor<4x!b32>) -> tensor<2x4x!y8>
    return %y : tensor<2x4x!y8>
  }

  func.func @q16io(%x: tensor<2x8x!x16> {kiln.name = "x"}) -> (tensor<2x4x!y16> {kiln.name = "y"}) {
    %w = circle.const dense<[[-7, -2, 3, -7, -2, 3, -7, -2], [6, -4, 1, 6, -4, 1, 6, -4], [4, -6, -1, 4, -6, -1, 4, -6], [2, 7, -3, 2, 7, -3, 2, 7]]> : tensor<4x8xi8> as tensor<4x8x!w8>
    %b = circle.const {kiln.quant_scales = array<f64: 2.0e-5, 3.0e-5, 4.0e-5, 5.0e-5>} dense<[5000, -6667, 7500, -8000]> : tensor<4xi64>
    %y = circle.fully_connected %x, %w, %b : (tensor<2x8x!x16>, tensor<4x8x!w8>, tensor<4xi64>) -> tensor<2x4x!y16>
    return %y : tensor<2x4x!y16>
  }
}
