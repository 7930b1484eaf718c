// kiln data movement ops against torch / Python indexing.
// RUN: %python %S/Inputs/opcheck.py %s %t | FileCheck %s
// CHECK-DAG: PASS @reshape
// CHECK-DAG: PASS @transpose_permute
// CHECK-DAG: PASS @unsqueeze_squeeze
// CHECK-DAG: PASS @expand
// CHECK-DAG: PASS @repeat_interleave
// CHECK-DAG: PASS @slice
// CHECK-DAG: PASS @slice_dynamic
// CHECK-DAG: PASS @select
// CHECK-DAG: PASS @cat
// CHECK: 9 cases, 0 failures

// PY@reshape: x = randn(1, 6, 8)
// PY@reshape: inputs = [x]; expected = [x.reshape(1, 6, 2, 4), x.transpose(1, 2).reshape(-1, 3)]
func.func @reshape(%x: tensor<1x6x8xf32>) -> (tensor<1x6x2x4xf32>, tensor<16x3xf32>) {
  %c1 = arith.constant 1 : i64
  %c6 = arith.constant 6 : i64
  %c2 = arith.constant 2 : i64
  %cm1 = arith.constant -1 : i64
  %c3 = arith.constant 3 : i64
  %0 = kiln.reshape %x(%c1, %c6, %c2, %cm1) : (tensor<1x6x8xf32>) -> tensor<1x6x2x4xf32>
  %t = kiln.transpose %x 1, 2 : (tensor<1x6x8xf32>) -> tensor<1x8x6xf32>
  %1 = kiln.reshape %t(%cm1, %c3) : (tensor<1x8x6xf32>) -> tensor<16x3xf32>
  return %0, %1 : tensor<1x6x2x4xf32>, tensor<16x3xf32>
}

// PY@transpose_permute: x = randn(2, 3, 4, 5)
// PY@transpose_permute: inputs = [x]; expected = [x.transpose(-1, 1), x.permute(0, 2, 1, 3), x.permute(3, 2, 1, 0)]
func.func @transpose_permute(%x: tensor<2x3x4x5xf32>) -> (tensor<2x5x4x3xf32>, tensor<2x4x3x5xf32>, tensor<5x4x3x2xf32>) {
  %0 = kiln.transpose %x -1, 1 : (tensor<2x3x4x5xf32>) -> tensor<2x5x4x3xf32>
  %1 = kiln.permute %x [0, 2, 1, 3] : (tensor<2x3x4x5xf32>) -> tensor<2x4x3x5xf32>
  %2 = kiln.permute %x [3, 2, 1, 0] : (tensor<2x3x4x5xf32>) -> tensor<5x4x3x2xf32>
  return %0, %1, %2 : tensor<2x5x4x3xf32>, tensor<2x4x3x5xf32>, tensor<5x4x3x2xf32>
}

// squeeze of a dimension that is not 1 leaves the tensor unchanged (ATen).
// PY@unsqueeze_squeeze: x = randn(3, 4)
// PY@unsqueeze_squeeze: inputs = [x]; expected = [x.unsqueeze(-1), x.unsqueeze(1).squeeze(1), x.squeeze(0)]
func.func @unsqueeze_squeeze(%x: tensor<3x4xf32>) -> (tensor<3x4x1xf32>, tensor<3x4xf32>, tensor<3x4xf32>) {
  %0 = kiln.unsqueeze %x dim = -1 : (tensor<3x4xf32>) -> tensor<3x4x1xf32>
  %u = kiln.unsqueeze %x dim = 1 : (tensor<3x4xf32>) -> tensor<3x1x4xf32>
  %1 = kiln.squeeze %u dim = 1 : (tensor<3x1x4xf32>) -> tensor<3x4xf32>
  %2 = kiln.squeeze %x dim = 0 : (tensor<3x4xf32>) -> tensor<3x4xf32>
  return %0, %1, %2 : tensor<3x4x1xf32>, tensor<3x4xf32>, tensor<3x4xf32>
}

// GQA-style expand of [1, 2, 1, 3, 4] to [1, 2, 2, 3, 4] (-1 keeps a dim).
// PY@expand: k = randn(1, 2, 1, 3, 4)
// PY@expand: inputs = [k]; expected = [k.expand(1, 2, 2, 3, 4), k.expand(2, 1, 2, 2, 3, 4)]
func.func @expand(%k: tensor<1x2x1x3x4xf32>) -> (tensor<1x2x2x3x4xf32>, tensor<2x1x2x2x3x4xf32>) {
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  %cm1 = arith.constant -1 : i64
  %0 = kiln.expand %k(%c1, %c2, %c2, %cm1, %cm1) : (tensor<1x2x1x3x4xf32>) -> tensor<1x2x2x3x4xf32>
  %1 = kiln.expand %k(%c2, %cm1, %cm1, %c2, %cm1, %cm1) : (tensor<1x2x1x3x4xf32>) -> tensor<2x1x2x2x3x4xf32>
  return %0, %1 : tensor<1x2x2x3x4xf32>, tensor<2x1x2x2x3x4xf32>
}

// PY@repeat_interleave: k = randn(1, 2, 3, 4)
// PY@repeat_interleave: inputs = [k]; expected = [k.repeat_interleave(3, 1), k.repeat_interleave(2, -1)]
func.func @repeat_interleave(%k: tensor<1x2x3x4xf32>) -> (tensor<1x6x3x4xf32>, tensor<1x2x3x8xf32>) {
  %0 = kiln.repeat_interleave %k repeats = 3 dim = 1 : (tensor<1x2x3x4xf32>) -> tensor<1x6x3x4xf32>
  %1 = kiln.repeat_interleave %k repeats = 2 dim = -1 : (tensor<1x2x3x4xf32>) -> tensor<1x2x3x8xf32>
  return %0, %1 : tensor<1x6x3x4xf32>, tensor<1x2x3x8xf32>
}

// Python slicing: x[..., 8:], x[..., :8], x[..., -3:-1], x[:, 1::2],
// out-of-range bounds clamp, empty when start >= end.
// PY@slice: x = randn(2, 5, 16)
// PY@slice: inputs = [x]; expected = [x[..., 8:], x[..., :8], x[..., -3:-1], x[:, 1::2], x[:, 3:100], x[:, 4:2]]
func.func @slice(%x: tensor<2x5x16xf32>) -> (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x2xf32>, tensor<2x2x16xf32>, tensor<2x2x16xf32>, tensor<2x0x16xf32>) {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  %c3 = arith.constant 3 : i64
  %c4 = arith.constant 4 : i64
  %c8 = arith.constant 8 : i64
  %c100 = arith.constant 100 : i64
  %cm1 = arith.constant -1 : i64
  %cm3 = arith.constant -3 : i64
  %cmax = arith.constant 9223372036854775807 : i64
  %0 = kiln.slice %x dim = -1 [%c8 : %cmax : %c1] : (tensor<2x5x16xf32>) -> tensor<2x5x8xf32>
  %1 = kiln.slice %x dim = 2 [%c0 : %c8 : %c1] : (tensor<2x5x16xf32>) -> tensor<2x5x8xf32>
  %2 = kiln.slice %x dim = 2 [%cm3 : %cm1 : %c1] : (tensor<2x5x16xf32>) -> tensor<2x5x2xf32>
  %3 = kiln.slice %x dim = 1 [%c1 : %cmax : %c2] : (tensor<2x5x16xf32>) -> tensor<2x2x16xf32>
  %4 = kiln.slice %x dim = 1 [%c3 : %c100 : %c1] : (tensor<2x5x16xf32>) -> tensor<2x2x16xf32>
  %5 = kiln.slice %x dim = 1 [%c4 : %c2 : %c1] : (tensor<2x5x16xf32>) -> tensor<2x0x16xf32>
  return %0, %1, %2, %3, %4, %5 : tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x2xf32>, tensor<2x2x16xf32>, tensor<2x2x16xf32>, tensor<2x0x16xf32>
}

// Bounds computed at run time from the input's size (the imported form).
// PY@slice_dynamic: x = randn(1, 2, 3, 8)
// PY@slice_dynamic: inputs = [x]; expected = [torch.cat([-x[..., 4:], x[..., :4]], -1)]
func.func @slice_dynamic(%x: tensor<*xf32>) -> tensor<*xf32> {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  %cm1 = arith.constant -1 : i64
  %cmax = arith.constant 9223372036854775807 : i64
  %d = kiln.size %x[%cm1] : tensor<*xf32>
  %h = arith.floordivsi %d, %c2 : i64
  %x1 = kiln.slice %x dim = -1 [%c0 : %h : %c1] : (tensor<*xf32>) -> tensor<*xf32>
  %x2 = kiln.slice %x dim = -1 [%h : %cmax : %c1] : (tensor<*xf32>) -> tensor<*xf32>
  %n = kiln.neg %x2 : (tensor<*xf32>) -> tensor<*xf32>
  %r = kiln.cat %n, %x1 dim = -1 : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  return %r : tensor<*xf32>
}

// PY@select: x = randn(3, 4, 5)
// PY@select: inputs = [x]; expected = [x[:, 2], x[-1], x[..., -2]]
func.func @select(%x: tensor<3x4x5xf32>) -> (tensor<3x5xf32>, tensor<4x5xf32>, tensor<3x4xf32>) {
  %c2 = arith.constant 2 : i64
  %cm1 = arith.constant -1 : i64
  %cm2 = arith.constant -2 : i64
  %0 = kiln.select %x dim = 1 [%c2] : (tensor<3x4x5xf32>) -> tensor<3x5xf32>
  %1 = kiln.select %x dim = 0 [%cm1] : (tensor<3x4x5xf32>) -> tensor<4x5xf32>
  %2 = kiln.select %x dim = -1 [%cm2] : (tensor<3x4x5xf32>) -> tensor<3x4xf32>
  return %0, %1, %2 : tensor<3x5xf32>, tensor<4x5xf32>, tensor<3x4xf32>
}

// KV-cache concatenation along the sequence axis.
// PY@cat: past = randn(1, 2, 5, 4); new = randn(1, 2, 1, 4)
// PY@cat: inputs = [past, new]; expected = [torch.cat([past, new], 2), torch.cat([new, new, new], -2)]
func.func @cat(%past: tensor<1x2x5x4xf32>, %new: tensor<1x2x1x4xf32>) -> (tensor<1x2x6x4xf32>, tensor<1x2x3x4xf32>) {
  %0 = kiln.cat %past, %new dim = 2 : (tensor<1x2x5x4xf32>, tensor<1x2x1x4xf32>) -> tensor<1x2x6x4xf32>
  %1 = kiln.cat %new, %new, %new dim = -2 : (tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>) -> tensor<1x2x3x4xf32>
  return %0, %1 : tensor<1x2x6x4xf32>, tensor<1x2x3x4xf32>
}
