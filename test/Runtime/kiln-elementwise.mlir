// kiln elementwise ops against torch, bit-exact (PyTorch broadcasting and
// type promotion).
// RUN: %python %S/Inputs/opcheck.py %s %t | FileCheck %s
// CHECK-DAG: PASS @add
// CHECK-DAG: PASS @sub
// CHECK-DAG: PASS @mul
// CHECK-DAG: PASS @div
// CHECK-DAG: PASS @div_int
// CHECK-DAG: PASS @pow
// CHECK-DAG: PASS @where
// CHECK-DAG: PASS @neg
// CHECK-DAG: PASS @rsqrt
// CHECK-DAG: PASS @silu
// CHECK-DAG: PASS @sigmoid
// CHECK-DAG: PASS @cast
// CHECK-DAG: PASS @add_int_float
// CHECK: 13 cases, 0 failures

// PY@add: a = randn(2, 1, 3); b = randn(4, 3)
// PY@add: inputs = [a, b]; expected = [torch.add(a, b)]
func.func @add(%a: tensor<2x1x3xf32>, %b: tensor<4x3xf32>) -> tensor<2x4x3xf32> {
  %0 = kiln.add %a, %b : (tensor<2x1x3xf32>, tensor<4x3xf32>) -> tensor<2x4x3xf32>
  return %0 : tensor<2x4x3xf32>
}

// PY@sub: a = randn(3, 4); b = randn(4)
// PY@sub: inputs = [a, b]; expected = [a - b]
func.func @sub(%a: tensor<*xf32>, %b: tensor<*xf32>) -> tensor<*xf32> {
  %0 = kiln.sub %a, %b : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// PY@mul: a = randn(3, 4); b = torch.tensor(0.125)
// PY@mul: inputs = [a, b]; expected = [a * b]
func.func @mul(%a: tensor<3x4xf32>, %b: tensor<f32>) -> tensor<3x4xf32> {
  %0 = kiln.mul %a, %b : (tensor<3x4xf32>, tensor<f32>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// PY@div: a = randn(3, 4); b = randn(3, 1)
// PY@div: inputs = [a, b]; expected = [a / b]
func.func @div(%a: tensor<3x4xf32>, %b: tensor<3x1xf32>) -> tensor<3x4xf32> {
  %0 = kiln.div %a, %b : (tensor<3x4xf32>, tensor<3x1xf32>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// True division of integers gives floats, as aten::div.
// PY@div_int: a = torch.tensor([7, -7, 9], dtype=torch.int64); b = torch.tensor([2, 2, 3], dtype=torch.int64)
// PY@div_int: inputs = [a, b]; expected = [torch.tensor([3.5, -3.5, 3.0])]
func.func @div_int(%a: tensor<3xi64>, %b: tensor<3xi64>) -> tensor<*xf32> {
  %0 = kiln.div %a, %b : (tensor<3xi64>, tensor<3xi64>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// A 0-d exponent is a Scalar exponent, as in TorchScript's x.pow(2)
// (aten::pow.Tensor_Scalar computes x*x exactly; powf may be 1 ulp off,
// which the 4096 values here would show).
// PY@pow: a = randn(64, 64) * 3; p = randn(2, 5).abs() + 0.1; e = torch.tensor(2.0)
// PY@pow: inputs = [a, p, e]; expected = [a.pow(2.0), p.pow(0.5), torch.pow(p, p)]
func.func @pow(%a: tensor<64x64xf32>, %p: tensor<2x5xf32>, %e: tensor<f32>) -> (tensor<64x64xf32>, tensor<2x5xf32>, tensor<2x5xf32>) {
  %0 = kiln.pow %a, %e : (tensor<64x64xf32>, tensor<f32>) -> tensor<64x64xf32>
  %h = kiln.constant dense<0.5> : tensor<f32>
  %1 = kiln.pow %p, %h : (tensor<2x5xf32>, tensor<f32>) -> tensor<2x5xf32>
  %2 = kiln.pow %p, %p : (tensor<2x5xf32>, tensor<2x5xf32>) -> tensor<2x5xf32>
  return %0, %1, %2 : tensor<64x64xf32>, tensor<2x5xf32>, tensor<2x5xf32>
}

// masked_fill as where(mask, value, x), mask broadcast over heads.
// PY@where: m = randn(1, 1, 4, 4) > 0; x = randn(1, 2, 4, 4); v = torch.tensor(-100.0)
// PY@where: inputs = [m, v, x]; expected = [torch.where(m, v, x)]
func.func @where(%m: tensor<1x1x4x4xi1>, %v: tensor<f32>, %x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %0 = kiln.where %m, %v, %x : (tensor<1x1x4x4xi1>, tensor<f32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  return %0 : tensor<1x2x4x4xf32>
}

// PY@neg: x = randn(6)
// PY@neg: inputs = [x]; expected = [-x]
func.func @neg(%x: tensor<6xf32>) -> tensor<6xf32> {
  %0 = kiln.neg %x : (tensor<6xf32>) -> tensor<6xf32>
  return %0 : tensor<6xf32>
}

// PY@rsqrt: x = randn(2, 8).abs() + 1e-3
// PY@rsqrt: inputs = [x]; expected = [torch.rsqrt(x)]
func.func @rsqrt(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0 = kiln.rsqrt %x : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// PY@silu: x = randn(3, 7) * 4
// PY@silu: inputs = [x]; expected = [F.silu(x)]
func.func @silu(%x: tensor<3x7xf32>) -> tensor<3x7xf32> {
  %0 = kiln.silu %x : (tensor<3x7xf32>) -> tensor<3x7xf32>
  return %0 : tensor<3x7xf32>
}

// PY@sigmoid: x = randn(3, 7) * 4
// PY@sigmoid: inputs = [x]; expected = [torch.sigmoid(x)]
func.func @sigmoid(%x: tensor<3x7xf32>) -> tensor<3x7xf32> {
  %0 = kiln.sigmoid %x : (tensor<3x7xf32>) -> tensor<3x7xf32>
  return %0 : tensor<3x7xf32>
}

// PY@cast: x = randn(5) * 10; i = torch.tensor([1, 0, 3], dtype=torch.int64)
// PY@cast: inputs = [x, i]; expected = [x.to(torch.int32), x.double(), i.to(torch.bool), i.float()]
func.func @cast(%x: tensor<5xf32>, %i: tensor<3xi64>) -> (tensor<5xi32>, tensor<5xf64>, tensor<3xi1>, tensor<3xf32>) {
  %0 = kiln.cast %x : tensor<5xf32> -> tensor<5xi32>
  %1 = kiln.cast %x : tensor<5xf32> -> tensor<5xf64>
  %2 = kiln.cast %i : tensor<3xi64> -> tensor<3xi1>
  %3 = kiln.cast %i : tensor<3xi64> -> tensor<3xf32>
  return %0, %1, %2, %3 : tensor<5xi32>, tensor<5xf64>, tensor<3xi1>, tensor<3xf32>
}

// A 0-d integer tensor does not promote a float tensor (PyTorch rules).
// PY@add_int_float: x = randn(4); s = torch.tensor(3, dtype=torch.int64)
// PY@add_int_float: inputs = [x, s]; expected = [x + s]
func.func @add_int_float(%x: tensor<4xf32>, %s: tensor<i64>) -> tensor<4xf32> {
  %0 = kiln.add %x, %s : (tensor<4xf32>, tensor<i64>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
