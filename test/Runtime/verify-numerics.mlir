// kiln-opt --kiln-verify-numerics: run a pipeline, evaluate before and after
// on the same seeded random inputs, fail beyond the pipeline's tolerance.
//
// Shape inference, fake-quant folding and the lowering to circle keep a
// w8a16 linear + RMS-norm bit-exact:
// RUN: kiln-opt %s --mlir-print-op-on-diagnostic=false -o /dev/null \
// RUN:   --kiln-verify-numerics="pipeline=func.func(kiln-infer-shapes,kiln-fold-fake-quant,kiln-legalize-to-circle) functions=layer max-abs=0 report" 2>&1 | FileCheck %s --check-prefix=EXACT
// EXACT: remark: kiln-verify-numerics: @layer within tolerance after 'func.func(kiln-infer-shapes,kiln-fold-fake-quant,kiln-legalize-to-circle)'
// EXACT: output.0 [1, 4, 4] 0.000e+00 0.000e+00 0.000e+00 1.00000000
//
// With 8-bit activations, folding quantizes the added constant to int8
// (scale 0.5/127): 0.0051 becomes 0.0039 and the output moves by one
// quantization step (0.01). Bit-exactness fails...
// RUN: not kiln-opt %s --mlir-print-op-on-diagnostic=false -o /dev/null \
// RUN:   --kiln-verify-numerics="pipeline=func.func(kiln-infer-shapes,kiln-fold-fake-quant) functions=bias" 2>&1 | FileCheck %s --check-prefix=STEP
// STEP: error: kiln-verify-numerics: @bias differs before and after 'func.func(kiln-infer-shapes,kiln-fold-fake-quant)' (tolerance: max-abs 0;
// STEP: output.0 [2, 8] 1.000e-02 {{.*}} EXCEEDS TOLERANCE
// ... and one step of tolerance passes; the transformed module is printed.
// RUN: kiln-opt %s --kiln-verify-numerics="pipeline=func.func(kiln-infer-shapes,kiln-fold-fake-quant) functions=bias max-abs=0.0101" | FileCheck %s --check-prefix=OUT
// OUT: kiln.constant dense<[1, 4, 2, 127, 64, -85, 0, 51]> : tensor<8xi8> as tensor<8x!quant.uniform<i8:f32, 0.003937007874015748>>
// A PEIR bound is checked too.
// RUN: not kiln-opt %s --mlir-print-op-on-diagnostic=false -o /dev/null \
// RUN:   --kiln-verify-numerics="pipeline=func.func(kiln-infer-shapes,kiln-fold-fake-quant) functions=bias max-abs=1 max-peir=0.001" 2>&1 | FileCheck %s --check-prefix=PEIR
// PEIR: (tolerance: max-abs 1, max-peir 0.001;
//
// Errors: a pipeline that does not parse, an unknown function, a function
// whose arguments cannot be made random.
// RUN: not kiln-opt %s -o /dev/null --kiln-verify-numerics="pipeline=func.func(no-such-pass)" 2>&1 | FileCheck %s --check-prefix=BADPIPE
// BADPIPE: error: kiln-verify-numerics: cannot parse pipeline 'func.func(no-such-pass)'
// RUN: not kiln-opt %s -o /dev/null --kiln-verify-numerics="pipeline=canonicalize functions=nope" 2>&1 | FileCheck %s --check-prefix=NOFUNC
// NOFUNC: error: kiln-verify-numerics: no function named 'nope'
// RUN: not kiln-opt %s --mlir-print-op-on-diagnostic=false -o /dev/null --kiln-verify-numerics="pipeline=canonicalize functions=unranked" 2>&1 | FileCheck %s --check-prefix=UNRANKED
// UNRANKED: error: kiln-verify-numerics: @unranked differs
// UNRANKED: argument 'arg0' of @unranked has type tensor<*xf32>: random inputs need a static shape

func.func @layer(%x: tensor<1x4x8xf32>) -> tensor<*xf32> {
  %w = kiln.constant dense_resource<w0> : tensor<4x8xf32>
  %xq = kiln.fake_quant %x scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x4x8xf32>) -> tensor<*xf32>
  %wq = kiln.fake_quant_per_axis %w axis(0) scales[0.01, 0.02, 0.005, 0.03] zero_points[0, 0, 0, 0] range [-128, 127] : (tensor<4x8xf32>) -> tensor<*xf32>
  %y = kiln.linear %xq, %wq : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  %yq = kiln.fake_quant %y scale(0.002) zero_point(0) range [-32768, 32767] : (tensor<*xf32>) -> tensor<*xf32>
  %c2 = arith.constant 2.0 : f64
  %p = kiln.from_scalar %c2 : f64 -> tensor<f32>
  %sq = kiln.pow %yq, %p : (tensor<*xf32>, tensor<f32>) -> tensor<*xf32>
  %m = kiln.mean %sq [-1] {keep_dims = true} : (tensor<*xf32>) -> tensor<*xf32>
  %eps = kiln.constant dense<1.0e-5> : tensor<f32>
  %me = kiln.add %m, %eps : (tensor<*xf32>, tensor<f32>) -> tensor<*xf32>
  %r = kiln.rsqrt %me : (tensor<*xf32>) -> tensor<*xf32>
  %n = kiln.mul %yq, %r : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  return %n : tensor<*xf32>
}

func.func @bias(%x: tensor<2x8xf32>) -> tensor<*xf32> {
  %xq = kiln.fake_quant %x scale(0.01) zero_point(0) range [-128, 127] : (tensor<2x8xf32>) -> tensor<*xf32>
  %c = kiln.constant dense<[0.0051, 0.0149, 0.0071, 0.5, 0.25, -0.3333, 0.001, 0.2]> : tensor<8xf32>
  %y = kiln.add %xq, %c : (tensor<*xf32>, tensor<8xf32>) -> tensor<*xf32>
  %yq = kiln.fake_quant %y scale(0.01) zero_point(0) range [-128, 127] : (tensor<*xf32>) -> tensor<*xf32>
  return %yq : tensor<*xf32>
}

func.func @unranked(%x: tensor<*xf32>) -> tensor<*xf32> {
  return %x : tensor<*xf32>
}

{-#
  dialect_resources: {
    builtin: {
      w0: "0x040000000000803F0000004000004040000080C00000803F0000004000004040000080C00000803F0000004000004040000080C00000803F0000004000004040000080C0000000BF0000003F000080BE0000803E000000BF0000003F000080BE0000803E000000BF0000003F000080BE0000803E000000BF0000003F000080BE0000803E"
    }
  }
#-}
