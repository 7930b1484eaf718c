// A float function written in both flavors, read back with --circle-dump.
// RUN: kiln-translate --mlir-to-circle %s -o %t.circle
// RUN: kiln-translate --circle-dump %t.circle | FileCheck %s --check-prefixes=CHECK,CIRCLE
// RUN: kiln-translate --mlir-to-circle --circle-flavor=tflite %s -o %t.tflite
// RUN: kiln-translate --circle-dump %t.tflite | FileCheck %s --check-prefixes=CHECK,TFLITE
// The same input gives the same bytes.
// RUN: kiln-translate --mlir-to-circle %s -o %t.again.circle
// RUN: cmp %t.circle %t.again.circle
// The file identifier sits at bytes 4..7.
// RUN: od -A n -c -j 4 -N 4 %t.circle | FileCheck %s --check-prefix=ID-CIRCLE
// RUN: od -A n -c -j 4 -N 4 %t.tflite | FileCheck %s --check-prefix=ID-TFLITE
// ID-CIRCLE: C I R 0
// ID-TFLITE: T F L 3
// flatc decodes both with Kiln's schema (whose identifier is CIR0: TFL3 files
// need --raw-binary).
// RUN: rm -rf %t.d && mkdir %t.d && cp %t.circle %t.d/model.circle && cp %t.tflite %t.d/model.tflite
// RUN: flatc --json --strict-json -o %t.d %kiln_circle_schema -- %t.d/model.circle
// RUN: %python %S/Inputs/summarize_json.py %t.d/model.json | FileCheck %s --check-prefixes=JSON,JSON-CIRCLE
// RUN: not flatc --json -o %t.d %kiln_circle_schema -- %t.d/model.tflite
// RUN: flatc --json --strict-json --raw-binary -o %t.d %kiln_circle_schema -- %t.d/model.tflite
// RUN: %python %S/Inputs/summarize_json.py %t.d/model.json | FileCheck %s --check-prefixes=JSON,JSON-TFLITE
// JSON-CIRCLE: version 0
// JSON-TFLITE: version 3
// JSON-NEXT: opcode FULLY_CONNECTED deprecated_builtin_code 9 version 5
// JSON: tensor model.proj.weight FLOAT32 [6, 8] buffer 1
// JSON: op SOFTMAX options SoftmaxOptions {"beta": 0.5}
// JSON: signature prefill subgraph 0 inputs ['x', 'mask'] outputs ['probs', 'output_1']
// JSON-NEXT: metadata kiln.version

// CIRCLE: circle model: identifier CIR0, version 0, description "Kiln {{[0-9.]+}}"
// TFLITE: tflite model: identifier TFL3, version 3, description "Kiln {{[0-9.]+}}"
// CHECK: operator_codes: 5
// CHECK-NEXT: opcode #0 FULLY_CONNECTED (9) version 5 deprecated_builtin_code 9 builtin_code 9
// CHECK-NEXT: opcode #1 BATCH_MATMUL (126) version 1 deprecated_builtin_code 126 builtin_code 126
// CHECK-NEXT: opcode #2 ADD (0) version 1 deprecated_builtin_code 0 builtin_code 0
// CHECK-NEXT: opcode #3 SOFTMAX (25) version 1 deprecated_builtin_code 25 builtin_code 25
// CHECK-NEXT: opcode #4 RESHAPE (22) version 1 deprecated_builtin_code 22 builtin_code 22
// Buffer 0 is the empty sentinel; 4 constants (weight, bias, shape), then
// the 4 metadata strings.
// CHECK: buffers: 8
// CHECK-NEXT: buffer #0 empty
// CHECK-NEXT: buffer #1 inline 192 bytes at offset {{[0-9]+}} (16-aligned)
// CHECK-NEXT: buffer #2 inline 24 bytes at offset {{[0-9]+}} (16-aligned)
// CHECK-NEXT: buffer #3 inline 8 bytes at offset {{[0-9]+}} (16-aligned)
// CHECK-NEXT: buffer #4 inline 5 bytes at offset {{[0-9]+}} (16-aligned)
// CHECK-NEXT: buffer #5 inline 4 bytes at offset {{[0-9]+}} (16-aligned)
// CHECK-NEXT: buffer #6 inline 7 bytes at offset {{[0-9]+}} (16-aligned)
// CHECK-NEXT: buffer #7 inline 5 bytes at offset {{[0-9]+}} (16-aligned)
// CHECK: subgraph #0 "prefill": 10 tensors, 5 operators, inputs [0, 1], outputs [9, 4]
// Argument names: the location's name first, then kiln.name, then input_<i>.
// CHECK-NEXT: tensor #0 "hidden_states" FLOAT32 [1, 4, 8]{{$}}
// CHECK-NEXT: tensor #1 "mask" FLOAT32 [1, 4, 4]{{$}}
// CHECK-NEXT: tensor #2 "model.proj.weight" FLOAT32 [6, 8] buffer 1{{$}}
// CHECK-NEXT: tensor #3 "const_3" FLOAT32 [6] buffer 2{{$}}
// The name part of a fused location.
// CHECK-NEXT: tensor #4 "model.proj" FLOAT32 [1, 4, 6]{{$}}
// CHECK-NEXT: tensor #5 "scores" FLOAT32 [1, 4, 4]{{$}}
// CHECK-NEXT: tensor #6 "add_6" FLOAT32 [1, 4, 4]{{$}}
// Two ops named "probs": the second gets a suffix.
// CHECK-NEXT: tensor #7 "probs" FLOAT32 [1, 4, 4]{{$}}
// CHECK-NEXT: tensor #8 "const_8" INT32 [2] buffer 3{{$}}
// CHECK-NEXT: tensor #9 "probs_1" FLOAT32 [1, 16]{{$}}
// CHECK-NEXT: op #0 FULLY_CONNECTED v5 inputs [0, 2, 3] outputs [4] FullyConnectedOptions {fused_activation_function: NONE, weights_format: DEFAULT, keep_num_dims: true, asymmetric_quantize_inputs: false}
// CHECK-NEXT: op #1 BATCH_MATMUL v1 inputs [4, 4] outputs [5] BatchMatMulOptions {adjoint_lhs: false, adjoint_rhs: true, asymmetric_quantize_inputs: false}
// CHECK-NEXT: op #2 ADD v1 inputs [5, 1] outputs [6] AddOptions {fused_activation_function: RELU, pot_scale_int16: true}
// CHECK-NEXT: op #3 SOFTMAX v1 inputs [6] outputs [7] SoftmaxOptions {beta: 0.5}
// CHECK-NEXT: op #4 RESHAPE v1 inputs [7, 8] outputs [9] ReshapeOptions {new_shape: [1, 16]}
// CHECK-NEXT: signature "prefill" subgraph 0
// CHECK-NEXT: input "x" tensor 0
// CHECK-NEXT: input "mask" tensor 1
// CHECK-NEXT: output "probs" tensor 9
// CHECK-NEXT: output "output_1" tensor 4
// CHECK-NEXT: metadata: 4
// CHECK-NEXT: metadata "kiln.version" buffer 4 "{{[0-9.]+}}"
// CHECK-NEXT: metadata "kiln.pipeline" buffer 5 "test"
// CHECK-NEXT: metadata "kiln.variant" buffer 6 "prefill"
// CHECK-NEXT: metadata "kiln.recipe" buffer 7 "float"

module attributes {kiln.pipeline = "test", kiln.variant = "prefill", kiln.recipe = "float"} {
  func.func @prefill(%x: tensor<1x4x8xf32> {kiln.name = "x"} loc("hidden_states"),
                     %m: tensor<1x4x4xf32> loc("mask"))
      -> (tensor<1x16xf32> {kiln.name = "probs"}, tensor<1x4x6xf32>) {
    %w = circle.const dense<0.5> : tensor<6x8xf32> loc("model.proj.weight")
    %b = circle.const dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]> : tensor<6xf32>
    %y = circle.fully_connected %x, %w, %b {keep_num_dims = true} : (tensor<1x4x8xf32>, tensor<6x8xf32>, tensor<6xf32>) -> tensor<1x4x6xf32> loc(fused["model.proj", "model.py":12:3])
    %s = circle.batch_matmul %y, %y {adj_y = true} : (tensor<1x4x6xf32>, tensor<1x4x6xf32>) -> tensor<1x4x4xf32> loc("scores")
    %a = circle.add %s, %m {fused_activation_function = "RELU"} : (tensor<1x4x4xf32>, tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
    %p = circle.softmax %a {beta = 0.5 : f32} : (tensor<1x4x4xf32>) -> tensor<1x4x4xf32> loc("probs")
    %shape = circle.const dense<[1, 16]> : tensor<2xi32>
    %r = circle.reshape %p, %shape : (tensor<1x4x4xf32>, tensor<2xi32>) -> tensor<1x16xf32> loc("probs")
    return %r, %y : tensor<1x16xf32>, tensor<1x4x6xf32>
  }
}
