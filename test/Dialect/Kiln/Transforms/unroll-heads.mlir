// RUN: kiln-opt %s --split-input-file --kiln-unroll-heads --verify-diagnostics | FileCheck %s
// RUN: kiln-opt %s --split-input-file --kiln-unroll-heads --verify-diagnostics | FileCheck %s --check-prefix=MASK

// Post-adapter prefill attention, H = 4 query heads, H_kv = 2 (GQA ratio 2),
// head_dim 4, per-head fake quant on the logits, per-tensor elsewhere.
// CHECK-LABEL: func.func @gqa_prefill
// CHECK-NOT: kiln.transpose
// CHECK-NOT: kiln.repeat_interleave
// Head 0 and 1 of q are feature slices [0, 4) and [4, 8) of the projection:
// CHECK-DAG: %[[Q0:.*]] = kiln.slice %[[QP:.*]] dim = 2 [%c0{{.*}} : %c4{{.*}} : %c1{{.*}}] : (tensor<1x4x16xf32>) -> tensor<1x4x4xf32>
// CHECK-DAG: %[[Q3:.*]] = kiln.slice %[[QP]] dim = 2 [%c12{{.*}} : %c16{{.*}} : %c1{{.*}}] : (tensor<1x4x16xf32>) -> tensor<1x4x4xf32>
// K head 1 (read by query heads 2 and 3) is [4, 8) of the k projection:
// CHECK-DAG: %[[K1:.*]] = kiln.slice %[[KP:.*]] dim = 2 [%c4{{.*}} : %c8{{.*}} : %c1{{.*}}] : (tensor<1x4x8xf32>) -> tensor<1x4x4xf32>
// Query head 3 uses kv head 1 (after its fake quant) through the adjoint
// flag, and its logits get head 3's scale:
// CHECK-DAG: %[[K1Q:.*]] = kiln.fake_quant %[[K1]] scale(2.000000e-03)
// CHECK-DAG: %[[L3:.*]] = kiln.matmul %[[Q3]], %[[K1Q]] {adj_y = true} : (tensor<1x4x4xf32>, tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
// CHECK-DAG: %[[L3S:.*]] = kiln.mul %[[L3]], %{{.*}}
// CHECK-DAG: kiln.fake_quant %[[L3S]] scale(4.000000e-03) zero_point(0)
// The one-head mask is read once for all heads:
// MASK-LABEL: func.func @gqa_prefill
// MASK: kiln.select %arg1
// MASK-NOT: kiln.select %arg1
// MASK-LABEL: func.func @decode
// CHECK-DAG: kiln.fake_quant %{{.*}} scale(1.000000e-03) zero_point(0) range [-32768, 32767] : (tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
// Heads merge on the feature axis:
// CHECK: %[[MERGED:.*]] = kiln.cat %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} dim = 2 : (tensor<1x4x4xf32>, tensor<1x4x4xf32>, tensor<1x4x4xf32>, tensor<1x4x4xf32>) -> tensor<1x4x16xf32>
// CHECK: kiln.linear %[[MERGED]]
// Keys are returned re-stacked per kv head:
// CHECK: kiln.reshape %{{.*}} : (tensor<1x4x4xf32>) -> tensor<1x1x4x4xf32>
// CHECK: %[[KEYS:.*]] = kiln.cat %{{.*}}, %{{.*}} dim = 1 : (tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32>
// CHECK: return %{{.*}}, %[[KEYS]]
func.func @gqa_prefill(%x: tensor<1x4x16xf32>, %mask: tensor<1x1x4x4xf32>) -> (tensor<1x4x16xf32>, tensor<1x2x4x4xf32>) {
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  %c4 = arith.constant 4 : i64
  %c16 = arith.constant 16 : i64
  %wq = kiln.constant dense<0.1> : tensor<16x16xf32>
  %wk = kiln.constant dense<0.2> : tensor<8x16xf32>
  %wo = kiln.constant dense<0.3> : tensor<16x16xf32>
  %scale = kiln.constant dense<0.5> : tensor<f32>
  %qp = kiln.linear %x, %wq : (tensor<1x4x16xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  %kp = kiln.linear %x, %wk : (tensor<1x4x16xf32>, tensor<8x16xf32>) -> tensor<1x4x8xf32>
  %qv = kiln.reshape %qp(%c1, %c4, %c4, %c4) : (tensor<1x4x16xf32>) -> tensor<1x4x4x4xf32>
  %q = kiln.transpose %qv 1, 2 : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %kv = kiln.reshape %kp(%c1, %c4, %c2, %c4) : (tensor<1x4x8xf32>) -> tensor<1x4x2x4xf32>
  %k = kiln.transpose %kv 1, 2 : (tensor<1x4x2x4xf32>) -> tensor<1x2x4x4xf32>
  %kq = kiln.fake_quant %k scale(0.002) zero_point(0) range [-32768, 32767] : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %kr = kiln.repeat_interleave %kq repeats = 2 dim = 1 : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x4xf32>
  %kt = kiln.transpose %kr 2, 3 : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %s = kiln.matmul %q, %kt : (tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %ss = kiln.mul %s, %scale : (tensor<1x4x4x4xf32>, tensor<f32>) -> tensor<1x4x4x4xf32>
  %l = kiln.fake_quant_per_axis %ss axis(1) scales [0.001, 0.002, 0.003, 0.004] zero_points [0, 0, 0, 0] range [-32768, 32767] : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %m = kiln.add %l, %mask : (tensor<1x4x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x4x4x4xf32>
  %p = kiln.softmax %m dim = -1 : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %ctx = kiln.matmul %p, %kr : (tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %ct = kiln.transpose %ctx 1, 2 : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %merged = kiln.reshape %ct(%c1, %c4, %c16) : (tensor<1x4x4x4xf32>) -> tensor<1x4x16xf32>
  %o = kiln.linear %merged, %wo : (tensor<1x4x16xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return %o, %kq : tensor<1x4x16xf32>, tensor<1x2x4x4xf32>
}

// -----

// Decode: the cache argument is read per kv head with select, concatenated
// with this step's key on the sequence axis; one softmax per query head.
// CHECK-LABEL: func.func @decode
// CHECK-DAG: %[[P0:.*]] = kiln.select %arg1 dim = 1 [%c0{{.*}}] : (tensor<1x1x3x4xf32>) -> tensor<1x3x4xf32>
// CHECK-DAG: kiln.cat %[[P0]], %{{.*}} dim = 1 : (tensor<1x3x4xf32>, tensor<1x1x4xf32>) -> tensor<1x4x4xf32>
// CHECK-COUNT-2: kiln.softmax
// CHECK-NOT: kiln.softmax
// CHECK-NOT: kiln.transpose
func.func @decode(%x: tensor<1x1x8xf32>, %past: tensor<1x1x3x4xf32>) -> tensor<1x1x8xf32> {
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  %c4 = arith.constant 4 : i64
  %c8 = arith.constant 8 : i64
  %wq = kiln.constant dense<0.1> : tensor<8x8xf32>
  %wk = kiln.constant dense<0.2> : tensor<4x8xf32>
  %qp = kiln.linear %x, %wq : (tensor<1x1x8xf32>, tensor<8x8xf32>) -> tensor<1x1x8xf32>
  %kp = kiln.linear %x, %wk : (tensor<1x1x8xf32>, tensor<4x8xf32>) -> tensor<1x1x4xf32>
  %qv = kiln.reshape %qp(%c1, %c1, %c2, %c4) : (tensor<1x1x8xf32>) -> tensor<1x1x2x4xf32>
  %q = kiln.transpose %qv 1, 2 : (tensor<1x1x2x4xf32>) -> tensor<1x2x1x4xf32>
  %kv = kiln.reshape %kp(%c1, %c1, %c1, %c4) : (tensor<1x1x4xf32>) -> tensor<1x1x1x4xf32>
  %k = kiln.transpose %kv 1, 2 : (tensor<1x1x1x4xf32>) -> tensor<1x1x1x4xf32>
  %kall = kiln.cat %past, %k dim = 2 : (tensor<1x1x3x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x4x4xf32>
  %kr = kiln.repeat_interleave %kall repeats = 2 dim = 1 : (tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32>
  %kt = kiln.transpose %kr 2, 3 : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %s = kiln.matmul %q, %kt : (tensor<1x2x1x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x1x4xf32>
  %p = kiln.softmax %s dim = -1 : (tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32>
  %ctx = kiln.matmul %p, %kr : (tensor<1x2x1x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x1x4xf32>
  %ct = kiln.transpose %ctx 1, 2 : (tensor<1x2x1x4xf32>) -> tensor<1x1x2x4xf32>
  %merged = kiln.reshape %ct(%c1, %c1, %c8) : (tensor<1x1x2x4xf32>) -> tensor<1x1x8xf32>
  return %merged : tensor<1x1x8xf32>
}

// -----

// Softmax across heads has no per-head form: a diagnostic, not a crash.
func.func @softmax_over_heads(%x: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  %c4 = arith.constant 4 : i64
  %c8 = arith.constant 8 : i64
  %v = kiln.reshape %x(%c1, %c4, %c2, %c4) : (tensor<1x4x8xf32>) -> tensor<1x4x2x4xf32>
  %t = kiln.transpose %v 1, 2 : (tensor<1x4x2x4xf32>) -> tensor<1x2x4x4xf32>
  // expected-note @+1 {{at this op}}
  %p = kiln.softmax %t dim = 1 : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %ct = kiln.transpose %p 1, 2 : (tensor<1x2x4x4xf32>) -> tensor<1x4x2x4xf32>
  // expected-error @+1 {{kiln-unroll-heads: cannot unroll attention: 'kiln.softmax' result normalizes over the head axis}}
  %merged = kiln.reshape %ct(%c1, %c4, %c8) : (tensor<1x4x2x4xf32>) -> tensor<1x4x8xf32>
  return %merged : tensor<1x4x8xf32>
}
