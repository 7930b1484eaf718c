// RUN: kiln-opt %s --split-input-file | FileCheck %s
// Round trip: print, parse again, print again must give the same text.
// RUN: kiln-opt %s --split-input-file | kiln-opt --split-input-file | FileCheck %s
// Generic form parses back to the same custom form.
// RUN: kiln-opt %s --split-input-file --mlir-print-op-generic | kiln-opt --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @values
func.func @values(%t: tensor<2x3xf32>, %opt: !kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>>) -> i1 {
  // CHECK: kiln.none : !kiln.none
  %n = kiln.none : !kiln.none
  // CHECK: kiln.none : !kiln.optional<tensor<2x3xf32>>
  %e = kiln.none : !kiln.optional<tensor<2x3xf32>>
  // CHECK: kiln.some %{{.*}} : tensor<2x3xf32> -> !kiln.optional<tensor<2x3xf32>>
  %s = kiln.some %t : tensor<2x3xf32> -> !kiln.optional<tensor<2x3xf32>>
  // CHECK: kiln.is_none %{{.*}} : !kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>>
  %b = kiln.is_none %opt : !kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>>
  // CHECK: kiln.unchecked_cast %{{.*}} : !kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>> -> tuple<tensor<*xf32>, tensor<*xf32>>
  %kv = kiln.unchecked_cast %opt : !kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>> -> tuple<tensor<*xf32>, tensor<*xf32>>
  // CHECK: kiln.tuple_get %{{.*}}[1] : tuple<tensor<*xf32>, tensor<*xf32>> -> tensor<*xf32>
  %v = kiln.tuple_get %kv[1] : tuple<tensor<*xf32>, tensor<*xf32>> -> tensor<*xf32>
  // CHECK: kiln.tuple %{{.*}}, %{{.*}} : tensor<2x3xf32>, tensor<*xf32> -> tuple<tensor<2x3xf32>, tensor<*xf32>>
  %tp = kiln.tuple %t, %v : tensor<2x3xf32>, tensor<*xf32> -> tuple<tensor<2x3xf32>, tensor<*xf32>>
  // CHECK: kiln.tuple -> tuple<>
  %empty = kiln.tuple -> tuple<>
  // CHECK: %[[SHAPE:.*]] = kiln.shape %{{.*}} : tensor<*xf32> -> !kiln.list<i64>
  %shape = kiln.shape %v : tensor<*xf32> -> !kiln.list<i64>
  %c0 = arith.constant 0 : i64
  // CHECK: kiln.list_get %[[SHAPE]][%{{.*}}] : !kiln.list<i64> -> i64
  %d0 = kiln.list_get %shape[%c0] : !kiln.list<i64> -> i64
  // CHECK: kiln.size %{{.*}}[%{{.*}}] : tensor<*xf32>
  %d1 = kiln.size %v[%c0] : tensor<*xf32>
  // CHECK: kiln.list %{{.*}}, %{{.*}} : i64, i64 -> !kiln.list<i64>
  %l = kiln.list %d0, %d1 : i64, i64 -> !kiln.list<i64>
  // CHECK: kiln.list_append %{{.*}}, %{{.*}} : !kiln.list<i64>, i64
  %l2 = kiln.list_append %l, %d0 : !kiln.list<i64>, i64
  // CHECK: kiln.rank %{{.*}} : tensor<*xf32>
  %r = kiln.rank %v : tensor<*xf32>
  %f = arith.constant 0.5 : f64
  // CHECK: kiln.from_scalar %{{.*}} : f64 -> tensor<f32>
  %ft = kiln.from_scalar %f : f64 -> tensor<f32>
  // CHECK: kiln.constant dense<1.000000e+00> : tensor<4xf32>
  %c = kiln.constant dense<1.0> : tensor<4xf32>
  // CHECK: kiln.constant dense_resource<weight0> : tensor<2x2xf32>
  // CHECK: weight0: "0x040000000000803F0000004000004040000080C0"
  %w = kiln.constant dense_resource<weight0> : tensor<2x2xf32>
  return %b : i1
}

{-#
  dialect_resources: {
    builtin: {
      weight0: "0x040000000000803F0000004000004040000080C0"
    }
  }
#-}

// -----

// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%a: tensor<1x4x16x16xf32>, %m: tensor<1x1x16x16xf32>, %e: tensor<f32>, %c: tensor<1x1x16x16xi1>) {
  // CHECK: kiln.add %{{.*}}, %{{.*}} : (tensor<1x4x16x16xf32>, tensor<1x1x16x16xf32>) -> tensor<1x4x16x16xf32>
  %0 = kiln.add %a, %m : (tensor<1x4x16x16xf32>, tensor<1x1x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.sub
  %1 = kiln.sub %a, %m : (tensor<1x4x16x16xf32>, tensor<1x1x16x16xf32>) -> tensor<*xf32>
  // CHECK: kiln.mul
  %2 = kiln.mul %a, %e : (tensor<1x4x16x16xf32>, tensor<f32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.div
  %3 = kiln.div %a, %e : (tensor<1x4x16x16xf32>, tensor<f32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.pow %{{.*}}, %{{.*}} : (tensor<1x4x16x16xf32>, tensor<f32>) -> tensor<1x4x16x16xf32>
  %4 = kiln.pow %a, %e : (tensor<1x4x16x16xf32>, tensor<f32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.where %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x1x16x16xi1>, tensor<f32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %5 = kiln.where %c, %e, %a : (tensor<1x1x16x16xi1>, tensor<f32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.neg %{{.*}} : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %6 = kiln.neg %a : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.rsqrt
  %7 = kiln.rsqrt %a : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.silu
  %8 = kiln.silu %a : (tensor<1x4x16x16xf32>) -> tensor<*xf32>
  // CHECK: kiln.sigmoid
  %9 = kiln.sigmoid %a : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.cast %{{.*}} : tensor<1x4x16x16xf32> -> tensor<1x4x16x16xf16>
  %10 = kiln.cast %a : tensor<1x4x16x16xf32> -> tensor<1x4x16x16xf16>
  return
}

// -----

// CHECK-LABEL: func.func @contractions
func.func @contractions(%x: tensor<1x16x64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>,
                        %q: tensor<1x4x16x16xf32>, %k: tensor<1x4x16x16xf32>,
                        %ids: tensor<1x16xi64>, %table: tensor<256x64xf32>) {
  // CHECK: kiln.linear %{{.*}}, %{{.*}} : (tensor<1x16x64xf32>, tensor<32x64xf32>) -> tensor<1x16x32xf32>
  %0 = kiln.linear %x, %w : (tensor<1x16x64xf32>, tensor<32x64xf32>) -> tensor<1x16x32xf32>
  // CHECK: kiln.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x16x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<1x16x32xf32>
  %1 = kiln.linear %x, %w, %b : (tensor<1x16x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<1x16x32xf32>
  // CHECK: kiln.matmul %{{.*}}, %{{.*}} : (tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %2 = kiln.matmul %q, %k : (tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.matmul %{{.*}}, %{{.*}} {adj_y = true}
  %3 = kiln.matmul %q, %k {adj_y = true} : (tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.mean %{{.*}} [-1] {keep_dims = true} : (tensor<1x16x64xf32>) -> tensor<1x16x1xf32>
  %4 = kiln.mean %x [-1] {keep_dims = true} : (tensor<1x16x64xf32>) -> tensor<1x16x1xf32>
  // CHECK: kiln.softmax %{{.*}} dim = -1 : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %5 = kiln.softmax %q dim = -1 : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.embedding %{{.*}}[%{{.*}}] : (tensor<256x64xf32>, tensor<1x16xi64>) -> tensor<1x16x64xf32>
  %6 = kiln.embedding %table[%ids] : (tensor<256x64xf32>, tensor<1x16xi64>) -> tensor<1x16x64xf32>
  return
}

// -----

// CHECK-LABEL: func.func @movement
func.func @movement(%x: tensor<1x16x64xf32>, %k: tensor<1x2x16x16xf32>) {
  %c1 = arith.constant 1 : i64
  %c16 = arith.constant 16 : i64
  %c4 = arith.constant 4 : i64
  %cm1 = arith.constant -1 : i64
  %c0 = arith.constant 0 : i64
  %c8 = arith.constant 8 : i64
  %cmax = arith.constant 9223372036854775807 : i64
  // CHECK: kiln.reshape %{{.*}}(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (tensor<1x16x64xf32>) -> tensor<1x16x4x16xf32>
  %0 = kiln.reshape %x(%c1, %c16, %c4, %cm1) : (tensor<1x16x64xf32>) -> tensor<1x16x4x16xf32>
  // CHECK: kiln.transpose %{{.*}} 1, 2 : (tensor<1x16x4x16xf32>) -> tensor<1x4x16x16xf32>
  %1 = kiln.transpose %0 1, 2 : (tensor<1x16x4x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.permute %{{.*}} [0, 2, 1, 3] : (tensor<1x16x4x16xf32>) -> tensor<1x4x16x16xf32>
  %2 = kiln.permute %0 [0, 2, 1, 3] : (tensor<1x16x4x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.unsqueeze %{{.*}} dim = 2 : (tensor<1x2x16x16xf32>) -> tensor<1x2x1x16x16xf32>
  %3 = kiln.unsqueeze %k dim = 2 : (tensor<1x2x16x16xf32>) -> tensor<1x2x1x16x16xf32>
  // CHECK: kiln.squeeze %{{.*}} dim = 2 : (tensor<1x2x1x16x16xf32>) -> tensor<1x2x16x16xf32>
  %4 = kiln.squeeze %3 dim = 2 : (tensor<1x2x1x16x16xf32>) -> tensor<1x2x16x16xf32>
  %c2 = arith.constant 2 : i64
  // CHECK: kiln.expand %{{.*}}(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (tensor<1x2x1x16x16xf32>) -> tensor<1x2x2x16x16xf32>
  %5 = kiln.expand %3(%c1, %c2, %c2, %c16, %c16) : (tensor<1x2x1x16x16xf32>) -> tensor<1x2x2x16x16xf32>
  // CHECK: kiln.repeat_interleave %{{.*}} repeats = 2 dim = 1 : (tensor<1x2x16x16xf32>) -> tensor<1x4x16x16xf32>
  %6 = kiln.repeat_interleave %k repeats = 2 dim = 1 : (tensor<1x2x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.slice %{{.*}} dim = -1 [%{{.*}} : %{{.*}} : %{{.*}}] : (tensor<1x2x16x16xf32>) -> tensor<1x2x16x8xf32>
  %7 = kiln.slice %k dim = -1 [%c8 : %cmax : %c1] : (tensor<1x2x16x16xf32>) -> tensor<1x2x16x8xf32>
  // CHECK: kiln.select %{{.*}} dim = 1 [%{{.*}}] : (tensor<1x2x16x16xf32>) -> tensor<1x16x16xf32>
  %8 = kiln.select %k dim = 1 [%c0] : (tensor<1x2x16x16xf32>) -> tensor<1x16x16xf32>
  // CHECK: kiln.cat %{{.*}}, %{{.*}} dim = -1 : (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>) -> tensor<1x2x16x16xf32>
  %9 = kiln.cat %7, %7 dim = -1 : (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>) -> tensor<1x2x16x16xf32>
  return
}

// -----

// CHECK-LABEL: func.func @quantization
func.func @quantization(%x: tensor<1x4x16x16xf32>, %w: tensor<2x4xf32>) {
  // CHECK: kiln.fake_quant %{{.*}} scale(1.250000e-01) zero_point(0) range [-32768, 32767] : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  %0 = kiln.fake_quant %x scale(0.125) zero_point(0) range [-32768, 32767] : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: kiln.fake_quant_per_axis %{{.*}} axis(0) scales [1.000000e-01, 2.000000e-01] zero_points [0, 3] range [0, 15] : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %1 = kiln.fake_quant_per_axis %w axis(0) scales[0.1, 0.2] zero_points[0, 3] range [0, 15] : (tensor<2x4xf32>) -> tensor<2x4xf32>
  // CHECK: kiln.fake_quant_per_axis %{{.*}} axis(1) scales [1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]
  %2 = kiln.fake_quant_per_axis %x axis(1) scales[1.0, 2.0, 3.0, 4.0] zero_points[0, 0, 0, 0] range [-128, 127] : (tensor<1x4x16x16xf32>) -> tensor<*xf32>
  // Scales that need all 17 digits keep them (six-digit printing would change them).
  // CHECK: kiln.fake_quant_per_axis %{{.*}} axis(1) scales [0.0029951690323650835, 1.2345678901234568E-5, 5.000000e-01, 2.500000e-01] zero_points [0, 0, 0, 0]
  %pq = kiln.fake_quant_per_axis %x axis(1) scales [0.0029951690323650837, 1.2345678901234567e-5, 0.5, 0.25] zero_points [0, 0, 0, 0] range [-128, 127] : (tensor<1x4x16x16xf32>) -> tensor<*xf32>
  // Quantized constants: integer storage, quantized result type.
  // CHECK: kiln.constant dense<[1, -2]> : tensor<2xi8> as tensor<2x!quant.uniform<i8:f32, 5.000000e-01>>
  %3 = kiln.constant dense<[1, -2]> : tensor<2xi8> as tensor<2x!quant.uniform<i8:f32, 0.5>>
  // CHECK: %[[Q:.*]] = kiln.quantize %{{.*}} : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16x!quant.uniform<i16:f32, 1.000000e-03>>
  %4 = kiln.quantize %x : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16x!quant.uniform<i16:f32, 0.001>>
  // CHECK: kiln.dequantize %[[Q]] : (tensor<1x4x16x16x!quant.uniform<i16:f32, 1.000000e-03>>) -> tensor<1x4x16x16xf32>
  %5 = kiln.dequantize %4 : (tensor<1x4x16x16x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x4x16x16xf32>
  return
}
