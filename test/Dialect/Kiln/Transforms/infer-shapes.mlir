// RUN: kiln-opt %s --split-input-file --kiln-infer-shapes | FileCheck %s
// RUN: kiln-opt %s --split-input-file --kiln-infer-shapes=update-signature=false | FileCheck %s --check-prefix=KEEPSIG
// RUN: kiln-opt %s --split-input-file --kiln-infer-shapes=max-rounds=1 2>&1 >/dev/null | FileCheck %s --check-prefix=ROUNDS
// ROUNDS: warning: kiln-infer-shapes did not reach a fixed point in 1 rounds of refinement and folding; shapes may be left dynamic (raise max-rounds)

// The head split of attention: sizes read from the input fold to constants,
// the view becomes static, and so does everything after it.
// CHECK-LABEL: func.func @head_split
// CHECK-SAME: -> tensor<1x4x16x16xf32>
// KEEPSIG-LABEL: func.func @head_split
// KEEPSIG-SAME: -> tensor<*xf32>
func.func @head_split(%x: tensor<1x16x64xf32>, %w: tensor<64x64xf32>) -> tensor<*xf32> {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %c4 = arith.constant 4 : i64
  %c16 = arith.constant 16 : i64
  // CHECK: %[[Q:.*]] = kiln.linear %{{.*}}, %{{.*}} : (tensor<1x16x64xf32>, tensor<64x64xf32>) -> tensor<1x16x64xf32>
  %q = kiln.linear %x, %w : (tensor<1x16x64xf32>, tensor<64x64xf32>) -> tensor<*xf32>
  // CHECK-NOT: kiln.size
  %b = kiln.size %q[%c0] : tensor<*xf32>
  %s = kiln.size %q[%c1] : tensor<*xf32>
  // CHECK: kiln.reshape %[[Q]]({{.*}}) : (tensor<1x16x64xf32>) -> tensor<1x16x4x16xf32>
  %v = kiln.reshape %q(%b, %s, %c4, %c16) : (tensor<*xf32>) -> tensor<?x?x4x16xf32>
  // CHECK: kiln.transpose %{{.*}} 1, 2 : (tensor<1x16x4x16xf32>) -> tensor<1x4x16x16xf32>
  %t = kiln.transpose %v 1, 2 : (tensor<?x?x4x16xf32>) -> tensor<*xf32>
  // CHECK-NOT: tensor.cast
  // CHECK: return %{{.*}} : tensor<1x4x16x16xf32>
  // KEEPSIG: %[[CAST:.*]] = tensor.cast %{{.*}} : tensor<1x4x16x16xf32> to tensor<*xf32>
  // KEEPSIG: return %[[CAST]] : tensor<*xf32>
  return %t : tensor<*xf32>
}

// -----

// Refined values that flow into ops which are not kiln tensor ops keep their
// declared types through a tensor.cast; shape arithmetic in arith folds.
// CHECK-LABEL: func.func @mixed
func.func @mixed(%x: tensor<2x8xf32>, %flag: i1) -> (tensor<*xf32>, i64) {
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  // CHECK: %[[FOUR:.*]] = arith.constant 4 : i64
  // CHECK: %[[N:.*]] = kiln.neg %{{.*}} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %n = kiln.neg %x : (tensor<2x8xf32>) -> tensor<*xf32>
  %d = kiln.size %n[%c1] : tensor<*xf32>
  %half = arith.floordivsi %d, %c2 : i64
  // CHECK: scf.if
  // CHECK: %[[C:.*]] = tensor.cast %[[N]] : tensor<2x8xf32> to tensor<*xf32>
  // CHECK: scf.yield %[[C]] : tensor<*xf32>
  %r = scf.if %flag -> tensor<*xf32> {
    scf.yield %n : tensor<*xf32>
  } else {
    scf.yield %n : tensor<*xf32>
  }
  // CHECK: return %{{.*}}, %[[FOUR]] : tensor<*xf32>, i64
  return %r, %half : tensor<*xf32>, i64
}

// -----

// Unknown shapes stay unknown: nothing is invented.
// CHECK-LABEL: func.func @unknown
// CHECK: kiln.neg %{{.*}} : (tensor<*xf32>) -> tensor<*xf32>
func.func @unknown(%x: tensor<*xf32>) -> tensor<*xf32> {
  %n = kiln.neg %x : (tensor<*xf32>) -> tensor<*xf32>
  return %n : tensor<*xf32>
}
