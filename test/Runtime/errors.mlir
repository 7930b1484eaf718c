// kiln-run errors: a message naming the op (with its location) or the input,
// a non-zero exit, no crash.
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python -c "import numpy as np; np.arange(4, dtype='<f4').tofile('%t/f4.bin'); np.arange(3, dtype='<f4').tofile('%t/f3.bin'); np.arange(4, dtype='<i8').tofile('%t/i4.bin')"

// RUN: not kiln-run %s --function ok --input x=%t/missing.bin 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: error: input 'x' (argument 'x' of @ok): cannot read '{{.*}}missing.bin'
// MISSING-NOT: Stack dump

// RUN: not kiln-run %s --function ok --input x=%t/f3.bin 2>&1 | FileCheck %s --check-prefix=SIZE
// SIZE: error: input 'x' (argument 'x' of @ok): '{{.*}}f3.bin' has 12 bytes, but a float32 tensor of shape [2, 2] needs 16

// RUN: not kiln-run %s --function ok --input x=%t/i4.bin:2x2xi64 2>&1 | FileCheck %s --check-prefix=DTYPE
// DTYPE: error: argument 'x' of @ok: dtype mismatch: got Long, the argument is tensor<2x2xf32>

// RUN: not kiln-run %s --function ok --input x=%t/f4.bin:4xf32 2>&1 | FileCheck %s --check-prefix=SHAPE
// SHAPE: error: argument 'x' of @ok: shape [4] does not match tensor<2x2xf32>

// RUN: not kiln-run %s --function ok --input y=%t/f4.bin 2>&1 | FileCheck %s --check-prefix=NAME
// NAME: input 'y' matches no argument of @ok (arguments: x;

// RUN: not kiln-run %s --function ok --input 0=%t/f4.bin --input 1=%t/f4.bin 2>&1 | FileCheck %s --check-prefix=EXTRA
// EXTRA: 1 input(s) left over, starting with input '1': @ok takes 1 tensors

// RUN: not kiln-run %s --function ok 2>&1 | FileCheck %s --check-prefix=NOINPUT
// NOINPUT: no input for argument 'x' (tensor<2x2xf32>) of @ok

// RUN: not kiln-run %s --function flag --input x=%t/f4.bin 2>&1 | FileCheck %s --check-prefix=SCALAR
// SCALAR: argument 'use_cache' (i1) of @flag needs a value: --arg use_cache=VALUE

// RUN: not kiln-run %s --function nokernel --input 0=%t/f4.bin 2>&1 | FileCheck %s --check-prefix=NOKERNEL

// RUN: not kiln-run %s --function aten_error --input 0=%t/f4.bin:4xf32 2>&1 | FileCheck %s --check-prefix=ATEN

// RUN: not kiln-run %s --function nested --input 0=%t/f4.bin:4xf32 2>&1 | FileCheck %s --check-prefix=NESTED

// RUN: not kiln-run %s --function missing 2>&1 | FileCheck %s --check-prefix=NOFUNC
// NOFUNC: error: no function named 'missing'

func.func @nokernel(%x: tensor<*xf32>) -> tensor<2xf32> {
  // NOKERNEL: errors.mlir:[[@LINE+1]]:8: error: kiln-run has no kernel for 'tensor.empty'
  %0 = tensor.empty() : tensor<2xf32>
  return %0 : tensor<2xf32>
}

func.func @aten_error(%x: tensor<*xf32>) -> tensor<*xf32> {
  %c3 = arith.constant 3 : i64
  // ATEN: errors.mlir:[[@LINE+1]]:8: error: 'kiln.reshape' failed: shape '[3]' is invalid for input of size 4
  %0 = kiln.reshape %x(%c3) : (tensor<*xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

func.func @nested(%x: tensor<*xf32>) -> tensor<*xf32> {
  %true = arith.constant true
  %0 = scf.if %true -> tensor<*xf32> {
    // NESTED: errors.mlir:[[@LINE+1]]:10: error: 'kiln.transpose' failed: Dimension out of range
    %m = kiln.transpose %x 0, 1 : (tensor<*xf32>) -> tensor<*xf32>
    scf.yield %m : tensor<*xf32>
  } else {
    scf.yield %x : tensor<*xf32>
  }
  return %0 : tensor<*xf32>
}

func.func @ok(%x: tensor<2x2xf32> loc("x")) -> tensor<2x2xf32> {
  return %x : tensor<2x2xf32>
}

func.func @flag(%x: tensor<2x2xf32> loc("x"), %use_cache: i1 loc("use_cache")) -> tensor<2x2xf32> {
  return %x : tensor<2x2xf32>
}
