// kiln contractions and reductions against torch.
// RUN: %python %S/Inputs/opcheck.py %s %t | FileCheck %s
// The oneDNN GEMM (kiln-run --gemm=onednn) differs from BLAS in summation
// order only.
// RUN: %python %S/Inputs/opcheck.py %s %t.onednn --extra=--gemm=onednn --min-tol=1e-5 | FileCheck %s
// CHECK-DAG: PASS @linear
// CHECK-DAG: PASS @linear_bias
// CHECK-DAG: PASS @matmul
// CHECK-DAG: PASS @matmul_adj
// CHECK-DAG: PASS @matmul_broadcast
// CHECK-DAG: PASS @mean
// CHECK-DAG: PASS @softmax
// CHECK-DAG: PASS @embedding
// CHECK: 8 cases, 0 failures

// PY@linear: x = randn(1, 5, 16); w = randn(8, 16)
// PY@linear: inputs = [x, w]; expected = [F.linear(x, w)]
func.func @linear(%x: tensor<1x5x16xf32>, %w: tensor<8x16xf32>) -> tensor<1x5x8xf32> {
  %0 = kiln.linear %x, %w : (tensor<1x5x16xf32>, tensor<8x16xf32>) -> tensor<1x5x8xf32>
  return %0 : tensor<1x5x8xf32>
}

// PY@linear_bias: x = randn(3, 16); w = randn(8, 16); b = randn(8)
// PY@linear_bias: inputs = [x, w, b]; expected = [F.linear(x, w, b)]
func.func @linear_bias(%x: tensor<*xf32>, %w: tensor<*xf32>, %b: tensor<*xf32>) -> tensor<*xf32> {
  %0 = kiln.linear %x, %w, %b : (tensor<*xf32>, tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// PY@matmul: q = randn(1, 4, 6, 8); k = randn(1, 4, 8, 6)
// PY@matmul: inputs = [q, k]; expected = [torch.matmul(q, k)]
func.func @matmul(%q: tensor<1x4x6x8xf32>, %k: tensor<1x4x8x6xf32>) -> tensor<1x4x6x6xf32> {
  %0 = kiln.matmul %q, %k : (tensor<1x4x6x8xf32>, tensor<1x4x8x6xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// adj_x / adj_y transpose the last two dims first; tolerance for a
// different summation order in BLAS.
// PY@matmul_adj: q = randn(2, 6, 8); k = randn(2, 6, 8); a = randn(2, 8, 6)
// PY@matmul_adj: inputs = [q, k, a]
// PY@matmul_adj: expected = [q @ k.transpose(-1, -2), a.transpose(-1, -2) @ k.transpose(-1, -2)]
// PY@matmul_adj: tol = 1e-5
func.func @matmul_adj(%q: tensor<2x6x8xf32>, %k: tensor<2x6x8xf32>, %a: tensor<2x8x6xf32>) -> (tensor<2x6x6xf32>, tensor<2x6x6xf32>) {
  %0 = kiln.matmul %q, %k {adj_y = true} : (tensor<2x6x8xf32>, tensor<2x6x8xf32>) -> tensor<2x6x6xf32>
  %1 = kiln.matmul %a, %k {adj_x = true, adj_y = true} : (tensor<2x8x6xf32>, tensor<2x6x8xf32>) -> tensor<2x6x6xf32>
  return %0, %1 : tensor<2x6x6xf32>, tensor<2x6x6xf32>
}

// Batch broadcasting [2,1,3,4] x [5,4,2] -> [2,5,3,2].
// PY@matmul_broadcast: a = randn(2, 1, 3, 4); b = randn(5, 4, 2)
// PY@matmul_broadcast: inputs = [a, b]; expected = [torch.matmul(a, b)]
func.func @matmul_broadcast(%a: tensor<2x1x3x4xf32>, %b: tensor<5x4x2xf32>) -> tensor<2x5x3x2xf32> {
  %0 = kiln.matmul %a, %b : (tensor<2x1x3x4xf32>, tensor<5x4x2xf32>) -> tensor<2x5x3x2xf32>
  return %0 : tensor<2x5x3x2xf32>
}

// PY@mean: x = randn(2, 3, 16)
// PY@mean: inputs = [x]; expected = [x.mean(-1, keepdim=True), x.mean((0, 2))]
func.func @mean(%x: tensor<2x3x16xf32>) -> (tensor<2x3x1xf32>, tensor<3xf32>) {
  %0 = kiln.mean %x [-1] {keep_dims = true} : (tensor<2x3x16xf32>) -> tensor<2x3x1xf32>
  %1 = kiln.mean %x [0, 2] : (tensor<2x3x16xf32>) -> tensor<3xf32>
  return %0, %1 : tensor<2x3x1xf32>, tensor<3xf32>
}

// PY@softmax: x = randn(1, 2, 4, 9) * 5
// PY@softmax: inputs = [x]; expected = [torch.softmax(x, -1), torch.softmax(x, 1)]
func.func @softmax(%x: tensor<1x2x4x9xf32>) -> (tensor<1x2x4x9xf32>, tensor<1x2x4x9xf32>) {
  %0 = kiln.softmax %x dim = -1 : (tensor<1x2x4x9xf32>) -> tensor<1x2x4x9xf32>
  %1 = kiln.softmax %x dim = 1 : (tensor<1x2x4x9xf32>) -> tensor<1x2x4x9xf32>
  return %0, %1 : tensor<1x2x4x9xf32>, tensor<1x2x4x9xf32>
}

// PY@embedding: w = randn(10, 4); ids = torch.tensor([[3, 0, 9, 3]]); ids32 = ids.int()
// PY@embedding: inputs = [w, ids, ids32]; expected = [F.embedding(ids, w), w[ids32.long()]]
func.func @embedding(%w: tensor<10x4xf32>, %ids: tensor<1x4xi64>, %ids32: tensor<1x4xi32>) -> (tensor<1x4x4xf32>, tensor<1x4x4xf32>) {
  %0 = kiln.embedding %w[%ids] : (tensor<10x4xf32>, tensor<1x4xi64>) -> tensor<1x4x4xf32>
  %1 = kiln.embedding %w[%ids32] : (tensor<10x4xf32>, tensor<1x4xi32>) -> tensor<1x4x4xf32>
  return %0, %1 : tensor<1x4x4xf32>, tensor<1x4x4xf32>
}
