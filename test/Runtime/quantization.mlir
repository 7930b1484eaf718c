// Fake quantization ops and quantized types against torch.fake_quantize_*.
// A value of a quantized type is the float tensor of its dequantized values:
// producing one fake-quantizes with the type's scale / zero point / storage
// range / axis; quantized constants hold integer storage.
// RUN: %python %S/Inputs/opcheck.py %s %t | FileCheck %s
// CHECK-DAG: PASS @fake_quant
// CHECK-DAG: PASS @fake_quant_ties
// CHECK-DAG: PASS @fake_quant_per_axis
// CHECK-DAG: PASS @result_types
// CHECK-DAG: PASS @quantize_dequantize
// CHECK-DAG: PASS @quantized_constants
// CHECK-DAG: PASS @quantized_argument
// CHECK-DAG: PASS @folded_linear
// CHECK-DAG: PASS @fake_quant_many
// CHECK: 9 cases, 0 failures

// PY@fake_quant: x = randn(2, 64) * 3
// PY@fake_quant: inputs = [x]
// PY@fake_quant: expected = [fq(x, 0.001, 0, -32768, 32767), fq(x, 0.02, 5, -128, 127), fq(x, 0.05, 7, 0, 15)]
func.func @fake_quant(%x: tensor<2x64xf32>) -> (tensor<2x64xf32>, tensor<2x64xf32>, tensor<2x64xf32>) {
  %0 = kiln.fake_quant %x scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<2x64xf32>) -> tensor<2x64xf32>
  %1 = kiln.fake_quant %x scale(0.02) zero_point(5) range [-128, 127] : (tensor<2x64xf32>) -> tensor<2x64xf32>
  %2 = kiln.fake_quant %x scale(0.05) zero_point(7) range [0, 15] : (tensor<2x64xf32>) -> tensor<2x64xf32>
  return %0, %1, %2 : tensor<2x64xf32>, tensor<2x64xf32>, tensor<2x64xf32>
}

// Ties round half to even, values clamp to the range.
// PY@fake_quant_ties: x = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 200.0, -300.0])
// PY@fake_quant_ties: inputs = [x]; expected = [torch.tensor([0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 127.0, -128.0])]
func.func @fake_quant_ties(%x: tensor<8xf32>) -> tensor<8xf32> {
  %0 = kiln.fake_quant %x scale(1.0) zero_point(0) range [-128, 127] : (tensor<8xf32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// Per output channel (axis 0) and per head (axis 1 of [B, H, S, D], given
// as -3).
// PY@fake_quant_per_axis: w = randn(3, 8); a = randn(1, 2, 4, 4) * 2
// PY@fake_quant_per_axis: s = torch.tensor([0.01, 0.02, 0.03]); z = torch.tensor([0, 1, -2], dtype=torch.int32)
// PY@fake_quant_per_axis: sh = torch.tensor([0.001, 0.0005]); zh = torch.zeros(2, dtype=torch.int32)
// PY@fake_quant_per_axis: inputs = [w, a]
// PY@fake_quant_per_axis: expected = [torch.fake_quantize_per_channel_affine(w, s, z, 0, -128, 127), torch.fake_quantize_per_channel_affine(a, sh, zh, 1, -32768, 32767)]
func.func @fake_quant_per_axis(%w: tensor<3x8xf32>, %a: tensor<1x2x4x4xf32>) -> (tensor<3x8xf32>, tensor<1x2x4x4xf32>) {
  %0 = kiln.fake_quant_per_axis %w axis(0) scales[0.01, 0.02, 0.03] zero_points[0, 1, -2] range [-128, 127] : (tensor<3x8xf32>) -> tensor<3x8xf32>
  %1 = kiln.fake_quant_per_axis %a axis(-3) scales[0.001, 0.0005] zero_points[0, 0] range [-32768, 32767] : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  return %0, %1 : tensor<3x8xf32>, tensor<1x2x4x4xf32>
}

// An op whose result type is quantized writes fake-quantized values
// (per tensor and per axis); data movement keeps them unchanged.
// PY@result_types: a = randn(2, 3); b = randn(2, 3)
// PY@result_types: s = torch.tensor([0.01, 0.05]); z = torch.tensor([0, 3], dtype=torch.int32)
// PY@result_types: q = fq(a + b, 0.01, 0, -32768, 32767)
// PY@result_types: inputs = [a, b]
// PY@result_types: expected = [q, torch.fake_quantize_per_channel_affine(a * b, s, z, 0, -128, 127), q.t()]
func.func @result_types(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) -> (tensor<2x3x!quant.uniform<i16:f32, 0.01>>, tensor<2x3x!quant.uniform<i8:f32:0, {0.01, 0.05:3}>>, tensor<3x2x!quant.uniform<i16:f32, 0.01>>) {
  %0 = kiln.add %a, %b : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3x!quant.uniform<i16:f32, 0.01>>
  %1 = kiln.mul %a, %b : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3x!quant.uniform<i8:f32:0, {0.01, 0.05:3}>>
  %2 = kiln.transpose %0 0, 1 : (tensor<2x3x!quant.uniform<i16:f32, 0.01>>) -> tensor<3x2x!quant.uniform<i16:f32, 0.01>>
  return %0, %1, %2 : tensor<2x3x!quant.uniform<i16:f32, 0.01>>, tensor<2x3x!quant.uniform<i8:f32:0, {0.01, 0.05:3}>>, tensor<3x2x!quant.uniform<i16:f32, 0.01>>
}

// quantize, requantize (to a coarser type), dequantize.
// PY@quantize_dequantize: x = randn(16)
// PY@quantize_dequantize: q1 = fq(x, 0.01, 0, -128, 127); q2 = fq(q1, 0.03, -4, -128, 127)
// PY@quantize_dequantize: inputs = [x]; expected = [q1, q2]
func.func @quantize_dequantize(%x: tensor<16xf32>) -> (tensor<16xf32>, tensor<16xf32>) {
  %q1 = kiln.quantize %x : (tensor<16xf32>) -> tensor<16x!quant.uniform<i8:f32, 0.01>>
  %q2 = kiln.quantize %q1 : (tensor<16x!quant.uniform<i8:f32, 0.01>>) -> tensor<16x!quant.uniform<i8:f32, 0.03:-4>>
  %d1 = kiln.dequantize %q1 : (tensor<16x!quant.uniform<i8:f32, 0.01>>) -> tensor<16xf32>
  %d2 = kiln.dequantize %q2 : (tensor<16x!quant.uniform<i8:f32, 0.03:-4>>) -> tensor<16xf32>
  return %d1, %d2 : tensor<16xf32>, tensor<16xf32>
}

// Integer storage: i8 per tensor with a zero point, per axis, u8
// asymmetric, i4 (sign-extended), narrow i8, i32 (a bias), a resource blob.
// PY@quantized_constants: inputs = []
// PY@quantized_constants: expected = [(torch.tensor([-128., 0., 127.]) - 2) * 0.5]
// PY@quantized_constants: expected += [torch.tensor([[1., -2.], [3., 4.]]) * torch.tensor([[0.25], [0.125]])]
// PY@quantized_constants: expected += [(torch.tensor([0., 128., 255.]) - 128) * 0.5]
// PY@quantized_constants: expected += [torch.tensor([-8., 7., -1.]) * 0.25]
// PY@quantized_constants: expected += [torch.tensor([-127., 127.]) * 0.1]
// PY@quantized_constants: expected += [torch.tensor([100., -3.]) * torch.tensor(0.001)]
// PY@quantized_constants: expected += [torch.tensor([[1., -1.], [2., -128.]]) * torch.tensor([[0.5, 0.25]])]
func.func @quantized_constants() -> (tensor<3xf32>, tensor<2x2xf32>, tensor<3xf32>, tensor<3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2x2xf32>) {
  %0 = kiln.constant dense<[-128, 0, 127]> : tensor<3xi8> as tensor<3x!quant.uniform<i8:f32, 0.5:2>>
  %1 = kiln.constant dense<[[1, -2], [3, 4]]> : tensor<2x2xi8> as tensor<2x2x!quant.uniform<i8:f32:0, {0.25, 0.125}>>
  %2 = kiln.constant dense<[0, 128, 255]> : tensor<3xui8> as tensor<3x!quant.uniform<u8:f32, 0.5:128>>
  %3 = kiln.constant dense<[-8, 7, -1]> : tensor<3xi4> as tensor<3x!quant.uniform<i4:f32, 0.25>>
  %4 = kiln.constant dense<[-127, 127]> : tensor<2xi8> as tensor<2x!quant.uniform<i8<-127:127>:f32, 0.1>>
  %5 = kiln.constant dense<[100, -3]> : tensor<2xi32> as tensor<2x!quant.uniform<i32:f32, 0.001>>
  %6 = kiln.constant dense_resource<wq> : tensor<2x2xi8> as tensor<2x2x!quant.uniform<i8:f32:1, {0.5, 0.25}>>
  %d0 = kiln.dequantize %0 : (tensor<3x!quant.uniform<i8:f32, 0.5:2>>) -> tensor<3xf32>
  %d1 = kiln.dequantize %1 : (tensor<2x2x!quant.uniform<i8:f32:0, {0.25, 0.125}>>) -> tensor<2x2xf32>
  %d2 = kiln.dequantize %2 : (tensor<3x!quant.uniform<u8:f32, 0.5:128>>) -> tensor<3xf32>
  %d3 = kiln.dequantize %3 : (tensor<3x!quant.uniform<i4:f32, 0.25>>) -> tensor<3xf32>
  %d4 = kiln.dequantize %4 : (tensor<2x!quant.uniform<i8<-127:127>:f32, 0.1>>) -> tensor<2xf32>
  %d5 = kiln.dequantize %5 : (tensor<2x!quant.uniform<i32:f32, 0.001>>) -> tensor<2xf32>
  %d6 = kiln.dequantize %6 : (tensor<2x2x!quant.uniform<i8:f32:1, {0.5, 0.25}>>) -> tensor<2x2xf32>
  return %d0, %d1, %d2, %d3, %d4, %d5, %d6 : tensor<3xf32>, tensor<2x2xf32>, tensor<3xf32>, tensor<3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2x2xf32>
}

// A quantized argument given as float is fake-quantized on entry.
// PY@quantized_argument: x = randn(5)
// PY@quantized_argument: inputs = [x]; expected = [fq(x, 0.1, 0, -128, 127)]
func.func @quantized_argument(%x: tensor<5x!quant.uniform<i8:f32, 0.1>>) -> tensor<5x!quant.uniform<i8:f32, 0.1>> {
  return %x : tensor<5x!quant.uniform<i8:f32, 0.1>>
}

// What kiln-fold-fake-quant produces for a w8a16 linear equals the fake
// quant graph: int8 per-channel weight storage, int16 activations.
// PY@folded_linear: x = randn(1, 3, 2)
// PY@folded_linear: w = torch.tensor([[10., -20.], [30., 127.]]) * torch.tensor([[0.01], [0.002]])
// PY@folded_linear: xq = fq(x, 0.001, 0, -32768, 32767)
// PY@folded_linear: inputs = [x]; expected = [fq(F.linear(xq, w), 0.002, 0, -32768, 32767)]
func.func @folded_linear(%x: tensor<1x3x2xf32>) -> tensor<1x3x2xf32> {
  %w = kiln.constant dense<[[10, -20], [30, 127]]> : tensor<2x2xi8> as tensor<2x2x!quant.uniform<i8:f32:0, {0.01, 0.002}>>
  %xq = kiln.quantize %x : (tensor<1x3x2xf32>) -> tensor<1x3x2x!quant.uniform<i16:f32, 0.001>>
  %y = kiln.linear %xq, %w : (tensor<1x3x2x!quant.uniform<i16:f32, 0.001>>, tensor<2x2x!quant.uniform<i8:f32:0, {0.01, 0.002}>>) -> tensor<1x3x2x!quant.uniform<i16:f32, 0.002>>
  %r = kiln.dequantize %y : (tensor<1x3x2x!quant.uniform<i16:f32, 0.002>>) -> tensor<1x3x2xf32>
  return %r : tensor<1x3x2xf32>
}

// 65536 values per op: half on exact ties (k + 0.5) * scale, awkward
// scales, clamping; the kernels must match torch bit for bit.
// PY@fake_quant_many: s1 = 0.00016147500718943775; s2 = 0.0030631069093942642
// PY@fake_quant_many: t = (randint(-40000, 40000, (128, 256)).float() + 0.5) * torch.tensor(s1)
// PY@fake_quant_many: x = torch.cat([t, randn(128, 256) * 3], 0)
// PY@fake_quant_many: ss = torch.tensor([s1, s2, 0.01, 0.000123]); zz = torch.tensor([0, 3, -7, 1], dtype=torch.int32)
// PY@fake_quant_many: w = (randint(-300, 300, (4, 16384)).float() + 0.5) * ss[:, None]
// PY@fake_quant_many: inputs = [x, w]
// PY@fake_quant_many: expected = [fq(x, s1, 0, -32768, 32767), fq(x, s2, 11, -128, 127), torch.fake_quantize_per_channel_affine(w, ss, zz, 0, -128, 127)]
func.func @fake_quant_many(%x: tensor<256x256xf32>, %w: tensor<4x16384xf32>) -> (tensor<256x256xf32>, tensor<256x256xf32>, tensor<4x16384xf32>) {
  %0 = kiln.fake_quant %x scale(0.00016147500718943775) zero_point(0) range [-32768, 32767] : (tensor<256x256xf32>) -> tensor<256x256xf32>
  %1 = kiln.fake_quant %x scale(0.0030631069093942642) zero_point(11) range [-128, 127] : (tensor<256x256xf32>) -> tensor<256x256xf32>
  %2 = kiln.fake_quant_per_axis %w axis(0) scales[0.00016147500718943775, 0.0030631069093942642, 0.01, 0.000123] zero_points[0, 3, -7, 1] range [-128, 127] : (tensor<4x16384xf32>) -> tensor<4x16384xf32>
  return %0, %1, %2 : tensor<256x256xf32>, tensor<256x256xf32>, tensor<4x16384xf32>
}

{-#
  dialect_resources: {
    builtin: {
      wq: "0x0100000001FF0280"
    }
  }
#-}
