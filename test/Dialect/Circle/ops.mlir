// RUN: kiln-opt %s --split-input-file | FileCheck %s
// RUN: kiln-opt %s --split-input-file | kiln-opt --split-input-file | FileCheck %s
// RUN: kiln-opt %s --split-input-file --mlir-print-op-generic | kiln-opt --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @all_ops
func.func @all_ops(%x: tensor<1x16x64xf32>, %ids: tensor<1x16xi32>, %c: tensor<1x1x16x16xi1>) {
  // CHECK: %[[W:.*]] = circle.const dense_resource<w> : tensor<32x64xi8> as tensor<32x64x!quant.uniform<i8:f32:0, {{.*}}>>
  %w = circle.const dense_resource<w> : tensor<32x64xi8> as tensor<32x64x!quant.uniform<i8:f32:0, {0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25}>>
  // CHECK: circle.const dense<[1, 16, 4, 16]> : tensor<4xi32>
  %shape = circle.const dense<[1, 16, 4, 16]> : tensor<4xi32>
  %perm = circle.const dense<[0, 2, 1, 3]> : tensor<4xi32>
  %axis = circle.const dense<[-1]> : tensor<1xi32>
  %b0 = circle.const dense<[0, 0, 0, 0]> : tensor<4xi32>
  %s1 = circle.const dense<[1, 1, 1, 1]> : tensor<4xi32>
  %sz = circle.const dense<[1, 4, 16, 8]> : tensor<4xi32>
  %gamma = circle.const dense<1.0> : tensor<64xf32>
  %wf = circle.const dense<0.5> : tensor<32x64xf32>
  // CHECK: circle.fully_connected %{{.*}}, %{{.*}} {keep_num_dims = true} : (tensor<1x16x64xf32>, tensor<32x64xf32>) -> tensor<1x16x32xf32>
  %fc = circle.fully_connected %x, %wf {keep_num_dims = true} : (tensor<1x16x64xf32>, tensor<32x64xf32>) -> tensor<1x16x32xf32>
  // CHECK: circle.fully_connected %{{.*}}, %[[W]], %{{.*}} : (tensor<1x16x64xf32>, tensor<32x64x!quant.uniform
  %fcb = circle.fully_connected %x, %w, %gamma : (tensor<1x16x64xf32>, tensor<32x64x!quant.uniform<i8:f32:0, {0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25}>>, tensor<64xf32>) -> tensor<1x16x32xf32>
  // CHECK: circle.reshape %{{.*}}, %{{.*}} : (tensor<1x16x64xf32>, tensor<4xi32>) -> tensor<1x16x4x16xf32>
  %r = circle.reshape %x, %shape : (tensor<1x16x64xf32>, tensor<4xi32>) -> tensor<1x16x4x16xf32>
  // CHECK: circle.transpose
  %t = circle.transpose %r, %perm : (tensor<1x16x4x16xf32>, tensor<4xi32>) -> tensor<1x4x16x16xf32>
  // CHECK: circle.batch_matmul %{{.*}}, %{{.*}} {adj_y = true}
  %bmm = circle.batch_matmul %t, %t {adj_y = true} : (tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: circle.add %{{.*}}, %{{.*}} {fused_activation_function = "RELU"}
  %add = circle.add %bmm, %bmm {fused_activation_function = "RELU"} : (tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: circle.sub
  %sub = circle.sub %add, %bmm : (tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: circle.mul
  %mul = circle.mul %sub, %bmm : (tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: circle.div
  %div = circle.div %mul, %bmm : (tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: circle.pow
  %pow = circle.pow %div, %bmm : (tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: circle.softmax %{{.*}} {beta = 5.000000e-01 : f32}
  %sm = circle.softmax %pow {beta = 0.5 : f32} : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: circle.rsqrt
  %rs = circle.rsqrt %sm : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: circle.neg
  %ng = circle.neg %rs : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: circle.logistic
  %lg = circle.logistic %ng : (tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: circle.mean %{{.*}}, %{{.*}} {keep_dims = true}
  %mean = circle.mean %lg, %axis {keep_dims = true} : (tensor<1x4x16x16xf32>, tensor<1xi32>) -> tensor<1x4x16x1xf32>
  // CHECK: circle.strided_slice %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {end_mask = 15 : i32}
  %ss = circle.strided_slice %lg, %b0, %sz, %s1 {end_mask = 15 : i32} : (tensor<1x4x16x16xf32>, tensor<4xi32>, tensor<4xi32>, tensor<4xi32>) -> tensor<1x4x16x8xf32>
  // CHECK: circle.slice
  %sl = circle.slice %lg, %b0, %sz : (tensor<1x4x16x16xf32>, tensor<4xi32>, tensor<4xi32>) -> tensor<1x4x16x8xf32>
  // CHECK: circle.concatenation %{{.*}}, %{{.*}} {axis = 3 : i32}
  %cat = circle.concatenation %ss, %sl {axis = 3 : i32} : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>) -> tensor<1x4x16x16xf32>
  %table = circle.const dense<0.0> : tensor<256x64xf32>
  // CHECK: circle.gather %{{.*}}, %{{.*}} : (tensor<256x64xf32>, tensor<1x16xi32>) -> tensor<1x16x64xf32>
  %g = circle.gather %table, %ids : (tensor<256x64xf32>, tensor<1x16xi32>) -> tensor<1x16x64xf32>
  // CHECK: circle.select_v2
  %sel = circle.select_v2 %c, %cat, %cat : (tensor<1x1x16x16xi1>, tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32>
  // CHECK: circle.broadcast_to
  %bc = circle.broadcast_to %sel, %s1 : (tensor<1x4x16x16xf32>, tensor<4xi32>) -> tensor<1x4x16x16xf32>
  // CHECK: circle.quantize %{{.*}} : (tensor<1x16x64xf32>) -> tensor<1x16x64x!quant.uniform<i16:f32, 1.000000e-03>>
  %q = circle.quantize %g : (tensor<1x16x64xf32>) -> tensor<1x16x64x!quant.uniform<i16:f32, 0.001>>
  // CHECK: circle.dequantize
  %dq = circle.dequantize %q : (tensor<1x16x64x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x16x64xf32>
  // CHECK: circle.cast
  %ct = circle.cast %dq : (tensor<1x16x64xf32>) -> tensor<1x16x64xf16>
  // CHECK: circle.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.99999974E-6 : f32}
  %rms = circle.rms_norm %x, %gamma {epsilon = 1.0e-5 : f32} : (tensor<1x16x64xf32>, tensor<64xf32>) -> tensor<1x16x64xf32>
  %cos = circle.const dense<1.0> : tensor<1x1x16x16xf32>
  // CHECK: circle.rope %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x4x16x16xf32>, tensor<1x1x16x16xf32>, tensor<1x1x16x16xf32>) -> tensor<1x4x16x16xf32>
  %rope = circle.rope %t, %cos, %cos : (tensor<1x4x16x16xf32>, tensor<1x1x16x16xf32>, tensor<1x1x16x16xf32>) -> tensor<1x4x16x16xf32>
  return
}

{-#
  dialect_resources: {
    builtin: {
      w: "0x01000000"
    }
  }
#-}
