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

#include "Inputs.h"
#include "Interpreter.h"
#include "TorchProbe.h"

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

struct ExportTensor {
  unsigned order = 0; // position in execution order
  std::string name, op;
  std::vector<SourcePoint> points;
  at::Tensor value;
  std::vector<int64_t> shape;
  std::vector<double> scales; // empty: not quantized
  int64_t zeroPoint = 0;
  std::string storage; // "i16", "i8", "f32"
};

struct Row {
  const ExportTensor *tensor = nullptr;
  const TorchProbe *probe = nullptr;
  std::string head, axisNote;
  double steps = 0, maxAbs = 0, peir = 0, sqnr = 0, cosine = 1;
  bool scaleDiffers = false;
};

using Key = std::tuple<std::string, std::string, unsigned, unsigned>;

std::string basename(const std::string &file) {
  return llvm::sys::path::filename(file).str();
}

std::string locationText(const TorchProbe &p) {
  std::string s = basename(p.file) + ":" + std::to_string(p.line);
  if (!p.path.empty())
    s += " " + p.path;
  return s;
}

std::string shapeText(llvm::ArrayRef<int64_t> shape) {
  std::string s;
  for (int64_t d : shape)
    s += (s.empty() ? "" : "x") + std::to_string(d);
  return s.empty() ? "scalar" : s;
}

std::vector<int64_t> parseHead(const std::string &head) {
  std::vector<int64_t> idx;
  for (llvm::StringRef part : llvm::split(head, '_')) {
    int64_t v;
    if (part.getAsInteger(10, v))
      return {};
    idx.push_back(v);
  }
  return idx;
}

std::vector<int64_t> squeezed(llvm::ArrayRef<int64_t> shape) {
  std::vector<int64_t> s;
  for (int64_t d : shape)
    if (d != 1)
      s.push_back(d);
  return s;
}

/// PyTorch's tensor as the export tensor's shape: the head slice, reshaped.
std::optional<at::Tensor> align(const at::Tensor &t, const ExportTensor &e,
                                const std::string &head, std::string &note) {
  int64_t numel = 1;
  for (int64_t d : e.shape)
    numel *= d;
  if (head.empty()) {
    if (t.numel() != numel)
      return std::nullopt;
    return t.reshape(e.shape);
  }
  std::vector<int64_t> idx = parseHead(head);
  if (idx.empty())
    return std::nullopt;
  // Axes picked in increasing order, one per head index.
  std::optional<at::Tensor> best, fallback;
  std::string bestNote, fallbackNote;
  std::function<void(const at::Tensor &, size_t, int64_t, std::string)> pick =
      [&](const at::Tensor &v, size_t k, int64_t from, std::string axes) {
        if (best)
          return;
        if (k == idx.size()) {
          if (v.numel() != numel)
            return;
          if (squeezed(v.sizes().vec()) == squeezed(e.shape)) {
            best = v;
            bestNote = axes;
          } else if (!fallback) {
            fallback = v;
            fallbackNote = axes;
          }
          return;
        }
        for (int64_t a = from; a < v.dim(); ++a)
          if (v.size(a) > idx[k])
            pick(v.select(a, idx[k]), k + 1, a,
                 axes + (axes.empty() ? "" : ",") + std::to_string(a + k));
      };
  pick(t, 0, 0, "");
  if (!best) {
    best = fallback;
    bestNote = fallbackNote;
  }
  if (!best)
    return std::nullopt;
  note = "head " + head + " (axis " + bestNote + ")";
  return best->reshape(e.shape);
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
  at::Tensor e = row.tensor->value.to(at::kDouble).reshape(t.sizes());
  at::Tensor d = (e - t).abs();
  row.maxAbs = d.numel() ? d.max().item<double>() : 0;
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
  double range = t.numel() ? (t.max() - t.min()).item<double>() : 0;
  row.peir = range > 0 ? row.maxAbs / range : (row.maxAbs > 0 ? INFINITY : 0);
  double signal = (t * t).sum().item<double>();
  double noise = ((e - t) * (e - t)).sum().item<double>();
  row.sqnr = noise > 0 ? 10 * std::log10(signal / noise) : INFINITY;
  double ne = e.norm().item<double>(), nt = t.norm().item<double>();
  row.cosine = ne > 0 && nt > 0 ? (e * t).sum().item<double>() / (ne * nt)
                                : (ne == nt ? 1.0 : 0.0);
  row.scaleDiffers = !row.tensor->scales.empty() && !scaleEqual(*row.tensor, p);
}

/// "layer 3" for module paths through layers.3 (model.layers.3, ...).
std::string layerOf(const std::string &path) {
  static llvm::Regex re("(^|\\.)(layers|h|blocks|layer)\\.([0-9]+)(\\.|$)");
  llvm::SmallVector<llvm::StringRef, 5> m;
  if (re.match(path, &m))
    return "layer " + m[3].str();
  return "model";
}

std::string htmlEscape(llvm::StringRef s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '&':
      out += "&amp;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

std::string fmt(double v, const char *spec) {
  if (std::isinf(v))
    return "inf";
  return llvm::formatv(spec, v).str();
}

class Parity {
public:
  struct Options {
    std::string model, exported, signature, inputsFrom, step, html;
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
    auto key = f->getAttrOfType<StringAttr>("kiln.signature");
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
  Compiler compiler(*module);
  Function *fn = compiler.getFunction(function, module->getLoc());
  if (!fn)
    throw Reported();
  InputSet set;
  for (size_t i = 0; i < inputs.size(); ++i) {
    InputSource src;
    src.label = "input " + std::to_string(i);
    src.value = RValue::tensor(inputs[i]);
    set.positional.push_back(std::move(src));
  }
  std::vector<RValue> raw = bindInputs(fn->func, set);
  std::vector<RValue> args;
  for (size_t i = 0; i < raw.size(); ++i)
    args.push_back(bindArgument(raw[i], fn->func.getArgumentTypes()[i],
                                "argument " + std::to_string(i)));
  setStepObserver([&](const Step &step, const Frame &frame) {
    for (auto [i, slot] : llvm::enumerate(step.results)) {
      const RValue &v = frame.slots[slot];
      if (v.kind != RValue::Kind::Tensor || i > 0)
        continue;
      ExportTensor t;
      t.order = tensors.size();
      t.op = step.op->getName().getStringRef().str();
      Location loc = step.op->getLoc();
      if (auto name = dyn_cast<NameLoc>(loc))
        t.name = name.getName().str();
      t.points = kiln::circle::flattenLocation(loc);
      t.value = v.t.detach().clone();
      t.shape = v.t.sizes().vec();
      Type element = getElementTypeOrSelf(step.op->getResult(i).getType());
      if (auto q = dyn_cast<quant::UniformQuantizedType>(element)) {
        t.scales = {q.getScale()};
        t.zeroPoint = q.getZeroPoint();
        t.storage = (q.isSigned() ? "i" : "u") +
                    std::to_string(q.getStorageTypeIntegralWidth());
      } else if (auto q =
                     dyn_cast<quant::UniformQuantizedPerAxisType>(element)) {
        t.scales.assign(q.getScales().begin(), q.getScales().end());
        t.storage = (q.isSigned() ? "i" : "u") +
                    std::to_string(q.getStorageTypeIntegralWidth());
      } else {
        std::string s;
        llvm::raw_string_ostream os(s);
        element.print(os);
        t.storage = os.str();
      }
      tensors.push_back(std::move(t));
    }
  });
  try {
    callFunction(*fn, args);
  } catch (...) {
    setStepObserver(nullptr);
    throw;
  }
  setStepObserver(nullptr);
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
    std::optional<at::Tensor> t = align(p->value, *e, head, row.axisNote);
    if (!t)
      return false;
    computeMetrics(row, *t);
    matched[e] = row;
    used.insert(p);
    paired.insert({p, head});
    return true;
  };
  // Pass 1: each recording, in PyTorch's order, takes the first unpaired
  // tensor on its scale (several points can share a module path and line:
  // a quantizer called through one helper). A recording whose tensor another
  // point already took (one value quantized twice alike) is covered by it.
  // Pass 2: what is left takes the first unpaired tensor of a compatible
  // shape (a wrong scale in the file still pairs).
  std::string ignored;
  for (int pass = 0; pass < 2; ++pass)
    for (const auto &kh : keyOrder)
      for (const TorchProbe *p : probesByKey[kh.first]) {
        if (paired.count({p, kh.second}))
          continue;
        bool covered = false;
        // Several unpaired tensors on the scale (points sharing a line and a
        // scale, per-head loops): the closest one.
        const ExportTensor *best = nullptr;
        double bestError = INFINITY;
        for (const ExportTensor *e : byKey[kh]) {
          if (pass == 0 && !scaleEqual(*e, *p))
            continue;
          if (matched.count(e)) {
            covered |= pass == 0 && align(p->value, *e, kh.second, ignored);
            continue;
          }
          std::optional<at::Tensor> t = align(p->value, *e, kh.second, ignored);
          if (!t)
            continue;
          if (pass == 1) {
            best = e;
            break;
          }
          double err = (e->value.to(at::kDouble).reshape(t->sizes()) -
                        t->to(at::kDouble))
                           .abs()
                           .max()
                           .item<double>();
          if (err < bestError) {
            bestError = err;
            best = e;
          }
        }
        if (best) {
          tryPair(best, p, kh.second);
        } else if (covered) {
          used.insert(p);
          paired.insert({p, kh.second});
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
  std::string tmp = path + ".tmp";
  std::error_code ec;
  {
    llvm::raw_fd_ostream os(tmp, ec);
    if (ec)
      fail("cannot write '" + path + "': " + ec.message());
    // Plot: error in steps (log scale) along the graph, one line per layer.
    const double width = 960, height = 360, left = 60, right = 150, top = 20,
                 bottom = 40;
    double maxLog = std::log10(std::max(opts.maxLsb, 1.0)) + 0.5;
    for (const Row &r : rows)
      if (std::isfinite(r.steps) && r.steps > 0)
        maxLog = std::max(maxLog, std::log10(r.steps) + 0.3);
    const double minLog = -2;
    auto x = [&](size_t i) {
      return left + (rows.size() > 1 ? double(i) / (rows.size() - 1) : 0.5) *
                        (width - left - right);
    };
    auto y = [&](double steps) {
      double l = steps > 0 ? std::max(std::log10(steps), minLog) : minLog;
      return top + (maxLog - l) / (maxLog - minLog) * (height - top - bottom);
    };
    std::vector<std::string> layers;
    std::map<std::string, std::vector<size_t>> byLayer;
    for (auto [i, r] : llvm::enumerate(rows)) {
      std::string l = layerOf(r.probe->path);
      if (!byLayer.count(l))
        layers.push_back(l);
      byLayer[l].push_back(i);
    }
    static const char *palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                    "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                    "#bcbd22", "#17becf"};
    os << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
       << "<title>kiln-parity: " << htmlEscape(basename(opts.exported))
       << "</title><style>body{font-family:sans-serif;margin:20px}"
          "table{border-collapse:collapse;font-size:12px}"
          "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
          "td.l,th.l{text-align:left}tr.past{background:#fdd}"
          "tr.first{background:#f99}</style></head><body>\n";
    os << "<h2>kiln-parity: " << htmlEscape(basename(opts.model)) << " vs "
       << htmlEscape(basename(opts.exported)) << " (signature "
       << htmlEscape(opts.signature) << ")</h2>\n<p>" << rows.size()
       << " tensors matched to " << torch.probes.size()
       << " fake-quant outputs recorded in PyTorch; max error in "
          "quantization steps of the model's scale; --max-lsb "
       << llvm::format("%g", opts.maxLsb) << ": " << numPast << " past";
    if (firstPast >= 0)
      os << ", first: #" << firstPast << " "
         << htmlEscape(rows[firstPast].tensor->name);
    os << ".</p>\n";
    os << llvm::formatv("<svg xmlns=\"http://www.w3.org/2000/svg\" "
                        "width=\"{0}\" height=\"{1}\" id=\"plot\">",
                        width, height);
    os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>";
    for (int l = int(std::floor(minLog)); l <= int(std::floor(maxLog)); ++l) {
      double yy = y(std::pow(10.0, l));
      os << llvm::formatv("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:f1}\" "
                          "y2=\"{2:f1}\" stroke=\"#eee\"/>"
                          "<text x=\"{3}\" y=\"{4:f1}\" font-size=\"11\" "
                          "text-anchor=\"end\">1e{5}</text>",
                          left, width - right, yy, left - 5, yy + 4, l);
    }
    double ylsb = y(opts.maxLsb);
    os << llvm::formatv("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:f1}\" "
                        "y2=\"{2:f1}\" stroke=\"red\" stroke-dasharray=\"4\"/>"
                        "<text x=\"{1}\" y=\"{3:f1}\" font-size=\"11\" "
                        "fill=\"red\" text-anchor=\"end\">--max-lsb {4}</text>",
                        left, width - right, ylsb, ylsb - 3, opts.maxLsb);
    os << llvm::formatv("<text x=\"{0}\" y=\"{1}\" font-size=\"12\" "
                        "text-anchor=\"middle\">tensor (graph order)</text>"
                        "<text x=\"14\" y=\"{2}\" font-size=\"12\" "
                        "transform=\"rotate(-90 14 {2})\" "
                        "text-anchor=\"middle\">max error (steps)</text>",
                        (left + width - right) / 2, height - 8,
                        (top + height - bottom) / 2);
    for (auto [li, layer] : llvm::enumerate(layers)) {
      const char *color = palette[li % 10];
      std::string points;
      for (size_t i : byLayer[layer])
        points += llvm::formatv("{0:f1},{1:f1} ", x(i), y(rows[i].steps)).str();
      os << "<polyline fill=\"none\" stroke=\"" << color
         << "\" stroke-width=\"1.5\" points=\"" << points << "\"/>";
      for (size_t i : byLayer[layer])
        os << llvm::formatv("<circle cx=\"{0:f1}\" cy=\"{1:f1}\" r=\"2.5\" "
                            "fill=\"{2}\"><title>#{3} {4}: {5} steps</title>"
                            "</circle>",
                            x(i), y(rows[i].steps), color, i,
                            htmlEscape(rows[i].tensor->name),
                            fmt(rows[i].steps, "{0:f2}"));
      double ly = top + 16 * li + 10;
      os << llvm::formatv("<rect x=\"{0}\" y=\"{1:f1}\" width=\"12\" "
                          "height=\"3\" fill=\"{2}\"/><text x=\"{3}\" "
                          "y=\"{4:f1}\" font-size=\"12\">{5}</text>",
                          width - right + 10, ly, color, width - right + 28,
                          ly + 5, htmlEscape(layer));
    }
    if (firstPast >= 0)
      os << llvm::formatv("<circle cx=\"{0:f1}\" cy=\"{1:f1}\" r=\"6\" "
                          "fill=\"none\" stroke=\"red\" stroke-width=\"2\"/>",
                          x(firstPast), y(rows[firstPast].steps));
    os << "</svg>\n<table><tr><th>#</th><th class=\"l\">tensor</th>"
          "<th class=\"l\">location</th><th>shape</th><th>scale</th>"
          "<th>steps</th><th>PEIR</th><th>SQNR dB</th><th>cosine</th></tr>\n";
    for (auto [i, r] : llvm::enumerate(rows)) {
      const char *cls = int(i) == firstPast     ? " class=\"first\""
                        : r.steps > opts.maxLsb ? " class=\"past\""
                                                : "";
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
  }
  if (std::error_code rc = llvm::sys::fs::rename(tmp, path))
    fail("cannot write '" + path + "': " + rc.message());
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
               << opts.exported << " @" << function
               << " (kiln-run), reference step '" << step << "'\n";
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
  llvm::outs() << "max error: " << fmt(worst, "{0:f2}") << " steps; " << numPast
               << " tensors past --max-lsb " << llvm::format("%g", opts.maxLsb);
  if (firstPast >= 0)
    llvm::outs() << "; first: #" << firstPast << " "
                 << rows[firstPast].tensor->name << " ("
                 << locationText(*rows[firstPast].probe) << ")";
  llvm::outs() << "\n";
  if (!opts.html.empty()) {
    writeHtml(opts.html);
    llvm::outs() << "report: " << opts.html << "\n";
  }
  return numPast ? 1 : 0;
}

} // namespace

int kilnParityMain(int argc, char **argv, DialectRegistry &registry) {
  llvm::InitLLVM init(argc, argv);
  cl::opt<std::string> model(cl::Positional, cl::desc("<model.pt>"),
                             cl::Required);
  cl::opt<std::string> exported(
      cl::Positional, cl::desc("<exported.circle|.tflite>"), cl::Required);
  cl::opt<std::string> signature(
      "signature", cl::desc("Signature of the file to compare (default: the "
                            "only one)"));
  cl::opt<std::string> inputsFrom(
      "inputs-from", cl::desc("kiln_torch reference folder with the inputs"),
      cl::Required);
  cl::opt<std::string> step(
      "step", cl::desc("Reference step (default: the signature)"));
  cl::opt<double> maxLsb(
      "max-lsb",
      cl::desc("Error bound in quantization steps: the first tensor past it "
               "is marked; exit 1 when any is"),
      cl::init(4));
  cl::opt<std::string> html("html",
                            cl::desc("Write a self-contained HTML report"));
  cl::list<std::string> args(
      "arg", cl::desc("NAME=VALUE for a scalar argument of the model"));
  cl::opt<std::string> runtime(
      "runtime", cl::desc("Runtime of the export side (kiln-run)"),
      cl::init("kiln-run"));
  cl::ParseCommandLineOptions(
      argc, argv,
      "kiln-parity: the exported model against PyTorch, tensor by tensor\n");
  if (runtime != "kiln-run") {
    llvm::errs() << "kiln-parity: --runtime " << runtime
                 << ": only kiln-run records every tensor (LiteRT.js returns "
                    "signature outputs only)\n";
    return 2;
  }
  MLIRContext ctx(registry);
  Parity::Options opts;
  opts.model = model;
  opts.exported = exported;
  opts.signature = signature;
  opts.inputsFrom = inputsFrom;
  opts.step = step;
  opts.maxLsb = maxLsb;
  opts.html = html;
  for (const std::string &a : args) {
    auto [k, v] = llvm::StringRef(a).split('=');
    if (k.empty() || v.empty()) {
      llvm::errs() << "kiln-parity: --arg expects NAME=VALUE, got '" << a
                   << "'\n";
      return 2;
    }
    opts.args[k.str()] = v.str();
  }
  Parity parity(ctx, opts);
  try {
    return parity.run();
  } catch (const EvalError &e) {
    llvm::errs() << "kiln-parity: error: " << e.what() << "\n";
  } catch (const Reported &) {
  } catch (const c10::Error &e) {
    llvm::errs() << "kiln-parity: error: " << e.what_without_backtrace()
                 << "\n";
  }
  return 1;
}

} // namespace kiln::runtime
