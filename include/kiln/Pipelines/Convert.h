//===- Convert.h - The whole .pt to .circle/.tflite conversion --*- C++ -*-===//
//
// kiln-convert as one library call: import, one export contract per mode
// (the kiln-prefill / kiln-prefill-reference / kiln-decode pipelines on a
// clone of the import, merged into one module), quantization and lowering
// (kiln-lower-to-circle) and writing. Tools and tests that convert a model
// call convertModel, so they run exactly what kiln-convert ships.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_PIPELINES_CONVERT_H
#define KILN_PIPELINES_CONVERT_H

#include "kiln/Export/Circle/Writer.h"
#include "kiln/Pipelines/Pipelines.h"
#include "kiln/Pipelines/SplitLayers.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln {
/// Receives a conversion's progress (ConvertOptions::progress). Calls come
/// from the converting thread, except beginPass, which the pass manager may
/// call from its worker threads (one call per pass and function).
class ConvertProgress {
public:
  virtual ~ConvertProgress();
  /// Before anything runs: the stages the conversion will go through, in
  /// order (import, adapt-<signature>..., fold-fake-quant, legalize, write,
  /// up to ConvertOptions::stopAfter).
  virtual void plan(llvm::ArrayRef<std::string> stages) {}
  /// A stage starts.
  virtual void beginStage(llvm::StringRef stage) {}
  /// A pass of the current stage starts (its command-line argument, e.g.
  /// kiln-fold-fake-quant).
  virtual void beginPass(llvm::StringRef pass) {}
  /// Writing: buffers and bytes written so far (before the first buffer and
  /// after each).
  virtual void wrote(const circle::WriteProgress &progress) {}
  /// With split: segment `index` of `count` starts being written (the
  /// buffers reported next are its own).
  virtual void beginSegment(llvm::StringRef name, size_t index, size_t count) {}
  /// The stage ended after `seconds` (failed when !succeeded).
  virtual void endStage(llvm::StringRef stage, double seconds, bool succeeded) {
  }
};

/// kiln-convert's progress display on a text stream (stderr): nothing for
/// the first `delaySeconds` of a conversion, then either one bar redrawn in
/// place (a terminal: stage n of N, the pass running, elapsed time; while
/// writing, buffers, bytes and the layer) or, for logs, plain lines: each
/// stage as it starts and ends, and while writing one line per decoder layer
/// (`layers.<i>.` in the tensor names) and one at the end (with split: one
/// line per segment instead, and the segment in the bar).
class TextProgress : public ConvertProgress {
public:
  struct Options {
    /// A bar redrawn in place (for a terminal) instead of lines.
    bool bar = false;
    /// Nothing is shown before the conversion has run this long.
    double delaySeconds = 2.0;
  };
  TextProgress(llvm::raw_ostream &os, Options options);
  ~TextProgress() override;
  void plan(llvm::ArrayRef<std::string> stages) override;
  void beginStage(llvm::StringRef stage) override;
  void beginPass(llvm::StringRef pass) override;
  void wrote(const circle::WriteProgress &progress) override;
  void beginSegment(llvm::StringRef name, size_t index, size_t count) override;
  void endStage(llvm::StringRef stage, double seconds, bool succeeded) override;
  /// Erases the bar, if one is drawn, before other output goes to the same
  /// stream (diagnostics); it is drawn again at the next update. The
  /// destructor erases it for good.
  void clear();

  struct Impl;

private:
  std::unique_ptr<Impl> impl;
};

/// The kinds of signature a conversion exports, as a set (several in one
/// module share every weight): prefill (one signature per --seq-len),
/// append (one per --append-len), decode.
enum class ConvertMode : unsigned {
  Prefill = 1,
  Decode = 2,
  PrefillDecode = 3,
  Append = 4,
};
inline ConvertMode operator|(ConvertMode a, ConvertMode b) {
  return ConvertMode(unsigned(a) | unsigned(b));
}
/// `set` includes every kind of `kinds`.
inline bool includes(ConvertMode set, ConvertMode kinds) {
  return (unsigned(set) & unsigned(kinds)) == unsigned(kinds);
}
/// The kinds joined by '+' in the order prefill, append, decode
/// ("prefill+decode").
std::string stringifyConvertMode(ConvertMode mode);
/// '+'-joined kinds in any order, each at most once.
std::optional<ConvertMode> parseConvertMode(llvm::StringRef name);

/// How keys are laid out in the cache inputs and outputs: bhsd
/// ([B,H_kv,positions,head_dim], as the model computes them) or bhds
/// ([B,H_kv,head_dim,positions]: transposed, so that Q*K^T reads the cache
/// as it is stored).
enum class KeyLayout { BHSD, BHDS };
llvm::StringRef stringifyKeyLayout(KeyLayout layout);
std::optional<KeyLayout> parseKeyLayout(llvm::StringRef name);

/// One signature of the exported file: its name (prefill, prefill_<S>,
/// append_<Q>, decode), the variant it runs, the tokens of one call and the
/// past positions it reads.
struct ConvertSignature {
  std::string name;
  Variant variant;
  int64_t tokens = 0;
  int64_t past = 0;
};

/// The stages of a conversion, in order; convertModel stops after
/// ConvertOptions::stopAfter and returns the module as that stage left it.
enum class ConvertStage { Import, Adapted, Quantized, Circle, Written };
/// "import", "adapted", "quantized", "circle" (the stages whose module can be
/// printed: kiln-convert's --emit-mlir), "written".
llvm::StringRef stringifyConvertStage(ConvertStage stage);
std::optional<ConvertStage> parseConvertStage(llvm::StringRef name);

struct ConvertOptions {
  /// The TorchScript file.
  std::string inputPath;
  /// The file written (through a temporary file: no partial output on
  /// failure); "-" is stdout. Only needed when stopAfter is Written. With
  /// split, the directory the segments and manifest.json are written to
  /// (created when missing).
  std::string outputPath;
  /// Layers: the lowered module is partitioned into embedding,
  /// decoder_layer_<i> and lm_head artifacts (kiln/Pipelines/SplitLayers.h)
  /// written into outputPath.
  SplitMode split = SplitMode::None;
  ConvertMode mode = ConvertMode::Prefill;
  /// Attention of the prefill signature: Prefill (per head) or
  /// PrefillReference (batched).
  Variant prefillVariant = Variant::Prefill;
  /// The export contract (ExportPipelineOptions): a length not given is
  /// unset, one given must be positive.
  int64_t batch = 1;
  /// Prefill lengths: one signature each ("prefill", or "prefill_<S>" when
  /// there are several), sharing every weight.
  std::vector<int64_t> seqLens;
  /// Append-prefill lengths (mode append): one "append_<Q>" signature each.
  std::vector<int64_t> appendLens;
  /// Past positions of decode and append.
  std::optional<int64_t> cacheLen;
  /// Sliding-window attention over the last W positions: decode and append
  /// take a past of W positions (a ring buffer the host keeps; any order,
  /// the mask says which are valid); prefill longer than W gets the
  /// window through its mask. Sets the past length (cache-len, when given,
  /// must agree).
  std::optional<int64_t> slidingWindow;
  KeyLayout keyLayout = KeyLayout::BHSD;
  bool returnKv = true;
  /// NAME=ROLE bindings of arguments with unusual names.
  std::vector<std::string> inputRoles;
  /// Decode keys/values: auto, delta or full.
  std::string cacheOut = "auto";
  circle::Flavor flavor = circle::Flavor::Circle;
  /// LowerToCirclePipelineOptions::integerOnly.
  bool integerOnly = false;
  bool forceExternalBuffers = false;
  /// Store each tensor's PyTorch source locations in the file
  /// ("kiln.locations" metadata: kiln-parity matches tensors through them).
  bool sourceLocations = false;
  /// Recorded as the `kiln.recipe` metadata when not empty.
  std::string recipe;
  ConvertStage stopAfter = ConvertStage::Written;
  /// Told about each stage, pass and written buffer, when set (not owned).
  ConvertProgress *progress = nullptr;
};

/// Wall time of one stage: import, adapt-<signature>, fold-fake-quant,
/// legalize, write.
struct StageTime {
  std::string name;
  double seconds = 0;
};

struct ConvertResult {
  /// The module after ConvertOptions::stopAfter (the circle module written).
  mlir::OwningOpRef<mlir::ModuleOp> module;
  llvm::SmallVector<StageTime> stages;
  /// What the file stores (filled when written; with split, summed over
  /// the segments).
  circle::WriterStats stored;
  /// With split: the segments written, in chain order (their modules
  /// released once written).
  std::vector<SplitSegment> segments;
};

/// The signatures options export, in file order: prefill buckets, append
/// buckets, decode.
std::vector<ConvertSignature> convertSignatures(const ConvertOptions &options);

/// The export contract written as the `kiln.contract` metadata (JSON): the
/// signatures (kind, tokens, past, mask width), batch, sliding window, cache
/// output, key layout, prefill variant and recipe.
std::string contractMetadata(const ConvertOptions &options);

/// The checks options must pass before anything runs, with kiln-convert's
/// messages (naming its flags): lengths between 1 and 2^20 and inputs below
/// 2^32 elements; an output whose directory exists and is writable, that
/// is not a directory or read-only (with split: a directory, or a path
/// whose parent is a writable directory; not stdout, not with
/// --emit-mlir); an output when writing.
llvm::Error verifyConvertOptions(const ConvertOptions &options);

/// Converts options.inputPath up to options.stopAfter. Every failure is a
/// diagnostic on `context` (at the model's Python source where the IR has
/// it; option errors at an unknown location) and returns failure, leaving
/// no output file. A module whose forward takes no past keys (a traced
/// single-mode module) exports decode from its `decode` method.
mlir::FailureOr<ConvertResult> convertModel(mlir::MLIRContext &context,
                                            const ConvertOptions &options);
} // namespace kiln

#endif // KILN_PIPELINES_CONVERT_H
