// RUN: kiln-opt %s --split-input-file --kiln-fold-fake-quant | FileCheck %s

// q @ k^T * 0.125, fake-quantized to scale 0.004: the matmul writes the grid
// 0.004 / 0.125 = 0.032 (the integers fq(0.004) gives the scaled product),
// and the multiply takes the integer 1 at scale 0.125: multiplier exactly 1.
// CHECK-LABEL: func.func @scaled_scores
// CHECK: %[[P:.*]] = kiln.matmul %{{.*}}, %{{.*}} {adj_y = true} : {{.*}} -> tensor<1x4x4x!quant.uniform<i16:f32, 3.200000e-02>>
// CHECK: %[[ONE:.*]] = kiln.constant dense<1> : tensor<i16> as tensor<!quant.uniform<i16:f32, 1.250000e-01>>
// CHECK: %[[S:.*]] = kiln.mul %[[P]], %[[ONE]] : {{.*}} -> tensor<1x4x4x!quant.uniform<i16:f32, 4.000000e-03>>
// CHECK-NOT: kiln.fake_quant
// CHECK: kiln.dequantize %[[S]]
func.func @scaled_scores(%q: tensor<1x4x8xf32>, %k: tensor<1x4x8xf32>) -> tensor<1x4x4xf32> {
  %qq = kiln.fake_quant %q scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %kq = kiln.fake_quant %k scale(0.002) zero_point(0) range [-32768, 32767] : (tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %p = kiln.matmul %qq, %kq {adj_y = true} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x4xf32>
  %c = kiln.constant dense<0.125> : tensor<f32>
  %s = kiln.mul %p, %c : (tensor<1x4x4xf32>, tensor<f32>) -> tensor<1x4x4xf32>
  %sq = kiln.fake_quant %s scale(0.004) zero_point(0) range [-32768, 32767] : (tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
  return %sq : tensor<1x4x4xf32>
}

// -----

// The constant may come first; a linear's product folds the same way.
// CHECK-LABEL: func.func @scaled_linear
// CHECK: kiln.linear {{.*}} -> tensor<1x2x!quant.uniform<i16:f32, 2.000000e-03>>
// CHECK: kiln.mul %{{.*}}, %{{.*}} : (tensor<!quant.uniform<i16:f32, 5.000000e-01>>, {{.*}}) -> tensor<1x2x!quant.uniform<i16:f32, 1.000000e-03>>
func.func @scaled_linear(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %xq = kiln.fake_quant %x scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %w = kiln.constant dense<[[1.0, 0.5], [0.25, -1.0]]> : tensor<2x2xf32>
  %wq = kiln.fake_quant %w scale(0.0078125) zero_point(0) range [-128, 127] : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = kiln.linear %xq, %wq : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
  %c = kiln.constant dense<0.5> : tensor<f32>
  %s = kiln.mul %c, %y : (tensor<f32>, tensor<1x2xf32>) -> tensor<1x2xf32>
  %sq = kiln.fake_quant %s scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  return %sq : tensor<1x2xf32>
}

// -----

// A division by a constant d is the multiply by 1/d (Hugging Face's older
// `/ math.sqrt(head_dim)`): the product's grid is 0.004 * 8.
// CHECK-LABEL: func.func @divided_scores
// CHECK: %[[P:.*]] = kiln.matmul {{.*}} -> tensor<1x4x4x!quant.uniform<i16:f32, 3.200000e-02>>
// CHECK: %[[ONE:.*]] = kiln.constant dense<1> : tensor<i16> as tensor<!quant.uniform<i16:f32, 1.250000e-01>>
// CHECK: kiln.mul %[[P]], %[[ONE]] : {{.*}} -> tensor<1x4x4x!quant.uniform<i16:f32, 4.000000e-03>>
// CHECK-NOT: kiln.div
func.func @divided_scores(%q: tensor<1x4x8xf32>, %k: tensor<1x4x8xf32>) -> tensor<1x4x4xf32> {
  %qq = kiln.fake_quant %q scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %kq = kiln.fake_quant %k scale(0.002) zero_point(0) range [-32768, 32767] : (tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %p = kiln.matmul %qq, %kq {adj_y = true} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x4xf32>
  %c = kiln.constant dense<8.0> : tensor<f32>
  %s = kiln.div %p, %c : (tensor<1x4x4xf32>, tensor<f32>) -> tensor<1x4x4xf32>
  %sq = kiln.fake_quant %s scale(0.004) zero_point(0) range [-32768, 32767] : (tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
  return %sq : tensor<1x4x4xf32>
}

// -----

// Not folded: a negative constant (no grid with a negative scale), a product
// with another user, a product of a float operand.
// CHECK-LABEL: func.func @not_folded
// CHECK: %[[P:.*]] = kiln.matmul {{.*}} -> tensor<1x4x4xf32>
// CHECK: kiln.mul %[[P]], %{{.*}} : (tensor<1x4x4xf32>, tensor<f32>) -> tensor<1x4x4xf32>
// CHECK: %[[P2:.*]] = kiln.matmul {{.*}} -> tensor<1x4x4xf32>
// CHECK: kiln.mul %[[P2]], %{{.*}} : (tensor<1x4x4xf32>, tensor<f32>) -> tensor<1x4x4xf32>
// CHECK: %[[P3:.*]] = kiln.matmul {{.*}} -> tensor<1x4x4xf32>
// CHECK: kiln.mul %[[P3]], %{{.*}} : (tensor<1x4x4xf32>, tensor<f32>) -> tensor<1x4x4xf32>
func.func @not_folded(%q: tensor<1x4x8xf32>, %k: tensor<1x4x8xf32>) -> (tensor<1x4x4xf32>, tensor<1x4x4xf32>, tensor<1x4x4xf32>, tensor<1x4x4xf32>) {
  %qq = kiln.fake_quant %q scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %kq = kiln.fake_quant %k scale(0.002) zero_point(0) range [-32768, 32767] : (tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %neg = kiln.constant dense<-0.125> : tensor<f32>
  %pos = kiln.constant dense<0.125> : tensor<f32>
  %p = kiln.matmul %qq, %kq {adj_y = true} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x4xf32>
  %s = kiln.mul %p, %neg : (tensor<1x4x4xf32>, tensor<f32>) -> tensor<1x4x4xf32>
  %sq = kiln.fake_quant %s scale(0.004) zero_point(0) range [-32768, 32767] : (tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
  %p2 = kiln.matmul %qq, %kq {adj_y = true} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x4xf32>
  %s2 = kiln.mul %p2, %pos : (tensor<1x4x4xf32>, tensor<f32>) -> tensor<1x4x4xf32>
  %s2q = kiln.fake_quant %s2 scale(0.004) zero_point(0) range [-32768, 32767] : (tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
  %p3 = kiln.matmul %qq, %k {adj_y = true} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x4xf32>
  %s3 = kiln.mul %p3, %pos : (tensor<1x4x4xf32>, tensor<f32>) -> tensor<1x4x4xf32>
  %s3q = kiln.fake_quant %s3 scale(0.004) zero_point(0) range [-32768, 32767] : (tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
  return %sq, %s2q, %p2, %s3q : tensor<1x4x4xf32>, tensor<1x4x4xf32>, tensor<1x4x4xf32>, tensor<1x4x4xf32>
}

// -----

// -x of a symmetric quantized x stays on x's grid; an asymmetric one (zero
// point 3 in [-128, 127]) is on the grid with zero point -128 + 127 - 3 = -4.
// CHECK-LABEL: func.func @negation
// CHECK: kiln.neg %{{.*}} : (tensor<1x2x!quant.uniform<i16:f32, 1.000000e-03>>) -> tensor<1x2x!quant.uniform<i16:f32, 1.000000e-03>>
// CHECK: kiln.neg %{{.*}} : (tensor<1x2x!quant.uniform<i8:f32, 1.000000e-02:3>>) -> tensor<1x2x!quant.uniform<i8:f32, 1.000000e-02:-4>>
func.func @negation(%x: tensor<1x2xf32>) -> (tensor<1x2xf32>, tensor<1x2xf32>) {
  %xq = kiln.fake_quant %x scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %n = kiln.neg %xq : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %xa = kiln.fake_quant %x scale(0.01) zero_point(3) range [-128, 127] : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %na = kiln.neg %xa : (tensor<1x2xf32>) -> tensor<1x2xf32>
  return %n, %na : tensor<1x2xf32>, tensor<1x2xf32>
}
