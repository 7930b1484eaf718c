// RUN: kiln-opt %s --split-input-file --kiln-legalize-to-circle=flavor=tflite --verify-diagnostics


func.func @fake_quant_left(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{fake quant of tensor 'kiln.fake_quant result' is left: run kiln-fold-fake-quant before lowering}}
  %q = kiln.fake_quant %x scale(0.5) zero_point(0) range [-128, 127] : (tensor<4xf32>) -> tensor<4xf32>
  return %q : tensor<4xf32>
}

// -----

func.func @control_flow_left(%x: tensor<4xf32>, %flag: i1) -> tensor<4xf32> {
  // expected-error @+1 {{'scf.if' cannot be lowered to circle (run the export adapter and kiln-fold-fake-quant first)}}
  %r = scf.if %flag -> tensor<4xf32> {
    scf.yield %x : tensor<4xf32>
  } else {
    scf.yield %x : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

func.func @softmax_axis(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{softmax over dimension 0 of rank 2: circle softmax works on the last axis only}}
  %s = kiln.softmax %x dim = 0 : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %s : tensor<2x4xf32>
}
