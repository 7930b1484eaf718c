// Quantized tensors: per-tensor and per-axis parameters, integer storage,
// 4-bit packing, and the versions TFLite gives quantized kernels.
// RUN: kiln-translate --mlir-to-circle %s -o %t.circle
// RUN: kiln-translate --circle-dump %t.circle | FileCheck %s
// Decode the buffers with flatc and Kiln's schema (independently of Kiln's
// reader) to check the bytes.
// RUN: rm -rf %t.d && mkdir %t.d && cp %t.circle %t.d/model.circle
// RUN: flatc --json --strict-json -o %t.d %kiln_circle_schema -- %t.d/model.circle
// RUN: %python -c "import json, sys; m = json.load(open(sys.argv[1])); [print('buffer', i, b.get('data', [])) for i, b in enumerate(m['buffers'])]; [print('tensor', t['name'], t.get('type', 'FLOAT32')) for t in m['subgraphs'][0]['tensors']]" %t.d/model.json | FileCheck %s --check-prefix=JSON

// One operator code per (operator, version).
// CHECK: operator_codes: 6
// int8 output, not per-channel, not int16: QUANTIZE v1.
// CHECK-NEXT: opcode #0 QUANTIZE (114) version 1
// int8 x int8 -> int8 with a bias: FULLY_CONNECTED v4.
// CHECK-NEXT: opcode #1 FULLY_CONNECTED (9) version 4
// int8 per-tensor input: DEQUANTIZE v2.
// CHECK-NEXT: opcode #2 DEQUANTIZE (6) version 2
// int4 input: DEQUANTIZE v6.
// CHECK-NEXT: opcode #3 DEQUANTIZE (6) version 6
// uint8 and uint4 inputs: version 1.
// CHECK-NEXT: opcode #4 DEQUANTIZE (6) version 1
// int8 per-channel (3 scales along a dimension of size 3): version 5.
// CHECK-NEXT: opcode #5 DEQUANTIZE (6) version 5

// CHECK: tensor #1 "q" INT8 [2, 4] quant scale [0.050000001] zero_point [-3] dimension 0
// CHECK-NEXT: tensor #2 "w" INT8 [3, 4] buffer 1 quant scale [0.5, 0.25, 0.125] zero_point [0, 0, 0] dimension 0
// CHECK-NEXT: tensor #3 "bias" INT32 [3] buffer 2 quant scale [0.025, 0.0125, 0.0062500001] zero_point [0, 0, 0] dimension 0
// CHECK-NEXT: tensor #4 "fc" INT8 [2, 3] quant scale [0.1] zero_point [2] dimension 0
// CHECK-NEXT: tensor #5 "out" FLOAT32 [2, 3]{{$}}
// CHECK-NEXT: tensor #6 "w4" INT4 [5] buffer 3 quant scale [0.5] zero_point [0] dimension 0
// CHECK-NEXT: tensor #7 "w4.dq" FLOAT32 [5]{{$}}
// CHECK-NEXT: tensor #8 "e" UINT8 [4] buffer 4 quant scale [0.02] zero_point [128] dimension 0
// CHECK-NEXT: tensor #9 "e.dq" FLOAT32 [4]{{$}}
// CHECK-NEXT: tensor #10 "u4" UINT4 [3] buffer 5 quant scale [0.1] zero_point [8] dimension 0
// CHECK-NEXT: tensor #11 "u4.dq" FLOAT32 [3]{{$}}
// Per-axis along dimension 1.
// CHECK-NEXT: tensor #12 "axis1" INT8 [2, 3] buffer 6 quant scale [0.1, 0.2, 0.30000001] zero_point [1, -1, 0] dimension 1
// CHECK-NEXT: tensor #13 "axis1.dq" FLOAT32 [2, 3]{{$}}
// CHECK: op #1 FULLY_CONNECTED v4 inputs [1, 2, 3] outputs [4]
// CHECK: op #3 DEQUANTIZE v6 inputs [6] outputs [7]
// CHECK: op #5 DEQUANTIZE v1 inputs [10] outputs [11]
// CHECK: op #6 DEQUANTIZE v5 inputs [12] outputs [13]

// Row-major int8 weights as they are.
// JSON: buffer 1 [1, 254, 3, 4, 5, 6, 249, 8, 0, 1, 2, 3]
// int32 little-endian: 10, -20, 30.
// JSON-NEXT: buffer 2 [10, 0, 0, 0, 236, 255, 255, 255, 30, 0, 0, 0]
// int4 [1, -2, 3, 7, -8] two per byte, low nibble first: 0xE1, 0x73, 0x08.
// JSON-NEXT: buffer 3 [225, 115, 8]
// JSON-NEXT: buffer 4 [0, 255, 128, 7]
// uint4 [1, 15, 0]: 0xF1, 0x00.
// JSON-NEXT: buffer 5 [241, 0]
// JSON-NEXT: buffer 6 [10, 20, 30, 246, 236, 226]
// JSON: tensor w4 INT4
// JSON: tensor u4 UINT4

func.func @q(%x: tensor<2x4xf32>) -> (tensor<2x3xf32>, tensor<5xf32>, tensor<4xf32>, tensor<3xf32>, tensor<2x3xf32>) {
  %q = circle.quantize %x : (tensor<2x4xf32>) -> tensor<2x4x!quant.uniform<i8:f32, 0.05:-3>> loc("q")
  %w = circle.const dense<[[1, -2, 3, 4], [5, 6, -7, 8], [0, 1, 2, 3]]> : tensor<3x4xi8> as tensor<3x4x!quant.uniform<i8:f32:0, {0.5, 0.25, 0.125}>> loc("w")
  %b = circle.const dense<[10, -20, 30]> : tensor<3xi32> as tensor<3x!quant.uniform<i32:f32:0, {0.025, 0.0125, 0.00625}>> loc("bias")
  %fc = circle.fully_connected %q, %w, %b : (tensor<2x4x!quant.uniform<i8:f32, 0.05:-3>>, tensor<3x4x!quant.uniform<i8:f32:0, {0.5, 0.25, 0.125}>>, tensor<3x!quant.uniform<i32:f32:0, {0.025, 0.0125, 0.00625}>>) -> tensor<2x3x!quant.uniform<i8:f32, 0.1:2>> loc("fc")
  %out = circle.dequantize %fc : (tensor<2x3x!quant.uniform<i8:f32, 0.1:2>>) -> tensor<2x3xf32> loc("out")
  %w4 = circle.const dense<[1, -2, 3, 7, -8]> : tensor<5xi4> as tensor<5x!quant.uniform<i4:f32, 0.5>> loc("w4")
  %w4f = circle.dequantize %w4 : (tensor<5x!quant.uniform<i4:f32, 0.5>>) -> tensor<5xf32> loc("w4.dq")
  %e = circle.const dense<[0, 255, 128, 7]> : tensor<4xui8> as tensor<4x!quant.uniform<u8:f32, 0.02:128>> loc("e")
  %ef = circle.dequantize %e : (tensor<4x!quant.uniform<u8:f32, 0.02:128>>) -> tensor<4xf32> loc("e.dq")
  %u4 = circle.const dense<[1, 15, 0]> : tensor<3xui4> as tensor<3x!quant.uniform<u4:f32, 0.1:8>> loc("u4")
  %u4f = circle.dequantize %u4 : (tensor<3x!quant.uniform<u4:f32, 0.1:8>>) -> tensor<3xf32> loc("u4.dq")
  %a1 = circle.const dense<[[10, 20, 30], [-10, -20, -30]]> : tensor<2x3xi8> as tensor<2x3x!quant.uniform<i8:f32:1, {0.1:1, 0.2:-1, 0.3}>> loc("axis1")
  %a1f = circle.dequantize %a1 : (tensor<2x3x!quant.uniform<i8:f32:1, {0.1:1, 0.2:-1, 0.3}>>) -> tensor<2x3xf32> loc("axis1.dq")
  return %out, %w4f, %ef, %u4f, %a1f : tensor<2x3xf32>, tensor<5xf32>, tensor<4xf32>, tensor<3xf32>, tensor<2x3xf32>
}
