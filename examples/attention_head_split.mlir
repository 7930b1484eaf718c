// The start of a Llama attention block as the TorchScript importer writes it:
// shapes unknown, head split computed from aten::size. With the input shape
// fixed, kiln-infer-shapes makes every tensor static and folds the sizes.
//
//   kiln-opt examples/attention_head_split.mlir --kiln-infer-shapes
func.func @forward(%hidden_states: tensor<1x16x64xf32>) -> tensor<*xf32> {
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %cm1 = arith.constant -1 : i64
  %c16 = arith.constant 16 : i64
  %w = kiln.constant dense<0.01> : tensor<64x64xf32>
  %wq = kiln.fake_quant_per_axis %w axis(0) scales [0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001] zero_points [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] range [-128, 127] : (tensor<64x64xf32>) -> tensor<*xf32>
  %x = kiln.fake_quant %hidden_states scale(0.001) zero_point(0) range [-32768, 32767] : (tensor<1x16x64xf32>) -> tensor<*xf32>
  %q = kiln.linear %x, %wq : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  %bsz = kiln.size %hidden_states[%c0] : tensor<1x16x64xf32>
  %len = kiln.size %hidden_states[%c1] : tensor<1x16x64xf32>
  %v = kiln.reshape %q(%bsz, %len, %cm1, %c16) : (tensor<*xf32>) -> tensor<?x?x?x16xf32>
  %t = kiln.transpose %v 1, 2 : (tensor<?x?x?x16xf32>) -> tensor<*xf32>
  return %t : tensor<*xf32>
}
