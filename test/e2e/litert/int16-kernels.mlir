// LiteRT's int16 kernels that Kiln's integer lowerings rely on (issue 11):
// RSQRT, DIV (both broadcasting and with a constant numerator), MEAN with a
// different output scale, and MUL with RELU_N1_TO_1 (the keep mask of
// kiln-exact-masked-softmax). Checked against numpy in float64 with the
// tolerances the lowerings assume (Inputs/int16_kernels.py).
// REQUIRES: litert
// RUN: kiln-translate --mlir-to-circle --circle-flavor=tflite %s -o %t.tflite
// RUN: rm -rf %t.in %t.out && %python %S/Inputs/int16_kernels.py make %t.in
// RUN: %litert_run %t.tflite --signature rsqrt --inputs %t.in --outputs %t.out
// RUN: %litert_run %t.tflite --signature div --inputs %t.in --outputs %t.out
// RUN: %litert_run %t.tflite --signature keep --inputs %t.in --outputs %t.out
// RUN: %python %S/Inputs/int16_kernels.py check %t.in %t.out | FileCheck %s
// The same kernels in kiln-run.
// RUN: kiln-run %s@rsqrt --inputs-from %t.in --step rsqrt > /dev/null
// RUN: kiln-run %s@div --inputs-from %t.in --step div > /dev/null

// CHECK: rsqrt ok
// CHECK-NEXT: div ok
// CHECK-NEXT: reciprocal ok
// CHECK-NEXT: mean ok
// CHECK-NEXT: keep ok

!x = !quant.uniform<i16:f32, 1.2207403790398877e-04>
!r = !quant.uniform<i16:f32, 1.3733329264198126e-04>
!y = !quant.uniform<i16:f32, 6.103701895199438e-05>
!d = !quant.uniform<i16:f32, 2.4414807580797754e-04>
!m = !quant.uniform<i16:f32, 3.0518509475997192e-03>
!k = !quant.uniform<i16:f32, 3.0518509475997192e-05>

module {
  // x in [0.2, 4]: rsqrt in [0.5, 2.24] (grid 4.5 / 32767).
  func.func @rsqrt(%x: tensor<4x64xf32> {kiln.name = "x"}) -> (tensor<4x64xf32> {kiln.name = "r"}) {
    %q = circle.quantize %x : (tensor<4x64xf32>) -> tensor<4x64x!x>
    %r = circle.rsqrt %q : (tensor<4x64x!x>) -> tensor<4x64x!r>
    %o = circle.dequantize %r : (tensor<4x64x!r>) -> tensor<4x64xf32>
    return %o : tensor<4x64xf32>
  }
  // x / mean(y, -1) with y in [0.5, 2]; and 0.25 / mean(y, -1).
  func.func @div(%x: tensor<4x64xf32> {kiln.name = "x"}, %y: tensor<4x64xf32> {kiln.name = "y"})
      -> (tensor<4x64xf32> {kiln.name = "q"}, tensor<4x1xf32> {kiln.name = "inv"}, tensor<4x1xf32> {kiln.name = "mean"}) {
    %xq = circle.quantize %x : (tensor<4x64xf32>) -> tensor<4x64x!x>
    %yq = circle.quantize %y : (tensor<4x64xf32>) -> tensor<4x64x!y>
    %axis = circle.const dense<[1]> : tensor<1xi32>
    %m = circle.mean %yq, %axis {keep_dims = true} : (tensor<4x64x!y>, tensor<1xi32>) -> tensor<4x1x!y>
    %q = circle.div %xq, %m : (tensor<4x64x!x>, tensor<4x1x!y>) -> tensor<4x64x!d>
    %c = circle.const dense<32767> : tensor<i16> as tensor<!quant.uniform<i16:f32, 7.629627368999298e-06>>
    %inv = circle.div %c, %m : (tensor<!quant.uniform<i16:f32, 7.629627368999298e-06>>, tensor<4x1x!y>) -> tensor<4x1x!y>
    %qo = circle.dequantize %q : (tensor<4x64x!d>) -> tensor<4x64xf32>
    %io = circle.dequantize %inv : (tensor<4x1x!y>) -> tensor<4x1xf32>
    %mo = circle.dequantize %m : (tensor<4x1x!y>) -> tensor<4x1xf32>
    return %qo, %io, %mo : tensor<4x64xf32>, tensor<4x1xf32>, tensor<4x1xf32>
  }
  // keep = 1 + clamp(mask, -1, 0): exactly 1 or 0 for a mask of 0 / -100.
  func.func @keep(%mask: tensor<4x64xf32> {kiln.name = "mask"}) -> (tensor<4x64xf32> {kiln.name = "keep"}) {
    %q = circle.quantize %mask : (tensor<4x64xf32>) -> tensor<4x64x!m>
    %one = circle.const dense<1> : tensor<i16> as tensor<!quant.uniform<i16:f32, 1.0>>
    %c = circle.mul %q, %one {fused_activation_function = "RELU_N1_TO_1"} : (tensor<4x64x!m>, tensor<!quant.uniform<i16:f32, 1.0>>) -> tensor<4x64x!k>
    %c1 = circle.const dense<32767> : tensor<i16> as tensor<!k>
    %k = circle.add %c, %c1 : (tensor<4x64x!k>, tensor<!k>) -> tensor<4x64x!k>
    %o = circle.dequantize %k : (tensor<4x64x!k>) -> tensor<4x64xf32>
    return %o : tensor<4x64xf32>
  }
}
