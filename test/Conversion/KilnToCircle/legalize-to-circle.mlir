// RUN: kiln-opt %s --split-input-file --kiln-legalize-to-circle | FileCheck %s --check-prefixes=CHECK,CIRCLE
// RUN: kiln-opt %s --split-input-file --kiln-legalize-to-circle=flavor=tflite | FileCheck %s --check-prefixes=CHECK,TFLITE

// Attention-shaped float graph: every kiln op becomes circle ops with int32
// shape/permutation/bound constants computed from the static types.
// CHECK-LABEL: func.func @float_ops
// CHECK-NOT: kiln.
// CHECK-DAG: %[[FC:.*]] = circle.fully_connected %arg0, %{{.*}} {keep_num_dims = true} : (tensor<1x16x64xf32>, tensor<64x64xf32>) -> tensor<1x16x64xf32>
// CHECK-DAG: %[[SHAPE:.*]] = circle.const dense<[1, 16, 4, 16]> : tensor<4xi32>
// CHECK: %[[V:.*]] = circle.reshape %[[FC]], %[[SHAPE]]
// CHECK: %[[PERM:.*]] = circle.const dense<[0, 2, 1, 3]> : tensor<4xi32>
// CHECK: %[[Q:.*]] = circle.transpose %[[V]], %[[PERM]]
// CHECK: circle.const dense<[0, 0, 0, 8]> : tensor<4xi32>
// CHECK: circle.const dense<[1, 4, 16, 16]> : tensor<4xi32>
// CHECK: circle.const dense<1> : tensor<4xi32>
// CHECK: %[[X2:.*]] = circle.strided_slice %[[Q]]
// CHECK: %[[NEG:.*]] = circle.neg %[[X2]]
// CHECK: circle.concatenation %[[NEG]], %{{.*}} {axis = 3 : i32}
// CHECK: circle.batch_matmul %{{.*}}, %{{.*}} {adj_y = true} : (tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
// CHECK: circle.add
// CHECK: circle.softmax
// CHECK: circle.mul %[[SQ:.*]], %[[SQ]]
// CHECK: circle.const dense<2> : tensor<1xi32>
// CHECK: circle.mean %{{.*}}, %{{.*}} {keep_dims = true}
// CHECK: circle.rsqrt
// CHECK: %[[SIG:.*]] = circle.logistic %[[A:.*]] :
// CHECK: circle.mul %[[A]], %[[SIG]]
// CHECK: circle.strided_slice {{.*}} {shrink_axis_mask = 2 : i32}
// CHECK: circle.const dense<[1, 2, 1, 16, 16]> : tensor<5xi32>
// CHECK: circle.reshape
// CHECK: circle.const dense<[1, 2, 2, 16, 16]> : tensor<5xi32>
// CHECK: circle.broadcast_to
// CHECK: circle.reshape {{.*}} -> tensor<1x4x16x16xf32>
// CHECK: circle.gather %{{.*}}, %{{.*}} : (tensor<256x64xf32>, tensor<1x16xi64>) -> tensor<1x16x64xf32>
// CHECK: circle.select_v2
func.func @float_ops(%x: tensor<1x16x64xf32>, %mask: tensor<1x1x16x16xf32>, %k: tensor<1x2x16x16xf32>,
                     %ids: tensor<1x16xi64>, %c: tensor<1x1x16x16xi1>)
    -> (tensor<1x4x16x16xf32>, tensor<1x16x1xf32>, tensor<1x16x64xf32>, tensor<1x16x16xf32>, tensor<1x4x16x16xf32>, tensor<1x16x64xf32>, tensor<1x4x16x16xf32>) {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %c4 = arith.constant 4 : i64
  %c8 = arith.constant 8 : i64
  %c16 = arith.constant 16 : i64
  %cmax = arith.constant 9223372036854775807 : i64
  %w = kiln.constant dense<0.01> : tensor<64x64xf32>
  %two = kiln.constant dense<2.0> : tensor<f32>
  %table = kiln.constant dense<0.5> : tensor<256x64xf32>
  %fc = kiln.linear %x, %w : (tensor<1x16x64xf32>, tensor<64x64xf32>) -> tensor<1x16x64xf32>
  %v = kiln.reshape %fc(%c1, %c16, %c4, %c16) : (tensor<1x16x64xf32>) -> tensor<1x16x4x16xf32>
  %q = kiln.transpose %v 1, 2 : (tensor<1x16x4x16xf32>) -> tensor<1x4x16x16xf32>
  %x2 = kiln.slice %q dim = -1 [%c8 : %cmax : %c1] : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x8xf32>
  %x1 = kiln.slice %q dim = -1 [%c0 : %c8 : %c1] : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x8xf32>
  %n = kiln.neg %x2 : (tensor<1x4x16x8xf32>) -> tensor<1x4x16x8xf32>
  %rot = kiln.cat %n, %x1 dim = -1 : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>) -> tensor<1x4x16x16xf32>
  %s = kiln.matmul %rot, %q {adj_y = true} : (tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %sm = kiln.add %s, %mask : (tensor<1x4x16x16xf32>, tensor<1x1x16x16xf32>) -> tensor<1x4x16x16xf32>
  %p = kiln.softmax %sm dim = -1 : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %sq = kiln.pow %x, %two : (tensor<1x16x64xf32>, tensor<f32>) -> tensor<1x16x64xf32>
  %mean = kiln.mean %sq [-1] {keep_dims = true} : (tensor<1x16x64xf32>) -> tensor<1x16x1xf32>
  %r = kiln.rsqrt %mean : (tensor<1x16x1xf32>) -> tensor<1x16x1xf32>
  %silu = kiln.silu %fc : (tensor<1x16x64xf32>) -> tensor<1x16x64xf32>
  %sel = kiln.select %k dim = 1 [%c1] : (tensor<1x2x16x16xf32>) -> tensor<1x16x16xf32>
  %rep = kiln.repeat_interleave %k repeats = 2 dim = 1 : (tensor<1x2x16x16xf32>) -> tensor<1x4x16x16xf32>
  %emb = kiln.embedding %table[%ids] : (tensor<256x64xf32>, tensor<1x16xi64>) -> tensor<1x16x64xf32>
  %wh = kiln.where %c, %mask, %p : (tensor<1x1x16x16xi1>, tensor<1x1x16x16xf32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  return %p, %r, %silu, %sel, %rep, %emb, %wh : tensor<1x4x16x16xf32>, tensor<1x16x1xf32>, tensor<1x16x64xf32>, tensor<1x16x16xf32>, tensor<1x4x16x16xf32>, tensor<1x16x64xf32>, tensor<1x4x16x16xf32>
}

// -----

// RMSNorm as kiln_torch writes it after kiln-fold-fake-quant (int16): the
// circle flavor fuses the chain and its requantize into rms_norm on the
// quantized input; TFLite runs it on integer kernels (rms-norm-tflite.mlir).
// CHECK-LABEL: func.func @rms_norm
// CIRCLE-DAG: %[[X:.*]] = circle.quantize %arg0
// CIRCLE-DAG: %[[W:.*]] = circle.const dense<16384> : tensor<4xi16> as tensor<4x!quant.uniform<i16:f32, 6.1037018951994385E-5>>
// CIRCLE: %[[N:.*]] = circle.rms_norm %[[X]], %[[W]] {epsilon = 9.99999974E-6 : f32} : ({{.*}}) -> tensor<1x2x4x!quant.uniform<i16:f32, 1.000000e-03>>
// CIRCLE-NOT: circle.rsqrt
// TFLITE-NOT: circle.rms_norm
// TFLITE: circle.batch_matmul
// TFLITE: circle.rsqrt
// TFLITE: circle.select_v2
// TFLITE: circle.mul {{.*}} -> tensor<2x1x4x!quant.uniform<i16:f32, 1.000000e-03>>
func.func @rms_norm(%arg0: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %two = kiln.constant dense<2.0> : tensor<f32>
  %eps = kiln.constant dense<1.0e-5> : tensor<f32>
  %w = kiln.constant dense<16384> : tensor<4xi16> as tensor<4x!quant.uniform<i16:f32, 6.1037018951994385E-5>>
  %xq = kiln.quantize %arg0 : (tensor<1x2x4xf32>) -> tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>
  %xd = kiln.dequantize %xq : (tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>) -> tensor<1x2x4xf32>
  %p = kiln.pow %xd, %two : (tensor<1x2x4xf32>, tensor<f32>) -> tensor<1x2x4xf32>
  %m = kiln.mean %p [-1] {keep_dims = true} : (tensor<1x2x4xf32>) -> tensor<1x2x1xf32>
  %a = kiln.add %m, %eps : (tensor<1x2x1xf32>, tensor<f32>) -> tensor<1x2x1xf32>
  %r = kiln.rsqrt %a : (tensor<1x2x1xf32>) -> tensor<1x2x1xf32>
  %xd2 = kiln.dequantize %xq : (tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>) -> tensor<1x2x4xf32>
  %n = kiln.mul %xd2, %r : (tensor<1x2x4xf32>, tensor<1x2x1xf32>) -> tensor<1x2x4xf32>
  %wd = kiln.dequantize %w : (tensor<4x!quant.uniform<i16:f32, 6.1037018951994385E-5>>) -> tensor<4xf32>
  %y = kiln.mul %wd, %n : (tensor<4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %yq = kiln.quantize %y : (tensor<1x2x4xf32>) -> tensor<1x2x4x!quant.uniform<i16:f32, 0.001>>
  %out = kiln.dequantize %yq : (tensor<1x2x4x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x2x4xf32>
  return %out : tensor<1x2x4xf32>
}

// -----

// Quantized ops without integer kernels compute in float (a negation on an
// asymmetric grid); a negation on a symmetric grid is an integer multiply by
// -1 at scale 1; softmax output takes TFLite's fixed int16 scale and is
// requantized.
// CHECK-LABEL: func.func @quantized_islands
// CHECK: %[[X:.*]] = circle.quantize %arg0 {{.*}}i16:f32, 1.000000e-03>>
// CHECK: %[[M1:.*]] = circle.const dense<-1> : tensor<i16> as tensor<!quant.uniform<i16:f32, 1.000000e+00>>
// CHECK: circle.mul %[[X]], %[[M1]] : ({{.*}}) -> tensor<1x4x!quant.uniform<i16:f32, 1.000000e-03>>
// CHECK: %[[S:.*]] = circle.softmax %{{.*}} -> tensor<1x4x!quant.uniform<i16:f32, 3.0517578125E-5>>
// CHECK: circle.quantize %[[S]] : (tensor<1x4x!quant.uniform<i16:f32, 3.0517578125E-5>>) -> tensor<1x4x!quant.uniform<i16:f32, 2.000000e-05>>
// CHECK: %[[D:.*]] = circle.dequantize %{{.*}} : (tensor<1x4x!quant.uniform<i8:f32, 1.000000e-02:3>>) -> tensor<1x4xf32>
// CHECK: %[[N:.*]] = circle.neg %[[D]] : (tensor<1x4xf32>) -> tensor<1x4xf32>
// CHECK: circle.quantize %[[N]] : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<i8:f32, 1.000000e-02:3>>
func.func @quantized_islands(%x: tensor<1x4xf32>) -> (tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>) {
  %xq = kiln.quantize %x : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<i16:f32, 0.001>>
  %n = kiln.neg %xq : (tensor<1x4x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x4x!quant.uniform<i16:f32, 0.001>>
  %s = kiln.softmax %xq dim = 1 : (tensor<1x4x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x4x!quant.uniform<i16:f32, 2.0e-5>>
  %xa = kiln.quantize %x : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<i8:f32, 0.01:3>>
  %na = kiln.neg %xa : (tensor<1x4x!quant.uniform<i8:f32, 0.01:3>>) -> tensor<1x4x!quant.uniform<i8:f32, 0.01:3>>
  %a = kiln.dequantize %n : (tensor<1x4x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x4xf32>
  %b = kiln.dequantize %s : (tensor<1x4x!quant.uniform<i16:f32, 2.0e-5>>) -> tensor<1x4xf32>
  %c = kiln.dequantize %na : (tensor<1x4x!quant.uniform<i8:f32, 0.01:3>>) -> tensor<1x4xf32>
  return %a, %b, %c : tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>
}

// -----

// int4 weights stay int4 in both flavors (LiteRT runs FULLY_CONNECTED with
// INT4 weights for int8, int16 and float inputs: test/e2e/litert/int4.mlir).
// CHECK-LABEL: func.func @int4_weights
// CHECK: circle.const dense<{{\[\[}}-8, 7], [1, -1]]> : tensor<2x2xi4> as tensor<2x2x!quant.uniform<i4:f32:0, {5.000000e-01,2.500000e-01}>>
func.func @int4_weights(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %w = kiln.constant dense<[[-8, 7], [1, -1]]> : tensor<2x2xi4> as tensor<2x2x!quant.uniform<i4:f32:0, {0.5, 0.25}>>
  %xq = kiln.quantize %x : (tensor<1x2xf32>) -> tensor<1x2x!quant.uniform<i16:f32, 0.001>>
  %y = kiln.linear %xq, %w : (tensor<1x2x!quant.uniform<i16:f32, 0.001>>, tensor<2x2x!quant.uniform<i4:f32:0, {0.5, 0.25}>>) -> tensor<1x2x!quant.uniform<i16:f32, 0.001>>
  %r = kiln.dequantize %y : (tensor<1x2x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x2xf32>
  return %r : tensor<1x2xf32>
}

// -----

// An int64 bias (16-bit activations) keeps its scales for the writer.
// CHECK-LABEL: func.func @int64_bias
// CHECK: circle.const {kiln.quant_scales = array<f64: 5.000000e-04, 2.500000e-04>} dense<[600, -400]> : tensor<2xi64>
func.func @int64_bias(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %w = kiln.constant dense<[[2, 0], [0, 4]]> : tensor<2x2xi8> as tensor<2x2x!quant.uniform<i8:f32:0, {0.5, 0.25}>>
  %b = kiln.constant {kiln.quant_scales = array<f64: 5.000000e-04, 2.500000e-04>} dense<[600, -400]> : tensor<2xi64>
  %xq = kiln.quantize %x : (tensor<1x2xf32>) -> tensor<1x2x!quant.uniform<i16:f32, 0.001>>
  %y = kiln.linear %xq, %w, %b : (tensor<1x2x!quant.uniform<i16:f32, 0.001>>, tensor<2x2x!quant.uniform<i8:f32:0, {0.5, 0.25}>>, tensor<2xi64>) -> tensor<1x2x!quant.uniform<i16:f32, 0.001>>
  %r = kiln.dequantize %y : (tensor<1x2x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x2xf32>
  return %r : tensor<1x2xf32>
}

// -----

// int16 rsqrt and div have integer kernels (LiteRT's int16 RSQRT, DIV), and
// int8 rsqrt too; a uint8 rsqrt computes in float.
// CHECK-LABEL: func.func @int16_rsqrt_div
// CHECK: circle.rsqrt %{{.*}} : (tensor<1x4x!quant.uniform<i16:f32, 1.000000e-03>>) -> tensor<1x4x!quant.uniform<i16:f32, 2.000000e-03>>
// CHECK: circle.div %{{.*}}, %{{.*}} : (tensor<1x4x!quant.uniform<i16:f32, 1.000000e-03>>, tensor<1x4x!quant.uniform<i16:f32, 2.000000e-03>>) -> tensor<1x4x!quant.uniform<i16:f32, 4.000000e-03>>
// CHECK: circle.rsqrt %{{.*}} : (tensor<1x4x!quant.uniform<i8:f32, 1.000000e-01>>) -> tensor<1x4x!quant.uniform<i8:f32, 1.000000e-01>>
// CHECK: %[[D:.*]] = circle.dequantize %{{.*}} : (tensor<1x4x!quant.uniform<u8:f32, 1.000000e-01>>) -> tensor<1x4xf32>
// CHECK: circle.rsqrt %[[D]] : (tensor<1x4xf32>) -> tensor<1x4xf32>
func.func @int16_rsqrt_div(%x: tensor<1x4xf32>) -> (tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>) {
  %xq = kiln.quantize %x : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<i16:f32, 0.001>>
  %r = kiln.rsqrt %xq : (tensor<1x4x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x4x!quant.uniform<i16:f32, 0.002>>
  %d = kiln.div %xq, %r : (tensor<1x4x!quant.uniform<i16:f32, 0.001>>, tensor<1x4x!quant.uniform<i16:f32, 0.002>>) -> tensor<1x4x!quant.uniform<i16:f32, 0.004>>
  %x8 = kiln.quantize %x : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<i8:f32, 0.1>>
  %r8 = kiln.rsqrt %x8 : (tensor<1x4x!quant.uniform<i8:f32, 0.1>>) -> tensor<1x4x!quant.uniform<i8:f32, 0.1>>
  %xu = kiln.quantize %x : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<u8:f32, 0.1>>
  %ru = kiln.rsqrt %xu : (tensor<1x4x!quant.uniform<u8:f32, 0.1>>) -> tensor<1x4x!quant.uniform<u8:f32, 0.1>>
  %a = kiln.dequantize %d : (tensor<1x4x!quant.uniform<i16:f32, 0.004>>) -> tensor<1x4xf32>
  %b = kiln.dequantize %r8 : (tensor<1x4x!quant.uniform<i8:f32, 0.1>>) -> tensor<1x4xf32>
  %c = kiln.dequantize %ru : (tensor<1x4x!quant.uniform<u8:f32, 0.1>>) -> tensor<1x4xf32>
  return %a, %b, %c : tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>
}

// -----

// A fully quantized RMSNorm chain (every intermediate fake-quantized, eps a
// quantized constant: 10 x 1.0e-6) fuses into rms_norm for Circle, reading
// the quantized input and weight; TFLite keeps the integer chain.
// CHECK-LABEL: func.func @quantized_rms_norm
// CIRCLE: circle.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.99999974E-6 : f32} : (tensor<1x2x4x!quant.uniform<i16:f32, 1.000000e-03>>, tensor<4x!quant.uniform<i16:f32, 1.000000e-04>>) -> tensor<1x2x4x!quant.uniform<i16:f32, 2.000000e-03>>
// TFLITE: circle.mul %{{.*}}, %{{.*}} : {{.*}} -> tensor<1x2x4x!quant.uniform<i16:f32, 1.000000e-05>>
// TFLITE: circle.mean
// TFLITE: circle.add
// TFLITE: circle.rsqrt %{{.*}} : (tensor<1x2x1x!quant.uniform<i16:f32, 1.000000e-05>>) -> tensor<1x2x1x!quant.uniform<i16:f32, 1.000000e-02>>
func.func @quantized_rms_norm(%x: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %xq = kiln.quantize %x : (tensor<1x2x4xf32>) -> tensor<1x2x4x!quant.uniform<i16:f32, 0.001>>
  %two = kiln.constant dense<2.0> : tensor<f32>
  %sq = kiln.pow %xq, %two : (tensor<1x2x4x!quant.uniform<i16:f32, 0.001>>, tensor<f32>) -> tensor<1x2x4x!quant.uniform<i16:f32, 1.0e-5>>
  %m = kiln.mean %sq [-1] {keep_dims = true} : (tensor<1x2x4x!quant.uniform<i16:f32, 1.0e-5>>) -> tensor<1x2x1x!quant.uniform<i16:f32, 1.0e-5>>
  %eps = kiln.constant dense<10> : tensor<i16> as tensor<!quant.uniform<i16:f32, 1.0e-6>>
  %s = kiln.add %m, %eps : (tensor<1x2x1x!quant.uniform<i16:f32, 1.0e-5>>, tensor<!quant.uniform<i16:f32, 1.0e-6>>) -> tensor<1x2x1x!quant.uniform<i16:f32, 1.0e-5>>
  %r = kiln.rsqrt %s : (tensor<1x2x1x!quant.uniform<i16:f32, 1.0e-5>>) -> tensor<1x2x1x!quant.uniform<i16:f32, 0.01>>
  %n = kiln.mul %xq, %r : (tensor<1x2x4x!quant.uniform<i16:f32, 0.001>>, tensor<1x2x1x!quant.uniform<i16:f32, 0.01>>) -> tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>
  %w = kiln.constant dense<[10000, 10000, 10000, 10000]> : tensor<4xi16> as tensor<4x!quant.uniform<i16:f32, 0.0001>>
  %y = kiln.mul %w, %n : (tensor<4x!quant.uniform<i16:f32, 0.0001>>, tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>) -> tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>
  %o = kiln.dequantize %y : (tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>) -> tensor<1x2x4xf32>
  return %o : tensor<1x2x4xf32>
}
