//===- kiln-convert.cpp - .pt to .circle/.tflite in one command -----------===//
//
// import -> export adapter + attention variant (per mode) -> fold fake quant
// -> legalize to circle -> FlatBuffer. Every stage is a library call; this
// file only parses options, times stages and prints the summary.
//
//===----------------------------------------------------------------------===//
#include "kiln/Conversion/Passes.h"
#include "kiln/Dialect/Kiln/Transforms/Passes.h"
#include "kiln/Export/Circle/Writer.h"
#include "kiln/Import/TorchScript/Importer.h"
#include "kiln/InitAll.h"
#include "kiln/Pipelines/Pipelines.h"
#include "kiln/Dialect/Circle/IR/CircleOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/Timer.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <map>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("kiln-convert options");
static cl::opt<std::string> inputPath(cl::Positional, cl::desc("<model.pt>"),
                                      cl::Required, cl::cat(category));
static cl::opt<std::string> outputPath("o", cl::desc("Output .circle/.tflite file"),
                                       cl::value_desc("file"), cl::cat(category));
static cl::opt<std::string> modeOpt("mode", cl::desc("prefill, decode or prefill+decode"),
                                    cl::init("prefill"), cl::cat(category));
static cl::opt<std::string> variantOpt(
    "variant", cl::desc("Prefill attention: prefill (per head) or prefill_reference (batched)"),
    cl::init("prefill"), cl::cat(category));
static cl::opt<int64_t> seqLen("seq-len", cl::desc("Prefill sequence length"),
                               cl::init(0), cl::cat(category));
static cl::opt<int64_t> cacheLen("cache-len", cl::desc("Decode: past positions"),
                                 cl::init(0), cl::cat(category));
static cl::opt<int64_t> batch("batch", cl::desc("Batch size"), cl::init(1),
                              cl::cat(category));
static cl::opt<bool> returnKv("return-kv", cl::desc("Prefill returns keys and values"),
                              cl::init(true), cl::cat(category));
static cl::opt<std::string> formatOpt("format", cl::desc("circle or tflite"),
                                   cl::init("circle"), cl::cat(category));
static cl::opt<std::string> recipe("recipe", cl::desc("Recorded in the metadata"),
                                   cl::init(""), cl::cat(category));
static cl::opt<std::string> emitMlir(
    "emit-mlir",
    cl::desc("Print the MLIR after a stage (import, adapted, quantized, circle) "
             "instead of writing a FlatBuffer"),
    cl::init(""), cl::cat(category));
static cl::opt<bool> forceExternal("force-external-buffers",
                                   cl::desc("Write buffers after the FlatBuffer"),
                                   cl::init(false), cl::cat(category));
static cl::list<std::string> inputRoles(
    "input-role",
    cl::desc("Role of an argument with an unusual name: NAME=ROLE (hidden_states, "
             "input_ids, attention_mask, cos, sin, past_key, past_value)"),
    cl::value_desc("NAME=ROLE"), cl::cat(category));
static cl::opt<std::string> cacheOut(
    "cache-out",
    cl::desc("Decode keys/values: delta (this step's), full (the updated cache), "
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
static cl::opt<bool> quiet("quiet", cl::desc("No summary"), cl::init(false),
                           cl::cat(category));

namespace {
struct Stage {
  std::string name;
  double seconds;
};

std::string typeString(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  if (auto shaped = dyn_cast<ShapedType>(t)) {
    os << "[";
    llvm::interleaveComma(shaped.getShape(), os);
    os << "] ";
    Type elt = shaped.getElementType();
    if (auto q = dyn_cast<quant::QuantizedType>(elt))
      os << (q.isSigned() ? "int" : "uint") << q.getStorageTypeIntegralWidth()
         << " (quantized)";
    else
      os << elt;
  } else {
    os << t;
  }
  return s;
}

std::string name(func::FuncOp f, unsigned i, bool result) {
  auto attr = result ? f.getResultAttrOfType<StringAttr>(i, "kiln.name")
                     : f.getArgAttrOfType<StringAttr>(i, "kiln.name");
  return attr ? attr.getValue().str()
              : (result ? "output" : "input") + std::to_string(i);
}

void printSummary(ModuleOp module, ArrayRef<Stage> stages, StringRef output,
                  const kiln::circle::WriterStats &stored) {
  llvm::raw_ostream &os = llvm::outs();
  os << "kiln-convert: " << inputPath << " -> " << output << " (" << formatOpt
     << ")\n";
  llvm::MapVector<StringRef, int64_t> histogram;
  for (auto f : module.getOps<func::FuncOp>()) {
    os << "signature '" << f.getName() << "'";
    if (auto v = f->getAttrOfType<StringAttr>("kiln.variant"))
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
  for (const Stage &s : stages)
    os << " " << s.name << "=" << llvm::format("%.3f", s.seconds) << "s";
  os << "\n";
}

bool hasArgNamed(func::FuncOp f, StringRef prefix) {
  for (unsigned i = 0; i < f.getNumArguments(); ++i)
    if (auto n = f.getArgAttrOfType<StringAttr>(i, "kiln.name"))
      if (n.getValue().starts_with(prefix))
        return true;
  return false;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "Kiln: TorchScript (.pt) to Circle/TFLite\n");

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
  // Lengths: positive when given, and small enough that the mask and cache
  // inputs (batch x seq x (cache + seq)) stay below 2^32 elements.
  for (auto *opt : {&seqLen, &cacheLen, &batch})
    if ((opt->getNumOccurrences() && opt->getValue() <= 0) || opt->getValue() < 0 ||
        opt->getValue() > (int64_t(1) << 20))
      return fail("--" + opt->ArgStr + " must be between 1 and 1048576, not " +
                  Twine(opt->getValue()));
  if (batch * std::max<int64_t>(seqLen, 1) * (cacheLen + std::max<int64_t>(seqLen, 1)) >
      (int64_t(1) << 32))
    return fail("--batch x --seq-len x (--cache-len + --seq-len) exceeds 2^32 elements");
  if (!outputPath.empty() && outputPath != "-") {
    llvm::SmallString<256> dir(outputPath.getValue());
    llvm::sys::path::remove_filename(dir);
    if (dir.empty())
      dir = ".";
    if (llvm::sys::fs::is_directory(outputPath.getValue()))
      return fail("the output '" + outputPath + "' is a directory");
    if (!llvm::sys::fs::is_directory(dir))
      return fail("the output directory '" + dir + "' does not exist");
    if (llvm::sys::fs::access(dir, llvm::sys::fs::AccessMode::Write))
      return fail("the output directory '" + dir + "' is not writable");
    if (llvm::sys::fs::exists(outputPath.getValue()) &&
        llvm::sys::fs::access(outputPath.getValue(), llvm::sys::fs::AccessMode::Write))
      return fail("the output '" + outputPath + "' is read-only");
  }
  if (formatOpt != "circle" && formatOpt != "tflite")
    return fail("--format must be circle or tflite");
  if (modeOpt != "prefill" && modeOpt != "decode" && modeOpt != "prefill+decode")
    return fail("--mode must be prefill, decode or prefill+decode");
  if (variantOpt != "prefill" && variantOpt != "prefill_reference")
    return fail("--variant must be prefill or prefill_reference");
  if (emitMlir.empty() && outputPath.empty())
    return fail("no output: give -o FILE (or --emit-mlir=STAGE)");
  if (!emitMlir.empty() && emitMlir != "import" && emitMlir != "adapted" &&
      emitMlir != "quantized" && emitMlir != "circle")
    return fail("--emit-mlir must be import, adapted, quantized or circle");

  SmallVector<Stage> stages;
  auto timed = [&](StringRef stage, auto &&fn) {
    auto start = std::chrono::steady_clock::now();
    auto result = fn();
    stages.push_back({stage.str(), std::chrono::duration<double>(
                                       std::chrono::steady_clock::now() - start)
                                       .count()});
    return result;
  };

  // 1. Import.
  // A module exported for one mode may build its RoPE tables and mask from
  // the token shape (a traced Hugging Face model): with that shape known at
  // import, those computations fold to constants.
  kiln::TorchScriptImportOptions importOptions;
  if (modeOpt == "prefill" || modeOpt == "decode") {
    int64_t s = modeOpt == "prefill" ? seqLen.getValue() : 1;
    if (s > 0)
      for (const char *name : {"input_ids", "ids"})
        importOptions.inputShapes.push_back(std::string(name) + "=" +
                                            std::to_string(batch.getValue()) + "x" +
                                            std::to_string(s) + "xi64");
    importOptions.ignoreUnusedShapes = true;
  }
  OwningOpRef<ModuleOp> imported = timed("import", [&] {
    return kiln::importTorchScript(inputPath, context, importOptions);
  });
  if (!imported)
    return 1;
  if (emitMlir == "import") {
    imported->print(llvm::outs());
    return 0;
  }

  // 2. Adapter + attention variant, one clone of the import per mode; the
  // clones share every weight attribute, so the writer shares buffers.
  SmallVector<std::pair<kiln::Variant, std::string>> modes;
  if (modeOpt != "decode")
    modes.push_back({variantOpt == "prefill" ? kiln::Variant::Prefill
                                             : kiln::Variant::PrefillReference,
                     "prefill"});
  if (modeOpt != "prefill")
    modes.push_back({kiln::Variant::Decode, "decode"});
  OwningOpRef<ModuleOp> result = ModuleOp::create(UnknownLoc::get(&context));
  for (auto &[variant, fname] : modes) {
    OwningOpRef<ModuleOp> work;
    std::string source = "forward";
    auto forward = imported->lookupSymbol<func::FuncOp>("forward");
    if (variant == kiln::Variant::Decode && forward &&
        !hasArgNamed(forward, "past_key")) {
      // A traced module keeps its decode step in a `decode` method.
      kiln::TorchScriptImportOptions options;
      options.methodName = "decode";
      work = kiln::importTorchScript(inputPath, context, options);
      if (!work)
        return 1;
      source = "decode";
    } else {
      work = imported->clone();
    }
    kiln::ExportPipelineOptions options;
    options.batch = batch.getValue();
    options.seqLen = seqLen.getValue();
    options.cacheLen = cacheLen.getValue();
    options.returnKv = returnKv.getValue();
    options.function = source;
    options.outputName = fname;
    options.inputRoles = std::vector<std::string>(inputRoles.begin(), inputRoles.end());
    options.cacheOut = cacheOut.getValue();
    PassManager pm(&context);
    kiln::buildVariantPipeline(pm, variant, options);
    if (failed(timed(("adapt-" + fname), [&] { return pm.run(*work); })))
      return 1;
    auto f = work->lookupSymbol<func::FuncOp>(fname);
    f->remove();
    result->push_back(f);
  }
  result->getOperation()->setAttr("kiln.pipeline",
                                   StringAttr::get(&context, "kiln-convert " + modeOpt));
  result->getOperation()->setAttr("kiln.variant",
                                  StringAttr::get(&context, variantOpt));
  if (!recipe.empty())
    result->getOperation()->setAttr("kiln.recipe", StringAttr::get(&context, recipe));
  if (emitMlir == "adapted") {
    result->print(llvm::outs());
    return 0;
  }

  // 3. Quantize and lower.
  {
    PassManager pm(&context);
    kiln::FoldFakeQuantOptions fold;
    fold.integerOnly = integerOnly.getValue();
    pm.nest<func::FuncOp>().addPass(kiln::createFoldFakeQuant(fold));
    if (failed(timed("fold-fake-quant", [&] { return pm.run(*result); })))
      return 1;
  }
  if (emitMlir == "quantized") {
    result->print(llvm::outs());
    return 0;
  }
  {
    PassManager pm(&context);
    kiln::LegalizeToCircleOptions legalize;
    legalize.flavor = formatOpt.getValue();
    pm.nest<func::FuncOp>().addPass(kiln::createLegalizeToCircle(legalize));
    if (formatOpt == "tflite")
      pm.nest<func::FuncOp>().addPass(kiln::createExactMaskedSoftmax());
    if (failed(timed("legalize", [&] { return pm.run(*result); })))
      return 1;
  }
  if (integerOnly) {
    PassManager pm(&context);
    pm.nest<func::FuncOp>().addPass(kiln::createCheckIntegerOnly());
    if (failed(pm.run(*result)))
      return 1;
  }
  if (emitMlir == "circle") {
    result->print(llvm::outs());
    return 0;
  }

  // 4. Write (through a temporary file: no partial output on failure).
  kiln::circle::WriterOptions writer;
  writer.flavor = formatOpt == "tflite" ? kiln::circle::Flavor::TFLite
                                     : kiln::circle::Flavor::Circle;
  writer.forceExternalBuffers = forceExternal;
  kiln::circle::WriterStats stored;
  writer.stats = &stored;
  if (failed(timed("write", [&] {
        return kiln::circle::writeCircleFile(*result, outputPath, writer);
      })))
    return 1;
  if (!quiet)
    printSummary(*result, stages, outputPath, stored);
  return 0;
}
