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

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace kiln {
/// The signatures a conversion exports (prefill+decode: both in one module,
/// sharing every weight).
enum class ConvertMode { Prefill, Decode, PrefillDecode };
/// "prefill", "decode", "prefill+decode".
llvm::StringRef stringifyConvertMode(ConvertMode mode);
std::optional<ConvertMode> parseConvertMode(llvm::StringRef name);

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
  /// failure); "-" is stdout. Only needed when stopAfter is Written.
  std::string outputPath;
  ConvertMode mode = ConvertMode::Prefill;
  /// Attention of the prefill signature: Prefill (per head) or
  /// PrefillReference (batched).
  Variant prefillVariant = Variant::Prefill;
  /// The export contract (ExportPipelineOptions): a length not given is
  /// unset, one given must be positive.
  int64_t batch = 1;
  std::optional<int64_t> seqLen;
  std::optional<int64_t> cacheLen;
  bool returnKv = true;
  /// NAME=ROLE bindings of arguments with unusual names.
  std::vector<std::string> inputRoles;
  /// Decode keys/values: auto, delta or full.
  std::string cacheOut = "auto";
  circle::Flavor flavor = circle::Flavor::Circle;
  /// LowerToCirclePipelineOptions::integerOnly.
  bool integerOnly = false;
  bool forceExternalBuffers = false;
  /// Recorded as the `kiln.recipe` metadata when not empty.
  std::string recipe;
  ConvertStage stopAfter = ConvertStage::Written;
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
  /// What the file stores (filled when written).
  circle::WriterStats stored;
};

/// The checks options must pass before anything runs, with kiln-convert's
/// messages (naming its flags): lengths between 1 and 2^20 and inputs below
/// 2^32 elements; an output whose directory exists and is writable, that
/// is not a directory or read-only; an output when writing.
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
