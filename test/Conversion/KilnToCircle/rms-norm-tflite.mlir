// RUN: kiln-opt %s --split-input-file --kiln-legalize-to-circle=flavor=tflite --verify-diagnostics | FileCheck %s

// An RMSNorm that quantizes only its input and output (TICO's rms_norm)
// computes in float for TFLite, which has no RMS_NORM kernel: one warning
// says so and what to do.
// CHECK-LABEL: func.func @float_rms_norm
// CHECK: circle.rsqrt %{{.*}} : (tensor<1x2x1xf32>) -> tensor<1x2x1xf32>
func.func @float_rms_norm(%arg0: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %two = kiln.constant dense<2.0> : tensor<f32>
  %eps = kiln.constant dense<1.0e-5> : tensor<f32>
  %xq = kiln.quantize %arg0 : (tensor<1x2x4xf32>) -> tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>
  %xd = kiln.dequantize %xq : (tensor<1x2x4x!quant.uniform<i16:f32, 0.002>>) -> tensor<1x2x4xf32>
  %p = kiln.pow %xd, %two : (tensor<1x2x4xf32>, tensor<f32>) -> tensor<1x2x4xf32>
  %m = kiln.mean %p [-1] {keep_dims = true} : (tensor<1x2x4xf32>) -> tensor<1x2x1xf32>
  %a = kiln.add %m, %eps : (tensor<1x2x1xf32>, tensor<f32>) -> tensor<1x2x1xf32>
  %r = kiln.rsqrt %a : (tensor<1x2x1xf32>) -> tensor<1x2x1xf32>
  // expected-warning @+1 {{1 RMSNorm computes in float for TFLite: it has no RMS_NORM kernel and the model does not quantize the intermediates (x^2, its mean, rsqrt); export with --format circle (RMS_NORM) or fake-quantize them (kiln_torch does)}}
  %n = kiln.mul %xd, %r : (tensor<1x2x4xf32>, tensor<1x2x1xf32>) -> tensor<1x2x4xf32>
  %yq = kiln.quantize %n : (tensor<1x2x4xf32>) -> tensor<1x2x4x!quant.uniform<i16:f32, 0.001>>
  %out = kiln.dequantize %yq : (tensor<1x2x4x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x2x4xf32>
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
