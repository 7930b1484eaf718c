//===- LiteRt.cpp - Running a circle module in LiteRT ---------------------===//
#include "LiteRt.h"
#include "Inputs.h"

#include "kiln/Dialect/Circle/IR/CircleOps.h"
#include "kiln/Dialect/Kiln/IR/KilnDialect.h"
#include "kiln/Export/Circle/Locations.h"
#include "kiln/Export/Circle/Writer.h"

#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/IRMapping.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

#include <cstdlib>

#ifndef KILN_LITERT_RUNNER_DEFAULT
#define KILN_LITERT_RUNNER_DEFAULT ""
#endif

using namespace mlir;

namespace kiln::runtime {

std::vector<ExposedTensor> exposeTensors(func::FuncOp func) {
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  llvm::DenseSet<Value> returned(ret.getOperands().begin(),
                                 ret.getOperands().end());
  std::vector<ExposedTensor> exposed;
  SmallVector<Value> values(ret.getOperands());
  unsigned index = 0;
  for (Operation &op : func.getBody().front().without_terminator()) {
    ++index;
    if (isa<circle::ConstOp>(op))
      continue;
    for (OpResult r : op.getResults()) {
      if (!isa<RankedTensorType>(r.getType()) || returned.contains(r))
        continue;
      std::string name = "kiln.t" + std::to_string(index);
      if (op.getNumResults() > 1)
        name += "." + std::to_string(r.getResultNumber());
      exposed.push_back({name, &op, r.getResultNumber()});
      values.push_back(r);
    }
  }
  OpBuilder b(func.getContext());
  SmallVector<DictionaryAttr> attrs;
  for (unsigned i = 0; i < func.getNumResults(); ++i)
    attrs.push_back(func.getResultAttrDict(i) ? func.getResultAttrDict(i)
                                              : b.getDictionaryAttr({}));
  for (const ExposedTensor &e : exposed)
    attrs.push_back(b.getDictionaryAttr(b.getNamedAttr(
        kiln::KilnDialect::getNameAttrName(), b.getStringAttr(e.name))));
  SmallVector<Type> types;
  for (Value v : values)
    types.push_back(v.getType());
  func.setType(
      FunctionType::get(func.getContext(), func.getArgumentTypes(), types));
  func.setAllResultAttrs(attrs);
  ret->setOperands(values);
  return exposed;
}

ExposedCopy exposeCopy(ModuleOp module, llvm::StringRef function) {
  ExposedCopy c;
  c.module = OwningOpRef<ModuleOp>(cast<ModuleOp>(module->clone()));
  for (auto f : llvm::make_early_inc_range(c.module->getOps<func::FuncOp>())) {
    if (f.getSymName() == function)
      c.func = f;
    else
      f.erase();
  }
  if (!c.func)
    fail("no function '" + function.str() + "'");
  c.outputNames = resultNames(c.func);
  for (auto [i, name] : llvm::enumerate(c.outputNames))
    if (name.empty())
      name = "output_" + std::to_string(i); // the writer's default
  c.exposed = exposeTensors(c.func);
  return c;
}

std::string liteRtRunner() {
  std::string runner;
  if (const char *env = std::getenv("KILN_LITERT_RUNNER"))
    runner = env;
  else
    runner = KILN_LITERT_RUNNER_DEFAULT;
  if (runner.empty() || !llvm::sys::fs::exists(runner))
    fail("LiteRT's runner (run.mjs) was not found" +
         (runner.empty() ? std::string() : " at '" + runner + "'") +
         ": set KILN_LITERT_RUNNER to test/e2e/litert/run.mjs of Kiln's "
         "sources (its node_modules installed by scripts/setup-deps)");
  llvm::SmallString<256> modules(llvm::sys::path::parent_path(runner));
  llvm::sys::path::append(modules, "node_modules", "@litertjs", "core");
  if (!llvm::sys::fs::exists(modules))
    fail("LiteRT is not installed next to '" + runner + "' (no " + modules +
         "): run npm ci there (scripts/setup-deps does)");
  return runner;
}

TempDir::TempDir(llvm::StringRef prefix) {
  llvm::SmallString<256> dir;
  if (std::error_code ec = llvm::sys::fs::createUniqueDirectory(prefix, dir))
    fail("cannot create a temporary directory: " + ec.message());
  path = dir.str().str();
}

TempDir::~TempDir() {
  if (!path.empty() && !std::getenv("KILN_KEEP_TEMP"))
    llvm::sys::fs::remove_directories(path);
}

static std::string readText(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  return buffer ? (*buffer)->getBuffer().trim().str() : std::string();
}

std::map<std::string, at::Tensor> runLiteRt(ModuleOp module,
                                            func::FuncOp function,
                                            llvm::ArrayRef<RValue> args,
                                            const std::string &workDir) {
  std::string runner = liteRtRunner();
  auto node = llvm::sys::findProgramByName("node");
  if (!node)
    fail("LiteRT runs under Node: 'node' is not on PATH");
  auto path = [&](llvm::StringRef name) {
    llvm::SmallString<256> p(workDir);
    llvm::sys::path::append(p, name);
    return p.str().str();
  };
  std::string model = path("model.tflite");
  circle::WriterOptions wopts;
  wopts.flavor = circle::Flavor::TFLite;
  if (failed(circle::writeCircleFile(module, model, wopts)))
    throw Reported();

  // The inputs as a reference folder (step "run"), named as the signature's.
  std::string inputs = path("inputs");
  llvm::sys::fs::create_directories(inputs);
  llvm::json::Array entries;
  for (auto [i, v] : llvm::enumerate(args)) {
    if (v.kind != RValue::Kind::Tensor)
      fail("LiteRT takes tensor inputs only (argument " + std::to_string(i) +
           " is a " + v.kindName() + ")");
    entries.push_back(writeTensorEntry(inputs,
                                       "in" + std::to_string(i) + ".bin",
                                       argumentName(function, i), v.t));
  }
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(inputs + "/index.json", ec);
    if (ec)
      fail("cannot write '" + inputs + "/index.json': " + ec.message());
    os << llvm::formatv(
        "{0}",
        llvm::json::Value(llvm::json::Object{
            {"model", llvm::json::Object{{"producer", "kiln-run"}}},
            {"run", llvm::json::Object{{"inputs", std::move(entries)},
                                       {"outputs", llvm::json::Array{}}}}}));
  }

  std::string key = function.getSymName().str();
  if (auto k = function->getAttrOfType<StringAttr>(
          kiln::KilnDialect::getSignatureAttrName()))
    key = k.str();
  std::string outputs = path("outputs"), log = path("litert.log");
  llvm::SmallVector<llvm::StringRef> argv = {
      *node,  runner,      model,   "--signature", key,  "--inputs",
      inputs, "--outputs", outputs, "--step",      "run"};
  std::optional<llvm::StringRef> redirects[] = {
      std::nullopt, llvm::StringRef(log), llvm::StringRef(log)};
  std::string err;
  int rc = llvm::sys::ExecuteAndWait(*node, argv, std::nullopt, redirects, 0, 0,
                                     &err);
  if (rc != 0)
    fail("LiteRT failed on '" + key + "'" + (err.empty() ? "" : ": " + err) +
         (rc > 0 ? " (exit " + std::to_string(rc) + ")" : "") + "\n" +
         readText(log));

  ReferenceFolder out = readReferenceFolder(outputs);
  std::map<std::string, at::Tensor> result;
  for (const TensorEntry &e : out.steps["run"].outputs)
    result[e.name] = readTensorFile(e.file, e.shape, e.dtype,
                                    "LiteRT output '" + e.name + "'");
  return result;
}

namespace {

/// One compared tensor.
struct Diff {
  const ExposedTensor *tensor = nullptr;
  std::string kind; // "i16", "f32", ...
  int64_t numel = 0, differing = 0;
  double maxDiff = 0; // steps for quantized tensors, else absolute
  bool compared = true;
  std::string note;
};

std::string describe(const ExposedTensor &e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e.op->getName().getStringRef();
  std::vector<kiln::circle::SourcePoint> points =
      kiln::circle::flattenLocation(e.op->getLoc());
  for (const auto &p : points)
    if (!p.file.empty()) {
      os << " " << (p.path.empty() ? "" : p.path + " ")
         << llvm::sys::path::filename(p.file) << ":" << p.line;
      if (!p.head.empty())
        os << " head " << p.head;
      break;
    }
  if (auto name = dyn_cast<NameLoc>(e.op->getLoc()))
    if (points.empty() || points.front().file.empty())
      os << " " << name.getName();
  return os.str();
}

Diff compare(const ExposedTensor &e, const at::Tensor &kiln,
             const at::Tensor &lite) {
  Diff d;
  d.tensor = &e;
  Type type = e.op->getResult(e.result).getType();
  Type element = getElementTypeOrSelf(type);
  std::shared_ptr<const QuantParams> q = quantParamsOf(element);
  {
    llvm::raw_string_ostream os(d.kind);
    if (q)
      os << (q->isSigned ? "i" : "u") << q->storageWidth;
    else
      element.print(os);
  }
  d.numel = kiln.numel();
  if (kiln.numel() != lite.numel()) {
    d.compared = false;
    d.note = "kiln-run has " + std::to_string(kiln.numel()) +
             " elements, LiteRT " + std::to_string(lite.numel());
    return d;
  }
  if (q && q->perAxis) {
    d.compared = false;
    d.note = "per-axis quantized";
    return d;
  }
  at::Tensor a = (q ? q->storage(kiln) : kiln).reshape({-1});
  at::Tensor b = lite.reshape({-1});
  at::Tensor diff;
  if (q || at::isIntegralType(a.scalar_type(), true)) {
    diff = (a.to(at::kLong) - b.to(at::kLong)).abs();
    d.differing = diff.ne(0).sum().item<int64_t>();
  } else {
    at::Tensor fa = a.to(at::kFloat).contiguous(), fb = b.to(at::kFloat);
    // Bit for bit (NaN equal to NaN of the same bits).
    d.differing = fa.view(at::kInt)
                      .ne(fb.contiguous().view(at::kInt))
                      .sum()
                      .item<int64_t>();
    diff = (fa.to(at::kDouble) - fb.to(at::kDouble)).abs();
  }
  d.maxDiff = diff.numel() ? diff.max().item<double>() : 0;
  return d;
}

} // namespace

int compareWithLiteRt(ModuleOp module, llvm::StringRef function,
                      llvm::ArrayRef<RValue> args, unsigned maxListed,
                      llvm::raw_ostream &os, const CompileOptions &options) {
  ExposedCopy c = exposeCopy(module, function);
  unsigned numOutputs = c.outputNames.size();
  OwningOpRef<ModuleOp> &copy = c.module;
  func::FuncOp target = c.func;
  const std::vector<std::string> &outputNames = c.outputNames;
  const std::vector<ExposedTensor> &exposed = c.exposed;

  TempDir dir("kiln-litert");
  std::map<std::string, at::Tensor> lite =
      runLiteRt(*copy, target, args, dir.path);
  for (const ExposedTensor &e : exposed)
    if (!lite.count(e.name))
      fail("LiteRT returned no tensor '" + e.name + "'");

  Compiler compiler(*copy, options);
  Function *fn = compiler.getFunction(target.getSymName(), copy->getLoc());
  if (!fn)
    throw Reported();
  std::vector<RValue> bound;
  for (size_t i = 0; i < args.size(); ++i)
    bound.push_back(bindArgument(args[i], target.getArgumentTypes()[i],
                                 "argument " + std::to_string(i)));

  // Per op: kiln-run's result recorded, then replaced by LiteRT's value so
  // that the next op sees LiteRT's operands.
  llvm::DenseMap<Operation *, std::vector<const ExposedTensor *>> byOp;
  for (const ExposedTensor &e : exposed)
    byOp[e.op].push_back(&e);
  std::map<std::string, at::Tensor> kilnValues;
  setStepObserver([&](const Step &step, Frame &frame) {
    auto it = byOp.find(step.op);
    if (it == byOp.end())
      return;
    for (const ExposedTensor *e : it->second) {
      RValue &slot = frame.slots[step.results[e->result]];
      if (slot.kind != RValue::Kind::Tensor)
        continue;
      kilnValues[e->name] = slot.t.clone();
      const at::Tensor &l = lite[e->name];
      if (l.numel() != slot.t.numel())
        continue;
      Type element =
          getElementTypeOrSelf(e->op->getResult(e->result).getType());
      std::shared_ptr<const QuantParams> q = quantParamsOf(element);
      at::Tensor forced = q && !q->perAxis ? q->dequantize(l.to(at::kLong))
                                           : l.to(slot.t.scalar_type());
      slot = RValue::tensor(forced.reshape(slot.t.sizes()).contiguous());
    }
  });
  try {
    callFunction(*fn, bound);
  } catch (...) {
    setStepObserver(nullptr);
    throw;
  }
  setStepObserver(nullptr);
  // The outputs of kiln-run on its own values.
  std::vector<RValue> chained = callFunction(*fn, bound);

  std::vector<Diff> diffs;
  for (const ExposedTensor &e : exposed) {
    auto it = kilnValues.find(e.name);
    if (it == kilnValues.end())
      continue;
    diffs.push_back(compare(e, it->second, lite[e.name]));
  }

  // Per op kind.
  struct Kind {
    unsigned tensors = 0, exact = 0;
    double maxDiff = 0;
    int64_t numel = 0, differing = 0;
  };
  std::map<std::string, Kind> kinds;
  unsigned exact = 0, compared = 0;
  const Diff *first = nullptr;
  for (const Diff &d : diffs) {
    if (!d.compared)
      continue;
    std::string k = d.tensor->op->getName().getStringRef().str() + " " + d.kind;
    Kind &kind = kinds[k];
    ++kind.tensors;
    ++compared;
    kind.numel += d.numel;
    kind.differing += d.differing;
    kind.maxDiff = std::max(kind.maxDiff, d.maxDiff);
    if (d.differing == 0) {
      ++kind.exact;
      ++exact;
    } else if (!first) {
      first = &d;
    }
  }
  os << "kiln-run vs LiteRT: @" << function << ", " << compared
     << " tensors, each op on LiteRT's values of its operands\n";
  os << llvm::format("%-32s %7s %9s %10s %s\n", (const char *)"op",
                     (const char *)"tensors", (const char *)"bit-exact",
                     (const char *)"max diff",
                     (const char *)"elements differing");
  for (const auto &[name, k] : kinds)
    os << llvm::format("%-32s %7u %9u %10g %lld/%lld\n", name.c_str(),
                       k.tensors, k.exact, k.maxDiff, (long long)k.differing,
                       (long long)k.numel);
  os << "bit-exact: " << exact << " of " << compared << " tensors"
     << " (max diff: quantization steps for quantized tensors)\n";
  unsigned listed = 0;
  for (const Diff &d : diffs) {
    if (d.compared && d.differing == 0)
      continue;
    if (listed++ == maxListed) {
      os << "...\n";
      break;
    }
    os << "  " << d.tensor->name << " " << describe(*d.tensor) << " " << d.kind
       << ": ";
    if (!d.compared)
      os << "not compared (" << d.note << ")\n";
    else
      os << d.differing << " of " << d.numel << " elements differ, max "
         << llvm::format("%g", d.maxDiff) << "\n";
  }

  // Outputs, kiln-run chained on its own values.
  unsigned outputsExact = 0;
  for (unsigned i = 0; i < numOutputs; ++i) {
    const ExposedTensor *producer = nullptr;
    Value v = target.getBody().front().getTerminator()->getOperand(i);
    ExposedTensor tmp;
    tmp.name = outputNames[i];
    if (Operation *op = v.getDefiningOp()) {
      tmp.op = op;
      tmp.result = cast<OpResult>(v).getResultNumber();
      producer = &tmp;
    }
    const RValue &r = chained[i];
    auto l = lite.find(outputNames[i]);
    if (!producer || r.kind != RValue::Kind::Tensor || l == lite.end())
      continue;
    Diff d = compare(*producer, r.t, l->second);
    os << "output " << outputNames[i] << " (kiln-run on its own values): ";
    if (!d.compared) {
      os << "not compared (" << d.note << ")\n";
      continue;
    }
    if (d.differing == 0) {
      ++outputsExact;
      os << "bit-exact\n";
    } else {
      os << d.differing << " of " << d.numel << " elements differ, max "
         << llvm::format("%g", d.maxDiff) << "\n";
    }
  }
  if (first)
    os << "first difference: " << first->tensor->name << " "
       << describe(*first->tensor) << "\n";
  return exact == compared && outputsExact == numOutputs ? 0 : 1;
}

} // namespace kiln::runtime
