// RUN: kiln-opt %s --split-input-file --kiln-legalize-to-circle=flavor=tflite --verify-diagnostics | FileCheck %s
// RUN: kiln-opt %s --split-input-file --kiln-legalize-to-circle="flavor=tflite integer-rms-norm=false" 2>/dev/null | FileCheck %s --check-prefix=OFF
// RUN: kiln-opt %s --split-input-file --kiln-legalize-to-circle="flavor=tflite integer-rms-norm=false" 2>&1 >/dev/null | FileCheck %s --check-prefix=OFFWARN
// RUN: not kiln-opt %s --split-input-file --kiln-legalize-to-circle="flavor=tflite rms-norm-tier-ratio=1" 2>&1 | FileCheck %s --check-prefix=RATIO

// An RMSNorm that quantizes only its int16 input and output (TICO's
// rms_norm) runs on TFLite's integer kernels: per tier, the sum of squares
// by BATCH_MATMUL on its own grid, RSQRT, MUL x; SELECT_V2 keeps the finest
// tier whose sum is below 32767; the weight times sqrt(N) multiplies last.
// Tiers: M_0 = (32768 * 0.002)^2 = 4.29 down by 4 until M <= 4 eps: 10
// here; eps is added where it is half a step of the grid or more, and the
// deepest tiers read x on 2x, 4x finer grids so their scaled sums cannot
// overflow TFLite's int32 requantization.
// CHECK-LABEL: func.func @float_rms_norm
// CHECK: %[[X:.*]] = circle.quantize %arg0
// CHECK: %[[G:.*]] = circle.const dense<32767> : tensor<i16> as tensor<!quant.uniform<i16:f32, 6.103701{{[0-9]*}}E-5>>
// CHECK: %[[LHS:.*]] = circle.reshape %[[X]], %{{.*}} -> tensor<2x1x4x!quant.uniform<i16:f32, 2.000000e-03>>
// CHECK: %[[RHS:.*]] = circle.reshape %[[X]], %{{.*}} -> tensor<2x4x1x!quant.uniform<i16:f32, 2.000000e-03>>
// CHECK: %[[S0:.*]] = circle.batch_matmul %[[LHS]], %[[RHS]] : {{.*}} -> tensor<2x1x1x!quant.uniform<i16:f32, 0.524304{{[0-9]*}}>>
// CHECK: %[[R0:.*]] = circle.rsqrt %[[S0]]
// CHECK: %[[U0:.*]] = circle.mul %[[LHS]], %[[R0]] {{.*}} -> tensor<2x1x4x!quant.uniform<i16:f32, 3.0518509475997192E-5>>
// CHECK: %[[S1:.*]] = circle.batch_matmul %[[LHS]], %[[RHS]] : {{.*}} -> tensor<2x1x1x!quant.uniform<i16:f32, 0.131076{{[0-9]*}}>>
// CHECK: %[[R1:.*]] = circle.rsqrt %[[S1]]
// CHECK: %[[U1:.*]] = circle.mul %[[LHS]], %[[R1]]
// CHECK: %[[FULL:.*]] = circle.const dense<32767> : tensor<i16> as tensor<!quant.uniform<i16:f32, 0.131076{{[0-9]*}}>>
// CHECK: %[[ROOM:.*]] = circle.sub %[[FULL]], %[[S1]]
// CHECK: %[[FITS:.*]] = circle.cast %[[ROOM]] {{.*}} -> tensor<2x1x1xi1>
// CHECK: %[[U:.*]] = circle.select_v2 %[[FITS]], %[[U1]], %[[U0]]
// CHECK: %[[FINE:.*]] = circle.quantize %[[LHS]] {{.*}} -> tensor<2x1x4x!quant.uniform<i16:f32, 1.000000e-03>>
// CHECK: circle.batch_matmul %[[FINE]]
// CHECK: %[[PLUS:.*]] = circle.add %{{.*}}, %{{.*}} : (tensor<2x1x1x!quant.uniform<i16:f32, 8.000244{{[0-9]*}}E-6>>, tensor<!quant.uniform<i16:f32, 1.22074{{[0-9]*}}E-9>>)
// CHECK: circle.rsqrt %[[PLUS]]
// CHECK: %[[Y:.*]] = circle.mul %{{.*}}, %[[G]] {{.*}} -> tensor<2x1x4x!quant.uniform<i16:f32, 1.000000e-03>>
// CHECK: circle.reshape %[[Y]], %{{.*}} -> tensor<1x2x4x!quant.uniform<i16:f32, 1.000000e-03>>
// CHECK-NOT: f32>) -> tensor<1x2x1xf32>
// CHECK: return
// With integer-rms-norm=false it computes in float, and one warning says so.
// OFFWARN-COUNT-3: warning: 1 RMSNorm computes in float for TFLite
// OFF-LABEL: func.func @float_rms_norm
// OFF: circle.rsqrt %{{.*}} : (tensor<1x2x1xf32>) -> tensor<1x2x1xf32>
// RATIO: error: rms-norm-tier-ratio must be above 1, got 1
func.func @float_rms_norm(%arg0: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %two = kiln.constant dense<2.0> : tensor<f32>
  %eps = kiln.constant dense<1.0e-5> : tensor<f32>
  %xq = kiln.quantize %arg0 : (tensor<1x2x4xf32>) -> tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>
  %xd = kiln.dequantize %xq : (tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>) -> tensor<1x2x4xf32>
  %p = kiln.pow %xd, %two : (tensor<1x2x4xf32>, tensor<f32>) -> tensor<1x2x4xf32>
  %m = kiln.mean %p [-1] {keep_dims = true} : (tensor<1x2x4xf32>) -> tensor<1x2x1xf32>
  %a = kiln.add %m, %eps : (tensor<1x2x1xf32>, tensor<f32>) -> tensor<1x2x1xf32>
  %r = kiln.rsqrt %a : (tensor<1x2x1xf32>) -> tensor<1x2x1xf32>
  %n = kiln.mul %xd, %r : (tensor<1x2x4xf32>, tensor<1x2x1xf32>) -> tensor<1x2x4xf32>
  %yq = kiln.quantize %n : (tensor<1x2x4xf32>) -> tensor<1x2x4x!quant.uniform<i16:f32, 0.001>>
  %out = kiln.dequantize %yq : (tensor<1x2x4x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x2x4xf32>
  return %out : tensor<1x2x4xf32>
}

// -----

// The weight of TICO's norm is int16 per tensor: its integers are kept, on a
// grid sqrt(N) = 2 times coarser.
// CHECK-LABEL: func.func @weighted
// CHECK: %[[G:.*]] = circle.const dense<[16384, 32767, -8192, 100]> : tensor<4xi16> as tensor<4x!quant.uniform<i16:f32, 2.000000e-04>>
// CHECK: circle.mul %{{.*}}, %[[G]]
func.func @weighted(%arg0: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %two = kiln.constant dense<2.0> : tensor<f32>
  %eps = kiln.constant dense<1.0e-5> : tensor<f32>
  %w = kiln.constant dense<[16384, 32767, -8192, 100]> : tensor<4xi16> as tensor<4x!quant.uniform<i16:f32, 1.0e-4>>
  %wd = kiln.dequantize %w : (tensor<4x!quant.uniform<i16:f32, 1.0e-4>>) -> tensor<4xf32>
  %xq = kiln.quantize %arg0 : (tensor<1x2x4xf32>) -> tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>
  %xd = kiln.dequantize %xq : (tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>) -> tensor<1x2x4xf32>
  %p = kiln.pow %xd, %two : (tensor<1x2x4xf32>, tensor<f32>) -> tensor<1x2x4xf32>
  %m = kiln.mean %p [-1] {keep_dims = true} : (tensor<1x2x4xf32>) -> tensor<1x2x1xf32>
  %a = kiln.add %m, %eps : (tensor<1x2x1xf32>, tensor<f32>) -> tensor<1x2x1xf32>
  %r = kiln.rsqrt %a : (tensor<1x2x1xf32>) -> tensor<1x2x1xf32>
  %n = kiln.mul %xd, %r : (tensor<1x2x4xf32>, tensor<1x2x1xf32>) -> tensor<1x2x4xf32>
  %wn = kiln.mul %wd, %n : (tensor<4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %yq = kiln.quantize %wn : (tensor<1x2x4xf32>) -> tensor<1x2x4x!quant.uniform<i16:f32, 0.001>>
  %out = kiln.dequantize %yq : (tensor<1x2x4x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x2x4xf32>
  return %out : tensor<1x2x4xf32>
}

// -----

// An int8 input is not what the lowering takes: float, with the warning.
// CHECK-LABEL: func.func @int8_rms_norm
// CHECK: circle.rsqrt %{{.*}} : (tensor<1x2x1xf32>) -> tensor<1x2x1xf32>
func.func @int8_rms_norm(%arg0: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %two = kiln.constant dense<2.0> : tensor<f32>
  %eps = kiln.constant dense<1.0e-5> : tensor<f32>
  %xq = kiln.quantize %arg0 : (tensor<1x2x4xf32>) -> tensor<1x2x4x!quant.uniform<i8:f32, 0.02>>
  %xd = kiln.dequantize %xq : (tensor<1x2x4x!quant.uniform<i8:f32, 0.02>>) -> tensor<1x2x4xf32>
  %p = kiln.pow %xd, %two : (tensor<1x2x4xf32>, tensor<f32>) -> tensor<1x2x4xf32>
  %m = kiln.mean %p [-1] {keep_dims = true} : (tensor<1x2x4xf32>) -> tensor<1x2x1xf32>
  %a = kiln.add %m, %eps : (tensor<1x2x1xf32>, tensor<f32>) -> tensor<1x2x1xf32>
  %r = kiln.rsqrt %a : (tensor<1x2x1xf32>) -> tensor<1x2x1xf32>
  // expected-warning @+1 {{1 RMSNorm computes in float for TFLite: it has no RMS_NORM kernel and the model does not quantize the intermediates (x^2, its mean, rsqrt) and its input or output is not int16 per tensor; export with --format circle (RMS_NORM) or fake-quantize them (kiln_torch does)}}
  %n = kiln.mul %xd, %r : (tensor<1x2x4xf32>, tensor<1x2x1xf32>) -> tensor<1x2x4xf32>
  %yq = kiln.quantize %n : (tensor<1x2x4xf32>) -> tensor<1x2x4x!quant.uniform<i8:f32, 0.01>>
  %out = kiln.dequantize %yq : (tensor<1x2x4x!quant.uniform<i8:f32, 0.01>>) -> tensor<1x2x4xf32>
  return %out : tensor<1x2x4xf32>
}

// -----

// A fully quantized chain (kiln_torch's RMSNorm quantizers) is integer: no
// warning.
// CHECK-LABEL: func.func @quantized_rms_norm
// CHECK: circle.rsqrt %{{.*}} : (tensor<1x2x1x!quant.uniform<i16:f32, 1.000000e-05>>) -> tensor<1x2x1x!quant.uniform<i16:f32, 1.000000e-02>>
func.func @quantized_rms_norm(%x: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %xq = kiln.quantize %x : (tensor<1x2x4xf32>) -> tensor<1x2x4x!quant.uniform<i16:f32, 0.001>>
  %two = kiln.constant dense<2.0> : tensor<f32>
  %sq = kiln.pow %xq, %two : (tensor<1x2x4x!quant.uniform<i16:f32, 0.001>>, tensor<f32>) -> tensor<1x2x4x!quant.uniform<i16:f32, 1.0e-5>>
  %m = kiln.mean %sq [-1] {keep_dims = true} : (tensor<1x2x4x!quant.uniform<i16:f32, 1.0e-5>>) -> tensor<1x2x1x!quant.uniform<i16:f32, 1.0e-5>>
  %eps = kiln.constant dense<10> : tensor<i16> as tensor<!quant.uniform<i16:f32, 1.0e-6>>
  %s = kiln.add %m, %eps : (tensor<1x2x1x!quant.uniform<i16:f32, 1.0e-5>>, tensor<!quant.uniform<i16:f32, 1.0e-6>>) -> tensor<1x2x1x!quant.uniform<i16:f32, 1.0e-5>>
  %r = kiln.rsqrt %s : (tensor<1x2x1x!quant.uniform<i16:f32, 1.0e-5>>) -> tensor<1x2x1x!quant.uniform<i16:f32, 0.01>>
  %n = kiln.mul %xq, %r : (tensor<1x2x4x!quant.uniform<i16:f32, 0.001>>, tensor<1x2x1x!quant.uniform<i16:f32, 0.01>>) -> tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>
  %o = kiln.dequantize %n : (tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>) -> tensor<1x2x4xf32>
  return %o : tensor<1x2x4xf32>
}
