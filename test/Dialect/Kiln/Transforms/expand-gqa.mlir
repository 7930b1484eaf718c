// RUN: kiln-opt %s --split-input-file --kiln-expand-gqa | FileCheck %s
// RUN: kiln-opt %s --split-input-file --kiln-expand-gqa | FileCheck %s --check-prefix=NONE
// Same numbers before and after (seeded random inputs):
// RUN: kiln-opt %s --split-input-file -o /dev/null \
// RUN:   --kiln-verify-numerics="pipeline=func.func(kiln-expand-gqa) max-abs=1e-5"

// Keys shared by 2 query heads: no repeat, a grouped matmul broadcasting the
// [B, H_kv, 1, T, D] keys over the group axis.
// CHECK-LABEL: func.func @gqa_scores
// CHECK-NOT: kiln.repeat_interleave
// CHECK-NOT: kiln.expand
// CHECK-DAG: %[[Q5:.*]] = kiln.reshape %arg0({{.*}}) : (tensor<1x4x3x8xf32>) -> tensor<1x2x2x3x8xf32>
// CHECK-DAG: %[[K5:.*]] = kiln.unsqueeze %arg1 dim = 2 : (tensor<1x2x5x8xf32>) -> tensor<1x2x1x5x8xf32>
// CHECK: %[[S5:.*]] = kiln.matmul %[[Q5]], %[[K5]] {adj_y = true} : (tensor<1x2x2x3x8xf32>, tensor<1x2x1x5x8xf32>) -> tensor<1x2x2x3x5xf32>
// CHECK: %[[S:.*]] = kiln.reshape %[[S5]]({{.*}}) : (tensor<1x2x2x3x5xf32>) -> tensor<1x4x3x5xf32>
// CHECK: %[[P:.*]] = kiln.softmax %[[S]]
// CHECK: %[[P5:.*]] = kiln.reshape %[[P]]({{.*}}) : (tensor<1x4x3x5xf32>) -> tensor<1x2x2x3x5xf32>
// CHECK: kiln.matmul %[[P5]], %{{.*}} : (tensor<1x2x2x3x5xf32>, tensor<1x2x1x5x8xf32>) -> tensor<1x2x2x3x8xf32>
func.func @gqa_scores(%q: tensor<1x4x3x8xf32>, %k: tensor<1x2x5x8xf32>) -> tensor<1x4x3x8xf32> {
  %kr = kiln.repeat_interleave %k repeats = 2 dim = 1 : (tensor<1x2x5x8xf32>) -> tensor<1x4x5x8xf32>
  %kt = kiln.transpose %kr 2, 3 : (tensor<1x4x5x8xf32>) -> tensor<1x4x8x5xf32>
  %s = kiln.matmul %q, %kt : (tensor<1x4x3x8xf32>, tensor<1x4x8x5xf32>) -> tensor<1x4x3x5xf32>
  %p = kiln.softmax %s dim = -1 : (tensor<1x4x3x5xf32>) -> tensor<1x4x3x5xf32>
  %c = kiln.matmul %p, %kr : (tensor<1x4x3x5xf32>, tensor<1x4x5x8xf32>) -> tensor<1x4x3x8xf32>
  return %c : tensor<1x4x3x8xf32>
}

// -----

// Another user of the repeat gets an explicit broadcast.
// CHECK-LABEL: func.func @other_user
// CHECK: kiln.unsqueeze %arg0 dim = 2 : (tensor<1x2x5x8xf32>) -> tensor<1x2x1x5x8xf32>
// CHECK: kiln.expand %{{.*}} : (tensor<1x2x1x5x8xf32>) -> tensor<1x2x3x5x8xf32>
// CHECK: kiln.reshape %{{.*}} : (tensor<1x2x3x5x8xf32>) -> tensor<1x6x5x8xf32>
func.func @other_user(%k: tensor<1x2x5x8xf32>) -> tensor<1x6x5x8xf32> {
  %kr = kiln.repeat_interleave %k repeats = 3 dim = 1 : (tensor<1x2x5x8xf32>) -> tensor<1x6x5x8xf32>
  return %kr : tensor<1x6x5x8xf32>
}

// -----

// Hugging Face's repeat_kv (transformers 5, traced): k[:, :, None, :, :]
// as whole-axis slices + unsqueeze(2), expand to [B, H_kv, 4, T, D] and a
// view [B, H, T, D]; GQA 4:1 (H = 8, H_kv = 2). The expand's operand is the
// shared [B, H_kv, 1, T, D] one: grouped matmuls, no expand, K^T by adj_y.
// CHECK-LABEL: func.func @hf_repeat_kv
// CHECK: %[[K5:.*]] = kiln.unsqueeze %arg1 dim = 2 : (tensor<1x2x5x4xf32>) -> tensor<1x2x1x5x4xf32>
// CHECK: %[[V5:.*]] = kiln.unsqueeze %arg2 dim = 2 : (tensor<1x2x5x4xf32>) -> tensor<1x2x1x5x4xf32>
// CHECK: %[[Q5:.*]] = kiln.reshape %arg0({{.*}}) : (tensor<1x8x3x4xf32>) -> tensor<1x2x4x3x4xf32>
// CHECK: kiln.matmul %[[Q5]], %[[K5]] {adj_y = true} : (tensor<1x2x4x3x4xf32>, tensor<1x2x1x5x4xf32>) -> tensor<1x2x4x3x5xf32>
// CHECK: %[[P:.*]] = kiln.softmax %{{.*}} : (tensor<1x8x3x5xf32>)
// CHECK: %[[P5:.*]] = kiln.reshape %[[P]]({{.*}}) : (tensor<1x8x3x5xf32>) -> tensor<1x2x4x3x5xf32>
// CHECK: kiln.matmul %[[P5]], %[[V5]] : (tensor<1x2x4x3x5xf32>, tensor<1x2x1x5x4xf32>) -> tensor<1x2x4x3x4xf32>
// NONE-LABEL: func.func @hf_repeat_kv
// NONE-NOT: kiln.expand
// NONE-NOT: kiln.transpose
// NONE: return
func.func @hf_repeat_kv(%q: tensor<1x8x3x4xf32>, %k: tensor<1x2x5x4xf32>, %v: tensor<1x2x5x4xf32>) -> tensor<1x8x3x4xf32> {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  %c3 = arith.constant 3 : i64
  %c4 = arith.constant 4 : i64
  %c5 = arith.constant 5 : i64
  %c8 = arith.constant 8 : i64
  %cmax = arith.constant 9223372036854775807 : i64
  %k0 = kiln.slice %k dim = 0 [%c0 : %cmax : %c1] : (tensor<1x2x5x4xf32>) -> tensor<1x2x5x4xf32>
  %k1 = kiln.slice %k0 dim = 1 [%c0 : %cmax : %c1] : (tensor<1x2x5x4xf32>) -> tensor<1x2x5x4xf32>
  %k2 = kiln.unsqueeze %k1 dim = 2 : (tensor<1x2x5x4xf32>) -> tensor<1x2x1x5x4xf32>
  %k3 = kiln.slice %k2 dim = 3 [%c0 : %cmax : %c1] : (tensor<1x2x1x5x4xf32>) -> tensor<1x2x1x5x4xf32>
  %k4 = kiln.slice %k3 dim = 4 [%c0 : %cmax : %c1] : (tensor<1x2x1x5x4xf32>) -> tensor<1x2x1x5x4xf32>
  %ke = kiln.expand %k4(%c1, %c2, %c4, %c5, %c4) : (tensor<1x2x1x5x4xf32>) -> tensor<1x2x4x5x4xf32>
  %kr = kiln.reshape %ke(%c1, %c8, %c5, %c4) : (tensor<1x2x4x5x4xf32>) -> tensor<1x8x5x4xf32>
  %v2 = kiln.unsqueeze %v dim = 2 : (tensor<1x2x5x4xf32>) -> tensor<1x2x1x5x4xf32>
  %ve = kiln.expand %v2(%c1, %c2, %c4, %c5, %c4) : (tensor<1x2x1x5x4xf32>) -> tensor<1x2x4x5x4xf32>
  %vr = kiln.reshape %ve(%c1, %c8, %c5, %c4) : (tensor<1x2x4x5x4xf32>) -> tensor<1x8x5x4xf32>
  %kt = kiln.transpose %kr 2, 3 : (tensor<1x8x5x4xf32>) -> tensor<1x8x4x5xf32>
  %s = kiln.matmul %q, %kt : (tensor<1x8x3x4xf32>, tensor<1x8x4x5xf32>) -> tensor<1x8x3x5xf32>
  %p = kiln.softmax %s dim = -1 : (tensor<1x8x3x5xf32>) -> tensor<1x8x3x5xf32>
  %c = kiln.matmul %p, %vr : (tensor<1x8x3x5xf32>, tensor<1x8x5x4xf32>) -> tensor<1x8x3x4xf32>
  return %c : tensor<1x8x3x4xf32>
}

// -----

// MQA (H = 3, H_kv = 1), keys transposed with transpose(-2, -1) as in
// Hugging Face's sdpa path: one group of 3 query heads on the one kv head.
// CHECK-LABEL: func.func @hf_mqa
// CHECK: %[[K5:.*]] = kiln.unsqueeze %arg1 dim = 2 : (tensor<1x1x6x8xf32>) -> tensor<1x1x1x6x8xf32>
// CHECK: %[[Q5:.*]] = kiln.reshape %arg0({{.*}}) : (tensor<1x3x1x8xf32>) -> tensor<1x1x3x1x8xf32>
// CHECK: kiln.matmul %[[Q5]], %[[K5]] {adj_y = true} : (tensor<1x1x3x1x8xf32>, tensor<1x1x1x6x8xf32>) -> tensor<1x1x3x1x6xf32>
// CHECK: kiln.matmul %{{.*}}, %[[K5]] : (tensor<1x1x3x1x6xf32>, tensor<1x1x1x6x8xf32>) -> tensor<1x1x3x1x8xf32>
// NONE-LABEL: func.func @hf_mqa
// NONE-NOT: kiln.expand
// NONE-NOT: kiln.transpose
// NONE: return
func.func @hf_mqa(%q: tensor<1x3x1x8xf32>, %k: tensor<1x1x6x8xf32>) -> tensor<1x3x1x8xf32> {
  %c1 = arith.constant 1 : i64
  %c3 = arith.constant 3 : i64
  %c6 = arith.constant 6 : i64
  %c8 = arith.constant 8 : i64
  %k2 = kiln.unsqueeze %k dim = 2 : (tensor<1x1x6x8xf32>) -> tensor<1x1x1x6x8xf32>
  %ke = kiln.expand %k2(%c1, %c1, %c3, %c6, %c8) : (tensor<1x1x1x6x8xf32>) -> tensor<1x1x3x6x8xf32>
  %kr = kiln.reshape %ke(%c1, %c3, %c6, %c8) : (tensor<1x1x3x6x8xf32>) -> tensor<1x3x6x8xf32>
  %kt = kiln.transpose %kr -2, -1 : (tensor<1x3x6x8xf32>) -> tensor<1x3x8x6xf32>
  %s = kiln.matmul %q, %kt : (tensor<1x3x1x8xf32>, tensor<1x3x8x6xf32>) -> tensor<1x3x1x6xf32>
  %p = kiln.softmax %s dim = -1 : (tensor<1x3x1x6xf32>) -> tensor<1x3x1x6xf32>
  %c = kiln.matmul %p, %kr : (tensor<1x3x1x6xf32>, tensor<1x3x6x8xf32>) -> tensor<1x3x1x8xf32>
  return %c : tensor<1x3x1x8xf32>
}

// -----

// TICO's npu_export attention is already per head: nothing to group, and
// the rank-3 K^T transpose(-2, -1) becomes the adjoint flag.
// CHECK-LABEL: func.func @tico_per_head
// CHECK: kiln.matmul %arg0, %arg1 {adj_y = true} : (tensor<1x3x4xf32>, tensor<1x5x4xf32>) -> tensor<1x3x5xf32>
// CHECK: kiln.matmul %arg2, %arg1 {adj_y = true} : (tensor<1x3x4xf32>, tensor<1x5x4xf32>) -> tensor<1x3x5xf32>
// NONE-LABEL: func.func @tico_per_head
// NONE-NOT: kiln.transpose
// NONE: return
func.func @tico_per_head(%q0: tensor<1x3x4xf32>, %k: tensor<1x5x4xf32>, %q1: tensor<1x3x4xf32>) -> (tensor<1x3x5xf32>, tensor<1x3x5xf32>) {
  %kt = kiln.transpose %k -2, -1 : (tensor<1x5x4xf32>) -> tensor<1x4x5xf32>
  %s0 = kiln.matmul %q0, %kt : (tensor<1x3x4xf32>, tensor<1x4x5xf32>) -> tensor<1x3x5xf32>
  %s1 = kiln.matmul %q1, %kt : (tensor<1x3x4xf32>, tensor<1x4x5xf32>) -> tensor<1x3x5xf32>
  return %s0, %s1 : tensor<1x3x5xf32>, tensor<1x3x5xf32>
}
