// A hand-written float model written as .tflite and run in LiteRT, against
// numpy computed independently (Inputs/float_ops.py). Two signatures share
// the weight buffer; a third exercises the remaining builtins.
// REQUIRES: litert
// RUN: kiln-translate --mlir-to-circle --circle-flavor=tflite %s -o %t.tflite
// RUN: rm -rf %t.in %t.out && %python %S/Inputs/float_ops.py make %t.in
// RUN: %litert_run %t.tflite --signature prefill --inputs %t.in --outputs %t.out | FileCheck %s --check-prefix=RUN-PREFILL
// RUN: %litert_run %t.tflite --signature decode --inputs %t.in --outputs %t.out
// RUN: %litert_run %t.tflite --signature ops --inputs %t.in --outputs %t.out
// RUN: %python %S/Inputs/float_ops.py check %t.in %t.out | FileCheck %s
// Out-of-line buffers load in LiteRT too and give the same bytes.
// RUN: kiln-translate --mlir-to-circle --circle-flavor=tflite --force-external-buffers %s -o %t.ext.tflite
// RUN: rm -rf %t.ext.out && %litert_run %t.ext.tflite --signature prefill --inputs %t.in --outputs %t.ext.out
// RUN: cmp %t.out/prefill.probs.bin %t.ext.out/prefill.probs.bin
// RUN: cmp %t.out/prefill.proj.bin %t.ext.out/prefill.proj.bin

// RUN-PREFILL: ran 'prefill' in LiteRT: probs float32[1,16], proj float32[1,4,6]
// CHECK: prefill probs ok
// CHECK-NEXT: prefill proj ok
// CHECK-NEXT: decode act ok
// CHECK-NEXT: ops sub ok
// CHECK-NEXT: ops div ok
// CHECK-NEXT: ops neg ok
// CHECK-NEXT: ops rsqrt ok
// CHECK-NEXT: ops pow ok
// CHECK-NEXT: ops mean ok
// CHECK-NEXT: ops transpose ok
// CHECK-NEXT: ops strided ok
// CHECK-NEXT: ops slice ok
// CHECK-NEXT: ops concat ok
// CHECK-NEXT: ops gather ok
// CHECK-NEXT: ops select ok
// CHECK-NEXT: ops broadcast ok
// CHECK-NEXT: ops cast ok
// CHECK-NEXT: ops logistic ok
// CHECK-NEXT: all outputs match

module attributes {kiln.pipeline = "e2e-test", kiln.recipe = "float"} {
  func.func @prefill(%x: tensor<1x4x8xf32> {kiln.name = "hidden_states"}, %mask: tensor<1x4x4xf32> {kiln.name = "mask"})
      -> (tensor<1x16xf32> {kiln.name = "probs"}, tensor<1x4x6xf32> {kiln.name = "proj"}) {
    %w = circle.const dense_resource<w> : tensor<6x8xf32> loc("proj.weight")
    %b = circle.const dense<[-0.5, -0.25, 0.0, 0.25, 0.5, 0.75]> : tensor<6xf32> loc("proj.bias")
    %y = circle.fully_connected %x, %w, %b {keep_num_dims = true} : (tensor<1x4x8xf32>, tensor<6x8xf32>, tensor<6xf32>) -> tensor<1x4x6xf32> loc("proj")
    %s = circle.batch_matmul %y, %y {adj_y = true} : (tensor<1x4x6xf32>, tensor<1x4x6xf32>) -> tensor<1x4x4xf32> loc("scores")
    %a = circle.add %s, %mask : (tensor<1x4x4xf32>, tensor<1x4x4xf32>) -> tensor<1x4x4xf32> loc("masked")
    %p = circle.softmax %a {beta = 0.5 : f32} : (tensor<1x4x4xf32>) -> tensor<1x4x4xf32> loc("softmax")
    %shape = circle.const dense<[1, 16]> : tensor<2xi32>
    %r = circle.reshape %p, %shape : (tensor<1x4x4xf32>, tensor<2xi32>) -> tensor<1x16xf32> loc("probs")
    return %r, %y : tensor<1x16xf32>, tensor<1x4x6xf32>
  }

  func.func @decode(%x: tensor<1x8xf32> {kiln.name = "hidden_states"}) -> (tensor<1x6xf32> {kiln.name = "act"}) {
    %w = circle.const dense_resource<w> : tensor<6x8xf32> loc("proj.weight")
    %b = circle.const dense<[-0.5, -0.25, 0.0, 0.25, 0.5, 0.75]> : tensor<6xf32> loc("proj.bias")
    %y = circle.fully_connected %x, %w, %b : (tensor<1x8xf32>, tensor<6x8xf32>, tensor<6xf32>) -> tensor<1x6xf32> loc("proj")
    %g = circle.logistic %y : (tensor<1x6xf32>) -> tensor<1x6xf32> loc("gate")
    %m = circle.mul %y, %g : (tensor<1x6xf32>, tensor<1x6xf32>) -> tensor<1x6xf32> loc("silu")
    return %m : tensor<1x6xf32>
  }

  func.func @ops(%a: tensor<2x3x4xf32> {kiln.name = "a"}, %b: tensor<2x3x4xf32> {kiln.name = "b"},
                 %ids: tensor<3xi32> {kiln.name = "ids"}, %cond: tensor<2x3x4xi1> {kiln.name = "cond"})
      -> (tensor<2x3x4xf32> {kiln.name = "sub"}, tensor<2x3x4xf32> {kiln.name = "div"},
          tensor<2x3x4xf32> {kiln.name = "neg"}, tensor<2x3x4xf32> {kiln.name = "rsqrt"},
          tensor<2x3x4xf32> {kiln.name = "pow"}, tensor<2x3x1xf32> {kiln.name = "mean"},
          tensor<4x2x3xf32> {kiln.name = "transpose"}, tensor<2x2x2xf32> {kiln.name = "strided"},
          tensor<1x3x2xf32> {kiln.name = "slice"}, tensor<2x6x4xf32> {kiln.name = "concat"},
          tensor<3x4xf32> {kiln.name = "gather"}, tensor<2x3x4xf32> {kiln.name = "select"},
          tensor<2x3x4xf32> {kiln.name = "broadcast"}, tensor<2x3x4xi32> {kiln.name = "cast"},
          tensor<2x3x4xf32> {kiln.name = "logistic"}) {
    %sub = circle.sub %a, %b : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %div = circle.div %a, %b : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %neg = circle.neg %a : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %rsqrt = circle.rsqrt %b : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %two = circle.const dense<2.0> : tensor<2x3x4xf32>
    %pow = circle.pow %b, %two : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %axis = circle.const dense<[-1]> : tensor<1xi32>
    %mean = circle.mean %a, %axis {keep_dims = true} : (tensor<2x3x4xf32>, tensor<1xi32>) -> tensor<2x3x1xf32>
    %perm = circle.const dense<[2, 0, 1]> : tensor<3xi32>
    %tr = circle.transpose %a, %perm : (tensor<2x3x4xf32>, tensor<3xi32>) -> tensor<4x2x3xf32>
    %sb = circle.const dense<[0, 1, 0]> : tensor<3xi32>
    %se = circle.const dense<[2, 3, 4]> : tensor<3xi32>
    %ss = circle.const dense<[1, 1, 2]> : tensor<3xi32>
    %strided = circle.strided_slice %a, %sb, %se, %ss : (tensor<2x3x4xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>) -> tensor<2x2x2xf32>
    %lb = circle.const dense<[1, 0, 1]> : tensor<3xi32>
    %ls = circle.const dense<[1, 3, 2]> : tensor<3xi32>
    %slice = circle.slice %a, %lb, %ls : (tensor<2x3x4xf32>, tensor<3xi32>, tensor<3xi32>) -> tensor<1x3x2xf32>
    %concat = circle.concatenation %a, %b {axis = 1 : i32} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x6x4xf32>
    %table = circle.const dense<[[-1.0, -0.5, 0.0, 0.5], [1.0, -1.0, -0.5, 0.0], [0.5, 1.0, -1.0, -0.5], [0.0, 0.5, 1.0, -1.0], [-0.5, 0.0, 0.5, 1.0]]> : tensor<5x4xf32>
    %gather = circle.gather %table, %ids : (tensor<5x4xf32>, tensor<3xi32>) -> tensor<3x4xf32>
    %select = circle.select_v2 %cond, %a, %b : (tensor<2x3x4xi1>, tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %col = circle.const dense<[[[1.0], [2.0], [3.0]]]> : tensor<1x3x1xf32>
    %bshape = circle.const dense<[2, 3, 4]> : tensor<3xi32>
    %broadcast = circle.broadcast_to %col, %bshape : (tensor<1x3x1xf32>, tensor<3xi32>) -> tensor<2x3x4xf32>
    %cast = circle.cast %a : (tensor<2x3x4xf32>) -> tensor<2x3x4xi32>
    %logistic = circle.logistic %a : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    return %sub, %div, %neg, %rsqrt, %pow, %mean, %tr, %strided, %slice, %concat, %gather, %select, %broadcast, %cast, %logistic
        : tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x1xf32>,
          tensor<4x2x3xf32>, tensor<2x2x2xf32>, tensor<1x3x2xf32>, tensor<2x6x4xf32>, tensor<3x4xf32>, tensor<2x3x4xf32>,
          tensor<2x3x4xf32>, tensor<2x3x4xi32>, tensor<2x3x4xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000C0BE000080BE000000BE000000000000003E0000803E0000C03E0000C0BE000080BE000000BE000000000000003E0000803E0000C03E0000C0BE000080BE000000BE000000000000003E0000803E0000C03E0000C0BE000080BE000000BE000000000000003E0000803E0000C03E0000C0BE000080BE000000BE000000000000003E0000803E0000C03E0000C0BE000080BE000000BE000000000000003E0000803E0000C03E0000C0BE000080BE000000BE000000000000003E0000803E"
    }
  }
#-}
