//===- Parity.cpp - kiln-parity: PyTorch vs the exported model ------------===//
//
//   kiln-parity MODEL.pt EXPORTED.circle --signature prefill --inputs-from REF/
//               [--step S] [--max-lsb N] [--html report.html] [--arg K=V]
//
// PyTorch side: TorchProbe.cpp (LibTorch runs MODEL.pt, every fake-quant
// output recorded with its scale). Export side: the signature's function,
// read from the file, runs in Kiln's evaluator with every op's results kept.
// Matching: a tensor of the file carries the source points of its op and of
// the fake quants folded into it (Locations.h); a point (module path, file,
// line, column) equal to a recorded fake quant's pairs the two, the k-th
// tensor with a point with the k-th recording of it (a point inside a loop
// or a shared line), a head-unrolled tensor (".headN") with slice N of the
// PyTorch tensor along the axis whose removal gives its shape.
// Errors are in quantization steps of the model's (PyTorch's) scale.
//
//===----------------------------------------------------------------------===//
#include "kiln/Runtime/Parity.h"
#include "kiln/Dialect/Kiln/IR/KilnDialect.h"

#include "Inputs.h"
#include "Interpreter.h"
#include "LiteRt.h"
#include "TensorMatch.h"
#include "TorchProbe.h"
#include "Variants.h"

#include "kiln/Dialect/Circle/IR/CircleOps.h"
#include "kiln/Export/Circle/Locations.h"
#include "kiln/Export/Circle/Reader.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <map>

using namespace mlir;
namespace cl = llvm::cl;
using kiln::circle::SourcePoint;

namespace kiln::runtime {
namespace {

struct Row {
  const ExportTensor *tensor = nullptr;
  const TorchProbe *probe = nullptr;
  std::string head, axisNote;
  double steps = 0, maxAbs = 0, peir = 0, sqnr = 0, cosine = 1;
  bool scaleDiffers = false;
};

using Key = std::tuple<std::string, std::string, unsigned, unsigned>;

std::string locationText(const TorchProbe &p) {
  std::string s = basename(p.file) + ":" + std::to_string(p.line);
  if (!p.path.empty())
    s += " " + p.path;
  return s;
}

bool scaleEqual(const ExportTensor &e, const TorchProbe &p) {
  if (e.scales.empty() || p.scale.numel() != int64_t(e.scales.size()))
    return false;
  at::Tensor s = p.scale.reshape({-1});
  for (size_t i = 0; i < e.scales.size(); ++i) {
    double m = s[i].item<double>();
    // Circle stores float32 scales: equal as float32 (to 1 ulp).
    if (std::abs(e.scales[i] - m) > 2e-7 * std::abs(m))
      return false;
  }
  return true;
}

void computeMetrics(Row &row, const at::Tensor &expected) {
  at::Tensor t = expected.to(at::kDouble);
  at::Tensor d =
      (row.tensor->value.to(at::kDouble).reshape(t.sizes()) - t).abs();
  ErrorFigures f = errorFigures(row.tensor->value, expected);
  row.maxAbs = f.maxAbs;
  const TorchProbe &p = *row.probe;
  if (p.axis < 0 || !row.head.empty() || p.scale.numel() == 1) {
    double s = p.scale.reshape({-1})[0].item<double>();
    row.steps = s > 0 ? row.maxAbs / s : 0;
  } else if (p.axis < t.dim() && t.size(p.axis) == p.scale.numel()) {
    std::vector<int64_t> view(t.dim(), 1);
    view[p.axis] = -1;
    at::Tensor perStep = d / p.scale.reshape(view);
    row.steps = perStep.numel() ? perStep.max().item<double>() : 0;
  } else {
    row.steps = row.maxAbs / p.scale.max().item<double>();
  }
  row.peir = f.peir;
  row.sqnr = f.sqnr;
  row.cosine = f.cosine;
  row.scaleDiffers = !row.tensor->scales.empty() && !scaleEqual(*row.tensor, p);
}

class Parity {
public:
  struct Options {
    std::string model, exported, signature, inputsFrom, step, html;
    std::string runtime = "kiln-run";
    bool integerKernels = true;
    double maxLsb = 4;
    std::map<std::string, std::string> args;
  };
  Parity(MLIRContext &ctx, Options opts) : ctx(ctx), opts(std::move(opts)) {}

  int run();

private:
  [[noreturn]] void fail(const llvm::Twine &msg) { throw EvalError(msg.str()); }
  /// Reads the exported file into `module` (once).
  void loadExported();
  /// Signature key of each function of `module` (its name without one).
  std::vector<std::string> signatureKeys();
  void runExport(const std::vector<at::Tensor> &inputs);
  /// --runtime litert: the recorded tensors' values from LiteRT.
  void replaceWithLiteRt(func::FuncOp func,
                         const std::vector<at::Tensor> &inputs);
  void match();
  void printTable(llvm::raw_ostream &os);
  void writeHtml(const std::string &path);

  MLIRContext &ctx;
  Options opts;
  TorchRun torch;
  std::unique_ptr<llvm::MemoryBuffer> exportedFile;
  OwningOpRef<ModuleOp> module;
  std::string function;
  std::vector<ExportTensor> tensors;
  std::vector<Row> rows;
  std::vector<const TorchProbe *> unmatched;
  unsigned unmatchedQuantized = 0;
  int firstPast = -1;
  unsigned numPast = 0;
};

void Parity::loadExported() {
  std::string err;
  exportedFile = openInputFile(opts.exported, &err);
  if (!exportedFile)
    fail(err);
  StringRef bytes = exportedFile->getBuffer();
  if (bytes.size() < 8 ||
      (bytes.substr(4, 4) != "CIR0" && bytes.substr(4, 4) != "TFL3"))
    fail("'" + opts.exported +
         "' is not a .circle or .tflite file (no CIR0/TFL3 identifier)");
  // The module's weights may point into the file's bytes: both are kept.
  module = kiln::circle::readCircle(
      bytes, &ctx, FileLineColLoc::get(&ctx, opts.exported, 0, 0));
  if (!module)
    throw Reported();
}

std::vector<std::string> Parity::signatureKeys() {
  std::vector<std::string> keys;
  for (auto f : module->getOps<func::FuncOp>()) {
    auto key =
        f->getAttrOfType<StringAttr>(kiln::KilnDialect::getSignatureAttrName());
    keys.push_back(key ? key.str() : f.getSymName().str());
  }
  return keys;
}

void Parity::runExport(const std::vector<at::Tensor> &inputs) {
  bool hasLocations = false;
  std::vector<std::string> keys = signatureKeys();
  for (auto [f, k] : llvm::zip(module->getOps<func::FuncOp>(), keys)) {
    if (k == opts.signature)
      function = f.getSymName().str();
    f.walk([&](Operation *op) {
      for (const SourcePoint &p : kiln::circle::flattenLocation(op->getLoc()))
        hasLocations |= !p.file.empty();
    });
  }
  if (function.empty())
    fail("choose a signature with --signature (the file has: " +
         llvm::join(keys, ", ") + ")");
  if (!hasLocations)
    fail("'" + opts.exported +
         "' has no source locations (the kiln.locations metadata Kiln "
         "writes): tensors cannot be matched to the model's; export it with "
         "kiln-convert --source-locations");
  CompileOptions compileOptions;
  compileOptions.integerKernels = opts.integerKernels;
  Compiler compiler(*module, compileOptions);
  Function *fn = compiler.getFunction(function, module->getLoc());
  if (!fn)
    throw Reported();
  recordTensors(*fn, bindPositional(fn->func, inputs), tensors);
  if (opts.runtime == "litert")
    replaceWithLiteRt(fn->func, inputs);
}

void Parity::replaceWithLiteRt(func::FuncOp func,
                               const std::vector<at::Tensor> &inputs) {
  // A copy of the function with every tensor a result, run in LiteRT; each
  // recorded tensor (same ops, so the same pairing) takes LiteRT's value.
  // Constants keep theirs: they are the file's.
  ExposedCopy copy = exposeCopy(*module, func.getSymName());
  func::FuncOp target = copy.func;
  llvm::DenseMap<Operation *, Operation *> copyOf;
  for (auto [a, b] : llvm::zip(func.getBody().front().getOperations(),
                               target.getBody().front().getOperations()))
    copyOf[&a] = &b;
  // The copy's values under LiteRT's output names: the function's own
  // results first (exposeTensors does not expose them again).
  llvm::DenseMap<Value, std::string> names;
  Operation *ret = target.getBody().front().getTerminator();
  for (auto [i, name] : llvm::enumerate(copy.outputNames))
    names.try_emplace(ret->getOperand(i), name);
  for (const ExposedTensor &e : copy.exposed)
    names.try_emplace(e.op->getResult(e.result), e.name);
  std::vector<RValue> args;
  for (const at::Tensor &t : inputs)
    args.push_back(RValue::tensor(t));
  TempDir dir("kiln-parity-litert");
  std::map<std::string, at::Tensor> lite =
      runLiteRt(*copy.module, target, args, dir.path);
  for (ExportTensor &t : tensors) {
    Operation *op = copyOf.lookup(t.source);
    if (!op || isa<kiln::circle::ConstOp>(op) || op->getNumResults() == 0)
      continue;
    auto name = names.find(op->getResult(0));
    if (name == names.end() || !lite.count(name->second))
      fail("LiteRT returned no value for " + t.name);
    at::Tensor value = lite[name->second];
    if (auto q =
            quantParamsOf(getElementTypeOrSelf(op->getResult(0).getType())))
      if (!q->perAxis)
        value = q->dequantize(value.to(at::kLong));
    t.value = value.to(t.value.scalar_type()).reshape(t.value.sizes());
  }
}

void Parity::match() {
  std::map<Key, std::vector<const TorchProbe *>> probesByKey;
  for (const TorchProbe &p : torch.probes)
    probesByKey[{p.path, p.file, p.line, p.col}].push_back(&p);
  // Export tensors by (point, head), in execution order.
  std::map<std::pair<Key, std::string>, std::vector<const ExportTensor *>>
      byKey;
  std::vector<std::pair<Key, std::string>> keyOrder;
  for (const ExportTensor &t : tensors)
    for (const SourcePoint &p : t.points) {
      Key k{p.path, p.file, p.line, p.col};
      if (!probesByKey.count(k))
        continue;
      auto &list = byKey[{k, p.head}];
      if (list.empty())
        keyOrder.push_back({k, p.head});
      if (list.empty() || list.back() != &t)
        list.push_back(&t);
    }
  std::map<const ExportTensor *, Row> matched;
  std::set<const TorchProbe *> used;
  // (recording, head): a batched recording pairs once per head.
  std::set<std::pair<const TorchProbe *, std::string>> paired;
  auto tryPair = [&](const ExportTensor *e, const TorchProbe *p,
                     const std::string &head) {
    Row row;
    row.tensor = e;
    row.probe = p;
    row.head = head;
    std::optional<at::Tensor> t = align(p->value, e->shape, head, row.axisNote);
    if (!t)
      return false;
    computeMetrics(row, *t);
    matched[e] = row;
    used.insert(p);
    paired.insert({p, head});
    return true;
  };
  // Pass 1: within each point (and head), recordings and tensors on the same
  // scale pair by increasing error, so that a recording whose own tensor
  // was folded away (a RoPE mul fused into the add after it, both on one
  // quantizer line) does not take another recording's tensor. A recording
  // left over whose point has a paired tensor on its scale is covered by it
  // (one value quantized twice alike).
  // Pass 2: what is left takes the first unpaired tensor of a compatible
  // shape (a wrong scale in the file still pairs).
  std::string ignored;
  for (const auto &kh : keyOrder) {
    struct Candidate {
      double error;
      size_t probe, tensor;
    };
    const std::vector<const TorchProbe *> &probes = probesByKey[kh.first];
    const std::vector<const ExportTensor *> &group = byKey[kh];
    std::vector<Candidate> candidates;
    for (size_t i = 0; i < probes.size(); ++i)
      for (size_t j = 0; j < group.size(); ++j) {
        if (!scaleEqual(*group[j], *probes[i]))
          continue;
        std::optional<at::Tensor> t =
            align(probes[i]->value, group[j]->shape, kh.second, ignored);
        if (!t)
          continue;
        double err = (group[j]->value.to(at::kDouble).reshape(t->sizes()) -
                      t->to(at::kDouble))
                         .abs()
                         .max()
                         .item<double>();
        candidates.push_back({err, i, j});
      }
    // Stable: equal errors keep PyTorch's and the graph's order.
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Candidate &a, const Candidate &b) {
                       return a.error < b.error;
                     });
    for (const Candidate &c : candidates) {
      const TorchProbe *p = probes[c.probe];
      const ExportTensor *e = group[c.tensor];
      if (paired.count({p, kh.second}) || matched.count(e))
        continue;
      tryPair(e, p, kh.second);
    }
    for (const Candidate &c : candidates) {
      const TorchProbe *p = probes[c.probe];
      if (!paired.count({p, kh.second}) && matched.count(group[c.tensor])) {
        used.insert(p);
        paired.insert({p, kh.second});
      }
    }
  }
  for (const auto &kh : keyOrder)
    for (const TorchProbe *p : probesByKey[kh.first]) {
      if (paired.count({p, kh.second}))
        continue;
      for (const ExportTensor *e : byKey[kh])
        if (!matched.count(e) &&
            align(p->value, e->shape, kh.second, ignored)) {
          tryPair(e, p, kh.second);
          break;
        }
    }
  for (const ExportTensor &t : tensors)
    if (auto it = matched.find(&t); it != matched.end())
      rows.push_back(it->second);
    else if (!t.scales.empty() && t.op != "circle.const")
      ++unmatchedQuantized;
  for (const TorchProbe &p : torch.probes)
    if (!used.count(&p))
      unmatched.push_back(&p);
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].steps > opts.maxLsb) {
      ++numPast;
      if (firstPast < 0)
        firstPast = i;
    }
}

void Parity::printTable(llvm::raw_ostream &os) {
  os << llvm::formatv("{0,4}  {1,-34} {2,-40} {3,-12} {4,-10} {5,9} {6,10} "
                      "{7,8} {8,9}\n",
                      "#", "tensor", "location", "shape", "scale", "steps",
                      "PEIR", "SQNR dB", "cosine");
  for (auto [i, r] : llvm::enumerate(rows)) {
    std::string name = r.tensor->name;
    if (name.size() > 34)
      name = "..." + name.substr(name.size() - 31);
    std::string loc = locationText(*r.probe);
    if (loc.size() > 40)
      loc = loc.substr(0, 37) + "...";
    std::string scale =
        r.tensor->scales.size() == 1
            ? llvm::formatv("{0:e2}", r.tensor->scales[0]).str()
            : (r.tensor->scales.empty() ? r.tensor->storage : "per-axis");
    os << llvm::formatv("{0,4}  {1,-34} {2,-40} {3,-12} {4,-10} {5,9} {6,10} "
                        "{7,8} {8,9}",
                        i, name, loc, shapeText(r.tensor->shape), scale,
                        fmt(r.steps, "{0:f2}"), fmt(r.peir, "{0:e2}"),
                        fmt(r.sqnr, "{0:f1}"), fmt(r.cosine, "{0:f6}"));
    if (int(i) == firstPast)
      os << "  <-- first past --max-lsb " << llvm::format("%g", opts.maxLsb);
    if (r.scaleDiffers)
      os << "  (scale differs from the model's "
         << llvm::formatv("{0:e3}",
                          r.probe->scale.reshape({-1})[0].item<double>())
         << ")";
    os << "\n";
  }
}

void Parity::writeHtml(const std::string &path) {
  writeFileAtomically(path, [&](llvm::raw_ostream &os) {
    std::vector<PlotPoint> points;
    for (const Row &r : rows)
      points.push_back({r.steps, layerOf(r.probe->path), r.tensor->name});
    writeReportTop(os, "kiln-parity: " + basename(opts.exported),
                   "kiln-parity: " + basename(opts.model) + " vs " +
                       basename(opts.exported) + " (signature " +
                       opts.signature + ")",
                   std::to_string(rows.size()) + " tensors matched to " +
                       std::to_string(torch.probes.size()) +
                       " fake-quant outputs recorded in PyTorch; max error in "
                       "quantization steps of the model's scale",
                   points, opts.maxLsb, numPast, firstPast);
    os << "<table><tr><th>#</th><th class=\"l\">tensor</th>"
          "<th class=\"l\">location</th><th>shape</th><th>scale</th>"
          "<th>steps</th><th>PEIR</th><th>SQNR dB</th><th>cosine</th></tr>\n";
    for (auto [i, r] : llvm::enumerate(rows)) {
      const char *cls = rowClass(i, firstPast, r.steps, opts.maxLsb);
      std::string scale =
          r.tensor->scales.size() == 1
              ? llvm::formatv("{0:e3}", r.tensor->scales[0]).str()
              : r.tensor->storage;
      if (r.scaleDiffers)
        scale += " (model " +
                 llvm::formatv("{0:e3}",
                               r.probe->scale.reshape({-1})[0].item<double>())
                     .str() +
                 ")";
      os << "<tr" << cls << "><td>" << i << "</td><td class=\"l\">"
         << htmlEscape(r.tensor->name)
         << (r.axisNote.empty() ? "" : " [" + htmlEscape(r.axisNote) + "]")
         << "</td><td class=\"l\">" << htmlEscape(locationText(*r.probe))
         << "</td><td>" << shapeText(r.tensor->shape) << "</td><td>"
         << htmlEscape(scale) << "</td><td>" << fmt(r.steps, "{0:f2}")
         << "</td><td>" << fmt(r.peir, "{0:e2}") << "</td><td>"
         << fmt(r.sqnr, "{0:f1}") << "</td><td>" << fmt(r.cosine, "{0:f6}")
         << "</td></tr>\n";
    }
    os << "</table></body></html>\n";
  });
}

int Parity::run() {
  // The file first: its signature names the default reference step.
  loadExported();
  if (opts.signature.empty()) {
    std::vector<std::string> keys = signatureKeys();
    if (keys.size() != 1)
      fail("choose a signature with --signature (the file has: " +
           llvm::join(keys, ", ") + ")");
    opts.signature = keys.front();
  }
  ReferenceFolder ref = readReferenceFolder(opts.inputsFrom);
  std::string step = opts.step.empty() ? opts.signature : opts.step;
  if (!ref.steps.count(step)) {
    if (opts.step.empty() && ref.steps.size() == 1)
      step = ref.steps.begin()->first;
    else
      fail("the reference '" + opts.inputsFrom + "' has no step '" + step +
           "' (it has: " + llvm::join(ref.stepNames, ", ") + "); use --step");
  }
  std::vector<at::Tensor> inputs;
  for (const TensorEntry &e : ref.steps[step].inputs) {
    inputs.push_back(
        readTensorFile(e.file, e.shape, e.dtype, "input '" + e.name + "'"));
  }
  TorchRunOptions topts;
  topts.scalars = opts.args;
  topts.defaults = {{"use_cache", "true"}, {"output_attentions", "false"}};
  torch = runTorchScript(opts.model, inputs, topts);
  if (torch.probes.empty())
    fail("'" + opts.model +
         "' recorded no fake-quant output on these inputs: nothing to "
         "compare (is it a quantized model?)");
  runExport(inputs);
  match();

  llvm::outs() << "kiln-parity: " << opts.model << " (LibTorch) vs "
               << opts.exported << " @" << function << " (" << opts.runtime
               << "), reference step '" << step << "'\n";
  printTable(llvm::outs());
  llvm::outs() << "matched " << rows.size() << " tensors to "
               << torch.probes.size()
               << " fake-quant outputs recorded in PyTorch (" << torch.numPoints
               << " fake-quant nodes in the graph)\n";
  if (!unmatched.empty()) {
    llvm::outs() << unmatched.size()
                 << " recorded outputs have no tensor in the export (weights "
                    "are constants there; points folded away):";
    for (size_t i = 0; i < unmatched.size() && i < 6; ++i)
      llvm::outs() << (i ? "," : "") << " " << locationText(*unmatched[i]);
    llvm::outs() << (unmatched.size() > 6 ? ", ...\n" : "\n");
  }
  if (unmatchedQuantized)
    llvm::outs() << unmatchedQuantized
                 << " quantized tensors of the export match no fake-quant "
                    "point (scales Kiln derived: fixed-scale outputs, sums)\n";
  double worst = 0;
  for (const Row &r : rows)
    worst = std::max(worst, r.steps);
  printVerdict(llvm::outs(), "max error", worst, numPast, opts.maxLsb,
               firstPast, firstPast < 0 ? "" : rows[firstPast].tensor->name,
               firstPast < 0 ? "" : locationText(*rows[firstPast].probe));
  if (!opts.html.empty()) {
    writeHtml(opts.html);
    llvm::outs() << "report: " << opts.html << "\n";
  }
  return numPast ? 1 : 0;
}

} // namespace

int kilnParityMain(int argc, char **argv, DialectRegistry &registry) {
  // --variants MODEL.pt: prefill against prefill_reference (Variants.cpp).
  if (wantsVariants(argc, argv))
    return kilnParityVariantsMain(argc, argv, registry);
  llvm::InitLLVM init(argc, argv);
  cl::opt<std::string> model(cl::Positional, cl::desc("<model.pt>"),
                             cl::Required);
  cl::opt<std::string> exported(
      cl::Positional, cl::desc("<exported.circle|.tflite>"), cl::Required);
  cl::opt<std::string> signature(
      "signature", cl::desc("Signature of the file to compare (default: the "
                            "only one)"));
  CommonOptions common("Reference step (default: the signature)");
  cl::opt<std::string> runtime(
      "runtime",
      cl::desc("Runtime of the export side: kiln-run (default) or litert "
               "(LiteRT under Node, on a copy of the file with every tensor "
               "an output)"),
      cl::init("kiln-run"));
  cl::opt<std::string> quantizedKernels(
      "quantized-kernels",
      cl::desc("kiln-run's kernels for quantized ops: integer (default, "
               "TFLite's) or float (float-domain, results fake-quantized)"),
      cl::init("integer"));
  cl::ParseCommandLineOptions(
      argc, argv,
      "kiln-parity: the exported model against PyTorch, tensor by tensor\n"
      "(kiln-parity --variants MODEL.pt --help: prefill against "
      "prefill_reference)\n");
  if (quantizedKernels != "integer" && quantizedKernels != "float") {
    llvm::errs() << "kiln-parity: --quantized-kernels must be integer or "
                    "float\n";
    return 2;
  }
  if (runtime != "kiln-run" && runtime != "litert") {
    llvm::errs() << "kiln-parity: --runtime must be kiln-run or litert\n";
    return 2;
  }
  MLIRContext ctx(registry);
  Parity::Options opts;
  opts.model = model;
  opts.exported = exported;
  opts.signature = signature;
  opts.inputsFrom = common.inputsFrom;
  opts.step = common.step;
  opts.maxLsb = common.maxLsb;
  opts.html = common.html;
  opts.runtime = runtime;
  opts.integerKernels = quantizedKernels == "integer";
  if (!common.scalars(opts.args))
    return 2;
  Parity parity(ctx, opts);
  return reportErrors("kiln-parity", [&] { return parity.run(); });
}

} // namespace kiln::runtime
