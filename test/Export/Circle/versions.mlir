// Operator versions follow TFLite's versioning rules for the operator's
// tensor types and options (tools/versioning/op_version.cc upstream).
// RUN: kiln-translate --mlir-to-circle --circle-flavor=tflite %s -o %t.tflite
// RUN: kiln-translate --circle-dump %t.tflite | FileCheck %s

!a16 = !quant.uniform<i16:f32, 0.001>
!a8 = !quant.uniform<i8:f32, 0.5:3>
!o8 = !quant.uniform<i8:f32, 0.1>
!w8c = !quant.uniform<i8:f32:0, {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}>
!w8t = !quant.uniform<i8:f32, 0.25>
!w4 = !quant.uniform<i4:f32, 0.25>

// CHECK-LABEL: subgraph #0 "versions"
func.func @versions(%x: tensor<1x4x8xf32>, %x16: tensor<1x4x8x!a16>, %y16: tensor<1x4x8x!a16>,
                    %x8: tensor<4x8x!a8>, %ids: tensor<2xi32>, %c: tensor<1x4x8xi1>,
                    %h: tensor<4xf16>, %r5: tensor<1x1x1x2x3xf32>, %s5: tensor<1x1x1x1x3xf32>,
                    %m8: tensor<4x!a8>, %p16: tensor<1x2x4x8x!a16>) {
  %wc = circle.const dense<1> : tensor<6x8xi8> as tensor<6x8x!w8c>
  %wt = circle.const dense<2> : tensor<6x8xi8> as tensor<6x8x!w8t>
  %w4 = circle.const dense<3> : tensor<6x8xi4> as tensor<6x8x!w4>
  // An int64 bias: MLIR 19 has no 64-bit quant storage, the scales are an
  // attribute.
  %b = circle.const {kiln.quant_scales = array<f64: 1.0e-4, 2.0e-4, 3.0e-4, 4.0e-4, 5.0e-4, 6.0e-4>} dense<0> : tensor<6xi64>

  // int16 activations x int8 weights with keep_num_dims: 5.
  // CHECK: FULLY_CONNECTED v5 inputs [1, 11, 14] outputs
  %fc1 = circle.fully_connected %x16, %wc, %b {keep_num_dims = true} : (tensor<1x4x8x!a16>, tensor<6x8x!w8c>, tensor<6xi64>) -> tensor<1x4x6x!a16>
  // The same without keep_num_dims and without bias (written as -1): 1.
  // CHECK-NEXT: FULLY_CONNECTED v1 inputs [1, 11, -1] outputs
  %fc2 = circle.fully_connected %x16, %wc : (tensor<1x4x8x!a16>, tensor<6x8x!w8c>) -> tensor<1x4x6x!a16>
  // Hybrid (float input, int8 weights, float output), per-channel: 12.
  // CHECK-NEXT: FULLY_CONNECTED v12
  %fc3 = circle.fully_connected %x, %wc : (tensor<1x4x8xf32>, tensor<6x8x!w8c>) -> tensor<1x4x6xf32>
  // Hybrid per-tensor: 3; with asymmetric_quantize_inputs: 9.
  // CHECK-NEXT: FULLY_CONNECTED v3
  %fc4 = circle.fully_connected %x, %wt : (tensor<1x4x8xf32>, tensor<6x8x!w8t>) -> tensor<1x4x6xf32>
  // CHECK-NEXT: FULLY_CONNECTED v9
  %fc5 = circle.fully_connected %x, %wt {asymmetric_quantize_inputs = true} : (tensor<1x4x8xf32>, tensor<6x8x!w8t>) -> tensor<1x4x6xf32>
  // int8 activations x int4 weights: 10.
  // CHECK-NEXT: FULLY_CONNECTED v10
  %fc6 = circle.fully_connected %x8, %w4, %b : (tensor<4x8x!a8>, tensor<6x8x!w4>, tensor<6xi64>) -> tensor<4x6x!o8>
  // int8 throughout: 4.
  // CHECK-NEXT: FULLY_CONNECTED v4
  %fc7 = circle.fully_connected %x8, %wt, %b : (tensor<4x8x!a8>, tensor<6x8x!w8t>, tensor<6xi64>) -> tensor<4x6x!o8>

  // int16 quantized ADD gets pot_scale_int16 = false: 3; SUB: 5.
  // CHECK-NEXT: ADD v3 {{.*}} AddOptions {fused_activation_function: NONE, pot_scale_int16: false}
  %add = circle.add %x16, %y16 : (tensor<1x4x8x!a16>, tensor<1x4x8x!a16>) -> tensor<1x4x8x!a16>
  // CHECK-NEXT: SUB v5 {{.*}} SubOptions {fused_activation_function: NONE, pot_scale_int16: false}
  %sub = circle.sub %x16, %y16 : (tensor<1x4x8x!a16>, tensor<1x4x8x!a16>) -> tensor<1x4x8x!a16>
  // Float ADD keeps the default (true): 1.
  // CHECK-NEXT: ADD v1 {{.*}} pot_scale_int16: true}
  %addf = circle.add %x, %x : (tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  // Quantized int16 MUL: 4. int8 with in1 * in2 / out >= 1: 3.
  // CHECK-NEXT: MUL v4
  %mul = circle.mul %x16, %y16 : (tensor<1x4x8x!a16>, tensor<1x4x8x!a16>) -> tensor<1x4x8x!a16>
  // CHECK-NEXT: MUL v3
  %mul8 = circle.mul %m8, %m8 : (tensor<4x!a8>, tensor<4x!a8>) -> tensor<4x!o8>
  // Broadcasting rank-5 DIV: 2.
  // CHECK-NEXT: DIV v2
  %div = circle.div %r5, %s5 : (tensor<1x1x1x2x3xf32>, tensor<1x1x1x1x3xf32>) -> tensor<1x1x1x2x3xf32>
  // int16: SOFTMAX 3, BATCH_MATMUL 3, CONCATENATION 3, TRANSPOSE 5, MEAN 3,
  // RSQRT 3, LOGISTIC 3, SLICE 4, GATHER (int16 params) 4.
  // CHECK-NEXT: SOFTMAX v3
  %sm = circle.softmax %x16 : (tensor<1x4x8x!a16>) -> tensor<1x4x8x!a16>
  // CHECK-NEXT: BATCH_MATMUL v3
  %bmm = circle.batch_matmul %x16, %y16 {adj_y = true} : (tensor<1x4x8x!a16>, tensor<1x4x8x!a16>) -> tensor<1x4x4x!a16>
  // CHECK-NEXT: CONCATENATION v3 {{.*}} ConcatenationOptions {axis: 2, fused_activation_function: NONE}
  %cat = circle.concatenation %x16, %y16 {axis = 2 : i32} : (tensor<1x4x8x!a16>, tensor<1x4x8x!a16>) -> tensor<1x4x16x!a16>
  %perm = circle.const dense<[0, 2, 1, 3]> : tensor<4xi32>
  // CHECK-NEXT: TRANSPOSE v5
  %tr = circle.transpose %p16, %perm : (tensor<1x2x4x8x!a16>, tensor<4xi32>) -> tensor<1x4x2x8x!a16>
  %axis = circle.const dense<[-1]> : tensor<1xi32>
  // CHECK-NEXT: MEAN v3 {{.*}} ReducerOptions {keep_dims: true}
  %mean = circle.mean %x16, %axis {keep_dims = true} : (tensor<1x4x8x!a16>, tensor<1xi32>) -> tensor<1x4x1x!a16>
  // CHECK-NEXT: RSQRT v3 inputs [{{[0-9]+}}] outputs [{{[0-9]+}}]{{$}}
  %rs = circle.rsqrt %x16 : (tensor<1x4x8x!a16>) -> tensor<1x4x8x!a16>
  // CHECK-NEXT: LOGISTIC v3 inputs [{{[0-9]+}}] outputs [{{[0-9]+}}]{{$}}
  %lg = circle.logistic %x16 : (tensor<1x4x8x!a16>) -> tensor<1x4x8x!a16>
  %b0 = circle.const dense<[0, 0, 0]> : tensor<3xi32>
  %sz = circle.const dense<[1, 4, 4]> : tensor<3xi32>
  %s1 = circle.const dense<[1, 1, 1]> : tensor<3xi32>
  // CHECK-NEXT: SLICE v4
  %sl = circle.slice %x16, %b0, %sz : (tensor<1x4x8x!a16>, tensor<3xi32>, tensor<3xi32>) -> tensor<1x4x4x!a16>
  // STRIDED_SLICE: int16 has no rule (1); int8: 2; offset = true: 8.
  // CHECK-NEXT: STRIDED_SLICE v1 {{.*}} StridedSliceOptions {begin_mask: 0, end_mask: 5, ellipsis_mask: 0, new_axis_mask: 0, shrink_axis_mask: 0, offset: false}
  %ss = circle.strided_slice %x16, %b0, %sz, %s1 {end_mask = 5 : i32} : (tensor<1x4x8x!a16>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>) -> tensor<1x4x4x!a16>
  %b2 = circle.const dense<[0, 0]> : tensor<2xi32>
  %e2 = circle.const dense<[4, 4]> : tensor<2xi32>
  %s2 = circle.const dense<[1, 1]> : tensor<2xi32>
  // CHECK-NEXT: STRIDED_SLICE v2
  %ss8 = circle.strided_slice %x8, %b2, %e2, %s2 : (tensor<4x8x!a8>, tensor<2xi32>, tensor<2xi32>, tensor<2xi32>) -> tensor<4x4x!a8>
  // CHECK-NEXT: STRIDED_SLICE v8 {{.*}} offset: true}
  %sso = circle.strided_slice %x, %b0, %sz, %s1 {offset = true} : (tensor<1x4x8xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>) -> tensor<1x4x4xf32>
  %table = circle.const dense<7> : tensor<10x8xi16> as tensor<10x8x!a16>
  // CHECK-NEXT: GATHER v4 {{.*}} GatherOptions {axis: 0, batch_dims: 0}
  %g = circle.gather %table, %ids : (tensor<10x8x!a16>, tensor<2xi32>) -> tensor<2x8x!a16>
  %shape3 = circle.const dense<[1, 4, 8]> : tensor<3xi32>
  // BROADCAST_TO: float 2, int16 3.
  // CHECK-NEXT: BROADCAST_TO v2
  %bc = circle.broadcast_to %x, %shape3 : (tensor<1x4x8xf32>, tensor<3xi32>) -> tensor<1x4x8xf32>
  // CHECK-NEXT: BROADCAST_TO v3
  %bc16 = circle.broadcast_to %x16, %shape3 : (tensor<1x4x8x!a16>, tensor<3xi32>) -> tensor<1x4x8x!a16>
  // CHECK-NEXT: SELECT_V2 v1
  %sel = circle.select_v2 %c, %x, %x : (tensor<1x4x8xi1>, tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  // CAST from float16: 5; float32 to int32: 1.
  // CHECK-NEXT: CAST v5 {{.*}} CastOptions {in_data_type: FLOAT16, out_data_type: FLOAT32}
  %ch = circle.cast %h : (tensor<4xf16>) -> tensor<4xf32>
  // CHECK-NEXT: CAST v1 {{.*}} CastOptions {in_data_type: FLOAT32, out_data_type: INT32}
  %ci = circle.cast %x : (tensor<1x4x8xf32>) -> tensor<1x4x8xi32>
  // QUANTIZE to int16: 2. DEQUANTIZE of int16 or float16: 3.
  // CHECK-NEXT: QUANTIZE v2
  %q = circle.quantize %x : (tensor<1x4x8xf32>) -> tensor<1x4x8x!a16>
  // CHECK-NEXT: DEQUANTIZE v3
  %dq = circle.dequantize %x16 : (tensor<1x4x8x!a16>) -> tensor<1x4x8xf32>
  // Operators without rules: 1.
  // CHECK-NEXT: NEG v1
  %ng = circle.neg %x : (tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  // CHECK-NEXT: POW v1
  %pw = circle.pow %x, %x : (tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %shape2 = circle.const dense<[4, 8]> : tensor<2xi32>
  // CHECK-NEXT: RESHAPE v1 {{.*}} ReshapeOptions {new_shape: [4, 8]}
  %rsh = circle.reshape %x16, %shape2 : (tensor<1x4x8x!a16>, tensor<2xi32>) -> tensor<4x8x!a16>
  return
}
