//===- Driver.cpp - The kiln-run command line -----------------------------===//
//
//   kiln-run model.mlir --function prefill --input hidden=h.bin ...
//   --output-dir out/ kiln-run model.mlir --function forward --inputs-from ref/
//   --step prefill kiln-run --compare a.mlir b.mlir [--inputs-from ref/ |
//   --random-inputs] kiln-run --compare model.mlir@prefill
//   model.mlir@prefill_reference ... kiln-run ... --bench 20
//
//===----------------------------------------------------------------------===//
#include "Inputs.h"
#include "Interpreter.h"
#include "LiteRt.h"
#include "Perplexity.h"
#include "kiln/Export/Circle/Reader.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

using namespace mlir;
namespace cl = llvm::cl;

namespace kiln::runtime {
namespace {

/// One model variant: FILE[@FUNCTION].
struct Variant {
  std::string file;
  std::string function; // empty: --function / default
  /// One source manager per model: parseSourceFile parses its main buffer.
  std::unique_ptr<llvm::SourceMgr> sourceMgr;
  OwningOpRef<ModuleOp> module;
  std::unique_ptr<Compiler> compiler;
};

struct RunResult {
  std::vector<OutputLeaf> outputs;
  double msPerCall = 0, msMedian = 0, msMin = 0;
};

struct Options {
  std::vector<std::string> functions;
  std::vector<std::string> inputs;
  std::vector<std::string> args;
  std::string inputsFrom, step, outputDir;
  bool randomInputs = false;
  uint64_t seed = 0;
  int64_t intRange = 16;
  bool compare = false;
  unsigned bench = 0, warmup = 3;
  int threads = 0;
  double maxAbs = -1, maxPeir = -1;
  std::string dumpDir;
  std::string gemm = "aten";
  bool againstLiteRt = false;
  bool integerKernels = true;
};

class Runner {
public:
  Runner(MLIRContext &ctx, llvm::SourceMgr &sm, Options opts)
      : ctx(ctx), sourceMgr(sm), opts(std::move(opts)) {}

  int main(std::vector<std::string> positional);

private:
  LogicalResult load(Variant &v);
  std::string defaultFunction(ModuleOp module);
  InputSet makeInputs(const ReferenceStep *step);
  /// Runs (and benchmarks) one function; throws EvalError / Reported.
  RunResult run(Variant &v, const std::string &function,
                const InputSet &inputs);
  /// Prints one metrics table; `enforce`: outputs beyond --max-abs-error /
  /// --max-peir make the run fail.
  void
  printMetrics(llvm::StringRef title, const std::vector<OutputLeaf> &actual,
               const std::vector<std::pair<std::string, at::Tensor>> &expected,
               bool enforce = true);
  void writeOutputs(const std::string &step,
                    const std::vector<OutputLeaf> &outputs,
                    const std::string &source);
  const ReferenceStep *stepFor(const std::string &function);
  /// --dump-intermediates: every tensor result of every op, in execution
  /// order, as DIR/<function>.NNNNN.bin with DIR/<function>.json.
  void installDump(const std::string &function);
  void finishDump(const std::string &function);
  llvm::json::Array dumpEntries;

  MLIRContext &ctx;
  llvm::SourceMgr &sourceMgr;
  Options opts;
  std::optional<ReferenceFolder> reference;
  bool toleranceExceeded = false;
};

LogicalResult Runner::load(Variant &v) {
  std::string err;
  auto file = openInputFile(v.file, &err);
  if (!file) {
    llvm::errs() << "kiln-run: " << err << "\n";
    return failure();
  }
  // A .circle / .tflite file (its FlatBuffer identifier at byte 4) is read
  // into the circle dialect: the exported file runs as written.
  StringRef bytes = file->getBuffer();
  bool flatbuffer = bytes.size() >= 8 && (bytes.substr(4, 4) == "CIR0" ||
                                          bytes.substr(4, 4) == "TFL3");
  v.sourceMgr = std::make_unique<llvm::SourceMgr>();
  if (flatbuffer) {
    // Mapped (openInputFile may read a file into the heap), and the
    // constants borrow its bytes instead of copying every weight.
    auto mapped = llvm::MemoryBuffer::getFile(v.file, /*IsText=*/false,
                                              /*RequiresNullTerminator=*/false);
    if (!mapped) {
      llvm::errs() << "kiln-run: cannot read '" << v.file
                   << "': " << mapped.getError().message() << "\n";
      return failure();
    }
    file.reset();
    std::shared_ptr<llvm::MemoryBuffer> keep(std::move(*mapped));
    v.module = kiln::circle::readCircle(
        keep->getBuffer(), &ctx, FileLineColLoc::get(&ctx, v.file, 0, 0), keep);
  } else {
    v.sourceMgr->AddNewSourceBuffer(std::move(file), SMLoc());
    v.module = parseSourceFile<ModuleOp>(*v.sourceMgr, ParserConfig(&ctx));
  }
  if (!v.module)
    return failure();
  CompileOptions compileOptions;
  compileOptions.onednnGemm = opts.gemm == "onednn";
  compileOptions.integerKernels = opts.integerKernels;
  v.compiler = std::make_unique<Compiler>(*v.module, compileOptions);
  return success();
}

std::string Runner::defaultFunction(ModuleOp module) {
  std::vector<std::string> candidates;
  for (auto f : module.getOps<func::FuncOp>())
    if (!f.isDeclaration() && f.isPublic())
      candidates.push_back(f.getSymName().str());
  if (candidates.size() == 1)
    return candidates[0];
  if (llvm::is_contained(candidates, "forward"))
    return "forward";
  std::string list;
  for (auto &c : candidates)
    list += (list.empty() ? "" : ", ") + c;
  fail("choose a function with --function (public functions: " +
       (list.empty() ? "none" : list) + ")");
}

const ReferenceStep *Runner::stepFor(const std::string &function) {
  if (!reference)
    return nullptr;
  std::string step = opts.step.empty() ? function : opts.step;
  auto it = reference->steps.find(step);
  if (it != reference->steps.end())
    return &it->second;
  std::string steps;
  for (auto &s : reference->stepNames)
    steps += (steps.empty() ? "" : ", ") + s;
  fail("reference '" + reference->dir + "' has no step '" + step +
       "' (steps: " + steps + "); choose one with --step");
}

InputSet Runner::makeInputs(const ReferenceStep *step) {
  InputSet set;
  // kiln_torch calls a scripted module with use_cache=True and
  // output_attentions=False (docs/kiln_torch.md, "Reference folder").
  if (step && reference->model.getBoolean("scripted").value_or(false)) {
    set.defaults["use_cache"] = "true";
    set.defaults["output_attentions"] = "false";
  }
  if (step)
    for (const TensorEntry &e : step->inputs) {
      InputSource src;
      src.label = "reference input '" + e.name + "'";
      src.value =
          RValue::tensor(readTensorFile(e.file, e.shape, e.dtype, src.label));
      set.positional.push_back(std::move(src));
    }
  std::map<int64_t, InputSource> indexed;
  for (const std::string &spec : opts.inputs) {
    llvm::StringRef s(spec);
    auto [name, rest] = s.split('=');
    if (rest.empty() || name.empty())
      fail("--input expects NAME=FILE[:TYPE], got '" + spec + "'");
    InputSource src;
    src.label = "input '" + name.str() + "'";
    auto [file, type] = rest.rsplit(':');
    if (!type.empty() && (type.contains('x') || type.starts_with("f") ||
                          type.starts_with("i"))) {
      Type t = parseType(("tensor<" + type + ">").str(), &ctx);
      auto r = dyn_cast_or_null<RankedTensorType>(t);
      std::optional<at::ScalarType> dtype =
          r ? scalarTypeOf(r.getElementType()) : std::nullopt;
      if (!r || !r.hasStaticShape() || !dtype)
        fail(src.label + ": cannot parse type '" + type +
             "' (expected e.g. 1x16x64xf32)");
      src.value = RValue::tensor(
          readTensorFile(file.str(), r.getShape(), *dtype, src.label));
    } else {
      file = rest;
    }
    src.file = file.str();
    int64_t index;
    if (!name.getAsInteger(10, index))
      indexed[index] = std::move(src);
    else
      set.named[name.str()] = std::move(src);
  }
  if (!indexed.empty()) {
    if (step)
      fail("numbered --input cannot be combined with --inputs-from");
    int64_t expect = 0;
    for (auto &kv : indexed) {
      if (kv.first != expect++)
        fail("numbered inputs must be 0, 1, 2, ... without gaps");
      set.positional.push_back(std::move(kv.second));
    }
  }
  for (const std::string &spec : opts.args) {
    auto [name, value] = llvm::StringRef(spec).split('=');
    if (name.empty() || value.empty())
      fail("--arg expects NAME=VALUE, got '" + spec + "'");
    set.scalars[name.str()] = value.str();
  }
  if (opts.randomInputs) {
    set.randomSeed = opts.seed;
    set.randomIntRange = opts.intRange;
    set.defaultScalars = true;
  }
  return set;
}

RunResult Runner::run(Variant &v, const std::string &function,
                      const InputSet &inputs) {
  Function *fn = v.compiler->getFunction(function, v.module->getLoc());
  if (!fn)
    throw Reported();
  func::FuncOp func = fn->func;
  std::vector<RValue> args;
  try {
    std::vector<RValue> raw = bindInputs(func, inputs);
    for (size_t i = 0; i < raw.size(); ++i)
      args.push_back(bindArgument(raw[i], func.getArgumentTypes()[i],
                                  "argument '" + argumentName(func, i) +
                                      "' of @" + function));
  } catch (const EvalError &e) {
    emitError(func.getLoc()) << e.what();
    throw Reported();
  } catch (const c10::Error &e) {
    emitError(func.getLoc()) << e.what_without_backtrace();
    throw Reported();
  }
  RunResult result;
  if (opts.againstLiteRt) {
    if (compareWithLiteRt(*v.module, function, args, 20, llvm::outs(),
                          v.compiler->options()))
      toleranceExceeded = true;
    return result;
  }
  if (!opts.dumpDir.empty())
    installDump(function);
  std::vector<RValue> results = callFunction(*fn, args);
  if (!opts.dumpDir.empty()) {
    setStepObserver(nullptr);
    finishDump(function);
  }
  if (opts.bench) {
    for (unsigned i = 0; i < opts.warmup; ++i)
      callFunction(*fn, args);
    std::vector<double> times;
    for (unsigned i = 0; i < opts.bench; ++i) {
      auto start = std::chrono::steady_clock::now();
      callFunction(*fn, args);
      auto end = std::chrono::steady_clock::now();
      times.push_back(
          std::chrono::duration<double, std::milli>(end - start).count());
    }
    double sum = 0;
    for (double t : times)
      sum += t;
    result.msPerCall = sum / times.size();
    std::sort(times.begin(), times.end());
    result.msMedian = times[times.size() / 2];
    result.msMin = times.front();
  }
  result.outputs =
      flattenOutputs(results, func.getResultTypes(), resultNames(func));
  return result;
}

void Runner::printMetrics(
    llvm::StringRef title, const std::vector<OutputLeaf> &actual,
    const std::vector<std::pair<std::string, at::Tensor>> &expected,
    bool enforce) {
  llvm::outs() << title << "\n";
  if (actual.size() != expected.size())
    fail("the function returns " + llvm::Twine(actual.size()) +
         " tensors but " + llvm::Twine(expected.size()) + " are expected");
  const char *cols[] = {"output",   "shape", "max_abs",
                        "mean_abs", "peir",  "cosine"};
  llvm::outs() << llvm::format("  %-16s %-18s %-11s %-11s %-11s %s\n", cols[0],
                               cols[1], cols[2], cols[3], cols[4], cols[5]);
  for (size_t i = 0; i < actual.size(); ++i) {
    TensorMetrics m = compareTensors(actual[i].tensor, expected[i].second);
    std::string shape = shapeToString(actual[i].tensor.sizes().vec());
    llvm::outs() << llvm::format("  %-16s %-18s %.3e  %.3e  %.3e  %.8f",
                                 expected[i].first.c_str(), shape.c_str(),
                                 m.maxAbs, m.meanAbs, m.peir, m.cosine);
    if (!m.note.empty())
      llvm::outs() << "  (" << m.note << ")";
    bool bad = enforce && ((opts.maxAbs >= 0 && !(m.maxAbs <= opts.maxAbs)) ||
                           (opts.maxPeir >= 0 && !(m.peir <= opts.maxPeir)));
    if (bad) {
      llvm::outs() << "  EXCEEDS TOLERANCE";
      toleranceExceeded = true;
    }
    llvm::outs() << "\n";
  }
}

void Runner::writeOutputs(const std::string &step,
                          const std::vector<OutputLeaf> &outputs,
                          const std::string &source) {
  if (std::error_code ec = llvm::sys::fs::create_directories(opts.outputDir))
    fail("cannot create '" + opts.outputDir + "': " + ec.message());
  llvm::SmallString<256> indexPath(opts.outputDir);
  llvm::sys::path::append(indexPath, "index.json");
  // Merge with an index written by an earlier step of this run.
  llvm::json::Object root;
  if (auto buffer = llvm::MemoryBuffer::getFile(indexPath))
    if (auto json = llvm::json::parse((*buffer)->getBuffer()))
      if (auto *o = json->getAsObject())
        root = std::move(*o);
  if (!root.getObject("model"))
    root["model"] =
        llvm::json::Object{{"producer", "kiln-run"}, {"source", source}};
  llvm::json::Array entries;
  for (const OutputLeaf &o : outputs)
    entries.push_back(writeTensorEntry(
        opts.outputDir, step + "." + o.name + ".bin", o.name, o.tensor));
  root[step] = llvm::json::Object{{"outputs", std::move(entries)}};
  std::error_code ec;
  llvm::raw_fd_ostream os(indexPath, ec);
  if (ec)
    fail("cannot write '" + indexPath.str() + "': " + ec.message());
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root))) << "\n";
}

void Runner::installDump(const std::string &function) {
  if (std::error_code ec = llvm::sys::fs::create_directories(opts.dumpDir))
    fail("cannot create '" + opts.dumpDir + "': " + ec.message());
  dumpEntries = llvm::json::Array();
  std::string dir = opts.dumpDir;
  setStepObserver([this, dir, function](const Step &step, const Frame &frame) {
    for (auto [i, slot] : llvm::enumerate(step.results)) {
      const RValue &v = frame.slots[slot];
      if (v.kind != RValue::Kind::Tensor)
        continue;
      std::string file =
          llvm::formatv("{0}.{1:d5}.bin", function, dumpEntries.size()).str();
      llvm::SmallString<256> path(dir);
      llvm::sys::path::append(path, file);
      writeTensorFile(path.str().str(), v.t);
      std::string loc;
      llvm::raw_string_ostream os(loc);
      step.op->getLoc().print(os);
      llvm::json::Array shape;
      for (int64_t d : v.t.sizes())
        shape.push_back(d);
      dumpEntries.push_back(
          llvm::json::Object{{"op", step.op->getName().getStringRef()},
                             {"result", static_cast<int64_t>(i)},
                             {"loc", loc},
                             {"file", file},
                             {"shape", std::move(shape)},
                             {"dtype", dtypeFileName(v.t.scalar_type())}});
    }
  });
}

void Runner::finishDump(const std::string &function) {
  llvm::SmallString<256> path(opts.dumpDir);
  llvm::sys::path::append(path, function + ".json");
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    fail("cannot write '" + path.str() + "': " + ec.message());
  os << llvm::formatv("{0:1}", llvm::json::Value(std::move(dumpEntries)))
     << "\n";
  dumpEntries = llvm::json::Array();
}

static std::pair<std::string, std::string> splitSpec(const std::string &spec) {
  auto [file, function] = llvm::StringRef(spec).rsplit('@');
  if (function.empty() || function.contains('/'))
    return {spec, ""};
  return {file.str(), function.str()};
}

int Runner::main(std::vector<std::string> positional) {
  if (opts.threads > 0)
    at::set_num_threads(opts.threads);
  if (!opts.inputsFrom.empty())
    reference = readReferenceFolder(opts.inputsFrom);

  if (opts.compare != (positional.size() == 2))
    fail(opts.compare
             ? "--compare needs two models: A.mlir[@FUNC] B.mlir[@FUNC]"
             : "expected one model file (two with --compare)");
  std::vector<Variant> variants(positional.size());
  for (size_t i = 0; i < positional.size(); ++i) {
    std::tie(variants[i].file, variants[i].function) = splitSpec(positional[i]);
    if (failed(load(variants[i])))
      return 1;
  }

  if (opts.compare) {
    std::string fa = variants[0].function, fb = variants[1].function;
    if (opts.functions.size() > 1)
      fail("--compare takes one --function (or FILE@FUNC per model)");
    if (!opts.functions.empty()) {
      if (fa.empty())
        fa = opts.functions[0];
      if (fb.empty())
        fb = opts.functions[0];
    }
    if (fa.empty())
      fa = defaultFunction(*variants[0].module);
    if (fb.empty())
      fb = defaultFunction(*variants[1].module);
    const ReferenceStep *step = stepFor(fa);
    InputSet inputs = makeInputs(step);
    if (!step && inputs.positional.empty() && inputs.named.empty() &&
        !inputs.randomSeed)
      fail("--compare needs inputs: --inputs-from DIR, --input NAME=FILE or "
           "--random-inputs");
    RunResult a = run(variants[0], fa, inputs);
    RunResult b = run(variants[1], fb, inputs);
    std::vector<std::pair<std::string, at::Tensor>> expected;
    for (const OutputLeaf &o : a.outputs)
      expected.push_back({o.name, o.tensor});
    if (step && step->outputs.size() == a.outputs.size())
      for (size_t i = 0; i < expected.size(); ++i)
        expected[i].first = step->outputs[i].name;
    std::string nameA = variants[0].file + "@" + fa,
                nameB = variants[1].file + "@" + fb;
    printMetrics("B " + nameB + " vs A " + nameA, b.outputs, expected);
    if (step && !step->outputs.empty()) {
      std::vector<std::pair<std::string, at::Tensor>> ref;
      for (const TensorEntry &e : step->outputs)
        ref.push_back(
            {e.name, readTensorFile(e.file, e.shape, e.dtype,
                                    "reference output '" + e.name + "'")});
      // Informative: the tolerance applies to B against A.
      printMetrics("A " + nameA + " vs reference " + opts.inputsFrom, a.outputs,
                   ref, false);
      printMetrics("B " + nameB + " vs reference " + opts.inputsFrom, b.outputs,
                   ref, false);
    }
    if (opts.bench)
      llvm::outs() << llvm::format(
          "time per call: A %.3f ms, B %.3f ms (median %.3f / %.3f ms; %u "
          "calls after %u "
          "warm-up, %d threads); B/A = %.3f\n",
          a.msPerCall, b.msPerCall, a.msMedian, b.msMedian, opts.bench,
          opts.warmup, at::get_num_threads(), b.msPerCall / a.msPerCall);
    if (!opts.outputDir.empty()) {
      writeOutputs("A", a.outputs, nameA);
      writeOutputs("B", b.outputs, nameB);
    }
    return toleranceExceeded ? 1 : 0;
  }

  Variant &v = variants[0];
  std::vector<std::string> functions = opts.functions;
  if (!v.function.empty())
    functions.insert(functions.begin(), v.function);
  if (functions.empty())
    functions.push_back(defaultFunction(*v.module));
  for (const std::string &function : functions) {
    const ReferenceStep *step = stepFor(function);
    std::string stepName = opts.step.empty() ? function : opts.step;
    InputSet inputs = makeInputs(step);
    RunResult r = run(v, function, inputs);
    if (opts.againstLiteRt)
      continue;
    if (step && step->outputs.size() == r.outputs.size())
      for (size_t i = 0; i < r.outputs.size(); ++i)
        r.outputs[i].name = step->outputs[i].name;
    if (step && !step->outputs.empty()) {
      std::vector<std::pair<std::string, at::Tensor>> ref;
      for (const TensorEntry &e : step->outputs)
        ref.push_back(
            {e.name, readTensorFile(e.file, e.shape, e.dtype,
                                    "reference output '" + e.name + "'")});
      printMetrics("@" + function + " vs reference " + opts.inputsFrom +
                       " step '" + stepName + "'",
                   r.outputs, ref);
    }
    if (opts.bench)
      llvm::outs() << llvm::format("@%s: %.3f ms per call (median %.3f, min "
                                   "%.3f; %u calls after %u warm-up, %d "
                                   "threads)\n",
                                   function.c_str(), r.msPerCall, r.msMedian,
                                   r.msMin, opts.bench, opts.warmup,
                                   at::get_num_threads());
    if (!opts.outputDir.empty())
      writeOutputs(stepName, r.outputs, v.file + "@" + function);
    if (!step && opts.outputDir.empty() && !opts.bench) {
      for (const OutputLeaf &o : r.outputs)
        llvm::outs() << "@" << function << " " << o.name << ": "
                     << dtypeFileName(o.tensor.scalar_type()) << " "
                     << shapeToString(o.tensor.sizes().vec()) << "\n";
    }
  }
  return toleranceExceeded ? 1 : 0;
}

} // namespace

/// Keeps freed intermediates in the heap: by default glibc gives blocks above
/// 128 KiB back to the OS and every call page-faults them in again, which
/// made repeated calls 1x-4x slower at random (ATen allocates with malloc).
static void tuneAllocator() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

int kilnRunMain(int argc, char **argv, DialectRegistry &registry) {
  llvm::InitLLVM init(argc, argv);
  tuneAllocator();
  cl::OptionCategory category("kiln-run options");
  cl::list<std::string> positional(cl::Positional,
                                   cl::desc("<model.mlir[@function]>..."),
                                   cl::cat(category));
  cl::list<std::string> functions(
      "function",
      cl::desc(
          "Function(s) to run (default: the only public one, or 'forward')"),
      cl::CommaSeparated, cl::cat(category));
  cl::list<std::string> inputs(
      "input",
      cl::desc("NAME=FILE[:TYPE]: raw little-endian tensor for argument NAME "
               "(a name, NAME.K "
               "for tuple elements, or a leaf number 0, 1, ...); TYPE e.g. "
               "1x16x64xf32 when the "
               "argument type is not static"),
      cl::cat(category));
  cl::list<std::string> args(
      "arg",
      cl::desc("NAME=VALUE for scalar / Optional arguments "
               "(true, false, none, integers, floats)"),
      cl::cat(category));
  cl::opt<std::string> inputsFrom(
      "inputs-from",
      cl::desc("kiln_torch reference folder: take the step's inputs, compare "
               "with its outputs"),
      cl::cat(category));
  cl::opt<std::string> step(
      "step", cl::desc("Reference step (default: the function's name)"),
      cl::cat(category));
  cl::opt<bool> randomInputs(
      "random-inputs",
      cl::desc("Seeded random values for arguments without an input"),
      cl::cat(category));
  cl::opt<uint64_t> seed("seed", cl::desc("Seed of --random-inputs"),
                         cl::init(0), cl::cat(category));
  cl::opt<int64_t> intRange(
      "int-range",
      cl::desc("Random integers are drawn from [0, N) (default 16)"),
      cl::init(16), cl::cat(category));
  cl::opt<std::string> outputDir(
      "output-dir",
      cl::desc("Write outputs as <step>.<name>.bin with an index.json"),
      cl::cat(category));
  cl::opt<bool> compare(
      "compare",
      cl::desc("Run two models (A.mlir[@FUNC] B.mlir[@FUNC]) on the same "
               "inputs and print B's error against A"),
      cl::cat(category));
  cl::opt<unsigned> bench("bench", cl::desc("Time N calls after warm-up"),
                          cl::init(0), cl::cat(category));
  cl::opt<unsigned> warmup("warmup",
                           cl::desc("Warm-up calls before --bench (default 3)"),
                           cl::init(3), cl::cat(category));
  cl::opt<int> threads("num-threads", cl::desc("ATen intra-op threads"),
                       cl::init(0), cl::cat(category));
  cl::opt<double> maxAbs(
      "max-abs-error",
      cl::desc("Exit with 1 when an output's max abs error exceeds this"),
      cl::init(-1), cl::cat(category));
  cl::opt<double> maxPeir(
      "max-peir", cl::desc("Exit with 1 when an output's PEIR exceeds this"),
      cl::init(-1), cl::cat(category));
  cl::opt<std::string> dumpDir(
      "dump-intermediates",
      cl::desc(
          "Write every tensor an op produces (first call, execution order) to "
          "DIR/<function>.NNNNN.bin, listed with op name and location in "
          "DIR/<function>.json"),
      cl::cat(category));
  cl::opt<std::string> gemm("gemm",
                            cl::desc("Float linear / fully_connected kernel: "
                                     "aten (default; bit-exact with PyTorch "
                                     "on the CPU) or onednn (oneDNN GEMM: "
                                     "faster where ATen uses a reference "
                                     "BLAS; ~1e-6 relative float differences)"),
                            cl::init("aten"), cl::cat(category));
  cl::opt<std::string> quantizedKernels(
      "quantized-kernels",
      cl::desc("Quantized circle ops: integer (default; TFLite's integer "
               "kernels, bit for bit LiteRT's) or float (float-domain "
               "arithmetic, results fake-quantized)"),
      cl::init("integer"), cl::cat(category));
  cl::opt<bool> againstLiteRt(
      "against-litert",
      cl::desc("Run the function in kiln-run and in LiteRT (Node, "
               "@litertjs/core) with every tensor exposed, each op on "
               "LiteRT's operand values, and compare them bit for bit (as "
               "integers for quantized tensors); exit 1 unless all are equal"),
      cl::cat(category));
  PerplexityCommandLine perplexity(category);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "kiln-run: evaluate kiln / circle functions with ATen kernels\n");

  Options opts;
  opts.functions.assign(functions.begin(), functions.end());
  opts.inputs.assign(inputs.begin(), inputs.end());
  opts.args.assign(args.begin(), args.end());
  opts.inputsFrom = inputsFrom;
  opts.step = step;
  opts.outputDir = outputDir;
  opts.randomInputs = randomInputs;
  opts.seed = seed;
  opts.intRange = intRange;
  opts.compare = compare;
  opts.bench = bench;
  opts.warmup = warmup;
  opts.threads = threads;
  opts.maxAbs = maxAbs;
  opts.maxPeir = maxPeir;
  opts.dumpDir = dumpDir;
  opts.gemm = gemm;
  opts.againstLiteRt = againstLiteRt;
  if (quantizedKernels != "integer" && quantizedKernels != "float") {
    llvm::errs() << "kiln-run: --quantized-kernels must be integer or float\n";
    return 1;
  }
  opts.integerKernels = quantizedKernels == "integer";
  if (opts.againstLiteRt && (opts.compare || opts.bench)) {
    llvm::errs() << "kiln-run: --against-litert runs one model, without "
                    "--compare or --bench\n";
    return 1;
  }
  if (opts.gemm != "aten" && opts.gemm != "onednn") {
    llvm::errs() << "kiln-run: --gemm must be aten or onednn\n";
    return 1;
  }

  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  ctx.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler handler(sourceMgr, &ctx);
  if (perplexity.enabled()) {
    CompileOptions compile;
    compile.onednnGemm = opts.gemm == "onednn";
    compile.integerKernels = opts.integerKernels;
    return runPerplexity(
        ctx, std::vector<std::string>(positional.begin(), positional.end()),
        perplexity, {opts.seed, opts.threads, compile});
  }
  Runner runner(ctx, sourceMgr, std::move(opts));
  return reportErrors("kiln-run", [&] {
    return runner.main(
        std::vector<std::string>(positional.begin(), positional.end()));
  });
}

} // namespace kiln::runtime
