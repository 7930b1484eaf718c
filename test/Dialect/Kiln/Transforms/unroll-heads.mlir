// RUN: kiln-opt %s --split-input-file --kiln-unroll-heads --verify-diagnostics | FileCheck %s
// RUN: kiln-opt %s --split-input-file --kiln-unroll-heads --verify-diagnostics | FileCheck %s --check-prefix=MASK
// RUN: kiln-opt %s --split-input-file --kiln-unroll-heads --verify-diagnostics | FileCheck %s --check-prefix=NONE

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

// -----

// Hugging Face eager LlamaAttention as traced (transformers 5), after the
// export adapter: H = 8 query heads, H_kv = 2 (GQA 4:1), head_dim 4, S = 2.
// Heads split by view + transpose(1, 2), RoPE by rotate_half (slice, neg,
// cat), repeat_kv as whole-axis slices + unsqueeze(2) + expand + view, and
// the merge by transpose(1, 2) + view(B, S, -1). Per head: no transpose,
// no expand; query heads 0-3 read kv head 0, heads 4-7 kv head 1.
// CHECK-LABEL: func.func @hf_gqa4_prefill
// Nothing batched is left anywhere in the function:
// NONE-LABEL: func.func @hf_gqa4_prefill
// NONE-NOT: kiln.transpose
// NONE-NOT: kiln.permute
// NONE-NOT: kiln.expand
// NONE-NOT: kiln.repeat_interleave
// NONE: return
// CHECK-NOT: kiln.transpose
// CHECK-NOT: kiln.expand
// CHECK: %[[QP:.*]] = kiln.linear %arg0, %arg4
// CHECK-COUNT-8: kiln.slice %[[QP]] dim = 2
// CHECK: %[[KP:.*]] = kiln.linear %arg0, %arg5
// CHECK-NEXT: kiln.slice %[[KP]] dim = 2 [%c0{{.*}} : %c4{{.*}} : %c1{{.*}}] : (tensor<1x2x8xf32>) -> tensor<1x2x4xf32>
// CHECK-NEXT: kiln.slice %[[KP]] dim = 2 [%c4{{.*}} : %c8{{.*}} : %c1{{.*}}] : (tensor<1x2x8xf32>) -> tensor<1x2x4xf32>
// CHECK: %[[VP:.*]] = kiln.linear %arg0, %arg6
// CHECK-NEXT: %[[V0:.*]] = kiln.slice %[[VP]] dim = 2 [%c0{{.*}} : %c4{{.*}} : %c1{{.*}}]
// CHECK-NEXT: %[[V1:.*]] = kiln.slice %[[VP]] dim = 2 [%c4{{.*}} : %c8{{.*}} : %c1{{.*}}]
// The one-head mask is read once; cos/sin are used as they are:
// CHECK: kiln.mul %{{.*}}, %arg1 : (tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
// CHECK: kiln.matmul %{{.*}}, %[[K0:[0-9a-z_]+]] {adj_y = true} : (tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x2xf32>
// CHECK-COUNT-3: kiln.matmul %{{.*}}, %[[K0]] {adj_y = true}
// CHECK-NOT: kiln.matmul %{{.*}}, %[[K0]]
// CHECK: kiln.matmul %{{.*}}, %[[K1:[0-9a-z_]+]] {adj_y = true}
// CHECK-COUNT-3: kiln.matmul %{{.*}}, %[[K1]] {adj_y = true}
// CHECK-COUNT-8: kiln.softmax %{{.*}} dim = 2 : (tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
// CHECK-COUNT-4: kiln.matmul %{{.*}}, %[[V0]] : (tensor<1x2x2xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
// CHECK-COUNT-4: kiln.matmul %{{.*}}, %[[V1]] : (tensor<1x2x2xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
// Heads merge on the feature axis, keys and values are re-stacked:
// CHECK: %[[MERGED:.*]] = kiln.cat {{.*}} dim = 2 : ({{.*}}) -> tensor<1x2x32xf32>
// CHECK: kiln.linear %[[MERGED]], %arg7
// CHECK: %[[KEYS:.*]] = kiln.cat %{{.*}}, %{{.*}} dim = 1 : (tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x2x2x4xf32>
// CHECK: %[[VALUES:.*]] = kiln.cat %{{.*}}, %{{.*}} dim = 1 : (tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x2x2x4xf32>
// CHECK: return %{{.*}}, %[[KEYS]], %[[VALUES]]
func.func @hf_gqa4_prefill(%x: tensor<1x2x16xf32>, %cos: tensor<1x2x4xf32>, %sin: tensor<1x2x4xf32>, %mask: tensor<1x1x2x2xf32>, %wq: tensor<32x16xf32>, %wk: tensor<8x16xf32>, %wv: tensor<8x16xf32>, %wo: tensor<16x32xf32>) -> (tensor<1x2x16xf32>, tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>) {
  %cm1 = arith.constant -1 : i64
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  %c3 = arith.constant 3 : i64
  %c4 = arith.constant 4 : i64
  %c8 = arith.constant 8 : i64
  %c32 = arith.constant 32 : i64
  %c9223372036854775807 = arith.constant 9223372036854775807 : i64
  %scale = kiln.constant dense<0.25> : tensor<f32>
  %qp = kiln.linear %x, %wq : (tensor<1x2x16xf32>, tensor<32x16xf32>) -> tensor<1x2x32xf32>
  %qv = kiln.reshape %qp(%c1, %c2, %cm1, %c4) : (tensor<1x2x32xf32>) -> tensor<1x2x8x4xf32>
  %q = kiln.transpose %qv 1, 2 : (tensor<1x2x8x4xf32>) -> tensor<1x8x2x4xf32>
  %kp = kiln.linear %x, %wk : (tensor<1x2x16xf32>, tensor<8x16xf32>) -> tensor<1x2x8xf32>
  %kv = kiln.reshape %kp(%c1, %c2, %cm1, %c4) : (tensor<1x2x8xf32>) -> tensor<1x2x2x4xf32>
  %k = kiln.transpose %kv 1, 2 : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %vp = kiln.linear %x, %wv : (tensor<1x2x16xf32>, tensor<8x16xf32>) -> tensor<1x2x8xf32>
  %vv = kiln.reshape %vp(%c1, %c2, %cm1, %c4) : (tensor<1x2x8xf32>) -> tensor<1x2x2x4xf32>
  %v = kiln.transpose %vv 1, 2 : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %cu = kiln.unsqueeze %cos dim = 1 : (tensor<1x2x4xf32>) -> tensor<1x1x2x4xf32>
  %su = kiln.unsqueeze %sin dim = 1 : (tensor<1x2x4xf32>) -> tensor<1x1x2x4xf32>
  %qc = kiln.mul %q, %cu : (tensor<1x8x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x8x2x4xf32>
  %q1 = kiln.slice %q dim = 3 [%c0 : %c2 : %c1] : (tensor<1x8x2x4xf32>) -> tensor<1x8x2x2xf32>
  %q2 = kiln.slice %q dim = 3 [%c2 : %c9223372036854775807 : %c1] : (tensor<1x8x2x4xf32>) -> tensor<1x8x2x2xf32>
  %qn = kiln.neg %q2 : (tensor<1x8x2x2xf32>) -> tensor<1x8x2x2xf32>
  %qr = kiln.cat %qn, %q1 dim = -1 : (tensor<1x8x2x2xf32>, tensor<1x8x2x2xf32>) -> tensor<1x8x2x4xf32>
  %qs = kiln.mul %qr, %su : (tensor<1x8x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x8x2x4xf32>
  %qe = kiln.add %qc, %qs : (tensor<1x8x2x4xf32>, tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32>
  %kc = kiln.mul %k, %cu : (tensor<1x2x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x2x2x4xf32>
  %k1 = kiln.slice %k dim = 3 [%c0 : %c2 : %c1] : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x2xf32>
  %k2 = kiln.slice %k dim = 3 [%c2 : %c9223372036854775807 : %c1] : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x2xf32>
  %kn = kiln.neg %k2 : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %kr = kiln.cat %kn, %k1 dim = -1 : (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x2x4xf32>
  %ks = kiln.mul %kr, %su : (tensor<1x2x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x2x2x4xf32>
  %ke = kiln.add %kc, %ks : (tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %kr0 = kiln.slice %ke dim = 0 [%c0 : %c9223372036854775807 : %c1] : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %kr1 = kiln.slice %kr0 dim = 1 [%c0 : %c9223372036854775807 : %c1] : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %kr2 = kiln.unsqueeze %kr1 dim = 2 : (tensor<1x2x2x4xf32>) -> tensor<1x2x1x2x4xf32>
  %kr3 = kiln.slice %kr2 dim = 3 [%c0 : %c9223372036854775807 : %c1] : (tensor<1x2x1x2x4xf32>) -> tensor<1x2x1x2x4xf32>
  %kr4 = kiln.expand %kr3(%c1, %c2, %c4, %c2, %c4) : (tensor<1x2x1x2x4xf32>) -> tensor<1x2x4x2x4xf32>
  %kr5 = kiln.reshape %kr4(%c1, %c8, %c2, %c4) : (tensor<1x2x4x2x4xf32>) -> tensor<1x8x2x4xf32>
  %vr0 = kiln.slice %v dim = 0 [%c0 : %c9223372036854775807 : %c1] : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %vr1 = kiln.slice %vr0 dim = 1 [%c0 : %c9223372036854775807 : %c1] : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %vr2 = kiln.unsqueeze %vr1 dim = 2 : (tensor<1x2x2x4xf32>) -> tensor<1x2x1x2x4xf32>
  %vr3 = kiln.slice %vr2 dim = 3 [%c0 : %c9223372036854775807 : %c1] : (tensor<1x2x1x2x4xf32>) -> tensor<1x2x1x2x4xf32>
  %vr4 = kiln.expand %vr3(%c1, %c2, %c4, %c2, %c4) : (tensor<1x2x1x2x4xf32>) -> tensor<1x2x4x2x4xf32>
  %vr5 = kiln.reshape %vr4(%c1, %c8, %c2, %c4) : (tensor<1x2x4x2x4xf32>) -> tensor<1x8x2x4xf32>
  %kt = kiln.transpose %kr5 2, 3 : (tensor<1x8x2x4xf32>) -> tensor<1x8x4x2xf32>
  %s = kiln.matmul %qe, %kt : (tensor<1x8x2x4xf32>, tensor<1x8x4x2xf32>) -> tensor<1x8x2x2xf32>
  %ss = kiln.mul %s, %scale : (tensor<1x8x2x2xf32>, tensor<f32>) -> tensor<1x8x2x2xf32>
  %sm = kiln.add %ss, %mask : (tensor<1x8x2x2xf32>, tensor<1x1x2x2xf32>) -> tensor<1x8x2x2xf32>
  %p = kiln.softmax %sm dim = -1 : (tensor<1x8x2x2xf32>) -> tensor<1x8x2x2xf32>
  %ctx = kiln.matmul %p, %vr5 : (tensor<1x8x2x2xf32>, tensor<1x8x2x4xf32>) -> tensor<1x8x2x4xf32>
  %ct = kiln.transpose %ctx 1, 2 : (tensor<1x8x2x4xf32>) -> tensor<1x2x8x4xf32>
  %m = kiln.reshape %ct(%c1, %c2, %cm1) : (tensor<1x2x8x4xf32>) -> tensor<1x2x32xf32>
  %o = kiln.linear %m, %wo : (tensor<1x2x32xf32>, tensor<16x32xf32>) -> tensor<1x2x16xf32>
  return %o, %ke, %v : tensor<1x2x16xf32>, tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>
}

// -----

// Hugging Face sdpa attention in decode (its ops are the eager ones, keys
// transposed with transpose(-2, -1)), MQA: H = 3, H_kv = 1, head_dim 8,
// cache of 3 positions concatenated with this step's key and value; the
// full cache is returned. Every query head reads the one kv head.
// CHECK-LABEL: func.func @hf_mqa_decode
// Nothing batched is left anywhere in the function:
// NONE-LABEL: func.func @hf_mqa_decode
// NONE-NOT: kiln.transpose
// NONE-NOT: kiln.permute
// NONE-NOT: kiln.expand
// NONE-NOT: kiln.repeat_interleave
// NONE: return
// CHECK-NOT: kiln.transpose
// CHECK-NOT: kiln.expand
// CHECK-DAG: %[[PK:.*]] = kiln.select %arg2 dim = 1 [%c0{{.*}}] : (tensor<1x1x3x8xf32>) -> tensor<1x3x8xf32>
// CHECK-DAG: %[[PV:.*]] = kiln.select %arg3 dim = 1 [%c0{{.*}}] : (tensor<1x1x3x8xf32>) -> tensor<1x3x8xf32>
// CHECK-DAG: %[[K:.*]] = kiln.cat %[[PK]], %{{.*}} dim = 1 : (tensor<1x3x8xf32>, tensor<1x1x8xf32>) -> tensor<1x4x8xf32>
// CHECK-DAG: %[[V:.*]] = kiln.cat %[[PV]], %{{.*}} dim = 1 : (tensor<1x3x8xf32>, tensor<1x1x8xf32>) -> tensor<1x4x8xf32>
// CHECK-COUNT-3: kiln.matmul %{{.*}}, %[[K]] {adj_y = true} : (tensor<1x1x8xf32>, tensor<1x4x8xf32>) -> tensor<1x1x4xf32>
// CHECK-COUNT-3: kiln.softmax
// CHECK-COUNT-3: kiln.matmul %{{.*}}, %[[V]] : (tensor<1x1x4xf32>, tensor<1x4x8xf32>) -> tensor<1x1x8xf32>
// CHECK-NOT: kiln.matmul
// CHECK: kiln.cat %{{.*}}, %{{.*}}, %{{.*}} dim = 2 : ({{.*}}) -> tensor<1x1x24xf32>
// One kv head: the cache is returned as a view of its only head.
// CHECK: %[[KEYS:.*]] = kiln.reshape %[[K]]({{.*}}) : (tensor<1x4x8xf32>) -> tensor<1x1x4x8xf32>
// CHECK: %[[VALUES:.*]] = kiln.reshape %[[V]]({{.*}}) : (tensor<1x4x8xf32>) -> tensor<1x1x4x8xf32>
// CHECK: return %{{.*}}, %[[KEYS]], %[[VALUES]]
func.func @hf_mqa_decode(%x: tensor<1x1x16xf32>, %mask: tensor<1x1x1x4xf32>, %pk: tensor<1x1x3x8xf32>, %pv: tensor<1x1x3x8xf32>, %wq: tensor<24x16xf32>, %wk: tensor<8x16xf32>, %wv: tensor<8x16xf32>, %wo: tensor<16x24xf32>) -> (tensor<1x1x16xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) {
  %cm1 = arith.constant -1 : i64
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %c3 = arith.constant 3 : i64
  %c4 = arith.constant 4 : i64
  %c8 = arith.constant 8 : i64
  %cmax = arith.constant 9223372036854775807 : i64
  %scale = kiln.constant dense<0.35> : tensor<f32>
  %qp = kiln.linear %x, %wq : (tensor<1x1x16xf32>, tensor<24x16xf32>) -> tensor<1x1x24xf32>
  %qv = kiln.reshape %qp(%c1, %c1, %cm1, %c8) : (tensor<1x1x24xf32>) -> tensor<1x1x3x8xf32>
  %q = kiln.transpose %qv 1, 2 : (tensor<1x1x3x8xf32>) -> tensor<1x3x1x8xf32>
  %kp = kiln.linear %x, %wk : (tensor<1x1x16xf32>, tensor<8x16xf32>) -> tensor<1x1x8xf32>
  %kv = kiln.reshape %kp(%c1, %c1, %cm1, %c8) : (tensor<1x1x8xf32>) -> tensor<1x1x1x8xf32>
  %k = kiln.transpose %kv 1, 2 : (tensor<1x1x1x8xf32>) -> tensor<1x1x1x8xf32>
  %vp = kiln.linear %x, %wv : (tensor<1x1x16xf32>, tensor<8x16xf32>) -> tensor<1x1x8xf32>
  %vv = kiln.reshape %vp(%c1, %c1, %cm1, %c8) : (tensor<1x1x8xf32>) -> tensor<1x1x1x8xf32>
  %v = kiln.transpose %vv 1, 2 : (tensor<1x1x1x8xf32>) -> tensor<1x1x1x8xf32>
  %kall = kiln.cat %pk, %k dim = -2 : (tensor<1x1x3x8xf32>, tensor<1x1x1x8xf32>) -> tensor<1x1x4x8xf32>
  %vall = kiln.cat %pv, %v dim = -2 : (tensor<1x1x3x8xf32>, tensor<1x1x1x8xf32>) -> tensor<1x1x4x8xf32>
  %kr0 = kiln.slice %kall dim = 0 [%c0 : %cmax : %c1] : (tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  %kr1 = kiln.slice %kr0 dim = 1 [%c0 : %cmax : %c1] : (tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  %kr2 = kiln.unsqueeze %kr1 dim = 2 : (tensor<1x1x4x8xf32>) -> tensor<1x1x1x4x8xf32>
  %kr3 = kiln.slice %kr2 dim = 3 [%c0 : %cmax : %c1] : (tensor<1x1x1x4x8xf32>) -> tensor<1x1x1x4x8xf32>
  %kr4 = kiln.slice %kr3 dim = 4 [%c0 : %cmax : %c1] : (tensor<1x1x1x4x8xf32>) -> tensor<1x1x1x4x8xf32>
  %kr5 = kiln.expand %kr4(%c1, %c1, %c3, %c4, %c8) : (tensor<1x1x1x4x8xf32>) -> tensor<1x1x3x4x8xf32>
  %kr = kiln.reshape %kr5(%c1, %c3, %c4, %c8) : (tensor<1x1x3x4x8xf32>) -> tensor<1x3x4x8xf32>
  %vr0 = kiln.slice %vall dim = 0 [%c0 : %cmax : %c1] : (tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  %vr1 = kiln.slice %vr0 dim = 1 [%c0 : %cmax : %c1] : (tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  %vr2 = kiln.unsqueeze %vr1 dim = 2 : (tensor<1x1x4x8xf32>) -> tensor<1x1x1x4x8xf32>
  %vr5 = kiln.expand %vr2(%c1, %c1, %c3, %c4, %c8) : (tensor<1x1x1x4x8xf32>) -> tensor<1x1x3x4x8xf32>
  %vr = kiln.reshape %vr5(%c1, %c3, %c4, %c8) : (tensor<1x1x3x4x8xf32>) -> tensor<1x3x4x8xf32>
  %kt = kiln.transpose %kr -2, -1 : (tensor<1x3x4x8xf32>) -> tensor<1x3x8x4xf32>
  %s = kiln.matmul %q, %kt : (tensor<1x3x1x8xf32>, tensor<1x3x8x4xf32>) -> tensor<1x3x1x4xf32>
  %ss = kiln.mul %s, %scale : (tensor<1x3x1x4xf32>, tensor<f32>) -> tensor<1x3x1x4xf32>
  %sm = kiln.add %ss, %mask : (tensor<1x3x1x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x3x1x4xf32>
  %p = kiln.softmax %sm dim = -1 : (tensor<1x3x1x4xf32>) -> tensor<1x3x1x4xf32>
  %ctx = kiln.matmul %p, %vr : (tensor<1x3x1x4xf32>, tensor<1x3x4x8xf32>) -> tensor<1x3x1x8xf32>
  %ct = kiln.transpose %ctx 1, 2 : (tensor<1x3x1x8xf32>) -> tensor<1x1x3x8xf32>
  %m = kiln.reshape %ct(%c1, %c1, %cm1) : (tensor<1x1x3x8xf32>) -> tensor<1x1x24xf32>
  %o = kiln.linear %m, %wo : (tensor<1x1x24xf32>, tensor<16x24xf32>) -> tensor<1x1x16xf32>
  return %o, %kall, %vall : tensor<1x1x16xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>
}

// -----

// Samsung TICO's npu_export attention: already one chain per head, each
// head selected from the [B, S, n, D] view, K^T a transpose(-2, -1) of a
// rank-3 key, heads stacked (unsqueeze(2) + cat) and viewed [B, S, n*D],
// keys returned as a stack of kv heads. Nothing to unroll: the stack
// becomes a concatenation of the heads, K^T the adjoint flag, the returned
// keys and values stay as they are.
// CHECK-LABEL: func.func @tico_prefill
// Nothing batched is left anywhere in the function:
// NONE-LABEL: func.func @tico_prefill
// NONE-NOT: kiln.transpose
// NONE-NOT: kiln.permute
// NONE-NOT: kiln.expand
// NONE-NOT: kiln.repeat_interleave
// NONE: return
// CHECK-NOT: kiln.transpose
// CHECK: %[[KV:.*]] = kiln.reshape %{{.*}} : (tensor<1x3x4xf32>) -> tensor<1x3x1x4xf32>
// CHECK: %[[K:.*]] = kiln.select %[[KV]] dim = 2
// CHECK: %[[V:.*]] = kiln.select %{{.*}} dim = 2
// CHECK: kiln.matmul %{{.*}}, %[[K]] {adj_y = true} : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x3xf32>
// CHECK: %[[O0:.*]] = kiln.matmul %{{.*}}, %[[V]] : (tensor<1x3x3xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
// CHECK: kiln.matmul %{{.*}}, %[[K]] {adj_y = true} : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x3xf32>
// CHECK: %[[O1:.*]] = kiln.matmul %{{.*}}, %[[V]] : (tensor<1x3x3xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
// CHECK-NOT: kiln.matmul
// CHECK: %[[Q0:.*]] = kiln.fake_quant %[[O0]] scale(1.000000e-03)
// CHECK: %[[Q1:.*]] = kiln.fake_quant %[[O1]] scale(1.000000e-03)
// CHECK: %[[M:.*]] = kiln.cat %[[Q0]], %[[Q1]] dim = 2 : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x8xf32>
// CHECK: kiln.linear %[[M]], %arg5
// CHECK: %[[KEYS:.*]] = kiln.unsqueeze %[[K]] dim = 1
// CHECK: return %{{.*}}, %[[KEYS]]
func.func @tico_prefill(%x: tensor<1x3x8xf32>, %mask: tensor<1x3x3xf32>, %wq: tensor<8x8xf32>, %wk: tensor<4x8xf32>, %wv: tensor<4x8xf32>, %wo: tensor<8x8xf32>) -> (tensor<1x3x8xf32>, tensor<1x1x3x4xf32>) {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  %c3 = arith.constant 3 : i64
  %c4 = arith.constant 4 : i64
  %cm1 = arith.constant -1 : i64
  %qp = kiln.linear %x, %wq : (tensor<1x3x8xf32>, tensor<8x8xf32>) -> tensor<1x3x8xf32>
  %qv = kiln.reshape %qp(%c1, %c3, %c2, %c4) : (tensor<1x3x8xf32>) -> tensor<1x3x2x4xf32>
  %kp = kiln.linear %x, %wk : (tensor<1x3x8xf32>, tensor<4x8xf32>) -> tensor<1x3x4xf32>
  %kv = kiln.reshape %kp(%c1, %c3, %c1, %c4) : (tensor<1x3x4xf32>) -> tensor<1x3x1x4xf32>
  %vp = kiln.linear %x, %wv : (tensor<1x3x8xf32>, tensor<4x8xf32>) -> tensor<1x3x4xf32>
  %vv = kiln.reshape %vp(%c1, %c3, %c1, %c4) : (tensor<1x3x4xf32>) -> tensor<1x3x1x4xf32>
  %k0 = kiln.select %kv dim = 2 [%c0] : (tensor<1x3x1x4xf32>) -> tensor<1x3x4xf32>
  %v0 = kiln.select %vv dim = 2 [%c0] : (tensor<1x3x1x4xf32>) -> tensor<1x3x4xf32>
  %kt = kiln.transpose %k0 -2, -1 : (tensor<1x3x4xf32>) -> tensor<1x4x3xf32>
  %q0 = kiln.select %qv dim = 2 [%c0] : (tensor<1x3x2x4xf32>) -> tensor<1x3x4xf32>
  %s0 = kiln.matmul %q0, %kt : (tensor<1x3x4xf32>, tensor<1x4x3xf32>) -> tensor<1x3x3xf32>
  %m0 = kiln.add %s0, %mask : (tensor<1x3x3xf32>, tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
  %p0 = kiln.softmax %m0 dim = -1 : (tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
  %o0 = kiln.matmul %p0, %v0 : (tensor<1x3x3xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  %q1 = kiln.select %qv dim = 2 [%c1] : (tensor<1x3x2x4xf32>) -> tensor<1x3x4xf32>
  %s1 = kiln.matmul %q1, %kt : (tensor<1x3x4xf32>, tensor<1x4x3xf32>) -> tensor<1x3x3xf32>
  %m1 = kiln.add %s1, %mask : (tensor<1x3x3xf32>, tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
  %p1 = kiln.softmax %m1 dim = -1 : (tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
  %o1 = kiln.matmul %p1, %v0 : (tensor<1x3x3xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  %u0 = kiln.unsqueeze %o0 dim = 2 : (tensor<1x3x4xf32>) -> tensor<1x3x1x4xf32>
  %u1 = kiln.unsqueeze %o1 dim = 2 : (tensor<1x3x4xf32>) -> tensor<1x3x1x4xf32>
  %st = kiln.cat %u0, %u1 dim = 2 : (tensor<1x3x1x4xf32>, tensor<1x3x1x4xf32>) -> tensor<1x3x2x4xf32>
  %stq = kiln.fake_quant %st scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x3x2x4xf32>) -> tensor<1x3x2x4xf32>
  %merged = kiln.reshape %stq(%c1, %c3, %cm1) : (tensor<1x3x2x4xf32>) -> tensor<1x3x8xf32>
  %o = kiln.linear %merged, %wo : (tensor<1x3x8xf32>, tensor<8x8xf32>) -> tensor<1x3x8xf32>
  %keys = kiln.unsqueeze %k0 dim = 1 : (tensor<1x3x4xf32>) -> tensor<1x1x3x4xf32>
  return %o, %keys : tensor<1x3x8xf32>, tensor<1x1x3x4xf32>
}
