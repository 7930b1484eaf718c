// Prefill and decode in one file: two subgraphs with signatures, sharing
// every weight buffer (the same resource blob, the same dense attribute, or
// the same bytes).
// RUN: kiln-translate --mlir-to-circle --circle-flavor=tflite %s -o %t.tflite
// RUN: kiln-translate --circle-dump %t.tflite | FileCheck %s

// Constants: w (resource), bias (dense, used by both), shape [1, 4, 2] and
// shape [1, 1, 2]; decode's w2 has the same bytes as w in another blob.
// CHECK: buffers: 8
// CHECK-NEXT: buffer #0 empty
// CHECK-NEXT: buffer #1 inline 32 bytes
// CHECK-NEXT: buffer #2 inline 8 bytes
// CHECK-NEXT: buffer #3 inline 12 bytes
// CHECK-NEXT: buffer #4 inline 12 bytes
// CHECK-NEXT: buffer #5 inline
// CHECK-NEXT: buffer #6 inline
// CHECK-NEXT: buffer #7 inline

// CHECK: subgraph #0 "prefill_fn": 6 tensors, 2 operators
// CHECK: tensor #1 "w" FLOAT32 [2, 4] buffer 1
// CHECK-NEXT: tensor #2 "b" FLOAT32 [2] buffer 2
// CHECK: tensor #4 "shape" INT32 [3] buffer 3
// CHECK: subgraph #1 "decode": 7 tensors, 2 operators
// An unused constant is still a tensor.
// CHECK: tensor #1 "w" FLOAT32 [2, 4] buffer 1
// CHECK-NEXT: tensor #2 "b" FLOAT32 [2] buffer 2
// Same bytes, another resource: still buffer 1.
// CHECK-NEXT: tensor #3 "w2" FLOAT32 [2, 4] buffer 1
// CHECK: tensor #5 "shape" INT32 [3] buffer 4

// The signature key comes from kiln.signature when present.
// CHECK: signature "prefill" subgraph 0
// CHECK-NEXT: input "tokens" tensor 0
// CHECK-NEXT: output "logits" tensor 5
// CHECK-NEXT: signature "decode" subgraph 1
// CHECK-NEXT: input "token" tensor 0
// CHECK-NEXT: output "logits" tensor 6
// Per-function variants.
// CHECK: metadata "kiln.variant.prefill" buffer 6 "prefill_reference"
// CHECK-NEXT: metadata "kiln.variant.decode" buffer 7 "decode"

func.func @prefill_fn(%x: tensor<1x4x4xf32> {kiln.name = "tokens"}) -> (tensor<1x4x2xf32> {kiln.name = "logits"})
    attributes {kiln.signature = "prefill", kiln.variant = "prefill_reference"} {
  %w = circle.const dense_resource<weights> : tensor<2x4xf32> loc("w")
  %b = circle.const dense<[0.5, -0.5]> : tensor<2xf32> loc("b")
  %y = circle.fully_connected %x, %w, %b : (tensor<1x4x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %shape = circle.const dense<[1, 4, 2]> : tensor<3xi32> loc("shape")
  %r = circle.reshape %y, %shape : (tensor<4x2xf32>, tensor<3xi32>) -> tensor<1x4x2xf32>
  return %r : tensor<1x4x2xf32>
}

func.func @decode(%x: tensor<1x1x4xf32> {kiln.name = "token"}) -> (tensor<1x1x2xf32> {kiln.name = "logits"})
    attributes {kiln.variant = "decode"} {
  %w = circle.const dense_resource<weights> : tensor<2x4xf32> loc("w")
  %b = circle.const dense<[0.5, -0.5]> : tensor<2xf32> loc("b")
  %w2 = circle.const dense_resource<weights_copy> : tensor<2x4xf32> loc("w2")
  %y = circle.fully_connected %x, %w2, %b : (tensor<1x1x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %shape = circle.const dense<[1, 1, 2]> : tensor<3xi32> loc("shape")
  %r = circle.reshape %y, %shape : (tensor<1x2xf32>, tensor<3xi32>) -> tensor<1x1x2xf32>
  return %r : tensor<1x1x2xf32>
}

// A private function is not exported.
func.func private @helper(%x: tensor<2xf32>) -> tensor<2xf32> {
  return %x : tensor<2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      weights: "0x040000000000803F0000004000004040000080400000A0400000C0400000E04000000041",
      weights_copy: "0x040000000000803F0000004000004040000080400000A0400000C0400000E04000000041"
    }
  }
#-}
