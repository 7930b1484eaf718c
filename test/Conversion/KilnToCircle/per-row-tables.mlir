// RUN: kiln-opt %s --split-input-file --kiln-legalize-to-circle=flavor=tflite 2>/dev/null | FileCheck %s
// RUN: kiln-opt %s --split-input-file --kiln-legalize-to-circle=flavor=tflite 2>&1 >/dev/null | FileCheck %s --check-prefix=WARN
// RUN: kiln-opt %s --split-input-file --kiln-legalize-to-circle 2>&1 | FileCheck %s --check-prefix=CIRCLE

// TFLite flavor, per-row uint8 tables in integers (PerRowTables.cpp):
// - the embedding table is stored in its output's grid (scale 2^-7):
//   row 0 (0.5, zp 128): [-64, 63.5, 0, -60.5] / 2^-7; row 2 (2^-8, zp 100)
//   gives 0.5, -0.5, 1.5 steps, rounded half to even as PyTorch does;
// - lm_head: FULLY_CONNECTED of [x, x] with q - zp in two int8 halves
//   (row 1: d = [-10, 190, 0, 245] = [-5, 95, 0, 122] + [-5, 95, 0, 123]).
// CHECK-LABEL: func.func @tables
// CHECK: %[[T:.*]] = circle.const dense<{{\[\[}}-8192, 8128, 0, -7744], [-320, 0, 320, 640], [0, 0, 2, 0]]> : tensor<3x4xi16> as tensor<3x4x!quant.uniform<i16:f32, 7.812500e-03>>
// CHECK: circle.gather %[[T]], %arg0 : (tensor<3x4x!quant.uniform<i16:f32, 7.812500e-03>>, tensor<1x3xi64>) -> tensor<1x3x4x!quant.uniform<i16:f32, 7.812500e-03>>
// CHECK: %[[X:.*]] = circle.quantize %arg1
// CHECK: %[[W:.*]] = circle.const dense<{{\[\[}}-64, 63, 0, -63, -64, 64, 0, -64], [-5, 95, 0, 122, -5, 95, 0, 123], [-125, 2, -75, 0, -125, 3, -75, 0]]> : tensor<3x8xi8> as tensor<3x8x!quant.uniform<i8<-127:127>:f32:0, {2.000000e-02,3.000000e-02,4.000000e-02}>>
// CHECK: %[[XX:.*]] = circle.concatenation %[[X]], %[[X]] {axis = 2 : i32} : {{.*}} -> tensor<1x2x8x!quant.uniform<i16:f32, 1.000000e-03>>
// CHECK: circle.fully_connected %[[XX]], %[[W]] {keep_num_dims = true} : {{.*}} -> tensor<1x2x3x!quant.uniform<i16:f32, 2.000000e-03>>
// CHECK-NOT: tensor<3x4xf32>
// CHECK-NOT: xui8>
// CHECK: return
// Circle keeps the uint8 tables (ONE dequantizes them).
// CIRCLE-LABEL: func.func @tables
// CIRCLE: circle.const dense<{{\[\[}}0, 255, 128, 7]{{.*}} : tensor<3x4xui8>
// CIRCLE: circle.const dense<{{\[\[}}0, 255, 128, 1]{{.*}} : tensor<3x4xui8>
!t8 = !quant.uniform<u8:f32:0, {0.5:128, 0.25:20, 0.00390625:100}>
!p16 = !quant.uniform<i16:f32, 0.0078125>
!w8 = !quant.uniform<u8:f32:0, {0.02:128, 0.03:10, 0.04:250}>
!x16 = !quant.uniform<i16:f32, 0.001>
!y16 = !quant.uniform<i16:f32, 0.002>
func.func @tables(%ids: tensor<1x3xi64>, %x: tensor<1x2x4xf32>) -> (tensor<1x3x4xf32>, tensor<1x2x3xf32>) {
  %t = kiln.constant dense<[[0, 255, 128, 7], [10, 20, 30, 40], [101, 99, 103, 100]]> : tensor<3x4xui8> as tensor<3x4x!t8>
  %e = kiln.embedding %t[%ids] : (tensor<3x4x!t8>, tensor<1x3xi64>) -> tensor<1x3x4x!p16>
  %ed = kiln.dequantize %e : (tensor<1x3x4x!p16>) -> tensor<1x3x4xf32>
  %xq = kiln.quantize %x : (tensor<1x2x4xf32>) -> tensor<1x2x4x!x16>
  %w = kiln.constant dense<[[0, 255, 128, 1], [0, 200, 10, 255], [0, 255, 100, 250]]> : tensor<3x4xui8> as tensor<3x4x!w8>
  %y = kiln.linear %xq, %w : (tensor<1x2x4x!x16>, tensor<3x4x!w8>) -> tensor<1x2x3x!y16>
  %yd = kiln.dequantize %y : (tensor<1x2x3x!y16>) -> tensor<1x2x3xf32>
  return %ed, %yd : tensor<1x3x4xf32>, tensor<1x2x3xf32>
}

// -----

// q - zp = 255 (q = 255 at zp 0) has no two symmetric int8 halves: a warning,
// and the linear computes in float from the dequantized weights.
// WARN: warning: linear with uint8 weights 'lm_head': channel 1 holds q - zero_point = 255
// CHECK-LABEL: func.func @unsplittable
// CHECK: circle.const dense_resource<{{.*}}> : tensor<2x2xf32>
// CHECK: circle.fully_connected {{.*}} : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
!u8 = !quant.uniform<u8:f32:0, {0.02:128, 0.03:0}>
func.func @unsplittable(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %xq = kiln.quantize %x : (tensor<1x2xf32>) -> tensor<1x2x!quant.uniform<i16:f32, 0.001>>
  %w = kiln.constant dense<[[0, 1], [255, 3]]> : tensor<2x2xui8> as tensor<2x2x!u8> loc("lm_head")
  %y = kiln.linear %xq, %w : (tensor<1x2x!quant.uniform<i16:f32, 0.001>>, tensor<2x2x!u8>) -> tensor<1x2x!quant.uniform<i16:f32, 0.002>>
  %r = kiln.dequantize %y : (tensor<1x2x!quant.uniform<i16:f32, 0.002>>) -> tensor<1x2xf32>
  return %r : tensor<1x2xf32>
}
