//===- kiln-convert.cpp - .pt to .circle/.tflite in one command -----------===//
//
// import -> export adapter + attention variant (per mode) -> fold fake quant
// -> legalize to circle -> FlatBuffer, all in kiln::convertModel
// (kiln/Pipelines/Convert.h); this file only parses options and prints the
// summary.
//
//===----------------------------------------------------------------------===//
#include "kiln/Conversion/Passes.h"
#include "kiln/Dialect/Kiln/IR/KilnDialect.h"
#include "kiln/InitAll.h"
#include "kiln/Pipelines/Convert.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <map>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("kiln-convert options");
static cl::opt<std::string> inputPath(cl::Positional, cl::desc("<model.pt>"),
                                      cl::Required, cl::cat(category));
static cl::opt<std::string> outputPath("o",
                                       cl::desc("Output .circle/.tflite file "
                                                "(with --split: a directory)"),
                                       cl::value_desc("file"),
                                       cl::cat(category));
static cl::opt<std::string> modeOpt(
    "mode",
    cl::desc("Signatures: prefill, append, decode or several joined by '+' "
             "(prefill+decode, prefill+append+decode)"),
    cl::init("prefill"), cl::cat(category));
static cl::opt<std::string> variantOpt(
    "variant",
    cl::desc(
        "Prefill attention: prefill (per head) or prefill_reference (batched)"),
    cl::init("prefill"), cl::cat(category));
static cl::list<int64_t>
    seqLens("seq-len",
            cl::desc("Prefill sequence lengths: one signature each "
                     "(prefill_<S> when several: --seq-len 32,128,512)"),
            cl::CommaSeparated, cl::cat(category));
static cl::list<int64_t>
    appendLens("append-len",
               cl::desc("Append-prefill lengths (--mode append): one "
                        "append_<Q> signature each"),
               cl::CommaSeparated, cl::cat(category));
static cl::opt<int64_t> cacheLen("cache-len",
                                 cl::desc("Decode and append: past positions"),
                                 cl::init(0), cl::cat(category));
static cl::opt<int64_t> slidingWindow(
    "sliding-window",
    cl::desc("Sliding-window attention over W positions: decode and append "
             "take a past of W positions (docs/export-contracts.md)"),
    cl::value_desc("W"), cl::init(0), cl::cat(category));
static cl::opt<std::string>
    keyLayoutOpt("key-layout",
                 cl::desc("Keys in the cache inputs and outputs: bhsd "
                          "([B,H,positions,head_dim]) or bhds (transposed)"),
                 cl::init("bhsd"), cl::cat(category));
static cl::opt<std::string> summaryJson(
    "summary-json",
    cl::desc("Also write the summary (signatures, sizes, float ops, "
             "times) as JSON to this file"),
    cl::value_desc("file"), cl::init(""), cl::cat(category));
static cl::opt<int64_t> batch("batch", cl::desc("Batch size"), cl::init(1),
                              cl::cat(category));
static cl::opt<bool> returnKv("return-kv",
                              cl::desc("Prefill returns keys and values"),
                              cl::init(true), cl::cat(category));
static cl::opt<std::string> formatOpt("format", cl::desc("circle or tflite"),
                                      cl::init("circle"), cl::cat(category));
static cl::opt<std::string> recipe("recipe",
                                   cl::desc("Recorded in the metadata"),
                                   cl::init(""), cl::cat(category));
static cl::opt<std::string> emitMlir(
    "emit-mlir",
    cl::desc(
        "Print the MLIR after a stage (import, adapted, quantized, circle) "
        "instead of writing a FlatBuffer"),
    cl::init(""), cl::cat(category));
static cl::opt<bool>
    forceExternal("force-external-buffers",
                  cl::desc("Write buffers after the FlatBuffer"),
                  cl::init(false), cl::cat(category));
static cl::opt<bool> sourceLocations(
    "source-locations",
    cl::desc("Store each tensor's PyTorch source locations (module path, "
             "file:line:col) in the file (kiln.locations metadata, about "
             "20% of a small model's size), for kiln-parity"),
    cl::init(false), cl::cat(category));
static cl::list<std::string> inputRoles(
    "input-role",
    cl::desc(
        "Role of an argument with an unusual name: NAME=ROLE (hidden_states, "
        "input_ids, attention_mask, cos, sin, past_key, past_value)"),
    cl::value_desc("NAME=ROLE"), cl::cat(category));
static cl::opt<std::string> cacheOut(
    "cache-out",
    cl::desc(
        "Decode keys/values: delta (this step's), full (the updated cache), "
        "auto (delta for unified models, as the module returns them for "
        "single-mode traced modules)"),
    cl::init("auto"), cl::cat(category));
static cl::opt<bool> integerOnly(
    "integer-only",
    cl::desc("Integer graphs: take fake-quantized inputs quantized everywhere, "
             "give unquantized 16-bit sums a derived scale, and refuse any "
             "float compute left between the model's inputs and outputs "
             "(each float op is an error at its model line)"),
    cl::init(false), cl::cat(category));
static cl::opt<std::string> splitOpt(
    "split",
    cl::desc("layers: write per-layer artifacts (embedding, "
             "decoder_layer_<i>, lm_head, each with every signature) and a "
             "manifest.json into the -o directory"),
    cl::value_desc("layers"), cl::init(""), cl::cat(category));
static cl::opt<bool> quiet("quiet", cl::desc("No summary and no progress"),
                           cl::init(false), cl::cat(category));
// Progress on stderr for conversions that run longer than --progress-after
// seconds: a bar on a terminal, plain lines otherwise. Hidden: tests set a
// low delay and the display.
static cl::opt<double> progressAfter(
    "progress-after",
    cl::desc("Show progress once the conversion has run this many seconds"),
    cl::init(2.0), cl::Hidden, cl::cat(category));
static cl::opt<std::string>
    progressOpt("progress",
                cl::desc("Progress display: auto (a bar when stderr is a "
                         "terminal, else lines), bar, lines or none"),
                cl::init("auto"), cl::Hidden, cl::cat(category));

namespace {
/// An element type as the summary names it: int8, uint4 (quantized
/// storage), f32.
std::string elementName(Type elt) {
  std::string s;
  llvm::raw_string_ostream os(s);
  if (auto q = dyn_cast<quant::QuantizedType>(elt))
    os << (q.isSigned() ? "int" : "uint") << q.getStorageTypeIntegralWidth();
  else
    os << elt;
  return s;
}

std::string typeString(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  if (auto shaped = dyn_cast<ShapedType>(t)) {
    os << "[";
    llvm::interleaveComma(shaped.getShape(), os);
    os << "] ";
    Type elt = shaped.getElementType();
    os << elementName(elt);
    if (isa<quant::QuantizedType>(elt))
      os << " (quantized)";
  } else {
    os << t;
  }
  return s;
}

std::string name(func::FuncOp f, unsigned i, bool result) {
  auto attr = result ? f.getResultAttrOfType<StringAttr>(
                           i, kiln::KilnDialect::getNameAttrName())
                     : f.getArgAttrOfType<StringAttr>(
                           i, kiln::KilnDialect::getNameAttrName());
  return attr ? attr.getValue().str()
              : (result ? "output" : "input") + std::to_string(i);
}

void printSummary(ModuleOp module, ArrayRef<kiln::StageTime> stages,
                  StringRef output, const kiln::circle::WriterStats &stored) {
  llvm::raw_ostream &os = llvm::outs();
  os << "kiln-convert: " << inputPath << " -> " << output << " (" << formatOpt
     << ")\n";
  llvm::MapVector<StringRef, int64_t> histogram;
  for (auto f : module.getOps<func::FuncOp>()) {
    os << "signature '" << f.getName() << "'";
    if (auto v = f->getAttrOfType<StringAttr>(
            kiln::KilnDialect::getVariantAttrName()))
      os << " (variant " << v.getValue() << ")";
    os << "\n";
    for (unsigned i = 0; i < f.getNumArguments(); ++i)
      os << "  input  " << name(f, i, false) << ": "
         << typeString(f.getArgumentTypes()[i]) << "\n";
    for (unsigned i = 0; i < f.getNumResults(); ++i)
      os << "  output " << name(f, i, true) << ": "
         << typeString(f.getResultTypes()[i]) << "\n";
    f.walk([&](Operation *op) {
      if (isa<func::FuncOp, func::ReturnOp>(op))
        return;
      ++histogram[op->getName().getStringRef()];
    });
  }
  os << "ops:";
  for (auto &[op, n] : histogram)
    os << " " << op << "=" << n;
  os << "\n";
  // Float compute between the model's inputs and outputs, per signature:
  // the ops an integer NPU could not run, with the model lines they come
  // from (for a model with quantization; a float model is float throughout).
  bool quantized = false;
  module.walk([&](Operation *op) {
    for (Type t : op->getResultTypes())
      if (auto s = dyn_cast<ShapedType>(t))
        quantized |= isa<quant::QuantizedType>(s.getElementType());
  });
  for (auto f : module.getOps<func::FuncOp>()) {
    SmallVector<Operation *> floats = kiln::findFloatOps(f);
    llvm::MapVector<StringRef, int64_t> kinds;
    for (Operation *op : floats)
      ++kinds[op->getName().getStringRef()];
    os << "float ops '" << f.getName() << "': " << floats.size();
    for (auto &[k, n] : kinds)
      os << " " << k << "=" << n;
    os << "\n";
    if (!quantized || floats.empty())
      continue;
    llvm::MapVector<std::string, SmallVector<StringRef>,
                    std::map<std::string, unsigned>>
        byLine;
    for (Operation *op : floats) {
      std::string line = kiln::sourceLine(op->getLoc());
      auto &names = byLine[line.empty() ? "<unknown>" : line];
      if (!llvm::is_contained(names, op->getName().getStringRef()))
        names.push_back(op->getName().getStringRef());
    }
    unsigned shown = 0;
    for (auto &[line, names] : byLine) {
      if (++shown > 40) {
        os << "  ... " << byLine.size() - 40 << " more lines\n";
        break;
      }
      os << "  float at " << line << ": " << llvm::join(names, ", ") << "\n";
    }
  }
  // The bytes the file stores: each buffer once (prefill and decode share
  // their weights), 4-bit data packed.
  os << "weights:";
  for (auto &[kind, bytes] : stored.constantBytes)
    os << " " << kind << "=" << bytes << "B";
  os << " (" << stored.totalConstantBytes() << "B in " << stored.constantBuffers
     << " buffers for " << stored.constantTensors << " tensors; file "
     << stored.fileBytes << "B)";
  os << "\ntime:";
  for (const kiln::StageTime &s : stages)
    os << " " << s.name << "=" << llvm::format("%.3f", s.seconds) << "s";
  os << "\n";
}
/// The summary as JSON (--summary-json): what printSummary prints, as data.
bool writeSummaryJson(StringRef path, ModuleOp module,
                      const kiln::ConvertResult &result,
                      const kiln::ConvertOptions &options) {
  std::error_code ec;
  llvm::raw_fd_ostream file(path, ec);
  if (ec) {
    llvm::errs() << "kiln-convert: error: cannot write '" << path
                 << "': " << ec.message() << "\n";
    return false;
  }
  llvm::json::OStream j(file, 2);
  auto tensor = [&](func::FuncOp f, unsigned i, bool isResult) {
    Type t = isResult ? f.getResultTypes()[i] : f.getArgumentTypes()[i];
    j.object([&] {
      j.attribute("name", name(f, i, isResult));
      if (auto shaped = dyn_cast<ShapedType>(t)) {
        j.attributeArray("shape", [&] {
          for (int64_t d : shaped.getShape())
            j.value(d);
        });
        Type elt = shaped.getElementType();
        j.attribute("dtype", elementName(elt));
        j.attribute("quantized", isa<quant::QuantizedType>(elt));
      }
    });
  };
  j.object([&] {
    j.attribute("input", options.inputPath);
    j.attribute("output", options.outputPath);
    j.attribute("format", kiln::circle::stringifyFlavor(options.flavor));
    j.attribute("mode", kiln::stringifyConvertMode(options.mode));
    j.attributeArray("signatures", [&] {
      for (auto f : module.getOps<func::FuncOp>())
        j.object([&] {
          j.attribute("name", f.getName());
          if (auto v = f->getAttrOfType<StringAttr>(
                  kiln::KilnDialect::getVariantAttrName()))
            j.attribute("variant", v.getValue());
          j.attributeArray("inputs", [&] {
            for (unsigned i = 0; i < f.getNumArguments(); ++i)
              tensor(f, i, false);
          });
          j.attributeArray("outputs", [&] {
            for (unsigned i = 0; i < f.getNumResults(); ++i)
              tensor(f, i, true);
          });
          j.attribute("float_ops", int64_t(kiln::findFloatOps(f).size()));
        });
    });
    const kiln::circle::WriterStats &stored = result.stored;
    j.attribute("file_bytes", int64_t(stored.fileBytes));
    j.attribute("constant_bytes", int64_t(stored.totalConstantBytes()));
    j.attribute("constant_buffers", int64_t(stored.constantBuffers));
    j.attribute("constant_tensors", int64_t(stored.constantTensors));
    j.attributeObject("constant_bytes_by_type", [&] {
      for (auto &[kind, bytes] : stored.constantBytes)
        j.attribute(kind, int64_t(bytes));
    });
    if (llvm::Expected<llvm::json::Value> contract =
            llvm::json::parse(kiln::contractMetadata(options)))
      j.attribute("contract", std::move(*contract));
    else
      llvm::consumeError(contract.takeError());
    if (!result.segments.empty())
      j.attributeArray("segments", [&] {
        for (const kiln::SplitSegment &segment : result.segments)
          j.object([&] {
            j.attribute("file", segment.file);
            j.attribute("bytes", int64_t(segment.stored.fileBytes));
          });
      });
    j.attributeObject("seconds", [&] {
      for (const kiln::StageTime &st : result.stages)
        j.attribute(st.name, st.seconds);
    });
  });
  file << "\n";
  file.close();
  if (file.has_error()) {
    llvm::errs() << "kiln-convert: error: cannot write '" << path
                 << "': " << file.error().message() << "\n";
    file.clear_error();
    return false;
  }
  return true;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "Kiln: TorchScript (.pt) to Circle/TFLite\n");

  DialectRegistry registry;
  kiln::registerAllDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  auto fail = [](const Twine &msg) {
    llvm::errs() << "kiln-convert: error: " << msg << "\n";
    return 1;
  };
  kiln::ConvertOptions options;
  options.inputPath = inputPath;
  options.outputPath = outputPath;
  if (auto flavor = kiln::circle::parseFlavor(formatOpt))
    options.flavor = *flavor;
  else
    return fail("--format must be circle or tflite");
  if (auto mode = kiln::parseConvertMode(modeOpt))
    options.mode = *mode;
  else
    return fail("--mode must be prefill, append, decode or several joined by "
                "'+' (prefill+decode), not '" +
                modeOpt + "'");
  if (auto layout = kiln::parseKeyLayout(keyLayoutOpt))
    options.keyLayout = *layout;
  else
    return fail("--key-layout must be bhsd or bhds");
  if (variantOpt == "prefill" || variantOpt == "prefill_reference")
    options.prefillVariant = variantOpt == "prefill"
                                 ? kiln::Variant::Prefill
                                 : kiln::Variant::PrefillReference;
  else
    return fail("--variant must be prefill or prefill_reference");
  if (!emitMlir.empty()) {
    auto stage = kiln::parseConvertStage(emitMlir);
    if (!stage || *stage == kiln::ConvertStage::Written)
      return fail("--emit-mlir must be import, adapted, quantized or circle");
    options.stopAfter = *stage;
  }
  // A length given is checked (0 too); one not given is unset.
  options.seqLens.assign(seqLens.begin(), seqLens.end());
  options.appendLens.assign(appendLens.begin(), appendLens.end());
  if (cacheLen.getNumOccurrences())
    options.cacheLen = cacheLen;
  if (slidingWindow.getNumOccurrences())
    options.slidingWindow = slidingWindow;
  options.batch = batch;
  options.returnKv = returnKv;
  options.inputRoles.assign(inputRoles.begin(), inputRoles.end());
  options.cacheOut = cacheOut;
  options.integerOnly = integerOnly;
  options.forceExternalBuffers = forceExternal;
  options.sourceLocations = sourceLocations;
  options.recipe = recipe;
  if (splitOpt.getNumOccurrences()) {
    auto split = kiln::parseSplitMode(splitOpt);
    if (!split)
      return fail("--split must be layers (or none), not '" + splitOpt + "'");
    options.split = *split;
  }
  if (llvm::Error error = kiln::verifyConvertOptions(options))
    return fail(llvm::toString(std::move(error)));

  // Progress on stderr, except with --quiet.
  std::unique_ptr<kiln::TextProgress> progress;
  if (!quiet && progressOpt != "none") {
    if (progressOpt != "auto" && progressOpt != "bar" && progressOpt != "lines")
      return fail("--progress must be auto, bar, lines or none");
    kiln::TextProgress::Options display;
    display.bar =
        progressOpt == "bar" ||
        (progressOpt == "auto" && llvm::sys::Process::StandardErrIsDisplayed());
    display.delaySeconds = progressAfter;
    progress = std::make_unique<kiln::TextProgress>(llvm::errs(), display);
    options.progress = progress.get();
  }
  // A diagnostic first erases the bar, then goes to the source manager.
  ScopedDiagnosticHandler clearBar(&context, [&](Diagnostic &) {
    if (progress)
      progress->clear();
    return failure();
  });

  FailureOr<kiln::ConvertResult> result = kiln::convertModel(context, options);
  progress.reset();
  if (failed(result))
    return 1;
  if (!emitMlir.empty()) {
    result->module->print(llvm::outs());
    return 0;
  }
  if (!summaryJson.empty() &&
      !writeSummaryJson(summaryJson, *result->module, *result, options))
    return 1;
  if (!quiet) {
    printSummary(*result->module, result->stages, outputPath, result->stored);
    if (!result->segments.empty()) {
      llvm::outs() << "split: " << result->segments.size() << " files in "
                   << outputPath << " (manifest.json):";
      for (const kiln::SplitSegment &segment : result->segments)
        llvm::outs() << " " << segment.file << "=" << segment.stored.fileBytes
                     << "B";
      llvm::outs() << "\n";
    }
  }
  return 0;
}
