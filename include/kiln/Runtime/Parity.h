//===- Parity.h - kiln-parity: PyTorch vs the exported model -----*- C++
//-*-===//
//
// Runs the user's TorchScript file in LibTorch, recording every fake-quant
// point, and the exported .circle/.tflite signature in Kiln's evaluator,
// recording every tensor; matches them through the source locations Kiln
// wrote ("kiln.locations", Export/Circle/Locations.h) and reports, tensor by
// tensor in graph order, the error in quantization steps (lib/Runtime/
// Parity.cpp). No LibTorch type here.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_PARITY_H
#define KILN_RUNTIME_PARITY_H

#include "mlir/IR/DialectRegistry.h"

namespace kiln::runtime {

/// The `kiln-parity` command line (tools/kiln-parity is a thin main).
int kilnParityMain(int argc, char **argv, mlir::DialectRegistry &registry);

} // namespace kiln::runtime

#endif // KILN_RUNTIME_PARITY_H
