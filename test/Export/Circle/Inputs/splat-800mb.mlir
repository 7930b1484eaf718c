// 800 MB of constant data as a splat (for auto-external-2gb.mlir).
func.func @main(%x: tensor<200000000xf32>) -> tensor<200000000xf32> {
  %a = circle.const dense<1.5> : tensor<200000000xf32>
  %y = circle.mul %x, %a : (tensor<200000000xf32>, tensor<200000000xf32>) -> tensor<200000000xf32>
  return %y : tensor<200000000xf32>
}
