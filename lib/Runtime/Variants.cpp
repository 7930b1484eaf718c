//===- Variants.cpp - kiln-parity --variants: prefill vs prefill_reference ===//
//
//   kiln-parity --variants MODEL.pt --inputs-from REF/ [--step prefill]
//               [--max-lsb N] [--html report.html] [--arg K=V] [--no-torch]
//
// MODEL.pt is converted twice in memory (kiln::convertModel up to the circle
// module, as kiln-convert --variant prefill|prefill_reference), both
// signatures run in Kiln's evaluator on the reference step's inputs with every
// op's result recorded, and the tensors are paired through their source
// points (module path, file, line, column): a tensor of `prefill` pairs with
// the tensor of `prefill_reference` that has the same points, the k-th with
// the k-th; a head-unrolled tensor (".headN") with slice N of the batched one
// (TensorMatch.h's align). Differences are in quantization steps of the
// `prefill` tensor's scale (the hardware-faithful variant is the reference
// the batched one is measured against). The signature outputs are compared
// too, and each against the model's own output in LibTorch.
//
//===----------------------------------------------------------------------===//
#include "Variants.h"

#include "Inputs.h"
#include "Interpreter.h"
#include "TensorMatch.h"
#include "TorchProbe.h"

#include "kiln/Dialect/Kiln/IR/KilnDialect.h"
#include "kiln/Pipelines/Convert.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <map>
#include <set>

using namespace mlir;
namespace cl = llvm::cl;
using kiln::circle::SourcePoint;

namespace kiln::runtime {

bool wantsVariants(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef a(argv[i]);
    if (a == "--")
      return false;
    if (a == "--variants" || a == "-variants" || a.starts_with("--variants=") ||
        a.starts_with("-variants="))
      return true;
  }
  return false;
}

namespace {

/// (module path, file, line, column): a source point without its head.
using Key = std::tuple<std::string, std::string, unsigned, unsigned>;

Key keyOf(const SourcePoint &p) { return {p.path, p.file, p.line, p.col}; }

/// The head of a tensor (".headN" of its location), "" when batched.
std::string headOf(const ExportTensor &t) {
  for (const SourcePoint &p : t.points)
    if (!p.head.empty())
      return p.head;
  return "";
}

/// The points of a tensor without heads, each once, in order.
std::vector<Key> keysOf(const ExportTensor &t) {
  std::vector<Key> keys;
  for (const SourcePoint &p : t.points)
    if (!p.file.empty() && !llvm::is_contained(keys, keyOf(p)))
      keys.push_back(keyOf(p));
  return keys;
}

std::string keyText(const Key &k) {
  auto &[path, file, line, col] = k;
  std::string s = basename(file) + ":" + std::to_string(line);
  if (!path.empty())
    s += " " + path;
  return s;
}

std::string scaleText(const ExportTensor &t, const char *spec) {
  if (t.scales.size() == 1)
    return llvm::formatv(spec, t.scales[0]).str();
  return t.scales.empty() ? t.storage : "per-axis";
}

/// [qmin, qmax] of an integer storage type ("i16", "u8").
std::optional<std::pair<int64_t, int64_t>>
storageRange(const std::string &storage) {
  unsigned width;
  if (storage.size() < 2 || (storage[0] != 'i' && storage[0] != 'u') ||
      llvm::StringRef(storage).drop_front().getAsInteger(10, width) ||
      width < 2 || width > 32)
    return std::nullopt;
  if (storage[0] == 'u')
    return std::make_pair(int64_t(0), (int64_t(1) << width) - 1);
  return std::make_pair(-(int64_t(1) << (width - 1)),
                        (int64_t(1) << (width - 1)) - 1);
}

/// One signature of one variant, converted and run.
struct VariantRun {
  std::string variant; // "prefill", "prefill_reference"
  OwningOpRef<ModuleOp> module;
  std::string function;
  std::vector<ExportTensor> tensors;
  std::vector<OutputLeaf> outputs;
};

struct Row {
  const ExportTensor *tensor = nullptr;    // prefill
  const ExportTensor *reference = nullptr; // prefill_reference
  Key key;
  std::string head, axisNote;
  double steps = NAN; // NaN: neither side is quantized
  /// prefill_reference's float value was put on prefill's grid; `saturated`
  /// of its values were outside prefill's range.
  bool onGrid = false;
  int64_t saturated = 0;
  ErrorFigures figures;
};

/// What the row's figures need said: the float reference put on prefill's
/// grid, and how many of its values that saturated.
std::string rowNote(const Row &r) {
  if (!r.onGrid)
    return "";
  std::string s = "ref float, on prefill's grid";
  if (r.saturated)
    s += ": " + std::to_string(r.saturated) + " of " +
         std::to_string(r.tensor->value.numel()) + " outside its range";
  return s;
}

struct OutputRow {
  std::string name;
  std::vector<int64_t> shape;
  ErrorFigures variants; // prefill_reference against prefill
  std::optional<ErrorFigures> torchPrefill, torchReference; // against .pt
};

class Variants {
public:
  struct Options {
    std::string model, inputsFrom, step, html;
    double maxLsb = 4;
    bool torch = true;
    bool listTensors = false;
    circle::Flavor flavor = circle::Flavor::Circle;
    bool integerKernels = true;
    std::map<std::string, std::string> args;
  };
  Variants(MLIRContext &ctx, Options opts) : ctx(ctx), opts(std::move(opts)) {}

  int run();

private:
  [[noreturn]] void fail(const llvm::Twine &msg) { throw EvalError(msg.str()); }
  void convertAndRun(VariantRun &run, Variant variant,
                     const std::vector<at::Tensor> &inputs);
  void match();
  void compareOutputs(const std::vector<at::Tensor> &torchOutputs);
  void printTable(llvm::raw_ostream &os);
  void printOutputs(llvm::raw_ostream &os);
  void writeHtml(const std::string &path);

  MLIRContext &ctx;
  Options opts;
  std::string step;
  int64_t batch = 1, seqLen = 0;
  VariantRun prefill, reference;
  std::vector<Row> rows;
  std::vector<OutputRow> outputRows;
  std::vector<const ExportTensor *> unmatched;
  int firstPast = -1;
  unsigned numPast = 0;
};

void Variants::convertAndRun(VariantRun &run, Variant variant,
                             const std::vector<at::Tensor> &inputs) {
  run.variant = variant == Variant::Prefill ? "prefill" : "prefill_reference";
  ConvertOptions options;
  options.inputPath = opts.model;
  options.mode = ConvertMode::Prefill;
  options.prefillVariant = variant;
  options.seqLens = {seqLen};
  options.batch = batch;
  options.stopAfter = ConvertStage::Circle;
  options.flavor = opts.flavor;
  if (llvm::Error error = verifyConvertOptions(options))
    fail(llvm::toString(std::move(error)));
  FailureOr<ConvertResult> converted = convertModel(ctx, options);
  if (failed(converted))
    fail("'" + opts.model + "' does not convert to " + run.variant +
         " (the diagnostics above)");
  run.module = std::move(converted->module);
  std::vector<std::string> names;
  for (auto f : run.module->getOps<func::FuncOp>()) {
    auto key =
        f->getAttrOfType<StringAttr>(kiln::KilnDialect::getSignatureAttrName());
    std::string name = key ? key.str() : f.getSymName().str();
    names.push_back(name);
    if (name == "prefill" && run.function.empty())
      run.function = f.getSymName().str();
  }
  if (run.function.empty())
    fail("the " + run.variant +
         " conversion has no prefill signature (it has: " +
         llvm::join(names, ", ") + ")");
  CompileOptions compileOptions;
  compileOptions.integerKernels = opts.integerKernels;
  Compiler compiler(*run.module, compileOptions);
  Function *fn = compiler.getFunction(run.function, run.module->getLoc());
  if (!fn)
    throw Reported();
  std::vector<RValue> results = recordTensors(
      *fn, bindPositional(fn->func, inputs), run.tensors, /*fusedNames=*/true);
  run.outputs =
      flattenOutputs(results, llvm::to_vector(fn->func.getResultTypes()),
                     resultNames(fn->func));
}

void Variants::match() {
  // prefill_reference's tensors by their points (all of them, and each one).
  std::map<std::vector<Key>, std::vector<const ExportTensor *>> refBySignature;
  std::map<Key, std::vector<const ExportTensor *>> refByPoint;
  for (const ExportTensor &t : reference.tensors) {
    if (t.op == "circle.const")
      continue;
    std::vector<Key> keys = keysOf(t);
    if (keys.empty())
      continue;
    refBySignature[keys].push_back(&t);
    for (const Key &k : keys)
      refByPoint[k].push_back(&t);
  }
  // (reference tensor, head): a batched tensor pairs once per head.
  std::set<std::pair<const ExportTensor *, std::string>> paired;
  std::map<const ExportTensor *, Row> matched;
  auto tryPair = [&](const ExportTensor *e, const ExportTensor *r,
                     const Key &key, const std::string &head) {
    if (paired.count({r, head}))
      return false;
    Row row;
    row.tensor = e;
    row.reference = r;
    row.key = key;
    row.head = head;
    std::optional<at::Tensor> slice =
        align(r->value, e->shape, head, row.axisNote);
    if (!slice)
      return false;
    at::Tensor actual = *slice;
    double scale = e->scales.size() == 1   ? e->scales[0]
                   : r->scales.size() == 1 ? r->scales[0]
                                           : 0;
    // A float tensor of prefill_reference that prefill computes quantized
    // (the batched graph quantizes later): compared on prefill's grid, the
    // values outside its range counted.
    auto range = storageRange(e->storage);
    if (r->scales.empty() && e->scales.size() == 1 && range) {
      at::Tensor x = actual.to(at::kFloat).contiguous();
      double lo = (range->first - e->zeroPoint) * scale,
             hi = (range->second - e->zeroPoint) * scale;
      row.saturated = ((x < lo) | (x > hi)).sum().item<int64_t>();
      actual = at::fake_quantize_per_tensor_affine(x, scale, e->zeroPoint,
                                                   range->first, range->second);
      row.onGrid = true;
    }
    row.figures = errorFigures(actual, e->value);
    if (scale > 0)
      row.steps = row.figures.maxAbs / scale;
    matched[e] = row;
    paired.insert({r, head});
    return true;
  };
  std::vector<const ExportTensor *> computed;
  for (const ExportTensor &t : prefill.tensors)
    if (t.op != "circle.const" && !keysOf(t).empty())
      computed.push_back(&t);
  // How well a tensor of prefill_reference fits one of prefill (lower is
  // better): the same op on the same scale (a per-axis scale: one of its
  // scales), the same op quantized alike, quantized alike, any.
  auto tier = [](const ExportTensor *e, const ExportTensor *r) {
    bool sameOp = e->op == r->op;
    bool alike = e->scales.empty() == r->scales.empty();
    bool sameScale =
        e->scales.empty()
            ? r->scales.empty()
            : e->scales.size() == 1 && llvm::any_of(r->scales, [&](double s) {
                return std::abs(s - e->scales[0]) <=
                       1e-6 * std::abs(e->scales[0]);
              });
    return sameOp && sameScale ? 0 : sameOp && alike ? 1 : alike ? 2 : 3;
  };
  // The candidates, best tier first, each tier in graph order.
  auto pairBest = [&](const ExportTensor *e,
                      const std::vector<const ExportTensor *> &candidates,
                      const Key &key, int maxTier) {
    for (int t = 0; t <= maxTier; ++t)
      for (const ExportTensor *r : candidates)
        if (tier(e, r) == t && tryPair(e, r, key, headOf(*e)))
          return true;
    return false;
  };
  // Pass 1: the same points (the op's own and the fake quants folded into
  // it): the best-fitting tensor of those points not yet paired for this
  // head. Pass 2: what is left pairs through one shared point (the last
  // first: a folded fake quant names the value), with an unpaired tensor
  // quantized as the prefill tensor is (a quantize op of the batched graph
  // can stand for a quantized result of prefill).
  for (const ExportTensor *e : computed) {
    std::vector<Key> keys = keysOf(*e);
    if (auto it = refBySignature.find(keys); it != refBySignature.end())
      pairBest(e, it->second, keys.back(), 3);
  }
  for (const ExportTensor *e : computed) {
    if (matched.count(e))
      continue;
    std::vector<Key> keys = keysOf(*e);
    for (auto k = keys.rbegin(); k != keys.rend(); ++k)
      if (auto it = refByPoint.find(*k);
          it != refByPoint.end() && pairBest(e, it->second, *k, 2))
        break;
  }
  for (const ExportTensor *e : computed)
    if (auto it = matched.find(e); it != matched.end())
      rows.push_back(it->second);
    else
      unmatched.push_back(e);
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].steps > opts.maxLsb) {
      ++numPast;
      if (firstPast < 0)
        firstPast = i;
    }
}

void Variants::compareOutputs(const std::vector<at::Tensor> &torchOutputs) {
  if (prefill.outputs.size() != reference.outputs.size())
    fail("the variants' prefill signatures have " +
         std::to_string(prefill.outputs.size()) + " and " +
         std::to_string(reference.outputs.size()) + " outputs");
  for (size_t i = 0; i < prefill.outputs.size(); ++i) {
    const OutputLeaf &p = prefill.outputs[i], &r = reference.outputs[i];
    if (p.tensor.numel() != r.tensor.numel())
      fail("output '" + p.name + "' has shape " +
           shapeText(p.tensor.sizes().vec()) + " in prefill, " +
           shapeText(r.tensor.sizes().vec()) + " in prefill_reference");
    OutputRow row;
    row.name = p.name;
    row.shape = p.tensor.sizes().vec();
    row.variants = errorFigures(r.tensor, p.tensor);
    if (i < torchOutputs.size() &&
        torchOutputs[i].numel() == p.tensor.numel()) {
      at::Tensor t = torchOutputs[i].to(at::kFloat);
      row.torchPrefill = errorFigures(p.tensor, t);
      row.torchReference = errorFigures(r.tensor, t);
    }
    outputRows.push_back(std::move(row));
  }
}

void Variants::printTable(llvm::raw_ostream &os) {
  os << llvm::formatv("{0,4}  {1,-34} {2,-40} {3,-12} {4,-9} {5,-9} {6,9} "
                      "{7,10} {8,8} {9,9}\n",
                      "#", "tensor", "location", "shape", "prefill", "ref",
                      "steps", "PEIR", "SQNR dB", "cosine");
  for (auto [i, r] : llvm::enumerate(rows)) {
    std::string name = r.tensor->name;
    if (name.size() > 34)
      name = "..." + name.substr(name.size() - 31);
    std::string loc = keyText(r.key);
    if (loc.size() > 40)
      loc = loc.substr(0, 37) + "...";
    os << llvm::formatv(
        "{0,4}  {1,-34} {2,-40} {3,-12} {4,-9} {5,-9} {6,9} {7,10} {8,8} "
        "{9,9}",
        i, name, loc, shapeText(r.tensor->shape),
        scaleText(*r.tensor, "{0:e2}"), scaleText(*r.reference, "{0:e2}"),
        std::isnan(r.steps) ? std::string("-") : fmt(r.steps, "{0:f2}"),
        fmt(r.figures.peir, "{0:e2}"), fmt(r.figures.sqnr, "{0:f1}"),
        fmt(r.figures.cosine, "{0:f6}"));
    if (int(i) == firstPast)
      os << "  <-- first past --max-lsb " << llvm::format("%g", opts.maxLsb);
    if (std::string note = rowNote(r); !note.empty())
      os << "  (" << note << ")";
    os << "\n";
  }
}

void Variants::printOutputs(llvm::raw_ostream &os) {
  bool torch = llvm::any_of(outputRows,
                            [](const OutputRow &r) { return r.torchPrefill; });
  os << llvm::formatv("{0,-12} {1,-12} {2,10} {3,10} {4,8} {5,9}", "output",
                      "shape", "max |diff|", "PEIR", "SQNR dB", "cosine");
  if (torch)
    os << llvm::formatv("  {0,14} {1,14}", "PEIR prefill", "PEIR ref")
       << "  (against PyTorch)";
  os << "\n";
  for (const OutputRow &r : outputRows) {
    os << llvm::formatv(
        "{0,-12} {1,-12} {2,10} {3,10} {4,8} {5,9}", r.name, shapeText(r.shape),
        fmt(r.variants.maxAbs, "{0:e2}"), fmt(r.variants.peir, "{0:e2}"),
        fmt(r.variants.sqnr, "{0:f1}"), fmt(r.variants.cosine, "{0:f6}"));
    if (r.torchPrefill)
      os << llvm::formatv("  {0,14} {1,14}",
                          fmt(r.torchPrefill->peir, "{0:e2}"),
                          fmt(r.torchReference->peir, "{0:e2}"));
    os << "\n";
  }
}

void Variants::writeHtml(const std::string &path) {
  writeFileAtomically(path, [&](llvm::raw_ostream &os) {
    std::vector<PlotPoint> points;
    for (const Row &r : rows)
      points.push_back({std::isnan(r.steps) ? 0 : r.steps,
                        layerOf(std::get<0>(r.key)), r.tensor->name});
    writeReportTop(os, "kiln-parity --variants: " + basename(opts.model),
                   "kiln-parity --variants: " + basename(opts.model) +
                       ": prefill_reference against prefill (reference step " +
                       step + ")",
                   std::to_string(rows.size()) +
                       " tensors of prefill matched; max difference in "
                       "quantization steps of prefill's scale",
                   points, opts.maxLsb, numPast, firstPast);
    os << "<table><tr><th>output</th><th>shape</th><th>max |diff|</th>"
          "<th>PEIR</th><th>SQNR dB</th><th>cosine</th>"
          "<th>PEIR prefill vs PyTorch</th><th>PEIR ref vs PyTorch</th>"
          "</tr>\n";
    for (const OutputRow &r : outputRows)
      os << "<tr><td class=\"l\">" << htmlEscape(r.name) << "</td><td>"
         << shapeText(r.shape) << "</td><td>"
         << fmt(r.variants.maxAbs, "{0:e2}") << "</td><td>"
         << fmt(r.variants.peir, "{0:e2}") << "</td><td>"
         << fmt(r.variants.sqnr, "{0:f1}") << "</td><td>"
         << fmt(r.variants.cosine, "{0:f6}") << "</td><td>"
         << (r.torchPrefill ? fmt(r.torchPrefill->peir, "{0:e2}") : "-")
         << "</td><td>"
         << (r.torchReference ? fmt(r.torchReference->peir, "{0:e2}") : "-")
         << "</td></tr>\n";
    os << "</table><p></p>\n<table><tr><th>#</th><th class=\"l\">tensor</th>"
          "<th class=\"l\">location</th><th>shape</th><th>scale prefill</th>"
          "<th>scale ref</th><th>steps</th><th>PEIR</th><th>SQNR dB</th>"
          "<th>cosine</th></tr>\n";
    for (auto [i, r] : llvm::enumerate(rows)) {
      const char *cls = rowClass(i, firstPast, r.steps, opts.maxLsb);
      os << "<tr" << cls << "><td>" << i << "</td><td class=\"l\">"
         << htmlEscape(r.tensor->name)
         << (r.axisNote.empty() ? "" : " [" + htmlEscape(r.axisNote) + "]")
         << (r.onGrid ? " (" + htmlEscape(rowNote(r)) + ")" : "")
         << "</td><td class=\"l\">" << htmlEscape(keyText(r.key)) << "</td><td>"
         << shapeText(r.tensor->shape) << "</td><td>"
         << htmlEscape(scaleText(*r.tensor, "{0:e3}")) << "</td><td>"
         << htmlEscape(scaleText(*r.reference, "{0:e3}")) << "</td><td>"
         << (std::isnan(r.steps) ? std::string("-") : fmt(r.steps, "{0:f2}"))
         << "</td><td>" << fmt(r.figures.peir, "{0:e2}") << "</td><td>"
         << fmt(r.figures.sqnr, "{0:f1}") << "</td><td>"
         << fmt(r.figures.cosine, "{0:f6}") << "</td></tr>\n";
    }
    os << "</table></body></html>\n";
  });
}

int Variants::run() {
  ReferenceFolder ref = readReferenceFolder(opts.inputsFrom);
  step = opts.step.empty() ? "prefill" : opts.step;
  if (!ref.steps.count(step)) {
    std::vector<std::string> prefills;
    for (const std::string &s : ref.stepNames)
      if (llvm::StringRef(s).starts_with("prefill"))
        prefills.push_back(s);
    if (opts.step.empty() && prefills.size() == 1)
      step = prefills.front();
    else
      fail("the reference '" + opts.inputsFrom + "' has no step '" + step +
           "' (it has: " + llvm::join(ref.stepNames, ", ") + "); use --step");
  }
  if (!llvm::StringRef(step).starts_with("prefill"))
    fail("step '" + step +
         "' is not a prefill step: the variants differ only in prefill's "
         "attention (kiln-convert --variant applies to prefill); choose a "
         "prefill step with --step (the reference has: " +
         llvm::join(ref.stepNames, ", ") + ")");
  std::vector<at::Tensor> inputs;
  for (const TensorEntry &e : ref.steps[step].inputs)
    inputs.push_back(
        readTensorFile(e.file, e.shape, e.dtype, "input '" + e.name + "'"));
  if (inputs.empty() || inputs.front().dim() < 2)
    fail("step '" + step +
         "' has no [batch, tokens, ...] first input to take the prefill "
         "length from");
  batch = inputs.front().size(0);
  seqLen = inputs.front().size(1);
  convertAndRun(prefill, Variant::Prefill, inputs);
  convertAndRun(reference, Variant::PrefillReference, inputs);
  std::vector<at::Tensor> torchOutputs;
  if (opts.torch) {
    TorchRunOptions topts;
    topts.scalars = opts.args;
    topts.defaults = {{"use_cache", "true"}, {"output_attentions", "false"}};
    torchOutputs = runTorchScript(opts.model, inputs, topts).outputs;
  }
  if (opts.listTensors)
    for (VariantRun *v : {&prefill, &reference})
      for (const ExportTensor &t : v->tensors) {
        llvm::outs() << v->variant << " " << t.order << " " << t.op << " "
                     << t.name << " " << shapeText(t.shape) << " "
                     << scaleText(t, "{0:e3}") << " :";
        for (const SourcePoint &p : t.points)
          llvm::outs() << " [" << p.path << " " << basename(p.file) << ":"
                       << p.line << ":" << p.col << " " << p.head << "]";
        llvm::outs() << "\n";
      }
  match();
  compareOutputs(torchOutputs);

  llvm::outs() << "kiln-parity --variants: " << opts.model
               << ": prefill_reference (batched) against prefill (per head), "
                  "kiln-run, "
               << circle::stringifyFlavor(opts.flavor) << ", "
               << (opts.integerKernels ? "integer" : "float")
               << " kernels, reference step '" << step << "'\n"
               << "scales: prefill's, ref (prefill_reference)'s; steps of "
                  "prefill's scale\n";
  printTable(llvm::outs());
  llvm::outs() << "matched " << rows.size() << " of "
               << rows.size() + unmatched.size()
               << " computed tensors of prefill to prefill_reference's "
               << reference.tensors.size() << "\n";
  if (!unmatched.empty()) {
    llvm::outs() << unmatched.size()
                 << " tensors of prefill have no counterpart (no shared "
                    "source point of a compatible shape):";
    for (size_t i = 0; i < unmatched.size() && i < 6; ++i)
      llvm::outs() << (i ? "," : "") << " " << unmatched[i]->name << " ("
                   << unmatched[i]->op << ")";
    llvm::outs() << (unmatched.size() > 6 ? ", ...\n" : "\n");
  }
  printOutputs(llvm::outs());
  if (!opts.html.empty()) {
    writeHtml(opts.html);
    llvm::outs() << "report: " << opts.html << "\n";
  }
  double worst = 0;
  for (const Row &r : rows)
    if (!std::isnan(r.steps))
      worst = std::max(worst, r.steps);
  printVerdict(llvm::outs(), "max difference", worst, numPast, opts.maxLsb,
               firstPast, firstPast < 0 ? "" : rows[firstPast].tensor->name,
               firstPast < 0 ? "" : keyText(rows[firstPast].key));
  return numPast ? 1 : 0;
}

} // namespace

int kilnParityVariantsMain(int argc, char **argv, DialectRegistry &registry) {
  llvm::InitLLVM init(argc, argv);
  cl::opt<std::string> model(
      "variants",
      cl::desc("The model (.pt) whose two prefill variants are "
               "compared"),
      cl::value_desc("model.pt"), cl::Required, cl::cat(parityCategory()));
  CommonOptions common(
      "Reference step (default: prefill, or the only prefill_<S>)");
  cl::opt<bool> noTorch(
      "no-torch",
      cl::desc("Do not run the model in LibTorch (no PyTorch columns for the "
               "outputs)"),
      cl::cat(parityCategory()));
  cl::opt<std::string> format(
      "format",
      cl::desc("Lowering of both variants: circle (default) or tflite (as "
               "kiln-convert --format)"),
      cl::init("circle"), cl::cat(parityCategory()));
  cl::opt<std::string> quantizedKernels(
      "quantized-kernels",
      cl::desc("Quantized circle ops, as kiln-run: integer (default; TFLite's "
               "integer kernels) or float (float-domain arithmetic, results "
               "fake-quantized)"),
      cl::init("integer"), cl::cat(parityCategory()));
  cl::opt<bool> listTensors(
      "list-tensors",
      cl::desc("Also list every tensor of both variants with its points"),
      cl::Hidden, cl::cat(parityCategory()));
  cl::HideUnrelatedOptions(parityCategory());
  cl::ParseCommandLineOptions(
      argc, argv,
      "kiln-parity --variants: where prefill_reference (batched attention) "
      "leaves prefill (per-head attention), tensor by tensor\n");
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  Variants::Options opts;
  opts.model = model;
  opts.inputsFrom = common.inputsFrom;
  opts.step = common.step;
  opts.maxLsb = common.maxLsb;
  opts.html = common.html;
  opts.torch = !noTorch;
  opts.listTensors = listTensors;
  if (quantizedKernels != "integer" && quantizedKernels != "float") {
    llvm::errs() << "kiln-parity: --quantized-kernels must be integer or "
                    "float\n";
    return 2;
  }
  opts.integerKernels = quantizedKernels == "integer";
  if (auto flavor = circle::parseFlavor(format)) {
    opts.flavor = *flavor;
  } else {
    llvm::errs() << "kiln-parity: --format must be circle or tflite\n";
    return 2;
  }
  if (!common.scalars(opts.args))
    return 2;
  Variants variants(ctx, opts);
  return reportErrors("kiln-parity", [&] { return variants.run(); });
}

} // namespace kiln::runtime
