// The kiln dialect checks `kiln.name` on function arguments and results: the
// names of a model's inputs and outputs (SignatureDef names once exported).
// RUN: kiln-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @named
// CHECK-SAME: kiln.name = "hidden_states"
// CHECK-SAME: kiln.name = "hidden"
func.func @named(%x: tensor<2xf32> {kiln.name = "hidden_states"}) -> (tensor<2xf32> {kiln.name = "hidden"}) {
  return %x : tensor<2xf32>
}

// -----

// expected-error @+1 {{'kiln.name' of argument 0 must be a non-empty string}}
func.func @not_a_string(%x: tensor<2xf32> {kiln.name = 3 : i64}) -> tensor<2xf32> {
  return %x : tensor<2xf32>
}

// -----

// expected-error @+1 {{'kiln.name' of result 1 must be a non-empty string}}
func.func @empty(%x: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32> {kiln.name = ""}) {
  return %x, %x : tensor<2xf32>, tensor<2xf32>
}
