//===- SplitLayers.h - One lowered model as per-layer artifacts -*- C++ -*-===//
//
// kiln-convert --split layers: the circle module of a whole model (every
// signature, e.g. prefill and decode) partitioned into segments by the
// module path in each op's location (docs/split-layers.md):
//
//   embedding          ops before the first decoder layer (model.embed_tokens)
//   decoder_layer_<i>  ops whose location names `layers.<i>`
//   (model.layers.3...) lm_head            ops after the last layer
//   (model.norm, lm_head)
//
// Constants are cloned into every segment that reads them; so are ops that
// only read the model's inputs and constants and are not anchored to a
// non-layer module (the attention mask's quantization and slicing, the
// per-head slices of a past cache), so every layer takes the model's mask,
// cos, sin and its own past keys/values directly. Every other value that
// crosses segments becomes an output of its producer and an input of each
// consumer, named `<producer>.out<k>` (k counting the producer's crossing
// values in program order). Each segment keeps one function per signature,
// with the whole module's names for the model's inputs and outputs.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_PIPELINES_SPLITLAYERS_H
#define KILN_PIPELINES_SPLITLAYERS_H

#include "kiln/Export/Circle/Writer.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace kiln {
/// How kiln-convert partitions its output: None (one file) or Layers.
enum class SplitMode { None, Layers };
/// "none", "layers".
llvm::StringRef stringifySplitMode(SplitMode mode);
std::optional<SplitMode> parseSplitMode(llvm::StringRef name);

/// One tensor of a segment's signature.
struct SplitTensor {
  /// The signature name (kiln.name).
  std::string name;
  /// The tensor type, printed (tensor<1x8x64x!quant.uniform<...>>).
  std::string type;
  /// Inputs: "model" (an input of the whole model) or the producing segment.
  /// Outputs: "model" for an output of the whole model, else empty.
  std::string from;
  /// Outputs: the segments that read it (empty for a model output only).
  std::vector<std::string> to;
};

struct SplitSignature {
  std::string name;
  std::vector<SplitTensor> inputs, outputs;
};

/// One artifact: a module of circle functions, one per signature.
struct SplitSegment {
  /// embedding, decoder_layer_<i> or lm_head.
  std::string name;
  /// The decoder layer, for decoder_layer_<i>.
  std::optional<int64_t> layer;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::vector<SplitSignature> signatures;
  /// Filled by writeSplitLayers: the file name (in the output directory)
  /// and what it stores.
  std::string file;
  circle::WriterStats stored;
};

/// Partitions `module` (lowered to the circle dialect; its public functions
/// are the signatures) into segments, in chain order. Failures are
/// diagnostics: no op names a decoder layer, or an op reads a value of a
/// later segment.
mlir::FailureOr<std::vector<SplitSegment>> splitLayers(mlir::ModuleOp module);

/// Writes each segment as `<dir>/<name>.<circle|tflite>` with `writer`'s
/// options and `<dir>/manifest.json` (the segments, their signatures and how
/// they chain), `manifestInfo` adding top-level string entries. `dir` is
/// created when missing (its parent must exist). Everything is written to a
/// temporary directory inside `dir` first and renamed into place when all
/// succeeded (the manifest last): a failure leaves no new file.
/// `beginSegment`, when set, is called before each segment is written (its
/// name, index and the number of segments).
mlir::LogicalResult writeSplitLayers(
    mlir::MLIRContext &context, std::vector<SplitSegment> &segments,
    llvm::StringRef dir, const circle::WriterOptions &writer,
    llvm::ArrayRef<std::pair<std::string, std::string>> manifestInfo = {},
    const std::function<void(llvm::StringRef, size_t, size_t)> &beginSegment =
        {});
} // namespace kiln

#endif // KILN_PIPELINES_SPLITLAYERS_H
