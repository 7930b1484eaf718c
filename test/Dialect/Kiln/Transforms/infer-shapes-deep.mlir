// A decoder-deep chain: each "layer" reshapes with a size read from the
// previous one, so each needs one more round of refinement and folding (an
// 8B model's 32 layers did not fit in the former fixed 32 rounds). The default
// runs to the fixed point: every value static, no warning.
// RUN: kiln-opt %s --kiln-infer-shapes 2>&1 | FileCheck %s
// RUN: kiln-opt %s --kiln-infer-shapes=max-rounds=32 2>&1 >/dev/null | FileCheck %s --check-prefix=FIXED
// FIXED: warning: kiln-infer-shapes did not reach a fixed point in 32 rounds

// CHECK-NOT: warning
// CHECK-LABEL: func.func @deep
// CHECK-SAME: -> tensor<2x8xf32>
// CHECK-NOT: tensor<*xf32>
// CHECK-NOT: ?x
// CHECK: return %{{.*}} : tensor<2x8xf32>
func.func @deep(%x: tensor<2x8xf32>) -> tensor<*xf32> {
  %c1 = arith.constant 1 : i64
  %c2 = arith.constant 2 : i64
  %h0 = tensor.cast %x : tensor<2x8xf32> to tensor<*xf32>
  %n0 = kiln.neg %h0 : (tensor<*xf32>) -> tensor<*xf32>
  %d0 = kiln.size %n0[%c1] : tensor<*xf32>
  %h1 = kiln.reshape %n0(%c2, %d0) : (tensor<*xf32>) -> tensor<*xf32>
  %n1 = kiln.neg %h1 : (tensor<*xf32>) -> tensor<*xf32>
  %d1 = kiln.size %n1[%c1] : tensor<*xf32>
  %h2 = kiln.reshape %n1(%c2, %d1) : (tensor<*xf32>) -> tensor<*xf32>
  %n2 = kiln.neg %h2 : (tensor<*xf32>) -> tensor<*xf32>
  %d2 = kiln.size %n2[%c1] : tensor<*xf32>
  %h3 = kiln.reshape %n2(%c2, %d2) : (tensor<*xf32>) -> tensor<*xf32>
  %n3 = kiln.neg %h3 : (tensor<*xf32>) -> tensor<*xf32>
  %d3 = kiln.size %n3[%c1] : tensor<*xf32>
  %h4 = kiln.reshape %n3(%c2, %d3) : (tensor<*xf32>) -> tensor<*xf32>
  %n4 = kiln.neg %h4 : (tensor<*xf32>) -> tensor<*xf32>
  %d4 = kiln.size %n4[%c1] : tensor<*xf32>
  %h5 = kiln.reshape %n4(%c2, %d4) : (tensor<*xf32>) -> tensor<*xf32>
  %n5 = kiln.neg %h5 : (tensor<*xf32>) -> tensor<*xf32>
  %d5 = kiln.size %n5[%c1] : tensor<*xf32>
  %h6 = kiln.reshape %n5(%c2, %d5) : (tensor<*xf32>) -> tensor<*xf32>
  %n6 = kiln.neg %h6 : (tensor<*xf32>) -> tensor<*xf32>
  %d6 = kiln.size %n6[%c1] : tensor<*xf32>
  %h7 = kiln.reshape %n6(%c2, %d6) : (tensor<*xf32>) -> tensor<*xf32>
  %n7 = kiln.neg %h7 : (tensor<*xf32>) -> tensor<*xf32>
  %d7 = kiln.size %n7[%c1] : tensor<*xf32>
  %h8 = kiln.reshape %n7(%c2, %d7) : (tensor<*xf32>) -> tensor<*xf32>
  %n8 = kiln.neg %h8 : (tensor<*xf32>) -> tensor<*xf32>
  %d8 = kiln.size %n8[%c1] : tensor<*xf32>
  %h9 = kiln.reshape %n8(%c2, %d8) : (tensor<*xf32>) -> tensor<*xf32>
  %n9 = kiln.neg %h9 : (tensor<*xf32>) -> tensor<*xf32>
  %d9 = kiln.size %n9[%c1] : tensor<*xf32>
  %h10 = kiln.reshape %n9(%c2, %d9) : (tensor<*xf32>) -> tensor<*xf32>
  %n10 = kiln.neg %h10 : (tensor<*xf32>) -> tensor<*xf32>
  %d10 = kiln.size %n10[%c1] : tensor<*xf32>
  %h11 = kiln.reshape %n10(%c2, %d10) : (tensor<*xf32>) -> tensor<*xf32>
  %n11 = kiln.neg %h11 : (tensor<*xf32>) -> tensor<*xf32>
  %d11 = kiln.size %n11[%c1] : tensor<*xf32>
  %h12 = kiln.reshape %n11(%c2, %d11) : (tensor<*xf32>) -> tensor<*xf32>
  %n12 = kiln.neg %h12 : (tensor<*xf32>) -> tensor<*xf32>
  %d12 = kiln.size %n12[%c1] : tensor<*xf32>
  %h13 = kiln.reshape %n12(%c2, %d12) : (tensor<*xf32>) -> tensor<*xf32>
  %n13 = kiln.neg %h13 : (tensor<*xf32>) -> tensor<*xf32>
  %d13 = kiln.size %n13[%c1] : tensor<*xf32>
  %h14 = kiln.reshape %n13(%c2, %d13) : (tensor<*xf32>) -> tensor<*xf32>
  %n14 = kiln.neg %h14 : (tensor<*xf32>) -> tensor<*xf32>
  %d14 = kiln.size %n14[%c1] : tensor<*xf32>
  %h15 = kiln.reshape %n14(%c2, %d14) : (tensor<*xf32>) -> tensor<*xf32>
  %n15 = kiln.neg %h15 : (tensor<*xf32>) -> tensor<*xf32>
  %d15 = kiln.size %n15[%c1] : tensor<*xf32>
  %h16 = kiln.reshape %n15(%c2, %d15) : (tensor<*xf32>) -> tensor<*xf32>
  %n16 = kiln.neg %h16 : (tensor<*xf32>) -> tensor<*xf32>
  %d16 = kiln.size %n16[%c1] : tensor<*xf32>
  %h17 = kiln.reshape %n16(%c2, %d16) : (tensor<*xf32>) -> tensor<*xf32>
  %n17 = kiln.neg %h17 : (tensor<*xf32>) -> tensor<*xf32>
  %d17 = kiln.size %n17[%c1] : tensor<*xf32>
  %h18 = kiln.reshape %n17(%c2, %d17) : (tensor<*xf32>) -> tensor<*xf32>
  %n18 = kiln.neg %h18 : (tensor<*xf32>) -> tensor<*xf32>
  %d18 = kiln.size %n18[%c1] : tensor<*xf32>
  %h19 = kiln.reshape %n18(%c2, %d18) : (tensor<*xf32>) -> tensor<*xf32>
  %n19 = kiln.neg %h19 : (tensor<*xf32>) -> tensor<*xf32>
  %d19 = kiln.size %n19[%c1] : tensor<*xf32>
  %h20 = kiln.reshape %n19(%c2, %d19) : (tensor<*xf32>) -> tensor<*xf32>
  %n20 = kiln.neg %h20 : (tensor<*xf32>) -> tensor<*xf32>
  %d20 = kiln.size %n20[%c1] : tensor<*xf32>
  %h21 = kiln.reshape %n20(%c2, %d20) : (tensor<*xf32>) -> tensor<*xf32>
  %n21 = kiln.neg %h21 : (tensor<*xf32>) -> tensor<*xf32>
  %d21 = kiln.size %n21[%c1] : tensor<*xf32>
  %h22 = kiln.reshape %n21(%c2, %d21) : (tensor<*xf32>) -> tensor<*xf32>
  %n22 = kiln.neg %h22 : (tensor<*xf32>) -> tensor<*xf32>
  %d22 = kiln.size %n22[%c1] : tensor<*xf32>
  %h23 = kiln.reshape %n22(%c2, %d22) : (tensor<*xf32>) -> tensor<*xf32>
  %n23 = kiln.neg %h23 : (tensor<*xf32>) -> tensor<*xf32>
  %d23 = kiln.size %n23[%c1] : tensor<*xf32>
  %h24 = kiln.reshape %n23(%c2, %d23) : (tensor<*xf32>) -> tensor<*xf32>
  %n24 = kiln.neg %h24 : (tensor<*xf32>) -> tensor<*xf32>
  %d24 = kiln.size %n24[%c1] : tensor<*xf32>
  %h25 = kiln.reshape %n24(%c2, %d24) : (tensor<*xf32>) -> tensor<*xf32>
  %n25 = kiln.neg %h25 : (tensor<*xf32>) -> tensor<*xf32>
  %d25 = kiln.size %n25[%c1] : tensor<*xf32>
  %h26 = kiln.reshape %n25(%c2, %d25) : (tensor<*xf32>) -> tensor<*xf32>
  %n26 = kiln.neg %h26 : (tensor<*xf32>) -> tensor<*xf32>
  %d26 = kiln.size %n26[%c1] : tensor<*xf32>
  %h27 = kiln.reshape %n26(%c2, %d26) : (tensor<*xf32>) -> tensor<*xf32>
  %n27 = kiln.neg %h27 : (tensor<*xf32>) -> tensor<*xf32>
  %d27 = kiln.size %n27[%c1] : tensor<*xf32>
  %h28 = kiln.reshape %n27(%c2, %d27) : (tensor<*xf32>) -> tensor<*xf32>
  %n28 = kiln.neg %h28 : (tensor<*xf32>) -> tensor<*xf32>
  %d28 = kiln.size %n28[%c1] : tensor<*xf32>
  %h29 = kiln.reshape %n28(%c2, %d28) : (tensor<*xf32>) -> tensor<*xf32>
  %n29 = kiln.neg %h29 : (tensor<*xf32>) -> tensor<*xf32>
  %d29 = kiln.size %n29[%c1] : tensor<*xf32>
  %h30 = kiln.reshape %n29(%c2, %d29) : (tensor<*xf32>) -> tensor<*xf32>
  %n30 = kiln.neg %h30 : (tensor<*xf32>) -> tensor<*xf32>
  %d30 = kiln.size %n30[%c1] : tensor<*xf32>
  %h31 = kiln.reshape %n30(%c2, %d30) : (tensor<*xf32>) -> tensor<*xf32>
  %n31 = kiln.neg %h31 : (tensor<*xf32>) -> tensor<*xf32>
  %d31 = kiln.size %n31[%c1] : tensor<*xf32>
  %h32 = kiln.reshape %n31(%c2, %d31) : (tensor<*xf32>) -> tensor<*xf32>
  %n32 = kiln.neg %h32 : (tensor<*xf32>) -> tensor<*xf32>
  %d32 = kiln.size %n32[%c1] : tensor<*xf32>
  %h33 = kiln.reshape %n32(%c2, %d32) : (tensor<*xf32>) -> tensor<*xf32>
  %n33 = kiln.neg %h33 : (tensor<*xf32>) -> tensor<*xf32>
  %d33 = kiln.size %n33[%c1] : tensor<*xf32>
  %h34 = kiln.reshape %n33(%c2, %d33) : (tensor<*xf32>) -> tensor<*xf32>
  %n34 = kiln.neg %h34 : (tensor<*xf32>) -> tensor<*xf32>
  %d34 = kiln.size %n34[%c1] : tensor<*xf32>
  %h35 = kiln.reshape %n34(%c2, %d34) : (tensor<*xf32>) -> tensor<*xf32>
  %n35 = kiln.neg %h35 : (tensor<*xf32>) -> tensor<*xf32>
  %d35 = kiln.size %n35[%c1] : tensor<*xf32>
  %h36 = kiln.reshape %n35(%c2, %d35) : (tensor<*xf32>) -> tensor<*xf32>
  %n36 = kiln.neg %h36 : (tensor<*xf32>) -> tensor<*xf32>
  %d36 = kiln.size %n36[%c1] : tensor<*xf32>
  %h37 = kiln.reshape %n36(%c2, %d36) : (tensor<*xf32>) -> tensor<*xf32>
  %n37 = kiln.neg %h37 : (tensor<*xf32>) -> tensor<*xf32>
  %d37 = kiln.size %n37[%c1] : tensor<*xf32>
  %h38 = kiln.reshape %n37(%c2, %d37) : (tensor<*xf32>) -> tensor<*xf32>
  %n38 = kiln.neg %h38 : (tensor<*xf32>) -> tensor<*xf32>
  %d38 = kiln.size %n38[%c1] : tensor<*xf32>
  %h39 = kiln.reshape %n38(%c2, %d38) : (tensor<*xf32>) -> tensor<*xf32>
  %n39 = kiln.neg %h39 : (tensor<*xf32>) -> tensor<*xf32>
  %d39 = kiln.size %n39[%c1] : tensor<*xf32>
  %h40 = kiln.reshape %n39(%c2, %d39) : (tensor<*xf32>) -> tensor<*xf32>
  return %h40 : tensor<*xf32>
}
