//===- Convert.cpp - The whole .pt to .circle/.tflite conversion ----------===//
#include "kiln/Pipelines/Convert.h"
#include "kiln/Dialect/Kiln/IR/KilnDialect.h"

#include "kiln/Import/TorchScript/Importer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace mlir;

namespace {
constexpr std::pair<kiln::ConvertMode, llvm::StringLiteral> modeNames[] = {
    {kiln::ConvertMode::Prefill, "prefill"},
    {kiln::ConvertMode::Append, "append"},
    {kiln::ConvertMode::Decode, "decode"}};
} // namespace

std::string kiln::stringifyConvertMode(ConvertMode mode) {
  SmallVector<StringRef> names;
  for (auto &[kind, name] : modeNames)
    if (includes(mode, kind))
      names.push_back(name);
  return llvm::join(names, "+");
}

std::optional<kiln::ConvertMode> kiln::parseConvertMode(StringRef name) {
  SmallVector<StringRef> parts;
  name.split(parts, '+');
  unsigned set = 0;
  for (StringRef part : parts) {
    auto it = llvm::find_if(
        modeNames, [&](const auto &entry) { return entry.second == part; });
    if (it == std::end(modeNames) || (set & unsigned(it->first)))
      return std::nullopt;
    set |= unsigned(it->first);
  }
  return ConvertMode(set);
}

llvm::StringRef kiln::stringifyKeyLayout(KeyLayout layout) {
  return layout == KeyLayout::BHDS ? "bhds" : "bhsd";
}

std::optional<kiln::KeyLayout> kiln::parseKeyLayout(StringRef name) {
  return llvm::StringSwitch<std::optional<KeyLayout>>(name)
      .Case("bhsd", KeyLayout::BHSD)
      .Case("bhds", KeyLayout::BHDS)
      .Default(std::nullopt);
}

std::vector<kiln::ConvertSignature>
kiln::convertSignatures(const ConvertOptions &options) {
  std::vector<ConvertSignature> signatures;
  int64_t past = options.slidingWindow ? *options.slidingWindow
                                       : options.cacheLen.value_or(0);
  if (includes(options.mode, ConvertMode::Prefill)) {
    if (options.seqLens.empty())
      signatures.push_back({"prefill", options.prefillVariant, 0, 0});
    for (int64_t s : options.seqLens)
      signatures.push_back({options.seqLens.size() > 1
                                ? "prefill_" + std::to_string(s)
                                : std::string("prefill"),
                            options.prefillVariant, s, 0});
  }
  if (includes(options.mode, ConvertMode::Append))
    for (int64_t q : options.appendLens)
      signatures.push_back(
          {"append_" + std::to_string(q), Variant::Append, q, past});
  if (includes(options.mode, ConvertMode::Decode))
    signatures.push_back({"decode", Variant::Decode, 1, past});
  return signatures;
}

std::string kiln::contractMetadata(const ConvertOptions &options) {
  std::string text;
  llvm::raw_string_ostream os(text);
  auto quoted = [&](StringRef value) {
    os << '"';
    llvm::printEscapedString(value, os);
    os << '"';
  };
  os << "{\"signatures\": [";
  llvm::interleaveComma(
      convertSignatures(options), os, [&](const ConvertSignature &sig) {
        os << "{\"name\": ";
        quoted(sig.name);
        os << ", \"kind\": ";
        quoted(sig.variant == Variant::Append   ? "append"
               : sig.variant == Variant::Decode ? "decode"
                                                : "prefill");
        os << ", \"variant\": ";
        quoted(getVariantName(sig.variant));
        os << ", \"tokens\": " << sig.tokens << ", \"past\": " << sig.past
           << ", \"mask_width\": " << sig.past + sig.tokens << "}";
      });
  os << "], \"batch\": " << options.batch << ", \"sliding_window\": ";
  if (options.slidingWindow)
    os << *options.slidingWindow;
  else
    os << "null";
  os << ", \"cache_out\": ";
  quoted(options.cacheOut);
  os << ", \"key_layout\": ";
  quoted(stringifyKeyLayout(options.keyLayout));
  os << ", \"prefill_variant\": ";
  quoted(getVariantName(options.prefillVariant));
  os << ", \"recipe\": ";
  quoted(options.recipe);
  os << "}";
  return text;
}

llvm::StringRef kiln::stringifyConvertStage(ConvertStage stage) {
  switch (stage) {
  case ConvertStage::Import:
    return "import";
  case ConvertStage::Adapted:
    return "adapted";
  case ConvertStage::Quantized:
    return "quantized";
  case ConvertStage::Circle:
    return "circle";
  case ConvertStage::Written:
    return "written";
  }
  return "";
}

std::optional<kiln::ConvertStage> kiln::parseConvertStage(StringRef name) {
  return llvm::StringSwitch<std::optional<ConvertStage>>(name)
      .Case("import", ConvertStage::Import)
      .Case("adapted", ConvertStage::Adapted)
      .Case("quantized", ConvertStage::Quantized)
      .Case("circle", ConvertStage::Circle)
      .Case("written", ConvertStage::Written)
      .Default(std::nullopt);
}

llvm::Error kiln::verifyConvertOptions(const ConvertOptions &options) {
  auto fail = [](const Twine &msg) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
  };
  // Lengths: positive when given, and small enough that the mask and cache
  // inputs (batch x seq x (cache + seq)) stay below 2^32 elements.
  const int64_t maxLength = int64_t(1) << 20;
  std::vector<std::pair<const char *, std::optional<int64_t>>> lengths = {
      {"cache-len", options.cacheLen},
      {"sliding-window", options.slidingWindow},
      {"batch", options.batch}};
  for (int64_t s : options.seqLens)
    lengths.push_back({"seq-len", s});
  for (int64_t q : options.appendLens)
    lengths.push_back({"append-len", q});
  for (auto &[flag, value] : lengths)
    if (value && (*value <= 0 || *value > maxLength))
      return fail("--" + Twine(flag) + " must be between 1 and 1048576, not " +
                  Twine(*value));
  for (const std::vector<int64_t> *list :
       {&options.seqLens, &options.appendLens})
    for (size_t i = 0; i < list->size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if ((*list)[i] == (*list)[j])
          return fail(
              "--" +
              Twine(list == &options.seqLens ? "seq-len" : "append-len") +
              " lists " + Twine((*list)[i]) + " twice");
  if (includes(options.mode, ConvertMode::Append) && options.appendLens.empty())
    return fail("--mode append needs --append-len Q[,Q...]");
  if (!includes(options.mode, ConvertMode::Append) &&
      !options.appendLens.empty())
    return fail("--append-len needs a --mode with append");
  if (options.slidingWindow && options.cacheLen &&
      *options.cacheLen != *options.slidingWindow)
    return fail(
        "--cache-len " + Twine(*options.cacheLen) +
        " disagrees with --sliding-window " + Twine(*options.slidingWindow) +
        ": with a window, decode and append take a past of W positions");
  for (const ConvertSignature &sig : convertSignatures(options)) {
    int64_t tokens = std::max<int64_t>(sig.tokens, 1);
    if (options.batch * tokens * (sig.past + tokens) > (int64_t(1) << 32))
      return fail("--batch x tokens x (past + tokens) of signature '" +
                  sig.name + "' exceeds 2^32 elements");
  }
  StringRef output = options.outputPath;
  if (options.split != SplitMode::None) {
    if (options.stopAfter != ConvertStage::Written)
      return fail("--split cannot be combined with --emit-mlir");
    if (output.empty() || output == "-")
      return fail("--split " + stringifySplitMode(options.split) +
                  " writes a directory: give -o DIR");
    if (llvm::sys::fs::exists(output)) {
      if (!llvm::sys::fs::is_directory(output))
        return fail("--split writes a directory; the output '" + output +
                    "' exists and is not a directory");
      if (llvm::sys::fs::access(output, llvm::sys::fs::AccessMode::Write))
        return fail("the output directory '" + output + "' is not writable");
    } else {
      llvm::SmallString<256> dir(output);
      llvm::sys::path::remove_filename(dir);
      if (dir.empty())
        dir = ".";
      if (!llvm::sys::fs::is_directory(dir))
        return fail("the output directory's parent '" + dir +
                    "' does not exist");
      if (llvm::sys::fs::access(dir, llvm::sys::fs::AccessMode::Write))
        return fail("the output directory's parent '" + dir +
                    "' is not writable");
    }
  } else if (!output.empty() && output != "-") {
    llvm::SmallString<256> dir(output);
    llvm::sys::path::remove_filename(dir);
    if (dir.empty())
      dir = ".";
    if (llvm::sys::fs::is_directory(output))
      return fail("the output '" + output + "' is a directory");
    if (!llvm::sys::fs::is_directory(dir))
      return fail("the output directory '" + dir + "' does not exist");
    if (llvm::sys::fs::access(dir, llvm::sys::fs::AccessMode::Write))
      return fail("the output directory '" + dir + "' is not writable");
    if (llvm::sys::fs::exists(output) &&
        llvm::sys::fs::access(output, llvm::sys::fs::AccessMode::Write))
      return fail("the output '" + output + "' is read-only");
  }
  if (options.prefillVariant == Variant::Decode)
    return fail("--variant must be prefill or prefill_reference");
  if (options.stopAfter == ConvertStage::Written && output.empty())
    return fail("no output: give -o FILE (or --emit-mlir=STAGE)");
  return llvm::Error::success();
}

namespace {
bool succeededValue(LogicalResult result) { return succeeded(result); }
template <typename T> bool succeededValue(const OwningOpRef<T> &op) {
  return bool(op);
}

/// Tells the progress which pass starts (the pass manager's own adaptors,
/// which have no argument, are skipped).
struct PassProgress : public PassInstrumentation {
  explicit PassProgress(kiln::ConvertProgress &progress) : progress(progress) {}
  void runBeforePass(Pass *pass, Operation *) override {
    StringRef argument = pass->getArgument();
    if (!argument.empty())
      progress.beginPass(argument);
  }
  kiln::ConvertProgress &progress;
};

/// Runs the stages in order, recording the wall time of each.
struct Driver {
  MLIRContext &context;
  const kiln::ConvertOptions &options;
  kiln::ConvertResult result;

  template <typename Fn> auto timed(StringRef stage, Fn &&fn) {
    if (options.progress)
      options.progress->beginStage(stage);
    auto start = std::chrono::steady_clock::now();
    auto value = fn();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    result.stages.push_back({stage.str(), seconds});
    if (options.progress)
      options.progress->endStage(stage, seconds, succeededValue(value));
    return value;
  }
  void instrument(PassManager &pm) {
    if (options.progress)
      pm.addInstrumentation(std::make_unique<PassProgress>(*options.progress));
  }

  OwningOpRef<ModuleOp> import();
  LogicalResult adapt(ModuleOp imported, ModuleOp into);
  LogicalResult run(StringRef stage, ModuleOp module,
                    void (*build)(OpPassManager &,
                                  const kiln::LowerToCirclePipelineOptions &));
  LogicalResult write(ModuleOp module);
  LogicalResult writeSplit(ModuleOp module);
};

bool hasArgNamed(func::FuncOp f, StringRef prefix) {
  for (unsigned i = 0; i < f.getNumArguments(); ++i)
    if (auto n = f.getArgAttrOfType<StringAttr>(
            i, kiln::KilnDialect::getNameAttrName()))
      if (n.getValue().starts_with(prefix))
        return true;
  return false;
}
/// A traced decode method takes forward's arguments, then the cache. When
/// the traced function cannot name its arguments (`decode(input_ids, mask,
/// cos, sin, *past)`: varargs), TorchScript names each after its first use
/// ("input", "x", ...), and "x" would read as the hidden state: the leading
/// arguments take forward's names where their element types agree.
void nameLeadingArgsAfter(func::FuncOp forward, func::FuncOp decode) {
  unsigned n = forward.getNumArguments();
  if (decode.getNumArguments() <= n)
    return;
  for (unsigned i = 0; i < n; ++i) {
    auto name = forward.getArgAttrOfType<StringAttr>(
        i, kiln::KilnDialect::getNameAttrName());
    if (!name || name.getValue().starts_with("past_") ||
        getElementTypeOrSelf(forward.getArgumentTypes()[i]) !=
            getElementTypeOrSelf(decode.getArgumentTypes()[i]))
      return;
  }
  for (unsigned i = 0; i < n; ++i)
    decode.setArgAttr(i, kiln::KilnDialect::getNameAttrName(),
                      forward.getArgAttrOfType<StringAttr>(
                          i, kiln::KilnDialect::getNameAttrName()));
}
} // namespace

OwningOpRef<ModuleOp> Driver::import() {
  // A module exported for one mode may build its RoPE tables and mask from
  // the token shape (a traced Hugging Face model): with that shape known at
  // import, those computations fold to constants.
  // Every signature with the same token count (one mode, one length):
  // pinned at import.
  kiln::TorchScriptImportOptions importOptions;
  std::vector<kiln::ConvertSignature> signatures =
      kiln::convertSignatures(options);
  bool oneTokenCount = llvm::all_of(signatures, [&](const auto &sig) {
    return sig.tokens == signatures.front().tokens;
  });
  if (!signatures.empty() && oneTokenCount) {
    int64_t tokens = signatures.front().tokens;
    if (tokens > 0)
      for (const char *name : {"input_ids", "ids"})
        importOptions.inputShapes.push_back(
            std::string(name) + "=" + std::to_string(options.batch) + "x" +
            std::to_string(tokens) + "xi64");
    importOptions.ignoreUnusedShapes = true;
  }
  OwningOpRef<ModuleOp> module = timed("import", [&] {
    return kiln::importTorchScript(options.inputPath, context, importOptions);
  });
  if (!module && !oneTokenCount)
    emitError(FileLineColLoc::get(&context, options.inputPath, 0, 0))
        << "the signatures take different token counts (" <<
        [&] {
          std::string counts;
          for (const auto &sig : signatures)
            counts += (counts.empty() ? "" : ", ") + sig.name + ": " +
                      std::to_string(sig.tokens);
          return counts;
        }()
        << "), so the import cannot fix the token shape; a model that "
           "computes its mask or RoPE from it (a traced Hugging Face model) "
           "converts one length per file (--mode prefill --seq-len N)";
  return module;
}

// One clone of the import per signature through its variant pipeline; the
// clones share every weight attribute, so the writer shares buffers.
LogicalResult Driver::adapt(ModuleOp imported, ModuleOp into) {
  for (const kiln::ConvertSignature &sig : kiln::convertSignatures(options)) {
    kiln::Variant variant = sig.variant;
    StringRef name = sig.name;
    bool takesPast =
        variant == kiln::Variant::Decode || variant == kiln::Variant::Append;
    OwningOpRef<ModuleOp> work;
    std::string source = "forward";
    auto forward = imported.lookupSymbol<func::FuncOp>("forward");
    if (takesPast && forward && !hasArgNamed(forward, "past_key")) {
      // A traced module keeps its decode step in a `decode` method.
      kiln::TorchScriptImportOptions importOptions;
      importOptions.methodName = "decode";
      work = kiln::importTorchScript(options.inputPath, context, importOptions);
      if (!work)
        return failure();
      source = "decode";
      if (auto decode = work->lookupSymbol<func::FuncOp>("decode"))
        nameLeadingArgsAfter(forward, decode);
    } else {
      work = imported.clone();
    }
    kiln::ExportPipelineOptions contract;
    contract.batch = options.batch;
    contract.seqLen = variant == kiln::Variant::Decode ? 0 : sig.tokens;
    contract.cacheLen = takesPast ? sig.past : 0;
    contract.keyLayout = kiln::stringifyKeyLayout(options.keyLayout).str();
    contract.returnKv = options.returnKv;
    contract.function = source;
    contract.outputName = name.str();
    contract.inputRoles = options.inputRoles;
    contract.cacheOut = options.cacheOut;
    PassManager pm(&context);
    instrument(pm);
    kiln::buildVariantPipeline(pm, variant, contract);
    if (failed(timed(("adapt-" + name).str(), [&] { return pm.run(*work); })))
      return failure();
    auto f = work->lookupSymbol<func::FuncOp>(name);
    f->remove();
    into.push_back(f);
  }
  into->setAttr(
      "kiln.pipeline",
      StringAttr::get(&context, "kiln-convert " +
                                    kiln::stringifyConvertMode(options.mode)));
  into->setAttr(
      kiln::KilnDialect::getVariantAttrName(),
      StringAttr::get(&context, kiln::getVariantName(options.prefillVariant)));
  if (!options.recipe.empty())
    into->setAttr("kiln.recipe", StringAttr::get(&context, options.recipe));
  into->setAttr(
      "kiln.metadata",
      DictionaryAttr::get(
          &context,
          {NamedAttribute(
              StringAttr::get(&context, "kiln.contract"),
              StringAttr::get(&context, kiln::contractMetadata(options)))}));
  return success();
}

LogicalResult
Driver::run(StringRef stage, ModuleOp module,
            void (*build)(OpPassManager &,
                          const kiln::LowerToCirclePipelineOptions &)) {
  kiln::LowerToCirclePipelineOptions lower;
  lower.flavor = kiln::circle::stringifyFlavor(options.flavor).str();
  lower.integerOnly = options.integerOnly;
  PassManager pm(&context);
  instrument(pm);
  build(pm, lower);
  return timed(stage, [&] { return pm.run(module); });
}

LogicalResult Driver::write(ModuleOp module) {
  kiln::circle::WriterOptions writer;
  writer.flavor = options.flavor;
  writer.forceExternalBuffers = options.forceExternalBuffers;
  writer.sourceLocations = options.sourceLocations;
  writer.stats = &result.stored;
  if (options.progress)
    writer.progress = [this](const kiln::circle::WriteProgress &progress) {
      options.progress->wrote(progress);
    };
  return timed("write", [&] {
    return kiln::circle::writeCircleFile(module, options.outputPath, writer);
  });
}

// --split layers: partition the lowered module, then write each segment
// and the manifest.
LogicalResult Driver::writeSplit(ModuleOp module) {
  FailureOr<std::vector<kiln::SplitSegment>> segments =
      timed("split", [&]() -> FailureOr<std::vector<kiln::SplitSegment>> {
        return kiln::splitLayers(module);
      });
  if (failed(segments))
    return failure();
  kiln::circle::WriterOptions writer;
  writer.flavor = options.flavor;
  writer.forceExternalBuffers = options.forceExternalBuffers;
  writer.sourceLocations = options.sourceLocations;
  if (options.progress)
    writer.progress = [this](const kiln::circle::WriteProgress &progress) {
      options.progress->wrote(progress);
    };
  std::vector<std::pair<std::string, std::string>> info = {
      {"source", options.inputPath},
      {"mode", kiln::stringifyConvertMode(options.mode)},
      {"variant", kiln::getVariantName(options.prefillVariant).str()}};
  if (!options.recipe.empty())
    info.push_back({"recipe", options.recipe});
  if (failed(timed("write", [&] {
        return kiln::writeSplitLayers(
            context, *segments, options.outputPath, writer, info,
            [&](StringRef name, size_t index, size_t count) {
              if (options.progress)
                options.progress->beginSegment(name, index, count);
            });
      })))
    return failure();
  for (kiln::SplitSegment &segment : *segments) {
    const kiln::circle::WriterStats &s = segment.stored;
    for (auto &[kind, bytes] : s.constantBytes)
      result.stored.constantBytes[kind] += bytes;
    result.stored.constantBuffers += s.constantBuffers;
    result.stored.constantTensors += s.constantTensors;
    result.stored.metadataBytes += s.metadataBytes;
    result.stored.fileBytes += s.fileBytes;
    segment.module = nullptr;
  }
  result.segments = std::move(*segments);
  return success();
}

FailureOr<kiln::ConvertResult>
kiln::convertModel(MLIRContext &context, const ConvertOptions &options) {
  if (llvm::Error error = verifyConvertOptions(options)) {
    emitError(UnknownLoc::get(&context)) << llvm::toString(std::move(error));
    return failure();
  }
  if (options.progress) {
    std::vector<std::string> stages{"import"};
    if (options.stopAfter != ConvertStage::Import)
      for (const ConvertSignature &sig : convertSignatures(options))
        stages.push_back("adapt-" + sig.name);
    for (auto [stage, name] :
         {std::pair{ConvertStage::Adapted, "fold-fake-quant"},
          std::pair{ConvertStage::Quantized, "legalize"},
          std::pair{ConvertStage::Circle, "write"}}) {
      if (options.stopAfter > stage && options.split != SplitMode::None &&
          stage == ConvertStage::Circle)
        stages.push_back("split");
      if (options.stopAfter > stage)
        stages.push_back(name);
    }
    options.progress->plan(stages);
  }
  Driver driver{context, options, {}};
  ConvertResult &result = driver.result;
  OwningOpRef<ModuleOp> imported = driver.import();
  if (!imported)
    return failure();
  if (options.stopAfter == ConvertStage::Import) {
    result.module = std::move(imported);
    return std::move(result);
  }

  result.module = ModuleOp::create(UnknownLoc::get(&context));
  ModuleOp module = *result.module;
  if (failed(driver.adapt(*imported, module)))
    return failure();
  if (options.stopAfter == ConvertStage::Adapted)
    return std::move(result);

  // kiln-lower-to-circle, in its two halves.
  if (failed(driver.run("fold-fake-quant", module, buildQuantizePipeline)))
    return failure();
  if (options.stopAfter == ConvertStage::Quantized)
    return std::move(result);
  if (failed(driver.run("legalize", module, buildLegalizePipeline)))
    return failure();
  if (options.stopAfter == ConvertStage::Circle)
    return std::move(result);

  if (failed(options.split == SplitMode::None ? driver.write(module)
                                              : driver.writeSplit(module)))
    return failure();
  return std::move(result);
}

//===----------------------------------------------------------------------===//
// Progress
//===----------------------------------------------------------------------===//

kiln::ConvertProgress::~ConvertProgress() = default;

namespace {
/// The decoder layer a tensor belongs to: the number after "layers." (or
/// "layers_", "layer_"), as in model.layers.3.self_attn.q_proj.
std::optional<unsigned> layerOf(StringRef name) {
  for (StringRef marker : {"layers.", "layers_", "layer_"}) {
    size_t at = name.find(marker);
    if (at == StringRef::npos)
      continue;
    StringRef rest = name.drop_front(at + marker.size());
    StringRef digits =
        rest.take_while([](char c) { return c >= '0' && c <= '9'; });
    unsigned layer;
    if (!digits.empty() && !digits.getAsInteger(10, layer))
      return layer;
  }
  return std::nullopt;
}

/// `bytes` in the unit `total` reads best in (kB below 1 MB, else MB).
std::string showBytes(uint64_t bytes, uint64_t total) {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (total < 1000000)
    os << llvm::format("%.1f kB", bytes / 1e3);
  else
    os << llvm::format("%.1f MB", bytes / 1e6);
  return text;
}
} // namespace

struct kiln::TextProgress::Impl {
  using Clock = std::chrono::steady_clock;
  Impl(llvm::raw_ostream &os, Options options) : os(os), options(options) {}

  llvm::raw_ostream &os;
  Options options;
  Clock::time_point start = Clock::now();
  std::mutex mutex;
  std::condition_variable wake;
  std::thread ticker;
  bool stopping = false;
  /// Past the delay: things are shown.
  bool showing = false;
  /// A bar is drawn on the current line.
  bool drawn = false;
  std::vector<std::string> stages;
  std::string stage, pass;
  size_t stageNumber = 0;
  Clock::time_point stageStart = start, lastDraw = start;
  std::optional<circle::WriteProgress> write;
  std::string writeTensor;
  /// With split: the segment being written ("decoder_layer_3 4/6").
  std::string segment;
  std::optional<unsigned> lastLayer;

  double since(Clock::time_point t) const {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }
  std::string stamp() const {
    std::string text;
    llvm::raw_string_ostream s(text);
    s << llvm::format("[%7.1fs] ", since(start));
    return text;
  }
  std::string stageLabel() const {
    std::string text = stage;
    if (stageNumber && !stages.empty())
      text = std::to_string(stageNumber) + "/" + std::to_string(stages.size()) +
             " " + text;
    return text;
  }
  /// Buffers and bytes written, and the layer: "12/40 buffers, 3.1 MB of
  /// 9.4 MB, layer 2" (compact: "12/40 buffers 3.1/9.4 MB layer 2").
  std::string writeText(bool compact = false) const {
    std::string done = showBytes(write->bytesWritten, write->bytes);
    std::string total = showBytes(write->bytes, write->bytes);
    std::string text = std::to_string(write->buffersWritten) + "/" +
                       std::to_string(write->buffers) + " buffers";
    if (compact)
      text += " " + done.substr(0, done.rfind(' ')) + "/" + total;
    else
      text += ", " + done + " of " + total;
    if (!segment.empty())
      text += (compact ? " " : ", ") + segment;
    else if (std::optional<unsigned> layer = layerOf(writeTensor))
      text += (compact ? " layer " : ", layer ") + std::to_string(*layer);
    return text;
  }

  // Everything below runs with `mutex` held.
  void erase() {
    if (drawn) {
      os << "\r\x1b[K";
      os.flush();
      drawn = false;
    }
  }
  void line(const std::string &text) {
    if (!showing)
      return;
    erase();
    os << stamp() << text << "\n";
    os.flush();
    if (options.bar)
      draw();
  }
  /// Draws the bar; `soon` (an update) skips drawing if the last was less
  /// than 50 ms ago.
  void draw(bool soon = false) {
    if (!showing || !options.bar || stage.empty() || stopping)
      return;
    if (soon && drawn && since(lastDraw) < 0.05)
      return;
    lastDraw = Clock::now();
    double fraction = 0;
    std::string text;
    if (write && write->bytes) {
      fraction = double(write->bytesWritten) / write->bytes;
      text = "write: " + writeText(/*compact=*/true);
    } else {
      if (!stages.empty())
        fraction = double(stageNumber ? stageNumber - 1 : 0) / stages.size();
      text = stage;
      if (!pass.empty())
        text += ": " + pass;
    }
    const unsigned width = 20;
    unsigned filled =
        std::min<unsigned>(width, unsigned(fraction * width + 0.5));
    std::string bar(filled, '=');
    bar.resize(width, ' ');
    std::string counter = stageNumber && !stages.empty()
                              ? std::to_string(stageNumber) + "/" +
                                    std::to_string(stages.size()) + " "
                              : "";
    std::string shown = "[" + bar + "] " + counter + text;
    std::string time;
    llvm::raw_string_ostream t(time);
    t << llvm::format("  %.0fs", since(start));
    if (shown.size() + time.size() > 79)
      shown = shown.substr(0, 79 - time.size() - 3) + "...";
    os << "\r\x1b[K" << shown << time;
    os.flush();
    drawn = true;
  }
  /// Starts showing once the delay has passed.
  void check() {
    if (showing || since(start) < options.delaySeconds)
      return;
    showing = true;
    if (!stage.empty() && !options.bar) {
      std::string text;
      llvm::raw_string_ostream s(text);
      s << stageLabel()
        << llvm::format(" (running for %.1fs)", since(stageStart));
      line(text);
    }
    draw();
  }
  void tick() {
    std::unique_lock<std::mutex> lock(mutex);
    while (!stopping) {
      Clock::time_point next =
          showing
              ? Clock::now() + std::chrono::milliseconds(200)
              : start +
                    std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(options.delaySeconds));
      if (showing && !options.bar)
        wake.wait(lock, [&] { return stopping; });
      else
        wake.wait_until(lock, next, [&] { return stopping; });
      if (stopping)
        break;
      check();
      draw();
    }
  }
};

kiln::TextProgress::TextProgress(llvm::raw_ostream &os, Options options)
    : impl(std::make_unique<Impl>(os, options)) {
  impl->ticker = std::thread([this] { impl->tick(); });
}

kiln::TextProgress::~TextProgress() {
  {
    std::lock_guard<std::mutex> lock(impl->mutex);
    impl->stopping = true;
    impl->erase();
  }
  impl->wake.notify_all();
  impl->ticker.join();
}

void kiln::TextProgress::plan(llvm::ArrayRef<std::string> stages) {
  std::lock_guard<std::mutex> lock(impl->mutex);
  impl->stages.assign(stages.begin(), stages.end());
}

void kiln::TextProgress::beginStage(llvm::StringRef stage) {
  std::lock_guard<std::mutex> lock(impl->mutex);
  impl->stage.clear();
  impl->check();
  impl->stage = stage.str();
  impl->pass.clear();
  impl->write.reset();
  impl->segment.clear();
  impl->writeTensor.clear();
  impl->lastLayer.reset();
  impl->stageStart = Impl::Clock::now();
  auto it = llvm::find(impl->stages, impl->stage);
  impl->stageNumber =
      it == impl->stages.end() ? 0 : it - impl->stages.begin() + 1;
  if (!impl->options.bar)
    impl->line(impl->stageLabel());
  impl->draw();
}

void kiln::TextProgress::beginPass(llvm::StringRef pass) {
  std::lock_guard<std::mutex> lock(impl->mutex);
  if (impl->pass == pass)
    return;
  impl->pass = pass.str();
  impl->check();
  impl->draw(/*soon=*/true);
}

void kiln::TextProgress::wrote(const circle::WriteProgress &progress) {
  std::lock_guard<std::mutex> lock(impl->mutex);
  impl->write = progress;
  impl->writeTensor = progress.tensorName.str();
  impl->check();
  if (!impl->options.bar && !impl->segment.empty())
    return; // one line per segment (beginSegment)
  if (!impl->options.bar) {
    // Plain lines: one when a new decoder layer is reached (buffers come
    // in the order the model first uses them; later signatures' own
    // constants revisit earlier layers), and one for the last buffer.
    std::optional<unsigned> layer = layerOf(impl->writeTensor);
    bool last = progress.buffersWritten == progress.buffers && progress.buffers;
    bool newLayer = layer && (!impl->lastLayer || *layer > *impl->lastLayer);
    if (newLayer || last)
      impl->line("write: " + impl->writeText());
    if (newLayer)
      impl->lastLayer = layer;
    return;
  }
  // Every update may redraw (at most 20 a second), the first and last do.
  impl->draw(/*soon=*/progress.buffersWritten != 0 &&
             progress.buffersWritten != progress.buffers);
}

void kiln::TextProgress::beginSegment(llvm::StringRef name, size_t index,
                                      size_t count) {
  std::lock_guard<std::mutex> lock(impl->mutex);
  impl->segment = name.str() + " " + std::to_string(index + 1) + "/" +
                  std::to_string(count);
  impl->check();
  if (!impl->options.bar)
    impl->line("write: " + impl->segment);
  else
    impl->draw();
}

void kiln::TextProgress::endStage(llvm::StringRef stage, double seconds,
                                  bool succeeded) {
  std::lock_guard<std::mutex> lock(impl->mutex);
  impl->check();
  std::string text;
  llvm::raw_string_ostream s(text);
  s << stage << (succeeded ? " done in " : " failed after ")
    << llvm::format("%.2fs", seconds);
  impl->stage.clear();
  impl->pass.clear();
  impl->write.reset();
  impl->segment.clear();
  impl->line(text);
}

void kiln::TextProgress::clear() {
  std::lock_guard<std::mutex> lock(impl->mutex);
  impl->erase();
}
