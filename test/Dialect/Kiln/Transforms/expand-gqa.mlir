// RUN: kiln-opt %s --split-input-file --kiln-expand-gqa | FileCheck %s

// Keys shared by 2 query heads: no repeat, a grouped matmul broadcasting the
// [B, H_kv, 1, T, D] keys over the group axis.
// CHECK-LABEL: func.func @gqa_scores
// CHECK-NOT: kiln.repeat_interleave
// CHECK-NOT: kiln.expand
// CHECK: %[[Q5:.*]] = kiln.reshape %arg0({{.*}}) : (tensor<1x4x3x8xf32>) -> tensor<1x2x2x3x8xf32>
// CHECK: %[[K5:.*]] = kiln.unsqueeze %arg1 dim = 2 : (tensor<1x2x5x8xf32>) -> tensor<1x2x1x5x8xf32>
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
