// RUN: kiln-opt %s --split-input-file --kiln-exact-masked-softmax | FileCheck %s

!s = !quant.uniform<i16:f32, 1.0e-03>
!m = !quant.uniform<i16:f32, 3.0518509475997192e-03>
!x = !quant.uniform<i16:f32, 4.0e-03>
!p = !quant.uniform<i16:f32, 3.0517578125e-05>

// The mask (an input, sliced for the head) is clamped to [-1, 0] and shifted
// to keep = 1 or 0; the probabilities are masked and renormalized by
// (1/T) / mean(q), with 1/T = 1/8 the integer 32767 at scale 1/8/32767.
// CHECK-LABEL: func.func @per_head
// CHECK: %[[MASK:.*]] = circle.strided_slice %arg1
// CHECK: %[[P:.*]] = circle.softmax
// CHECK: %[[ONE:.*]] = circle.const dense<1> : tensor<i16> as tensor<!quant.uniform<i16:f32, 1.000000e+00>>
// CHECK: %[[CL:.*]] = circle.mul %[[MASK]], %[[ONE]] {fused_activation_function = "RELU_N1_TO_1"} : {{.*}} -> tensor<1x4x8x!quant.uniform<i16:f32, 3.0518509475997192E-5>>
// CHECK: %[[C1:.*]] = circle.const dense<32767> : tensor<i16>
// CHECK: %[[KEEP:.*]] = circle.add %[[CL]], %[[C1]]
// CHECK: %[[Q:.*]] = circle.mul %[[P]], %[[KEEP]] {{.*}} -> tensor<1x4x8x!quant.uniform<i16:f32, 3.0517578125E-5>>
// CHECK: %[[MEAN:.*]] = circle.mean %[[Q]], %{{.*}} {keep_dims = true} : {{.*}} -> tensor<1x4x1x!quant.uniform
// CHECK: %[[INV:.*]] = circle.const dense<32767> : tensor<i16> as tensor<!quant.uniform<i16:f32, 3.814813684499649E-6>>
// CHECK: %[[W:.*]] = circle.div %[[INV]], %[[MEAN]]
// CHECK: %[[R:.*]] = circle.mul %[[Q]], %[[W]]
// CHECK: circle.dequantize %[[R]]
func.func @per_head(%scores: tensor<1x4x8x!s>, %mask: tensor<1x2x4x8x!m>) -> tensor<1x4x8xf32> {
  %b = circle.const dense<[0, 0, 0, 0]> : tensor<4xi32>
  %e = circle.const dense<[1, 1, 4, 8]> : tensor<4xi32>
  %st = circle.const dense<[1, 1, 1, 1]> : tensor<4xi32>
  %ms = circle.strided_slice %mask, %b, %e, %st {shrink_axis_mask = 2 : i32} : (tensor<1x2x4x8x!m>, tensor<4xi32>, tensor<4xi32>, tensor<4xi32>) -> tensor<1x4x8x!m>
  %one = circle.const dense<1> : tensor<i16> as tensor<!quant.uniform<i16:f32, 1.0>>
  %sc = circle.mul %scores, %one : (tensor<1x4x8x!s>, tensor<!quant.uniform<i16:f32, 1.0>>) -> tensor<1x4x8x!s>
  %x = circle.add %sc, %ms : (tensor<1x4x8x!s>, tensor<1x4x8x!m>) -> tensor<1x4x8x!x>
  %p = circle.softmax %x : (tensor<1x4x8x!x>) -> tensor<1x4x8x!p>
  %r = circle.dequantize %p : (tensor<1x4x8x!p>) -> tensor<1x4x8xf32>
  return %r : tensor<1x4x8xf32>
}

// -----

!s = !quant.uniform<i16:f32, 1.0e-03>
!m = !quant.uniform<i16:f32, 3.0518509475997192e-03>
!x = !quant.uniform<i16:f32, 4.0e-03>
!p = !quant.uniform<i16:f32, 3.0517578125e-05>

// Left alone: no operand computed from scores (both read from inputs), a
// softmax of scores without a mask, and 8-bit softmax (TFLite's int8 kernel
// gives masked keys exactly 0).
// CHECK-LABEL: func.func @untouched
// CHECK-NOT: RELU_N1_TO_1
// CHECK-NOT: circle.div
// CHECK: return
func.func @untouched(%a: tensor<1x8x!s>, %b: tensor<1x8x!m>, %c: tensor<1x8x!quant.uniform<i8:f32, 0.05>>, %d: tensor<1x8x!quant.uniform<i8:f32, 0.5>>)
    -> (tensor<1x8x!p>, tensor<1x8x!p>, tensor<1x8x!quant.uniform<i8:f32, 3.90625e-03:-128>>) {
  %x = circle.add %a, %b : (tensor<1x8x!s>, tensor<1x8x!m>) -> tensor<1x8x!x>
  %p = circle.softmax %x : (tensor<1x8x!x>) -> tensor<1x8x!p>
  %one = circle.const dense<1> : tensor<i16> as tensor<!quant.uniform<i16:f32, 1.0>>
  %sc = circle.mul %a, %one : (tensor<1x8x!s>, tensor<!quant.uniform<i16:f32, 1.0>>) -> tensor<1x8x!s>
  %p2 = circle.softmax %sc : (tensor<1x8x!s>) -> tensor<1x8x!p>
  %x8 = circle.add %c, %d : (tensor<1x8x!quant.uniform<i8:f32, 0.05>>, tensor<1x8x!quant.uniform<i8:f32, 0.5>>) -> tensor<1x8x!quant.uniform<i8:f32, 0.1>>
  %p8 = circle.softmax %x8 : (tensor<1x8x!quant.uniform<i8:f32, 0.1>>) -> tensor<1x8x!quant.uniform<i8:f32, 3.90625e-03:-128>>
  return %p, %p2, %p8 : tensor<1x8x!p>, tensor<1x8x!p>, tensor<1x8x!quant.uniform<i8:f32, 3.90625e-03:-128>>
}
