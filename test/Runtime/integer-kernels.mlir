// kiln-run's integer kernels on hand-worked cases (test/e2e/litert-bit-exact
// compares them with LiteRT on whole models). Here: FULLY_CONNECTED with
// unsigned 8-bit per-channel weights and zero points (the circle flavor's
// lm_head), whose integers w - zp must come out signed.
// x = [0.01, 0.02] (q 10, 20); w - zp = [[72, -126], [-125, 122]];
// acc = [-1800, 1190]; M = [0.5, 0.25]: -900 and 297.5 -> 298 (one
// rounding, ties up), i.e. y = [-0.900, 0.298].
// RUN: rm -rf %t && kiln-run %s --output-dir %t > /dev/null
// RUN: %python -c "import numpy; print(' '.join('%%.3f' %% v for v in numpy.fromfile('%t/fc.y.bin', dtype=numpy.float32)))" | FileCheck %s
// CHECK: -0.900 0.298
module {
  func.func @fc() -> (tensor<1x2xf32> {kiln.name = "y"}) {
    %x = circle.const dense<[[0.01, 0.02]]> : tensor<1x2xf32>
    %w = circle.const dense<[[200, 2], [3, 250]]> : tensor<2x2xui8> as tensor<2x2x!quant.uniform<u8:f32:0, {0.5:128, 0.25:128}>>
    %q = circle.quantize %x : (tensor<1x2xf32>) -> tensor<1x2x!quant.uniform<i16:f32, 0.001>>
    %y = circle.fully_connected %q, %w : (tensor<1x2x!quant.uniform<i16:f32, 0.001>>, tensor<2x2x!quant.uniform<u8:f32:0, {0.5:128, 0.25:128}>>) -> tensor<1x2x!quant.uniform<i16:f32, 0.001>>
    %r = circle.dequantize %y : (tensor<1x2x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x2xf32>
    return %r : tensor<1x2xf32>
  }
}
