// RUN: kiln-opt %s --canonicalize | FileCheck %s

// CHECK-LABEL: func.func @append_to_literal
func.func @append_to_literal(%a: tensor<*xf32>, %b: tensor<*xf32>) -> !kiln.list<tensor<*xf32>> {
  // CHECK: %[[L:.*]] = kiln.list %{{.*}}, %{{.*}} : tensor<*xf32>, tensor<*xf32> -> !kiln.list<tensor<*xf32>>
  // CHECK-NOT: kiln.list_append
  // CHECK: return %[[L]]
  %0 = kiln.list -> !kiln.list<tensor<*xf32>>
  %1 = kiln.list_append %0, %a : !kiln.list<tensor<*xf32>>, tensor<*xf32>
  %2 = kiln.list_append %1, %b : !kiln.list<tensor<*xf32>>, tensor<*xf32>
  return %2 : !kiln.list<tensor<*xf32>>
}

// CHECK-LABEL: func.func @append_to_argument
func.func @append_to_argument(%l: !kiln.list<i64>, %i: i64) -> !kiln.list<i64> {
  // CHECK: kiln.list_append %{{.*}}, %{{.*}} : !kiln.list<i64>, i64
  %0 = kiln.list_append %l, %i : !kiln.list<i64>, i64
  return %0 : !kiln.list<i64>
}
