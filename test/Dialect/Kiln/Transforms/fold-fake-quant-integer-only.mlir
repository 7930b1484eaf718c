// RUN: kiln-opt %s --split-input-file --kiln-fold-fake-quant=integer-only --verify-diagnostics | FileCheck %s

// An unquantized sum of two symmetric int16 tensors gets the scale
// s_a + s_b = 0.003 and runs in integers; the next add, whose result is fake
// quantized, absorbs its fake quant.
// CHECK-LABEL: func.func @derived_sum
// CHECK: %[[S:.*]] = kiln.add %{{.*}}, %{{.*}} : {{.*}} -> tensor<1x2x!quant.uniform<i16:f32, 3.000000e-03>>
// CHECK: kiln.add %[[S]], %{{.*}} : {{.*}} -> tensor<1x2x!quant.uniform<i16:f32, 5.000000e-03>>
// CHECK-NOT: kiln.fake_quant
func.func @derived_sum(%a: tensor<1x2xf32>, %b: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %qa = kiln.fake_quant %a scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %qb = kiln.fake_quant %b scale(0.002) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %s = kiln.add %qa, %qb : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
  %t = kiln.add %s, %qb : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
  %qt = kiln.fake_quant %t scale(0.005) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  return %qt : tensor<1x2xf32>
}

// -----

// 8-bit sums keep their float result (one int8 step is too coarse).
// CHECK-LABEL: func.func @int8_sum
// CHECK: kiln.add %{{.*}}, %{{.*}} : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
func.func @int8_sum(%a: tensor<1x2xf32>, %b: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %qa = kiln.fake_quant %a scale(0.1) zero_point(0) range [-128, 127] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %qb = kiln.fake_quant %b scale(0.2) zero_point(0) range [-128, 127] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %s = kiln.add %qa, %qb : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
  return %s : tensor<1x2xf32>
}

// -----

// A fake-quantized input is read quantized by all its users: the residual
// add reads the quantized input, not the raw float one.
// CHECK-LABEL: func.func @residual
// CHECK-SAME: (%[[H:.*]]: tensor<1x2xf32>)
// CHECK: %[[Q:.*]] = kiln.quantize %[[H]] : (tensor<1x2xf32>) -> tensor<1x2x!quant.uniform<i16:f32, 1.000000e-03>>
// CHECK: %[[N:.*]] = kiln.neg %[[Q]]
// CHECK: kiln.add %[[Q]], %[[N]]
func.func @residual(%h: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %q = kiln.fake_quant %h scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %n = kiln.neg %q : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %qn = kiln.fake_quant %n scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %s = kiln.add %h, %qn : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
  %qs = kiln.fake_quant %s scale(0.002) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  return %qs : tensor<1x2xf32>
}

// -----

// A fake quant of a head's slice of a float input (the mask) moves onto the
// input: the input is quantized at the edge, the slice runs on integers.
// CHECK-LABEL: func.func @mask_slice
// CHECK-SAME: (%[[M:.*]]: tensor<1x2x3xf32>)
// CHECK: %[[Q:.*]] = kiln.quantize %[[M]] : (tensor<1x2x3xf32>) -> tensor<1x2x3x!quant.uniform<i16:f32, 3.000000e-03>>
// CHECK: kiln.slice %[[Q]] dim = 1 {{.*}} -> tensor<1x1x3x!quant.uniform<i16:f32, 3.000000e-03>>
func.func @mask_slice(%m: tensor<1x2x3xf32>) -> tensor<1x1x3xf32> {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %s = kiln.slice %m dim = 1 [%c0 : %c1 : %c1] : (tensor<1x2x3xf32>) -> tensor<1x1x3xf32>
  %q = kiln.fake_quant %s scale(0.003) zero_point(0) range [-32768, 32767] : (tensor<1x1x3xf32>) -> tensor<1x1x3xf32>
  return %q : tensor<1x1x3xf32>
}
