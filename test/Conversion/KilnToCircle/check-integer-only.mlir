// RUN: kiln-opt %s --split-input-file --kiln-check-integer-only --verify-diagnostics | FileCheck %s
// RUN: kiln-opt %s --split-input-file --kiln-check-integer-only=fail=false 2>&1 | FileCheck %s --check-prefix=REMARK

// Integer end to end: the quantize of the float input and the dequantize of
// the float output are the contract's edges, not float compute.
// CHECK-LABEL: func.func @integer
func.func @integer(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %q = circle.quantize %x : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<i16:f32, 1.0e-3>>
  %y = circle.add %q, %q : (tensor<1x4x!quant.uniform<i16:f32, 1.0e-3>>, tensor<1x4x!quant.uniform<i16:f32, 1.0e-3>>) -> tensor<1x4x!quant.uniform<i16:f32, 2.0e-3>>
  %d = circle.dequantize %y : (tensor<1x4x!quant.uniform<i16:f32, 2.0e-3>>) -> tensor<1x4xf32>
  return %d : tensor<1x4xf32>
}

// -----

// A float island: dequantize, float mul, quantize, each an error at its
// location.
func.func @island(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %q = circle.quantize %x : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<i16:f32, 1.0e-3>>
  // expected-error @+1 {{float compute in an integer-only export: 'circle.dequantize' on 'tensor<1x4xf32>'}}
  %f = circle.dequantize %q : (tensor<1x4x!quant.uniform<i16:f32, 1.0e-3>>) -> tensor<1x4xf32>
  // expected-error @+1 {{float compute in an integer-only export: 'circle.mul' on 'tensor<1x4xf32>'}}
  %m = circle.mul %f, %f : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
  // expected-error @+1 {{float compute in an integer-only export: 'circle.quantize' on 'tensor<1x4xf32>'}}
  %r = circle.quantize %m : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<i16:f32, 2.0e-3>>
  %d = circle.dequantize %r : (tensor<1x4x!quant.uniform<i16:f32, 2.0e-3>>) -> tensor<1x4xf32>
  return %d : tensor<1x4xf32>
}
// REMARK: remark: float op 'circle.mul' on 'tensor<1x4xf32>'
