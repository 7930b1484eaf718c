// Masked keys get exactly zero probability in LiteRT's int16 softmax at 2,048
// keys (issue 11): kiln-exact-masked-softmax masks and renormalizes the
// probabilities. Without it (BASE) the same graph leaks: each masked key
// gets exp(-10) from TFLite's table, ~0.1 of the probability in a row with
// 2,047 masked keys. Expected values: numpy softmax over the kept keys of
// the quantized scores (Inputs/masked_softmax.py).
// REQUIRES: litert
// RUN: kiln-opt %s --kiln-lower-to-circle=flavor=tflite | FileCheck %s --check-prefix=IR
// RUN: kiln-opt %s --kiln-lower-to-circle=flavor=tflite | kiln-translate --mlir-to-circle --circle-flavor=tflite -o %t.tflite
// RUN: kiln-opt %s --kiln-fold-fake-quant --kiln-legalize-to-circle=flavor=tflite | kiln-translate --mlir-to-circle --circle-flavor=tflite -o %t.base.tflite
// RUN: rm -rf %t.in %t.out %t.base && %python %S/Inputs/masked_softmax.py make %t.in
// RUN: %litert_run %t.tflite --signature masked --inputs %t.in --outputs %t.out
// RUN: %litert_run %t.base.tflite --signature masked --inputs %t.in --outputs %t.base
// RUN: %python %S/Inputs/masked_softmax.py check %t.in %t.out | FileCheck %s
// RUN: not %python %S/Inputs/masked_softmax.py check %t.in %t.base | FileCheck %s --check-prefix=BASE

// IR: %[[P:.*]] = circle.softmax
// IR: %[[C:.*]] = circle.mul %{{.*}}, %{{.*}} {fused_activation_function = "RELU_N1_TO_1"}
// IR: %[[K:.*]] = circle.add %[[C]]
// IR: %[[Q:.*]] = circle.mul %[[P]], %[[K]]
// IR: %[[M:.*]] = circle.mean %[[Q]]
// IR: %[[W:.*]] = circle.div %{{.*}}, %[[M]]
// IR: circle.mul %[[Q]], %[[W]]

// CHECK: masked keys: {{[0-9]+}}, nonzero: 0
// CHECK: max error over kept keys: {{.*}} steps
// CHECK: masked softmax ok

// BASE: masked keys: {{[0-9]+}}, nonzero: {{[1-9][0-9]*}}
// BASE: largest leaked mass in a row: 0.{{0[5-9]|1}}

func.func @masked(%s: tensor<1x8x2048xf32> {kiln.name = "scores"},
                  %m: tensor<1x8x2048xf32> {kiln.name = "mask"})
    -> (tensor<1x8x2048xf32> {kiln.name = "probs"}) {
  %sq = kiln.fake_quant %s scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x8x2048xf32>) -> tensor<1x8x2048xf32>
  %mq = kiln.fake_quant %m scale(0.0030518509475997192) zero_point(0) range [-32768, 32767] : (tensor<1x8x2048xf32>) -> tensor<1x8x2048xf32>
  // Scores are computed in a model (Q*K^T); an exact double negation stands
  // in for that here, so the mask is the only operand read from an input.
  %n = kiln.neg %sq : (tensor<1x8x2048xf32>) -> tensor<1x8x2048xf32>
  %nn = kiln.neg %n : (tensor<1x8x2048xf32>) -> tensor<1x8x2048xf32>
  %x = kiln.add %nn, %mq : (tensor<1x8x2048xf32>, tensor<1x8x2048xf32>) -> tensor<1x8x2048xf32>
  %xq = kiln.fake_quant %x scale(0.004) zero_point(0) range [-32768, 32767] : (tensor<1x8x2048xf32>) -> tensor<1x8x2048xf32>
  %p = kiln.softmax %xq dim = 2 : (tensor<1x8x2048xf32>) -> tensor<1x8x2048xf32>
  %pq = kiln.fake_quant %p scale(3.0517578125e-05) zero_point(0) range [-32768, 32767] : (tensor<1x8x2048xf32>) -> tensor<1x8x2048xf32>
  return %pq : tensor<1x8x2048xf32>
}
