//===- TorchProbe.h - Run a TorchScript file, recording fake quants -*- C++
//-*-===//
//
// Private to lib/Runtime (kiln-parity). LibTorch runs the user's .pt with
// every fake-quant point's output recorded: the forward graph is inlined
// (tracking the module path of each inlined call as the importer does) and a
// recording op follows every aten::fake_quantize_*; each point is named by
// the module path and source position the importer gives it.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_LIB_RUNTIME_TORCHPROBE_H
#define KILN_LIB_RUNTIME_TORCHPROBE_H

#include <ATen/ATen.h>
#include <torch/csrc/jit/api/module.h>

#include <map>
#include <string>
#include <vector>

namespace kiln::runtime {

struct TorchProbe {
  std::string path, file; // module path, source file
  unsigned line = 0, col = 0;
  at::Tensor value; // the fake quant's output
  at::Tensor scale; // per tensor: 0-d; per channel: 1-d along `axis`
  at::Tensor zeroPoint;
  int64_t axis = -1; // -1: per tensor
  int64_t quantMin = 0, quantMax = 0;
  unsigned node = 0; // index of the recording op in the graph
};

struct TorchRun {
  /// In execution order.
  std::vector<TorchProbe> probes;
  /// Fake-quant nodes in the inlined graph (some may not run: other branch).
  unsigned numPoints = 0;
  std::vector<at::Tensor> outputs;
};

struct TorchRunOptions {
  std::string method = "forward";
  /// NAME=VALUE scalars; defaults for names that exist (use_cache=true ...).
  std::map<std::string, std::string> scalars, defaults;
};

/// Loads `path` and runs `method` on the positional tensor inputs (bound to
/// the schema as kiln-run binds a reference step). Throws EvalError.
TorchRun runTorchScript(const std::string &path,
                        const std::vector<at::Tensor> &inputs,
                        const TorchRunOptions &options);

/// Loads a TorchScript file after Kiln's archive check (throws EvalError
/// with a clear message for a file LibTorch cannot read).
torch::jit::Module loadTorchScript(const std::string &path);

/// Appends the tensors of a TorchScript value (tuples and lists flattened in
/// order) to `out`.
void flattenIValueTensors(const c10::IValue &v, std::vector<at::Tensor> &out);

} // namespace kiln::runtime

#endif
