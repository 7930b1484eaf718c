// Input of ../litert-failure.test: a TFLite FULLY_CONNECTED LiteRT cannot run.
module {
  func.func @prefill(%x: tensor<1x2xf32> {kiln.name = "x"}) -> (tensor<1x2xf32> {kiln.name = "y"}) {
    %w = circle.const dense<[[1, 2], [3, 4]]> : tensor<2x2xui8> as tensor<2x2x!quant.uniform<u8:f32:0, {0.5:128, 0.25:128}>>
    %q = circle.quantize %x : (tensor<1x2xf32>) -> tensor<1x2x!quant.uniform<i16:f32, 0.001>>
    %y = circle.fully_connected %q, %w : (tensor<1x2x!quant.uniform<i16:f32, 0.001>>, tensor<2x2x!quant.uniform<u8:f32:0, {0.5:128, 0.25:128}>>) -> tensor<1x2x!quant.uniform<i16:f32, 0.001>>
    %r = circle.dequantize %y : (tensor<1x2x!quant.uniform<i16:f32, 0.001>>) -> tensor<1x2xf32>
    return %r : tensor<1x2xf32>
  }
}
