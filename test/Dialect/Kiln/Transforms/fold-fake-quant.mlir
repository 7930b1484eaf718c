// RUN: kiln-opt %s --split-input-file --kiln-fold-fake-quant --verify-diagnostics | FileCheck %s

// Weights: per-output-channel int8. Expected integers by hand:
//   row 0 / 0.5  = [2, -2.52, 0.5, 200]   -> [2, -3, 0 (half to even), 127 (clamped)]
//   row 1 / 0.25 = [0.5, -1.5, 4, -160]   -> [0, -2, 4, -128]
// Activations int16: the input gets an explicit quantize, the linear absorbs
// the fake quant on its output, and the float result is dequantized.
// CHECK-LABEL: func.func @linear_w8a16
// CHECK-SAME: (%[[ARG:.*]]: tensor<1x4xf32>) -> tensor<1x2xf32>
// CHECK-DAG: %[[W:.*]] = kiln.constant dense<{{\[\[}}2, -3, 0, 127], [0, -2, 4, -128]]> : tensor<2x4xi8> as tensor<2x4x!quant.uniform<i8:f32:0, {5.000000e-01,2.500000e-01}>>
// CHECK-DAG: %[[X:.*]] = kiln.quantize %[[ARG]] : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<i16:f32, 1.000000e-03>>
// CHECK: %[[Y:.*]] = kiln.linear %[[X]], %[[W]] : {{.*}} -> tensor<1x2x!quant.uniform<i16:f32, 2.000000e-03>>
// CHECK-NOT: kiln.fake_quant
// CHECK: %[[R:.*]] = kiln.dequantize %[[Y]] : (tensor<1x2x!quant.uniform<i16:f32, 2.000000e-03>>) -> tensor<1x2xf32>
// CHECK: return %[[R]]
func.func @linear_w8a16(%arg0: tensor<1x4xf32>) -> tensor<1x2xf32> {
  %w = kiln.constant dense<[[1.0, -1.26, 0.25, 100.0], [0.125, -0.375, 1.0, -40.0]]> : tensor<2x4xf32>
  %wq = kiln.fake_quant_per_axis %w axis(0) scales [0.5, 0.25] zero_points [0, 0] range [-128, 127] : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %x = kiln.fake_quant %arg0 scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x4xf32>) -> tensor<1x4xf32>
  %y = kiln.linear %x, %wq : (tensor<1x4xf32>, tensor<2x4xf32>) -> tensor<1x2xf32>
  %yq = kiln.fake_quant %y scale(0.002) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  return %yq : tensor<1x2xf32>
}

// -----

// uint4 asymmetric, per tensor: [-4, 0.3, 3.5, 10] / 0.5 + 8 = [0, 8.6, 15, 28]
// -> [0, 9, 15, 15]. int4 symmetric narrow range [-7, 7] is int4 too.
// CHECK-LABEL: func.func @four_bit
// CHECK: kiln.constant dense<[0, 9, 15, 15]> : tensor<4xui4> as tensor<4x!quant.uniform<u4:f32, 5.000000e-01:8>>
// CHECK: kiln.constant dense<[-7, 1, 7, 7]> : tensor<4xi4> as tensor<4x!quant.uniform<i4<-7:7>:f32, 5.000000e-01>>
func.func @four_bit() -> (tensor<4xf32>, tensor<4xf32>) {
  %w = kiln.constant dense<[-4.0, 0.3, 3.5, 10.0]> : tensor<4xf32>
  %u = kiln.fake_quant %w scale(0.5) zero_point(8) range [0, 15] : (tensor<4xf32>) -> tensor<4xf32>
  %s = kiln.fake_quant %w scale(0.5) zero_point(0) range [-7, 7] : (tensor<4xf32>) -> tensor<4xf32>
  return %u, %s : tensor<4xf32>, tensor<4xf32>
}

// -----

// Data movement keeps the input's type; a fake quant with other parameters
// after it is an explicit requantize. An op without a fake quant after it
// computes in float from a dequantized input.
// CHECK-LABEL: func.func @movement_and_float_ops
// CHECK: %[[Q:.*]] = kiln.quantize %{{.*}} -> tensor<2x8x!quant.uniform<i16:f32, 1.000000e-02>>
// CHECK: %[[S:.*]] = kiln.slice %[[Q]] {{.*}} -> tensor<2x4x!quant.uniform<i16:f32, 1.000000e-02>>
// CHECK: %[[RQ:.*]] = kiln.quantize %[[S]] : (tensor<2x4x!quant.uniform<i16:f32, 1.000000e-02>>) -> tensor<2x4x!quant.uniform<i16:f32, 2.000000e-02>>
// CHECK: %[[D:.*]] = kiln.dequantize %[[RQ]]
// CHECK: kiln.silu %[[D]] : (tensor<2x4xf32>) -> tensor<2x4xf32>
func.func @movement_and_float_ops(%x: tensor<2x8xf32>) -> tensor<2x4xf32> {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %c4 = arith.constant 4 : i64
  %xq = kiln.fake_quant %x scale(0.01) zero_point(0) range [-32768, 32767] : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %s = kiln.slice %xq dim = 1 [%c0 : %c4 : %c1] : (tensor<2x8xf32>) -> tensor<2x4xf32>
  %sq = kiln.fake_quant %s scale(0.02) zero_point(0) range [-32768, 32767] : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = kiln.silu %sq : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// A float constant operand of an op with a quantized result is quantized
// per tensor, symmetric, in the result's storage: 0.25 -> scale 0.25/32767.
// CHECK-LABEL: func.func @scalar_constant
// CHECK-NOT: dense<2.5
// CHECK: %[[C:.*]] = kiln.constant dense<32767> : tensor<i16> as tensor<!quant.uniform<i16:f32, 7.62962736899{{[0-9]*}}E-6>>
// CHECK: kiln.mul %{{.*}}, %[[C]] {{.*}} -> tensor<1x4x!quant.uniform<i16:f32, 5.000000e-04>>
func.func @scalar_constant(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %c = kiln.constant dense<0.25> : tensor<f32>
  %xq = kiln.fake_quant %x scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x4xf32>) -> tensor<1x4xf32>
  %y = kiln.mul %xq, %c : (tensor<1x4xf32>, tensor<f32>) -> tensor<1x4xf32>
  %yq = kiln.fake_quant %y scale(0.0005) zero_point(0) range [-32768, 32767] : (tensor<1x4xf32>) -> tensor<1x4xf32>
  return %yq : tensor<1x4xf32>
}

// -----

// Bias: scale = input scale x weight scale, zero point 0.
//   8-bit activations: int32, [0.3, -0.1] / (0.1 * [0.5, 0.25]) = [6, -4]
//   16-bit activations: int64 with scales in kiln.quant_scales:
//   [0.3, -0.1] / (0.001 * [0.5, 0.25]) = [600, -400]
// CHECK-LABEL: func.func @bias
// CHECK-NOT: dense<[3.0
// CHECK: kiln.constant dense<[6, -4]> : tensor<2xi32> as tensor<2x!quant.uniform<i32:f32:0, {5.000000e-02,2.500000e-02}>>
// CHECK: kiln.constant {kiln.quant_scales = array<f64: 5.000000e-04, 2.500000e-04>} dense<[600, -400]> : tensor<2xi64>
func.func @bias(%x: tensor<1x2xf32>) -> (tensor<1x2xf32>, tensor<1x2xf32>) {
  %w = kiln.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %b = kiln.constant dense<[0.3, -0.1]> : tensor<2xf32>
  %wq = kiln.fake_quant_per_axis %w axis(0) scales [0.5, 0.25] zero_points [0, 0] range [-128, 127] : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %x8 = kiln.fake_quant %x scale(0.1) zero_point(3) range [-128, 127] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %y8 = kiln.linear %x8, %wq, %b : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %y8q = kiln.fake_quant %y8 scale(0.1) zero_point(0) range [-128, 127] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %x16 = kiln.fake_quant %x scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %y16 = kiln.linear %x16, %wq, %b : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %y16q = kiln.fake_quant %y16 scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y8q, %y16q : tensor<1x2xf32>, tensor<1x2xf32>
}

// -----

// A producer with a float user as well keeps its float result: the fake
// quant stays an explicit quantize so the float user sees unchanged values.
// CHECK-LABEL: func.func @shared_producer
// CHECK: %[[N:.*]] = kiln.neg %{{.*}} -> tensor<4xf32>
// CHECK: kiln.quantize %[[N]]
// CHECK: kiln.add %[[N]], %[[N]] : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
func.func @shared_producer(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %n = kiln.neg %x : (tensor<4xf32>) -> tensor<4xf32>
  %q = kiln.fake_quant %n scale(0.5) zero_point(0) range [-128, 127] : (tensor<4xf32>) -> tensor<4xf32>
  %a = kiln.add %n, %n : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %q, %a : tensor<4xf32>, tensor<4xf32>
}

// -----

func.func @no_type(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{quantization range [-100, 100] matches no integer type}}
  %q = kiln.fake_quant %x scale(0.5) zero_point(0) range [-100, 100] : (tensor<4xf32>) -> tensor<4xf32>
  return %q : tensor<4xf32>
}

// -----

func.func @per_axis_unranked(%x: tensor<*xf32>) -> tensor<*xf32> {
  // expected-error @+1 {{per-axis quantization needs a ranked input (fix shapes first)}}
  %q = kiln.fake_quant_per_axis %x axis(1) scales [0.5, 0.5] zero_points [0, 0] range [-128, 127] : (tensor<*xf32>) -> tensor<*xf32>
  return %q : tensor<*xf32>
}

// -----

// A concatenation of differently quantized inputs whose result is fake
// quantized: each input is requantized into the result's type (exact: per
// element the same rounding as quantizing the float concatenation).
// CHECK-LABEL: func.func @cat_requantize
// CHECK: %[[A:.*]] = kiln.quantize %{{.*}} : {{.*}} -> tensor<1x2x!quant.uniform<i16:f32, 1.000000e-03>>
// CHECK: %[[B:.*]] = kiln.quantize %{{.*}} : {{.*}} -> tensor<1x2x!quant.uniform<i16:f32, 2.000000e-03>>
// CHECK: %[[RA:.*]] = kiln.quantize %[[A]] : (tensor<1x2x!quant.uniform<i16:f32, 1.000000e-03>>) -> tensor<1x2x!quant.uniform<i16:f32, 4.000000e-03>>
// CHECK: %[[RB:.*]] = kiln.quantize %[[B]] : (tensor<1x2x!quant.uniform<i16:f32, 2.000000e-03>>) -> tensor<1x2x!quant.uniform<i16:f32, 4.000000e-03>>
// CHECK: kiln.cat %[[RA]], %[[RB]] dim = 1 : {{.*}} -> tensor<1x4x!quant.uniform<i16:f32, 4.000000e-03>>
// CHECK-NOT: kiln.fake_quant
func.func @cat_requantize(%a: tensor<1x2xf32>, %b: tensor<1x2xf32>) -> tensor<1x4xf32> {
  %qa = kiln.fake_quant %a scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %qb = kiln.fake_quant %b scale(0.002) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %c = kiln.cat %qa, %qb dim = 1 : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x4xf32>
  %qc = kiln.fake_quant %c scale(0.004) zero_point(0) range [-32768, 32767] : (tensor<1x4xf32>) -> tensor<1x4xf32>
  return %qc : tensor<1x4xf32>
}

// -----

// Without integer-only an unquantized sum of quantized tensors stays float
// (the pass is exact by default).
// CHECK-LABEL: func.func @unquantized_sum
// CHECK: kiln.add %{{.*}}, %{{.*}} : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
func.func @unquantized_sum(%a: tensor<1x2xf32>, %b: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %qa = kiln.fake_quant %a scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %qb = kiln.fake_quant %b scale(0.002) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %s = kiln.add %qa, %qb : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
  return %s : tensor<1x2xf32>
}

// -----

// decode: cat(head slice of the float past cache, this step's key), fake
// quantized: the past is quantized at the input and sliced in integers (the
// quantize moves above the slice: exact), the new key is requantized.
// CHECK-LABEL: func.func @cache_cat
// CHECK-SAME: (%[[PAST:.*]]: tensor<1x2x3x4xf32>,
// CHECK: %[[Q:.*]] = kiln.quantize %[[PAST]] : (tensor<1x2x3x4xf32>) -> tensor<1x2x3x4x!quant.uniform<i16:f32, 2.000000e-03>>
// CHECK: %[[S:.*]] = kiln.slice %[[Q]] dim = 1 {{.*}} -> tensor<1x1x3x4x!quant.uniform<i16:f32, 2.000000e-03>>
// CHECK: kiln.cat %[[S]], %{{.*}} dim = 2 : {{.*}} -> tensor<1x1x4x4x!quant.uniform<i16:f32, 2.000000e-03>>
func.func @cache_cat(%past: tensor<1x2x3x4xf32>, %k: tensor<1x1x1x4xf32>) -> tensor<1x1x4x4xf32> {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %p0 = kiln.slice %past dim = 1 [%c0 : %c1 : %c1] : (tensor<1x2x3x4xf32>) -> tensor<1x1x3x4xf32>
  %kq = kiln.fake_quant %k scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x1x1x4xf32>) -> tensor<1x1x1x4xf32>
  %cat = kiln.cat %p0, %kq dim = 2 : (tensor<1x1x3x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x4x4xf32>
  %cq = kiln.fake_quant %cat scale(0.002) zero_point(0) range [-32768, 32767] : (tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  return %cq : tensor<1x1x4x4xf32>
}
