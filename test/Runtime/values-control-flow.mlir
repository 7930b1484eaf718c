// Non-tensor kiln values, constants, scf, arith, tensor.cast and func.call,
// against values computed in Python.
// RUN: %python %S/Inputs/opcheck.py %s %t | FileCheck %s
// CHECK-DAG: PASS @opt_present
// CHECK-DAG: PASS @opt_absent
// CHECK-DAG: PASS @flag
// CHECK-DAG: PASS @lists
// CHECK-DAG: PASS @arith
// CHECK-DAG: PASS @arith_float
// CHECK-DAG: PASS @loop
// CHECK-DAG: PASS @constants
// CHECK-DAG: PASS @cast_to_static
// CHECK-DAG: PASS @cast_wrong_shape (error: result has shape [2, 3] but its type says [3, 2])
// CHECK-DAG: PASS @list_out_of_range (error: list index 5 out of range for a list of 2)
// CHECK: 11 cases, 0 failures

// The imported `past_key_value is None` branch: an Optional tuple argument,
// scf.if on kiln.is_none, unchecked_cast and tuple_get, in a private
// function reached by func.call.
func.func private @attend(%x: tensor<*xf32>, %kv: !kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>>) -> (tensor<*xf32>, i1) {
  %none = kiln.is_none %kv : !kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>>
  %r = scf.if %none -> (tensor<*xf32>) {
    %two = kiln.add %x, %x : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
    scf.yield %two : tensor<*xf32>
  } else {
    %t = kiln.unchecked_cast %kv : !kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>> -> tuple<tensor<*xf32>, tensor<*xf32>>
    %k = kiln.tuple_get %t[0] : tuple<tensor<*xf32>, tensor<*xf32>> -> tensor<*xf32>
    %v = kiln.tuple_get %t[1] : tuple<tensor<*xf32>, tensor<*xf32>> -> tensor<*xf32>
    %cat = kiln.cat %k, %v dim = 0 : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
    %s = kiln.mul %x, %cat : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
    scf.yield %s : tensor<*xf32>
  }
  return %r, %none : tensor<*xf32>, i1
}

// PY@opt_present: x = randn(4, 3); k = randn(2, 3); v = randn(2, 3)
// PY@opt_present: inputs = [x, k, v]; expected = [x * torch.cat([k, v]), torch.tensor(False)]
func.func @opt_present(%x: tensor<*xf32>, %kv: !kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>>) -> (tensor<*xf32>, i1) {
  %r:2 = func.call @attend(%x, %kv) : (tensor<*xf32>, !kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>>) -> (tensor<*xf32>, i1)
  return %r#0, %r#1 : tensor<*xf32>, i1
}

// PY@opt_absent: x = randn(4, 3)
// PY@opt_absent: inputs = [x]; expected = [x + x, torch.tensor(True)]
func.func @opt_absent(%x: tensor<*xf32>, %kv: !kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>>) -> (tensor<*xf32>, i1) {
  %r:2 = func.call @attend(%x, %kv) : (tensor<*xf32>, !kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>>) -> (tensor<*xf32>, i1)
  return %r#0, %r#1 : tensor<*xf32>, i1
}

// A bool argument named by its location, bound with --arg use_cache=true;
// the result is a tuple with an Optional (None results are skipped).
// PY@flag: x = randn(3)
// PY@flag: inputs = [x]; args = {"use_cache": "true"}; expected = [x, -x]
func.func @flag(%x: tensor<3xf32>, %use_cache: i1 loc("use_cache")) -> tuple<tensor<3xf32>, !kiln.optional<tensor<3xf32>>, !kiln.optional<tensor<3xf32>>> {
  %none = kiln.none : !kiln.optional<tensor<3xf32>>
  %present = scf.if %use_cache -> (!kiln.optional<tensor<3xf32>>) {
    %n = kiln.neg %x : (tensor<3xf32>) -> tensor<3xf32>
    %s = kiln.some %n : tensor<3xf32> -> !kiln.optional<tensor<3xf32>>
    scf.yield %s : !kiln.optional<tensor<3xf32>>
  } else {
    scf.yield %none : !kiln.optional<tensor<3xf32>>
  }
  %t = kiln.tuple %x, %none, %present : tensor<3xf32>, !kiln.optional<tensor<3xf32>>, !kiln.optional<tensor<3xf32>> -> tuple<tensor<3xf32>, !kiln.optional<tensor<3xf32>>, !kiln.optional<tensor<3xf32>>>
  return %t : tuple<tensor<3xf32>, !kiln.optional<tensor<3xf32>>, !kiln.optional<tensor<3xf32>>>
}

// shape/size/rank/list/list_get/list_append/from_scalar.
// PY@lists: x = randn(2, 5, 7)
// PY@lists: inputs = [x]
// PY@lists: expected = [torch.tensor(7), torch.tensor(5), torch.tensor(3), torch.tensor(2), torch.tensor(7.0), torch.tensor(0.25), torch.tensor(4), torch.tensor(True)]
func.func @lists(%x: tensor<*xf32>) -> (i64, i64, i64, i64, tensor<f32>, tensor<f32>, i64, tensor<i1>) {
  %cm1 = arith.constant -1 : i64
  %c1 = arith.constant 1 : i64
  %c0 = arith.constant 0 : i64
  %shape = kiln.shape %x : tensor<*xf32> -> !kiln.list<i64>
  %last = kiln.list_get %shape[%cm1] : !kiln.list<i64> -> i64
  %d1 = kiln.size %x[%c1] : tensor<*xf32>
  %r = kiln.rank %x : tensor<*xf32>
  %l = kiln.list %d1, %last : i64, i64 -> !kiln.list<i64>
  %l2 = kiln.list_append %l, %r : !kiln.list<i64>, i64
  %n = kiln.list_get %l2[%c0] : !kiln.list<i64> -> i64
  %one = arith.constant 1 : i64
  %len = arith.subi %n, %one : i64
  %ft = kiln.from_scalar %last : i64 -> tensor<f32>
  %q = arith.constant 0.25 : f64
  %qt = kiln.from_scalar %q : f64 -> tensor<f32>
  %true = arith.constant true
  %bt = kiln.from_scalar %true : i1 -> tensor<i1>
  %d0 = kiln.size %x[%c0] : tensor<*xf32>
  return %last, %d1, %r, %d0, %ft, %qt, %len, %bt : i64, i64, i64, i64, tensor<f32>, tensor<f32>, i64, tensor<i1>
}

// Integer arith with Python-style floor division and C remainder.
// PY@arith: inputs = []
// PY@arith: expected = [torch.tensor(v) for v in [-7 // 2, int(-7 / 2), int(np.fmod(-7, 2)), 12, -21, True, False, True, 6, 1, -1]]
func.func @arith() -> (i64, i64, i64, i64, i64, i1, i1, i1, i64, i64, i64) {
  %a = arith.constant -7 : i64
  %b = arith.constant 2 : i64
  %c3 = arith.constant 3 : i64
  %c5 = arith.constant 5 : i64
  %fd = arith.floordivsi %a, %b : i64
  %td = arith.divsi %a, %b : i64
  %rem = arith.remsi %a, %b : i64
  %sum = arith.addi %c5, %c5 : i64
  %sum2 = arith.addi %sum, %b : i64
  %prod = arith.muli %a, %c3 : i64
  %lt = arith.cmpi slt, %a, %b : i64
  %eq = arith.cmpi eq, %a, %b : i64
  %x = arith.xori %lt, %eq : i1
  %sel = arith.select %x, %sum, %c5 : i64
  %sel2 = arith.subi %sel, %sel : i64
  %six = arith.subi %c5, %a : i64
  %six2 = arith.subi %six, %c5 : i64
  %six3 = arith.addi %six2, %a : i64
  %i1t = arith.constant true
  %ext = arith.extsi %i1t : i1 to i64
  %one = arith.extui %i1t : i1 to i64
  %and = arith.andi %lt, %i1t : i1
  %or = arith.ori %eq, %eq : i1
  %sixp = arith.addi %c5, %one : i64
  return %fd, %td, %rem, %sum2, %prod, %and, %or, %x, %sixp, %one, %ext : i64, i64, i64, i64, i64, i1, i1, i1, i64, i64, i64
}

// Float scalars are f64 (TorchScript floats); sitofp, cmpf.
// PY@arith_float: inputs = []
// PY@arith_float: expected = [torch.tensor(3.5, dtype=torch.float64), torch.tensor(True), torch.tensor(-0.5, dtype=torch.float64)]
func.func @arith_float() -> (f64, i1, f64) {
  %c7 = arith.constant 7 : i64
  %f = arith.sitofp %c7 : i64 to f64
  %h = arith.constant 0.5 : f64
  %m = arith.mulf %f, %h : f64
  %gt = arith.cmpf ogt, %m, %h : f64
  %n = arith.negf %h : f64
  return %m, %gt, %n : f64, i1, f64
}

// scf.for with an iteration argument: sum_i x * i for i in [0, 4).
// PY@loop: x = randn(3)
// PY@loop: inputs = [x]; expected = [x * 0.0 + x * 1.0 + x * 2.0 + x * 3.0]
func.func @loop(%x: tensor<3xf32>) -> tensor<3xf32> {
  %lb = arith.constant 0 : index
  %ub = arith.constant 4 : index
  %st = arith.constant 1 : index
  %zero = kiln.constant dense<0.0> : tensor<3xf32>
  %r = scf.for %i = %lb to %ub step %st iter_args(%acc = %zero) -> (tensor<3xf32>) {
    %ii = arith.index_cast %i : index to i64
    %fi = arith.sitofp %ii : i64 to f64
    %t = kiln.from_scalar %fi : f64 -> tensor<f32>
    %p = kiln.mul %x, %t : (tensor<3xf32>, tensor<f32>) -> tensor<3xf32>
    %s = kiln.add %acc, %p : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    scf.yield %s : tensor<3xf32>
  }
  return %r : tensor<3xf32>
}

// Constants: splat, dense, dense_resource (no copy), bool, i64, and
// arith.constant of a tensor.
// PY@constants: inputs = []
// PY@constants: w = torch.tensor([[1.0, 2.0], [3.0, -4.0]])
// PY@constants: expected = [torch.full((2, 3), 0.5), torch.tensor([1.5, -2.0, 3.25]), w, torch.tensor([True, False, True]), torch.tensor([[5, -6]]), torch.tensor([1, 2], dtype=torch.int32)]
func.func @constants() -> (tensor<2x3xf32>, tensor<3xf32>, tensor<2x2xf32>, tensor<3xi1>, tensor<1x2xi64>, tensor<2xi32>) {
  %0 = kiln.constant dense<0.5> : tensor<2x3xf32>
  %1 = kiln.constant dense<[1.5, -2.0, 3.25]> : tensor<3xf32>
  %2 = kiln.constant dense_resource<weight0> : tensor<2x2xf32>
  %3 = kiln.constant dense<[true, false, true]> : tensor<3xi1>
  %4 = kiln.constant dense<[[5, -6]]> : tensor<1x2xi64>
  %5 = arith.constant dense<[1, 2]> : tensor<2xi32>
  return %0, %1, %2, %3, %4, %5 : tensor<2x3xf32>, tensor<3xf32>, tensor<2x2xf32>, tensor<3xi1>, tensor<1x2xi64>, tensor<2xi32>
}

// tensor.cast refines an unranked value (shape checked at run time).
// PY@cast_to_static: x = randn(2, 3)
// PY@cast_to_static: inputs = [x]; expected = [x * x]
func.func @cast_to_static(%x: tensor<*xf32>) -> tensor<2x3xf32> {
  %s = tensor.cast %x : tensor<*xf32> to tensor<2x3xf32>
  %m = kiln.mul %s, %s : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %m : tensor<2x3xf32>
}

// PY@cast_wrong_shape: inputs = [randn(2, 3)]; expect_error = "result has shape [2, 3] but its type says [3, 2]"
func.func @cast_wrong_shape(%x: tensor<*xf32>) -> tensor<3x2xf32> {
  %s = tensor.cast %x : tensor<*xf32> to tensor<3x2xf32>
  return %s : tensor<3x2xf32>
}

// PY@list_out_of_range: inputs = [randn(2, 3)]; expect_error = "list index 5 out of range for a list of 2"
func.func @list_out_of_range(%x: tensor<*xf32>) -> i64 {
  %c5 = arith.constant 5 : i64
  %shape = kiln.shape %x : tensor<*xf32> -> !kiln.list<i64>
  %d = kiln.list_get %shape[%c5] : !kiln.list<i64> -> i64
  return %d : i64
}

{-#
  dialect_resources: {
    builtin: {
      weight0: "0x040000000000803F0000004000004040000080C0"
    }
  }
#-}
