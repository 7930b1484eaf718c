// circle ops against TFLite semantics written in numpy / torch.
// RUN: %python %S/Inputs/opcheck.py %s %t | FileCheck %s
// RUN: %python %S/Inputs/opcheck.py %s %t.onednn --extra=--gemm=onednn --min-tol=1e-5 | FileCheck %s
// CHECK-DAG: PASS @binary
// CHECK-DAG: PASS @activations
// CHECK-DAG: PASS @div_int
// CHECK-DAG: PASS @unary
// CHECK-DAG: PASS @quantize_dequantize_cast
// CHECK-DAG: PASS @fully_connected
// CHECK-DAG: PASS @fully_connected_quantized
// CHECK-DAG: PASS @batch_matmul
// CHECK-DAG: PASS @softmax
// CHECK-DAG: PASS @mean
// CHECK-DAG: PASS @reshape_transpose
// CHECK-DAG: PASS @strided_slice
// CHECK-DAG: PASS @slice
// CHECK-DAG: PASS @concatenation
// CHECK-DAG: PASS @gather
// CHECK-DAG: PASS @select_v2
// CHECK-DAG: PASS @broadcast_to
// CHECK-DAG: PASS @rms_norm
// CHECK-DAG: PASS @rope
// CHECK: 19 cases, 0 failures

// PY@binary: a = randn(2, 3); b = randn(3); p = randn(2, 3).abs() + 0.1
// PY@binary: inputs = [a, b, p]; expected = [a + b, a - b, a * b, a / b, torch.pow(p, b)]
func.func @binary(%a: tensor<2x3xf32>, %b: tensor<3xf32>, %p: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %0 = circle.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %1 = circle.sub %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %2 = circle.mul %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %3 = circle.div %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %4 = circle.pow %p, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return %0, %1, %2, %3, %4 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// Fused activations: RELU, RELU6, RELU_N1_TO_1, TANH.
// PY@activations: a = randn(4, 8) * 4; b = randn(4, 8) * 4
// PY@activations: inputs = [a, b]; expected = [torch.relu(a + b), (a - b).clamp(0, 6), (a * b).clamp(-1, 1), torch.tanh(a + b)]
func.func @activations(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = circle.add %a, %b {fused_activation_function = "RELU"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = circle.sub %a, %b {fused_activation_function = "RELU6"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %2 = circle.mul %a, %b {fused_activation_function = "RELU_N1_TO_1"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %3 = circle.add %a, %b {fused_activation_function = "TANH"} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %0, %1, %2, %3 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}

// TFLite DIV on integers truncates toward zero.
// PY@div_int: a = torch.tensor([7, -7, 9, -9], dtype=torch.int32); b = torch.tensor([2, 2, -4, -4], dtype=torch.int32)
// PY@div_int: inputs = [a, b]; expected = [torch.tensor(np.fix(a.numpy() / b.numpy()).astype(np.int32))]
func.func @div_int(%a: tensor<4xi32>, %b: tensor<4xi32>) -> tensor<4xi32> {
  %0 = circle.div %a, %b : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  return %0 : tensor<4xi32>
}

// PY@unary: x = randn(3, 5).abs() + 0.1
// PY@unary: inputs = [x]; expected = [torch.rsqrt(x), -x, 1 / (1 + torch.exp(-x))]
// PY@unary: tol = 1e-7
func.func @unary(%x: tensor<3x5xf32>) -> (tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>) {
  %0 = circle.rsqrt %x : (tensor<3x5xf32>) -> tensor<3x5xf32>
  %1 = circle.neg %x : (tensor<3x5xf32>) -> tensor<3x5xf32>
  %2 = circle.logistic %x : (tensor<3x5xf32>) -> tensor<3x5xf32>
  return %0, %1, %2 : tensor<3x5xf32>, tensor<3x5xf32>, tensor<3x5xf32>
}

// QUANTIZE (and requantize), DEQUANTIZE, CAST (float to int truncates).
// PY@quantize_dequantize_cast: x = randn(10) * 3
// PY@quantize_dequantize_cast: q = fq(x, 0.05, 3, -128, 127)
// PY@quantize_dequantize_cast: inputs = [x]
// PY@quantize_dequantize_cast: expected = [q, fq(q, 0.001, 0, -32768, 32767), torch.tensor(np.trunc(x.numpy())).int()]
func.func @quantize_dequantize_cast(%x: tensor<10xf32>) -> (tensor<10xf32>, tensor<10xf32>, tensor<10xi32>) {
  %q = circle.quantize %x : (tensor<10xf32>) -> tensor<10x!quant.uniform<i8:f32, 0.05:3>>
  %r = circle.quantize %q : (tensor<10x!quant.uniform<i8:f32, 0.05:3>>) -> tensor<10x!quant.uniform<i16:f32, 0.001>>
  %d = circle.dequantize %q : (tensor<10x!quant.uniform<i8:f32, 0.05:3>>) -> tensor<10xf32>
  %dr = circle.dequantize %r : (tensor<10x!quant.uniform<i16:f32, 0.001>>) -> tensor<10xf32>
  %c = circle.cast %x : (tensor<10xf32>) -> tensor<10xi32>
  return %d, %dr, %c : tensor<10xf32>, tensor<10xf32>, tensor<10xi32>
}

// keep_num_dims = false flattens to [batch, units] as TFLite does.
// PY@fully_connected: x = randn(1, 4, 6); w = randn(5, 6); b = randn(5)
// PY@fully_connected: y = x.reshape(-1, 6) @ w.t() + b
// PY@fully_connected: inputs = [x, w, b]; expected = [(y).reshape(1, 4, 5), torch.relu(x.reshape(-1, 6) @ w.t())]
// PY@fully_connected: tol = 1e-5
func.func @fully_connected(%x: tensor<1x4x6xf32>, %w: tensor<5x6xf32>, %b: tensor<5xf32>) -> (tensor<1x4x5xf32>, tensor<4x5xf32>) {
  %0 = circle.fully_connected %x, %w, %b {keep_num_dims = true} : (tensor<1x4x6xf32>, tensor<5x6xf32>, tensor<5xf32>) -> tensor<1x4x5xf32>
  %1 = circle.fully_connected %x, %w {fused_activation_function = "RELU"} : (tensor<1x4x6xf32>, tensor<5x6xf32>) -> tensor<4x5xf32>
  return %0, %1 : tensor<1x4x5xf32>, tensor<4x5xf32>
}

// int8 per-channel weights (circle.const storage), int16 activations.
// PY@fully_connected_quantized: x = randn(2, 3)
// PY@fully_connected_quantized: w = torch.tensor([[1., -2., 3.], [127., 0., -128.]]) * torch.tensor([[0.5], [0.01]])
// PY@fully_connected_quantized: xq = fq(x, 0.001, 0, -32768, 32767)
// PY@fully_connected_quantized: inputs = [x]; expected = [fq(xq @ w.t(), 0.004, 0, -32768, 32767)]
// PY@fully_connected_quantized: tol = 1e-6
func.func @fully_connected_quantized(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  %w = circle.const dense<[[1, -2, 3], [127, 0, -128]]> : tensor<2x3xi8> as tensor<2x3x!quant.uniform<i8:f32:0, {0.5, 0.01}>>
  %xq = circle.quantize %x : (tensor<2x3xf32>) -> tensor<2x3x!quant.uniform<i16:f32, 0.001>>
  %y = circle.fully_connected %xq, %w {keep_num_dims = true} : (tensor<2x3x!quant.uniform<i16:f32, 0.001>>, tensor<2x3x!quant.uniform<i8:f32:0, {0.5, 0.01}>>) -> tensor<2x2x!quant.uniform<i16:f32, 0.004>>
  %r = circle.dequantize %y : (tensor<2x2x!quant.uniform<i16:f32, 0.004>>) -> tensor<2x2xf32>
  return %r : tensor<2x2xf32>
}

// PY@batch_matmul: q = randn(1, 2, 4, 8); k = randn(1, 2, 4, 8)
// PY@batch_matmul: inputs = [q, k]; expected = [q @ k.transpose(-1, -2), q.transpose(-1, -2) @ k]
// PY@batch_matmul: tol = 1e-5
func.func @batch_matmul(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x8x8xf32>) {
  %0 = circle.batch_matmul %q, %k {adj_y = true} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x4xf32>
  %1 = circle.batch_matmul %q, %k {adj_x = true} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x8x8xf32>
  return %0, %1 : tensor<1x2x4x4xf32>, tensor<1x2x8x8xf32>
}

// SOFTMAX over the last axis with beta: exp(beta x) / sum.
// PY@softmax: x = randn(2, 3, 7) * 3
// PY@softmax: e = torch.exp(0.5 * x.double()); sm = (e / e.sum(-1, keepdim=True)).float()
// PY@softmax: inputs = [x]; expected = [torch.softmax(x, -1), sm]
// PY@softmax: tol = 1e-6
func.func @softmax(%x: tensor<2x3x7xf32>) -> (tensor<2x3x7xf32>, tensor<2x3x7xf32>) {
  %0 = circle.softmax %x : (tensor<2x3x7xf32>) -> tensor<2x3x7xf32>
  %1 = circle.softmax %x {beta = 0.5 : f32} : (tensor<2x3x7xf32>) -> tensor<2x3x7xf32>
  return %0, %1 : tensor<2x3x7xf32>, tensor<2x3x7xf32>
}

// PY@mean: x = randn(2, 3, 16)
// PY@mean: inputs = [x]; expected = [x.mean(-1, keepdim=True), x.mean((0, 1))]
func.func @mean(%x: tensor<2x3x16xf32>) -> (tensor<2x3x1xf32>, tensor<16xf32>) {
  %a = circle.const dense<[-1]> : tensor<1xi32>
  %b = circle.const dense<[0, 1]> : tensor<2xi32>
  %0 = circle.mean %x, %a {keep_dims = true} : (tensor<2x3x16xf32>, tensor<1xi32>) -> tensor<2x3x1xf32>
  %1 = circle.mean %x, %b : (tensor<2x3x16xf32>, tensor<2xi32>) -> tensor<16xf32>
  return %0, %1 : tensor<2x3x1xf32>, tensor<16xf32>
}

// PY@reshape_transpose: x = randn(1, 4, 12)
// PY@reshape_transpose: r = x.numpy().reshape(1, 4, 3, 4)
// PY@reshape_transpose: inputs = [x]; expected = [torch.tensor(r), torch.tensor(np.transpose(r, (0, 2, 1, 3)).copy())]
func.func @reshape_transpose(%x: tensor<1x4x12xf32>) -> (tensor<1x4x3x4xf32>, tensor<1x3x4x4xf32>) {
  %shape = circle.const dense<[1, 4, 3, -1]> : tensor<4xi32>
  %perm = circle.const dense<[0, 2, 1, 3]> : tensor<4xi32>
  %r = circle.reshape %x, %shape : (tensor<1x4x12xf32>, tensor<4xi32>) -> tensor<1x4x3x4xf32>
  %t = circle.transpose %r, %perm : (tensor<1x4x3x4xf32>, tensor<4xi32>) -> tensor<1x3x4x4xf32>
  return %r, %t : tensor<1x4x3x4xf32>, tensor<1x3x4x4xf32>
}

// STRIDED_SLICE: strides, begin/end masks, negative stride, shrink,
// new axis, ellipsis, offset (end = begin + end).
// PY@strided_slice: x = randn(2, 3, 8); a = x.numpy()
// PY@strided_slice: inputs = [x]
// PY@strided_slice: expected = [torch.tensor(v.copy()) for v in [a[0:2, 1:3, 2:8:2], a[:, 1:2, 3:], a[:, :, ::-1], a[0:2, 1, 0:8], a[np.newaxis, 0:2], a[..., 1:3], a[0:2, 1:3, 2:6], a[:, :, -2:1:-3]]]
func.func @strided_slice(%x: tensor<2x3x8xf32>) -> (tensor<2x2x3xf32>, tensor<2x1x5xf32>, tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<1x2x3x8xf32>, tensor<2x3x2xf32>, tensor<2x2x4xf32>, tensor<2x3x2xf32>) {
  %b0 = circle.const dense<[0, 1, 2]> : tensor<3xi32>
  %e0 = circle.const dense<[2, 3, 8]> : tensor<3xi32>
  %s0 = circle.const dense<[1, 1, 2]> : tensor<3xi32>
  %0 = circle.strided_slice %x, %b0, %e0, %s0 : (tensor<2x3x8xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>) -> tensor<2x2x3xf32>
  %b1 = circle.const dense<[5, 1, 3]> : tensor<3xi32>
  %e1 = circle.const dense<[0, 2, 0]> : tensor<3xi32>
  %s1 = circle.const dense<[1, 1, 1]> : tensor<3xi32>
  %1 = circle.strided_slice %x, %b1, %e1, %s1 {begin_mask = 1 : i32, end_mask = 5 : i32} : (tensor<2x3x8xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>) -> tensor<2x1x5xf32>
  %sr = circle.const dense<[1, 1, -1]> : tensor<3xi32>
  %2 = circle.strided_slice %x, %b1, %e1, %sr {begin_mask = 7 : i32, end_mask = 7 : i32} : (tensor<2x3x8xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>) -> tensor<2x3x8xf32>
  %b3 = circle.const dense<[0, 1, 0]> : tensor<3xi32>
  %e3 = circle.const dense<[2, 2, 8]> : tensor<3xi32>
  %3 = circle.strided_slice %x, %b3, %e3, %s1 {shrink_axis_mask = 2 : i32} : (tensor<2x3x8xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>) -> tensor<2x8xf32>
  %b4 = circle.const dense<[0, 0]> : tensor<2xi32>
  %e4 = circle.const dense<[0, 2]> : tensor<2xi32>
  %s4 = circle.const dense<[1, 1]> : tensor<2xi32>
  %4 = circle.strided_slice %x, %b4, %e4, %s4 {new_axis_mask = 1 : i32} : (tensor<2x3x8xf32>, tensor<2xi32>, tensor<2xi32>, tensor<2xi32>) -> tensor<1x2x3x8xf32>
  %b5 = circle.const dense<[0, 1]> : tensor<2xi32>
  %e5 = circle.const dense<[0, 3]> : tensor<2xi32>
  %5 = circle.strided_slice %x, %b5, %e5, %s4 {ellipsis_mask = 1 : i32} : (tensor<2x3x8xf32>, tensor<2xi32>, tensor<2xi32>, tensor<2xi32>) -> tensor<2x3x2xf32>
  %e6 = circle.const dense<[2, 2, 4]> : tensor<3xi32>
  %6 = circle.strided_slice %x, %b0, %e6, %s1 {offset = true} : (tensor<2x3x8xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>) -> tensor<2x2x4xf32>
  %b7 = circle.const dense<[0, 0, -2]> : tensor<3xi32>
  %e7 = circle.const dense<[2, 3, 1]> : tensor<3xi32>
  %s7 = circle.const dense<[1, 1, -3]> : tensor<3xi32>
  %7 = circle.strided_slice %x, %b7, %e7, %s7 : (tensor<2x3x8xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>) -> tensor<2x3x2xf32>
  return %0, %1, %2, %3, %4, %5, %6, %7 : tensor<2x2x3xf32>, tensor<2x1x5xf32>, tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<1x2x3x8xf32>, tensor<2x3x2xf32>, tensor<2x2x4xf32>, tensor<2x3x2xf32>
}

// SLICE by begin and size (-1: to the end).
// PY@slice: x = randn(2, 5, 6)
// PY@slice: inputs = [x]; expected = [x[:, 1:4, 2:]]
func.func @slice(%x: tensor<2x5x6xf32>) -> tensor<2x3x4xf32> {
  %b = circle.const dense<[0, 1, 2]> : tensor<3xi32>
  %s = circle.const dense<[2, 3, -1]> : tensor<3xi32>
  %0 = circle.slice %x, %b, %s : (tensor<2x5x6xf32>, tensor<3xi32>, tensor<3xi32>) -> tensor<2x3x4xf32>
  return %0 : tensor<2x3x4xf32>
}

// PY@concatenation: a = randn(1, 2, 3); b = randn(1, 2, 5)
// PY@concatenation: inputs = [a, b]; expected = [torch.cat([a, b], -1), torch.relu(torch.cat([a, a], 0))]
func.func @concatenation(%a: tensor<1x2x3xf32>, %b: tensor<1x2x5xf32>) -> (tensor<1x2x8xf32>, tensor<2x2x3xf32>) {
  %0 = circle.concatenation %a, %b {axis = -1 : i32} : (tensor<1x2x3xf32>, tensor<1x2x5xf32>) -> tensor<1x2x8xf32>
  %1 = circle.concatenation %a, %a {axis = 0 : i32, fused_activation_function = "RELU"} : (tensor<1x2x3xf32>, tensor<1x2x3xf32>) -> tensor<2x2x3xf32>
  return %0, %1 : tensor<1x2x8xf32>, tensor<2x2x3xf32>
}

// GATHER: rows (embedding), axis 1, and batch_dims 1.
// PY@gather: t = randn(10, 4); ids = torch.tensor([[3, 0, 9]], dtype=torch.int32)
// PY@gather: p = randn(3, 5); i2 = torch.tensor([[4, 0], [1, 1]], dtype=torch.int64)
// PY@gather: pb = randn(2, 5, 3); ib = torch.tensor([[4, 0, 2, 2], [1, 3, 0, 4]], dtype=torch.int32)
// PY@gather: inputs = [t, ids, p, i2, pb, ib]
// PY@gather: expected = [torch.tensor(np.take(t.numpy(), ids.numpy(), axis=0)), torch.tensor(np.take(p.numpy(), i2.numpy(), axis=1)), pb[torch.arange(2)[:, None], ib.long()]]
func.func @gather(%t: tensor<10x4xf32>, %ids: tensor<1x3xi32>, %p: tensor<3x5xf32>, %i2: tensor<2x2xi64>, %pb: tensor<2x5x3xf32>, %ib: tensor<2x4xi32>) -> (tensor<1x3x4xf32>, tensor<3x2x2xf32>, tensor<2x4x3xf32>) {
  %0 = circle.gather %t, %ids : (tensor<10x4xf32>, tensor<1x3xi32>) -> tensor<1x3x4xf32>
  %1 = circle.gather %p, %i2 {axis = 1 : i32} : (tensor<3x5xf32>, tensor<2x2xi64>) -> tensor<3x2x2xf32>
  %2 = circle.gather %pb, %ib {axis = 1 : i32, batch_dims = 1 : i32} : (tensor<2x5x3xf32>, tensor<2x4xi32>) -> tensor<2x4x3xf32>
  return %0, %1, %2 : tensor<1x3x4xf32>, tensor<3x2x2xf32>, tensor<2x4x3xf32>
}

// PY@select_v2: c = randn(1, 4) > 0; x = randn(3, 4); y = randn(3, 1)
// PY@select_v2: inputs = [c, x, y]; expected = [torch.tensor(np.where(c.numpy(), x.numpy(), y.numpy()))]
func.func @select_v2(%c: tensor<1x4xi1>, %x: tensor<3x4xf32>, %y: tensor<3x1xf32>) -> tensor<3x4xf32> {
  %0 = circle.select_v2 %c, %x, %y : (tensor<1x4xi1>, tensor<3x4xf32>, tensor<3x1xf32>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// PY@broadcast_to: x = randn(3, 1)
// PY@broadcast_to: inputs = [x]; expected = [torch.tensor(np.broadcast_to(x.numpy(), (2, 3, 4)).copy())]
func.func @broadcast_to(%x: tensor<3x1xf32>) -> tensor<2x3x4xf32> {
  %s = circle.const dense<[2, 3, 4]> : tensor<3xi32>
  %0 = circle.broadcast_to %x, %s : (tensor<3x1xf32>, tensor<3xi32>) -> tensor<2x3x4xf32>
  return %0 : tensor<2x3x4xf32>
}

// RMS_NORM: x * rsqrt(mean(x^2, -1) + eps) * gamma (in float64 here).
// PY@rms_norm: x = randn(1, 4, 16); g = randn(16)
// PY@rms_norm: xd = x.double(); r = xd / torch.sqrt((xd * xd).mean(-1, keepdim=True) + 1e-5) * g.double()
// PY@rms_norm: inputs = [x, g]; expected = [r.float()]; tol = 2e-6
func.func @rms_norm(%x: tensor<1x4x16xf32>, %g: tensor<16xf32>) -> tensor<1x4x16xf32> {
  %0 = circle.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<1x4x16xf32>, tensor<16xf32>) -> tensor<1x4x16xf32>
  return %0 : tensor<1x4x16xf32>
}

// ROPE: GPT_NEOX rotates halves, GPT_J interleaved pairs.
// PY@rope: x = randn(1, 2, 3, 8); ang = randn(1, 1, 3, 8); s = torch.sin(ang); c = torch.cos(ang)
// PY@rope: neox = x * c + torch.cat([-x[..., 4:], x[..., :4]], -1) * s
// PY@rope: a = x.numpy(); rj = np.empty_like(a); rj[..., 0::2] = -a[..., 1::2]; rj[..., 1::2] = a[..., 0::2]
// PY@rope: gptj = x * c + torch.tensor(rj) * s
// PY@rope: inputs = [x, s, c]; expected = [neox, gptj]
func.func @rope(%x: tensor<1x2x3x8xf32>, %s: tensor<1x1x3x8xf32>, %c: tensor<1x1x3x8xf32>) -> (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>) {
  %0 = circle.rope %x, %s, %c : (tensor<1x2x3x8xf32>, tensor<1x1x3x8xf32>, tensor<1x1x3x8xf32>) -> tensor<1x2x3x8xf32>
  %1 = circle.rope %x, %s, %c {mode = "GPT_J"} : (tensor<1x2x3x8xf32>, tensor<1x1x3x8xf32>, tensor<1x1x3x8xf32>) -> tensor<1x2x3x8xf32>
  return %0, %1 : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>
}
