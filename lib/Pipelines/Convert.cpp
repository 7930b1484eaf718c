//===- Convert.cpp - The whole .pt to .circle/.tflite conversion ----------===//
#include "kiln/Pipelines/Convert.h"

#include "kiln/Import/TorchScript/Importer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <chrono>

using namespace mlir;

llvm::StringRef kiln::stringifyConvertMode(ConvertMode mode) {
  switch (mode) {
  case ConvertMode::Prefill:
    return "prefill";
  case ConvertMode::Decode:
    return "decode";
  case ConvertMode::PrefillDecode:
    return "prefill+decode";
  }
  return "";
}

std::optional<kiln::ConvertMode> kiln::parseConvertMode(StringRef name) {
  return llvm::StringSwitch<std::optional<ConvertMode>>(name)
      .Case("prefill", ConvertMode::Prefill)
      .Case("decode", ConvertMode::Decode)
      .Case("prefill+decode", ConvertMode::PrefillDecode)
      .Default(std::nullopt);
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
  std::pair<const char *, std::optional<int64_t>> lengths[] = {
      {"seq-len", options.seqLen},
      {"cache-len", options.cacheLen},
      {"batch", options.batch}};
  for (auto &[flag, value] : lengths)
    if (value && (*value <= 0 || *value > maxLength))
      return fail("--" + Twine(flag) + " must be between 1 and 1048576, not " +
                  Twine(*value));
  int64_t seq = std::max<int64_t>(options.seqLen.value_or(0), 1);
  if (options.batch * seq * (options.cacheLen.value_or(0) + seq) >
      (int64_t(1) << 32))
    return fail("--batch x --seq-len x (--cache-len + --seq-len) exceeds 2^32 "
                "elements");
  StringRef output = options.outputPath;
  if (!output.empty() && output != "-") {
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
/// Runs the stages in order, recording the wall time of each.
struct Driver {
  MLIRContext &context;
  const kiln::ConvertOptions &options;
  kiln::ConvertResult result;

  template <typename Fn> auto timed(StringRef stage, Fn &&fn) {
    auto start = std::chrono::steady_clock::now();
    auto value = fn();
    result.stages.push_back(
        {stage.str(),
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
             .count()});
    return value;
  }

  OwningOpRef<ModuleOp> import();
  LogicalResult adapt(ModuleOp imported, ModuleOp into);
  LogicalResult run(StringRef stage, ModuleOp module,
                    void (*build)(OpPassManager &,
                                  const kiln::LowerToCirclePipelineOptions &));
  LogicalResult write(ModuleOp module);
};

bool hasArgNamed(func::FuncOp f, StringRef prefix) {
  for (unsigned i = 0; i < f.getNumArguments(); ++i)
    if (auto n = f.getArgAttrOfType<StringAttr>(i, "kiln.name"))
      if (n.getValue().starts_with(prefix))
        return true;
  return false;
}
} // namespace

OwningOpRef<ModuleOp> Driver::import() {
  // A module exported for one mode may build its RoPE tables and mask from
  // the token shape (a traced Hugging Face model): with that shape known at
  // import, those computations fold to constants.
  kiln::TorchScriptImportOptions importOptions;
  if (options.mode != kiln::ConvertMode::PrefillDecode) {
    int64_t tokens = options.mode == kiln::ConvertMode::Prefill
                         ? options.seqLen.value_or(0)
                         : 1;
    if (tokens > 0)
      for (const char *name : {"input_ids", "ids"})
        importOptions.inputShapes.push_back(
            std::string(name) + "=" + std::to_string(options.batch) + "x" +
            std::to_string(tokens) + "xi64");
    importOptions.ignoreUnusedShapes = true;
  }
  return timed("import", [&] {
    return kiln::importTorchScript(options.inputPath, context, importOptions);
  });
}

// One clone of the import per signature through its variant pipeline; the
// clones share every weight attribute, so the writer shares buffers.
LogicalResult Driver::adapt(ModuleOp imported, ModuleOp into) {
  SmallVector<std::pair<kiln::Variant, StringRef>> signatures;
  if (options.mode != kiln::ConvertMode::Decode)
    signatures.push_back({options.prefillVariant, "prefill"});
  if (options.mode != kiln::ConvertMode::Prefill)
    signatures.push_back({kiln::Variant::Decode, "decode"});
  for (auto &[variant, name] : signatures) {
    OwningOpRef<ModuleOp> work;
    std::string source = "forward";
    auto forward = imported.lookupSymbol<func::FuncOp>("forward");
    if (variant == kiln::Variant::Decode && forward &&
        !hasArgNamed(forward, "past_key")) {
      // A traced module keeps its decode step in a `decode` method.
      kiln::TorchScriptImportOptions importOptions;
      importOptions.methodName = "decode";
      work = kiln::importTorchScript(options.inputPath, context, importOptions);
      if (!work)
        return failure();
      source = "decode";
    } else {
      work = imported.clone();
    }
    kiln::ExportPipelineOptions contract;
    contract.batch = options.batch;
    contract.seqLen = options.seqLen.value_or(0);
    contract.cacheLen = options.cacheLen.value_or(0);
    contract.returnKv = options.returnKv;
    contract.function = source;
    contract.outputName = name.str();
    contract.inputRoles = options.inputRoles;
    contract.cacheOut = options.cacheOut;
    PassManager pm(&context);
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
      "kiln.variant",
      StringAttr::get(&context, kiln::getVariantName(options.prefillVariant)));
  if (!options.recipe.empty())
    into->setAttr("kiln.recipe", StringAttr::get(&context, options.recipe));
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
  build(pm, lower);
  return timed(stage, [&] { return pm.run(module); });
}

LogicalResult Driver::write(ModuleOp module) {
  kiln::circle::WriterOptions writer;
  writer.flavor = options.flavor;
  writer.forceExternalBuffers = options.forceExternalBuffers;
  writer.stats = &result.stored;
  return timed("write", [&] {
    return kiln::circle::writeCircleFile(module, options.outputPath, writer);
  });
}

FailureOr<kiln::ConvertResult>
kiln::convertModel(MLIRContext &context, const ConvertOptions &options) {
  if (llvm::Error error = verifyConvertOptions(options)) {
    emitError(UnknownLoc::get(&context)) << llvm::toString(std::move(error));
    return failure();
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

  if (failed(driver.write(module)))
    return failure();
  return std::move(result);
}
