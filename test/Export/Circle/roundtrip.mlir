// writer -> reader -> writer gives the same bytes, for both flavors.
// RUN: kiln-translate --mlir-to-circle %s -o %t.circle
// RUN: kiln-translate --circle-to-mlir --mlir-print-debuginfo %t.circle -o %t.mlir
// RUN: kiln-translate --mlir-to-circle %t.mlir -o %t.again.circle
// RUN: cmp %t.circle %t.again.circle
// Locations inline (which leaves out the resource section):
// RUN: kiln-translate --circle-to-mlir --mlir-print-debuginfo --mlir-print-local-scope %t.circle | FileCheck %s
// The text form without locations loses the tensor names only.
// RUN: kiln-translate --circle-to-mlir %t.circle | kiln-translate --mlir-to-circle -o %t.noloc.circle
// RUN: kiln-translate --circle-dump %t.circle | grep -v bytes | sed -e 's/"[^"]*"//g' > %t.dump
// RUN: kiln-translate --circle-dump %t.noloc.circle | grep -v bytes | sed -e 's/"[^"]*"//g' > %t.noloc.dump
// RUN: diff %t.dump %t.noloc.dump

// CHECK: module attributes {kiln.flavor = "circle", kiln.metadata = {note = "hello"}, kiln.pipeline = "prefill+decode", kiln.recipe = "w4a16"}
// Signature names: kiln.name, else the location's name.
// CHECK: func.func @prefill(%{{.*}}: tensor<1x?x8xf32> {kiln.name = "x"} loc("hidden"), %{{.*}}: tensor<1x2x4x4xf32> {kiln.name = "t"} loc("t")) -> (tensor<1x?x8xf32> {kiln.name = "y"}, tensor<1x2x4x4xf32> {kiln.name = "output_1"})
// CHECK-SAME: attributes {kiln.variant = "prefill"}
// CHECK: circle.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.99999974E-6 : f32} : {{.*}} loc("norm")
// CHECK: circle.const dense<[2, 0, -1, 1]> : tensor<4xi8> as tensor<4x!quant.uniform<i8:f32, 5.000000e-01:1>> loc("g8")
// CHECK: circle.const dense_resource<buffer_{{[0-9]+}}> : tensor<8x8xui4> as tensor<8x8x!quant.uniform<u4:f32:0, {{.*}}>> loc("w.u4")
// CHECK: circle.const {kiln.quant_scales = array<f64: 2.500000e-01, 5.000000e-01>} dense<[100, -100]> : tensor<2xi64> loc("bias64")
// CHECK: circle.rope %{{.*}}, %{{.*}}, %{{.*}} {mode = "GPT_J"} : {{.*}} loc("rope")
// CHECK: func.func @decode_fn
// CHECK-SAME: kiln.signature = "decode"

module attributes {kiln.pipeline = "prefill+decode", kiln.recipe = "w4a16", kiln.metadata = {note = "hello"}} {
  func.func @prefill(%x: tensor<1x?x8xf32> {kiln.name = "x"} loc("hidden"), %t: tensor<1x2x4x4xf32> loc("t"))
      -> (tensor<1x?x8xf32> {kiln.name = "y"}, tensor<1x2x4x4xf32>) attributes {kiln.variant = "prefill"} {
    %g = circle.const dense<1.0> : tensor<8xf32> loc("gamma")
    %n = circle.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<1x?x8xf32>, tensor<8xf32>) -> tensor<1x?x8xf32> loc("norm")
    %g8 = circle.const dense<[2, 0, -1, 1]> : tensor<4xi8> as tensor<4x!quant.uniform<i8:f32, 0.5:1>> loc("g8")
    %w = circle.const dense_resource<w4> : tensor<8x8xui4> as tensor<8x8x!quant.uniform<u4:f32:0, {0.1:8, 0.2:8, 0.3:8, 0.4:8, 0.5:7, 0.6:7, 0.7:7, 0.8:7}>> loc("w.u4")
    %b = circle.const {kiln.quant_scales = array<f64: 0.25, 0.5>} dense<[100, -100]> : tensor<2xi64> loc("bias64")
    %cos = circle.const dense<0.5> : tensor<1x1x4x4xf32> loc("cos")
    %r = circle.rope %t, %cos, %cos {mode = "GPT_J"} : (tensor<1x2x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32> loc("rope")
    return %n, %r : tensor<1x?x8xf32>, tensor<1x2x4x4xf32>
  }
  func.func @decode_fn(%x: tensor<1x1x8xf32>) -> tensor<1x1x8xf32> attributes {kiln.signature = "decode"} {
    %g = circle.const dense<1.0> : tensor<8xf32> loc("gamma")
    %n = circle.rms_norm %x, %g : (tensor<1x1x8xf32>, tensor<8xf32>) -> tensor<1x1x8xf32> loc("norm")
    return %n : tensor<1x1x8xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      w4: "0x04000000000102030405060708090A0B0C0D0E0F000102030405060708090A0B0C0D0E0F000102030405060708090A0B0C0D0E0F000102030405060708090A0B0C0D0E0F"
    }
  }
#-}
