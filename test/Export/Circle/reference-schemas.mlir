// Kiln's files decode with the official Circle 0.10 and TFLite schemas (in
// ../shared/reference beside the repository), as ONE's and TFLite's readers
// see them.
// REQUIRES: reference-schemas
// RUN: rm -rf %t.d && mkdir %t.d
// RUN: kiln-translate --mlir-to-circle %s -o %t.d/model.circle
// RUN: flatc --json --strict-json -o %t.d %reference_schemas/circle_schema.fbs -- %t.d/model.circle
// RUN: %python %S/Inputs/summarize_json.py %t.d/model.json | FileCheck %s --check-prefix=CIRCLE
// TFLite: the operators of versions.mlir.
// RUN: kiln-translate --mlir-to-circle --circle-flavor=tflite %S/versions.mlir -o %t.d/model.tflite
// RUN: flatc --json --strict-json -o %t.d %reference_schemas/tflite_schema.fbs -- %t.d/model.tflite
// RUN: %python %S/Inputs/summarize_json.py %t.d/model.json | FileCheck %s --check-prefix=TFLITE

// ONE reads deprecated_builtin_code unless it is 127: RMS_NORM is -6 there.
// CIRCLE: version 0
// CIRCLE-NEXT: opcode RMS_NORM deprecated_builtin_code -6 version 1
// CIRCLE-NEXT: opcode ROPE deprecated_builtin_code -7 version 1
// CIRCLE-NEXT: opcode BROADCAST_TO deprecated_builtin_code 127 version 2
// CIRCLE-NEXT: opcode DEQUANTIZE deprecated_builtin_code 6 version 1
// CIRCLE-NEXT: tensor x FLOAT32 [1, 2, 8]
// CIRCLE-NEXT: tensor gamma FLOAT32 [8] buffer 1
// CIRCLE-NEXT: tensor norm FLOAT32 [1, 2, 8]
// CIRCLE-NEXT: tensor table FLOAT32 [1, 1, 2, 8] buffer 2
// CIRCLE-NEXT: tensor rope FLOAT32 [1, 1, 2, 8]
// CIRCLE-NEXT: tensor shape INT32 [3] buffer 3
// CIRCLE-NEXT: tensor wide FLOAT32 [4, 2, 8]
// CIRCLE-NEXT: tensor u4 UINT4 [3] buffer 4 scale [0.5] zero_point [8] dim 0
// CIRCLE-NEXT: tensor u4.dq FLOAT32 [3]
// CIRCLE-NEXT: op RMS_NORM options RmsNormOptions {"epsilon": 1e-05}
// CIRCLE-NEXT: op ROPE options RoPEOptions {"mode": "GPT_J"}
// CIRCLE-NEXT: op BROADCAST_TO options BroadcastToOptions {}
// CIRCLE-NEXT: op DEQUANTIZE options DequantizeOptions {}
// CIRCLE-NEXT: signature main subgraph 0 inputs ['x'] outputs ['output_0', 'output_1', 'output_2', 'output_3']
// CIRCLE-NEXT: metadata kiln.version

// TFLITE: version 3
// TFLITE-NEXT: opcode FULLY_CONNECTED deprecated_builtin_code 9 version 5
// TFLITE-NEXT: opcode FULLY_CONNECTED deprecated_builtin_code 9 version 1
// TFLITE-NEXT: opcode FULLY_CONNECTED deprecated_builtin_code 9 version 12
// TFLITE: opcode BROADCAST_TO deprecated_builtin_code 127 version 2
// The int64 bias keeps its scales.
// TFLITE: tensor const_14 INT64 [6] buffer 4 scale [0.0001, 0.0002, 0.0003, 0.0004, 0.0005, 0.0006] zero_point [0, 0, 0, 0, 0, 0] dim 0
// TFLITE: op ADD options AddOptions {"pot_scale_int16": false}
// TFLITE: signature versions subgraph 0

func.func @main(%x: tensor<1x2x8xf32> loc("x")) -> (tensor<1x2x8xf32>, tensor<1x1x2x8xf32>, tensor<4x2x8xf32>, tensor<3xf32>) {
  %g = circle.const dense<1.0> : tensor<8xf32> loc("gamma")
  %n = circle.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<1x2x8xf32>, tensor<8xf32>) -> tensor<1x2x8xf32> loc("norm")
  %t = circle.const dense<0.5> : tensor<1x1x2x8xf32> loc("table")
  %r = circle.rope %t, %t, %t {mode = "GPT_J"} : (tensor<1x1x2x8xf32>, tensor<1x1x2x8xf32>, tensor<1x1x2x8xf32>) -> tensor<1x1x2x8xf32> loc("rope")
  %s = circle.const dense<[4, 2, 8]> : tensor<3xi32> loc("shape")
  %b = circle.broadcast_to %x, %s : (tensor<1x2x8xf32>, tensor<3xi32>) -> tensor<4x2x8xf32> loc("wide")
  %u = circle.const dense<[1, 15, 0]> : tensor<3xui4> as tensor<3x!quant.uniform<u4:f32, 0.5:8>> loc("u4")
  %d = circle.dequantize %u : (tensor<3x!quant.uniform<u4:f32, 0.5:8>>) -> tensor<3xf32> loc("u4.dq")
  return %n, %r, %b, %d : tensor<1x2x8xf32>, tensor<1x1x2x8xf32>, tensor<4x2x8xf32>, tensor<3xf32>
}
