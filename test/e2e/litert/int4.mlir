// INT4 weights in LiteRT: FULLY_CONNECTED with packed INT4 per-channel
// weights for int8 (w4a8), int16 (w4a16, int64 bias) and float (hybrid)
// inputs, and DEQUANTIZE of an INT4 constant. Each *_i4 signature holds the
// same weights as its *_i8 twin stored as INT8: LiteRT's outputs must be the
// same bits (packing and nibble order), and near numpy's float product.
// A 3x5 weight (15 values) has rows that start mid-byte.
// REQUIRES: litert
// RUN: kiln-translate --mlir-to-circle --circle-flavor=tflite %s -o %t.tflite
// RUN: kiln-translate --circle-dump %t.tflite | FileCheck %s --check-prefix=DUMP
// RUN: rm -rf %t.in %t.out && %python %S/Inputs/int4.py make %t.in
// RUN: for s in a8_i4 a8_i8 a16_i4 a16_i8 f32_i4 f32_i8 dq_i4 dq_i8; do %litert_run %t.tflite --signature $s --inputs %t.in --outputs %t.out || exit 1; done
// RUN: %python %S/Inputs/int4.py check %t.in %t.out | FileCheck %s

// 32 int4 values in 16 bytes, 15 in 8; the int8 twins take 32 and 15.
// DUMP-DAG: tensor #{{[0-9]+}} "w4" INT4 [4, 8] buffer [[W4:[0-9]+]] quant scale [0.02, 0.029999999, 0.039999999, 0.050000001]
// DUMP-DAG: tensor #{{[0-9]+}} "w4x5" INT4 [3, 5] buffer [[W45:[0-9]+]] quant scale [0.02, 0.029999999, 0.039999999]
// DUMP-DAG: tensor #{{[0-9]+}} "w8" INT8 [4, 8] buffer [[W8:[0-9]+]]
// DUMP-DAG: buffer #[[W4]] inline 16 bytes
// DUMP-DAG: buffer #[[W45]] inline 8 bytes
// DUMP-DAG: buffer #[[W8]] inline 32 bytes
// DUMP-DAG: FULLY_CONNECTED v10 inputs
// DUMP-DAG: DEQUANTIZE v6 inputs

// CHECK: a8 y identical
// CHECK-NEXT: a16 y identical
// CHECK-NEXT: f32 y identical
// CHECK-NEXT: dq y identical
// CHECK-NEXT: all int4 outputs match their int8 twins

!x8 = !quant.uniform<i8:f32, 0.05:-3>
!y8 = !quant.uniform<i8:f32, 0.1:2>
!x16 = !quant.uniform<i16:f32, 0.001>
!y16 = !quant.uniform<i16:f32, 0.002>
!w4 = !quant.uniform<i4:f32:0, {0.02, 0.03, 0.04, 0.05}>
!w8 = !quant.uniform<i8:f32:0, {0.02, 0.03, 0.04, 0.05}>
!v4 = !quant.uniform<i4:f32:0, {0.02, 0.03, 0.04}>
!v8 = !quant.uniform<i8:f32:0, {0.02, 0.03, 0.04}>
!b32 = !quant.uniform<i32:f32:0, {0.001, 0.0015, 0.002, 0.0025}>

module {
  func.func @a8_i4(%x: tensor<2x8x!x8> {kiln.name = "x"}) -> (tensor<2x4x!y8> {kiln.name = "y"}) {
    %w = circle.const dense<[[-7, -2, 3, -8, -2, 3, -7, -2], [6, -4, 1, 6, -4, 1, 6, -4], [4, -6, -1, 4, -6, -1, 4, -6], [2, 7, -3, 2, 7, -3, 2, 7]]> : tensor<4x8xi4> as tensor<4x8x!w4> loc("w4")
    %b = circle.const dense<[100, -133, 150, -160]> : tensor<4xi32> as tensor<4x!b32>
    %y = circle.fully_connected %x, %w, %b : (tensor<2x8x!x8>, tensor<4x8x!w4>, tensor<4x!b32>) -> tensor<2x4x!y8>
    return %y : tensor<2x4x!y8>
  }
  func.func @a8_i8(%x: tensor<2x8x!x8> {kiln.name = "x"}) -> (tensor<2x4x!y8> {kiln.name = "y"}) {
    %w = circle.const dense<[[-7, -2, 3, -8, -2, 3, -7, -2], [6, -4, 1, 6, -4, 1, 6, -4], [4, -6, -1, 4, -6, -1, 4, -6], [2, 7, -3, 2, 7, -3, 2, 7]]> : tensor<4x8xi8> as tensor<4x8x!w8> loc("w8")
    %b = circle.const dense<[100, -133, 150, -160]> : tensor<4xi32> as tensor<4x!b32>
    %y = circle.fully_connected %x, %w, %b : (tensor<2x8x!x8>, tensor<4x8x!w8>, tensor<4x!b32>) -> tensor<2x4x!y8>
    return %y : tensor<2x4x!y8>
  }
  func.func @a16_i4(%x: tensor<2x5x!x16> {kiln.name = "x"}) -> (tensor<2x3x!y16> {kiln.name = "y"}) {
    %w = circle.const dense<[[-8, 7, 3, -5, 1], [6, -4, 0, 5, -1], [2, -6, 7, -8, 4]]> : tensor<3x5xi4> as tensor<3x5x!v4> loc("w4x5")
    %b = circle.const {kiln.quant_scales = array<f64: 2.0e-5, 3.0e-5, 4.0e-5>} dense<[5000, -6667, 7500]> : tensor<3xi64>
    %y = circle.fully_connected %x, %w, %b {keep_num_dims = true} : (tensor<2x5x!x16>, tensor<3x5x!v4>, tensor<3xi64>) -> tensor<2x3x!y16>
    return %y : tensor<2x3x!y16>
  }
  func.func @a16_i8(%x: tensor<2x5x!x16> {kiln.name = "x"}) -> (tensor<2x3x!y16> {kiln.name = "y"}) {
    %w = circle.const dense<[[-8, 7, 3, -5, 1], [6, -4, 0, 5, -1], [2, -6, 7, -8, 4]]> : tensor<3x5xi8> as tensor<3x5x!v8>
    %b = circle.const {kiln.quant_scales = array<f64: 2.0e-5, 3.0e-5, 4.0e-5>} dense<[5000, -6667, 7500]> : tensor<3xi64>
    %y = circle.fully_connected %x, %w, %b {keep_num_dims = true} : (tensor<2x5x!x16>, tensor<3x5x!v8>, tensor<3xi64>) -> tensor<2x3x!y16>
    return %y : tensor<2x3x!y16>
  }
  func.func @f32_i4(%x: tensor<2x8xf32> {kiln.name = "x"}) -> (tensor<2x4xf32> {kiln.name = "y"}) {
    %w = circle.const dense<[[-7, -2, 3, -8, -2, 3, -7, -2], [6, -4, 1, 6, -4, 1, 6, -4], [4, -6, -1, 4, -6, -1, 4, -6], [2, 7, -3, 2, 7, -3, 2, 7]]> : tensor<4x8xi4> as tensor<4x8x!w4>
    %y = circle.fully_connected %x, %w : (tensor<2x8xf32>, tensor<4x8x!w4>) -> tensor<2x4xf32>
    return %y : tensor<2x4xf32>
  }
  func.func @f32_i8(%x: tensor<2x8xf32> {kiln.name = "x"}) -> (tensor<2x4xf32> {kiln.name = "y"}) {
    %w = circle.const dense<[[-7, -2, 3, -8, -2, 3, -7, -2], [6, -4, 1, 6, -4, 1, 6, -4], [4, -6, -1, 4, -6, -1, 4, -6], [2, 7, -3, 2, 7, -3, 2, 7]]> : tensor<4x8xi8> as tensor<4x8x!w8>
    %y = circle.fully_connected %x, %w : (tensor<2x8xf32>, tensor<4x8x!w8>) -> tensor<2x4xf32>
    return %y : tensor<2x4xf32>
  }
  func.func @dq_i4(%x: tensor<3x5xf32> {kiln.name = "x"}) -> (tensor<3x5xf32> {kiln.name = "y"}) {
    %w = circle.const dense<[[-8, 7, 3, -5, 1], [6, -4, 0, 5, -1], [2, -6, 7, -8, 4]]> : tensor<3x5xi4> as tensor<3x5x!v4>
    %d = circle.dequantize %w : (tensor<3x5x!v4>) -> tensor<3x5xf32>
    %y = circle.add %x, %d : (tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<3x5xf32>
    return %y : tensor<3x5xf32>
  }
  func.func @dq_i8(%x: tensor<3x5xf32> {kiln.name = "x"}) -> (tensor<3x5xf32> {kiln.name = "y"}) {
    %w = circle.const dense<[[-8, 7, 3, -5, 1], [6, -4, 0, 5, -1], [2, -6, 7, -8, 4]]> : tensor<3x5xi8> as tensor<3x5x!v8>
    %d = circle.dequantize %w : (tensor<3x5x!v8>) -> tensor<3x5xf32>
    %y = circle.add %x, %d : (tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<3x5xf32>
    return %y : tensor<3x5xf32>
  }
}
