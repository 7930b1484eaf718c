//===- TensorMatch.cpp - Recorded tensors, head slices, error figures -----===//
#include "TensorMatch.h"

#include "Inputs.h"

#include "mlir/Dialect/Quant/QuantTypes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Regex.h"

#include <cmath>
#include <map>

using namespace mlir;

namespace kiln::runtime {
namespace {

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

/// The writer's tensor name: a NameLoc's, also inside a FusedLoc.
std::string locationName(Location loc, bool fused) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  if (auto f = dyn_cast<FusedLoc>(loc); f && fused)
    for (Location child : f.getLocations())
      if (std::string name = locationName(child, fused); !name.empty())
        return name;
  if (auto call = dyn_cast<CallSiteLoc>(loc); call && fused)
    return locationName(call.getCallee(), fused);
  return "";
}

} // namespace

std::vector<RValue> bindPositional(func::FuncOp func,
                                   const std::vector<at::Tensor> &inputs) {
  InputSet set;
  for (size_t i = 0; i < inputs.size(); ++i) {
    InputSource src;
    src.label = "input " + std::to_string(i);
    src.value = RValue::tensor(inputs[i]);
    set.positional.push_back(std::move(src));
  }
  std::vector<RValue> raw = bindInputs(func, set);
  std::vector<RValue> args;
  for (size_t i = 0; i < raw.size(); ++i)
    args.push_back(bindArgument(raw[i], func.getArgumentTypes()[i],
                                "argument " + std::to_string(i)));
  return args;
}

ExportTensor describeTensor(Value result, const at::Tensor &value,
                            unsigned order, bool fusedNames) {
  Operation *op = result.getDefiningOp();
  ExportTensor t;
  t.order = order;
  t.source = op;
  t.op = op->getName().getStringRef().str();
  Location loc = op->getLoc();
  t.name = locationName(loc, fusedNames);
  t.points = circle::flattenLocation(loc);
  t.value = value.detach().clone();
  t.shape = value.sizes().vec();
  Type element = getElementTypeOrSelf(result.getType());
  if (auto q = dyn_cast<quant::UniformQuantizedType>(element)) {
    t.scales = {q.getScale()};
    t.zeroPoint = q.getZeroPoint();
    t.storage = (q.isSigned() ? "i" : "u") +
                std::to_string(q.getStorageTypeIntegralWidth());
  } else if (auto q = dyn_cast<quant::UniformQuantizedPerAxisType>(element)) {
    t.scales.assign(q.getScales().begin(), q.getScales().end());
    t.storage = (q.isSigned() ? "i" : "u") +
                std::to_string(q.getStorageTypeIntegralWidth());
  } else {
    std::string s;
    llvm::raw_string_ostream os(s);
    element.print(os);
    t.storage = os.str();
  }
  return t;
}

std::vector<RValue> recordTensors(const Function &fn,
                                  llvm::ArrayRef<RValue> args,
                                  std::vector<ExportTensor> &tensors,
                                  bool fusedNames) {
  setStepObserver([&](const Step &step, const Frame &frame) {
    if (step.results.empty())
      return;
    const RValue &v = frame.slots[step.results[0]];
    if (v.kind == RValue::Kind::Tensor)
      tensors.push_back(describeTensor(step.op->getResult(0), v.t,
                                       tensors.size(), fusedNames));
  });
  std::vector<RValue> results;
  try {
    results = callFunction(fn, args);
  } catch (...) {
    setStepObserver(nullptr);
    throw;
  }
  setStepObserver(nullptr);
  return results;
}

std::optional<at::Tensor> align(const at::Tensor &t,
                                const std::vector<int64_t> &shape,
                                const std::string &head, std::string &note) {
  int64_t numel = 1;
  for (int64_t d : shape)
    numel *= d;
  if (head.empty()) {
    if (t.numel() != numel)
      return std::nullopt;
    return t.reshape(shape);
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
          if (squeezed(v.sizes().vec()) == squeezed(shape)) {
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
  return best->reshape(shape);
}

ErrorFigures errorFigures(const at::Tensor &actual,
                          const at::Tensor &expected) {
  ErrorFigures f;
  at::Tensor t = expected.to(at::kDouble);
  at::Tensor e = actual.to(at::kDouble).reshape(t.sizes());
  at::Tensor d = (e - t).abs();
  f.maxAbs = d.numel() ? d.max().item<double>() : 0;
  double range = t.numel() ? (t.max() - t.min()).item<double>() : 0;
  f.peir = range > 0 ? f.maxAbs / range : (f.maxAbs > 0 ? INFINITY : 0);
  double signal = (t * t).sum().item<double>();
  double noise = ((e - t) * (e - t)).sum().item<double>();
  f.sqnr = noise > 0 ? 10 * std::log10(signal / noise) : INFINITY;
  double ne = e.norm().item<double>(), nt = t.norm().item<double>();
  f.cosine = ne > 0 && nt > 0 ? (e * t).sum().item<double>() / (ne * nt)
                              : (ne == nt ? 1.0 : 0.0);
  return f;
}

std::string basename(const std::string &file) {
  return llvm::sys::path::filename(file).str();
}

std::string shapeText(llvm::ArrayRef<int64_t> shape) {
  std::string s;
  for (int64_t d : shape)
    s += (s.empty() ? "" : "x") + std::to_string(d);
  return s.empty() ? "scalar" : s;
}

std::string fmt(double v, const char *spec) {
  if (std::isinf(v))
    return "inf";
  return llvm::formatv(spec, v).str();
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

std::string layerOf(const std::string &path) {
  static llvm::Regex re("(^|\\.)(layers|h|blocks|layer)\\.([0-9]+)(\\.|$)");
  llvm::SmallVector<llvm::StringRef, 5> m;
  if (re.match(path, &m))
    return "layer " + m[3].str();
  return "model";
}

void printVerdict(llvm::raw_ostream &os, llvm::StringRef what, double worst,
                  unsigned numPast, double maxLsb, int firstPast,
                  llvm::StringRef name, llvm::StringRef location) {
  os << what << ": " << fmt(worst, "{0:f2}") << " steps; " << numPast
     << " tensors past --max-lsb " << llvm::format("%g", maxLsb);
  if (firstPast >= 0)
    os << "; first: #" << firstPast << " " << name << " (" << location << ")";
  os << "\n";
}

namespace {
void writeStepsPlot(llvm::raw_ostream &os, llvm::ArrayRef<PlotPoint> rows,
                    double maxLsb, int firstPast) {
  const double width = 960, height = 360, left = 60, right = 150, top = 20,
               bottom = 40;
  double maxLog = std::log10(std::max(maxLsb, 1.0)) + 0.5;
  for (const PlotPoint &r : rows)
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
    if (!byLayer.count(r.layer))
      layers.push_back(r.layer);
    byLayer[r.layer].push_back(i);
  }
  static const char *palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                  "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                  "#bcbd22", "#17becf"};
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
  double ylsb = y(maxLsb);
  os << llvm::formatv("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:f1}\" "
                      "y2=\"{2:f1}\" stroke=\"red\" stroke-dasharray=\"4\"/>"
                      "<text x=\"{1}\" y=\"{3:f1}\" font-size=\"11\" "
                      "fill=\"red\" text-anchor=\"end\">--max-lsb {4}</text>",
                      left, width - right, ylsb, ylsb - 3, maxLsb);
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
                          htmlEscape(rows[i].label),
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
  os << "</svg>\n";
}

} // namespace

void writeReportTop(llvm::raw_ostream &os, llvm::StringRef title,
                    llvm::StringRef heading, llvm::StringRef summary,
                    llvm::ArrayRef<PlotPoint> points, double maxLsb,
                    unsigned numPast, int firstPast) {
  os << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
     << "<title>" << htmlEscape(title)
     << "</title><style>body{font-family:sans-serif;margin:20px}"
        "table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "td.l,th.l{text-align:left}tr.past{background:#fdd}"
        "tr.first{background:#f99}</style></head><body>\n";
  os << "<h2>" << htmlEscape(heading) << "</h2>\n<p>" << htmlEscape(summary)
     << "; --max-lsb " << llvm::format("%g", maxLsb) << ": " << numPast
     << " past";
  if (firstPast >= 0)
    os << ", first: #" << firstPast << " "
       << htmlEscape(points[firstPast].label);
  os << ".</p>\n";
  writeStepsPlot(os, points, maxLsb, firstPast);
}

llvm::cl::OptionCategory &parityCategory() {
  static llvm::cl::OptionCategory category("kiln-parity options");
  return category;
}

CommonOptions::CommonOptions(const char *stepHelp)
    : inputsFrom("inputs-from",
                 llvm::cl::desc("kiln_torch reference folder with the inputs"),
                 llvm::cl::Required, llvm::cl::cat(parityCategory())),
      step("step", llvm::cl::desc(stepHelp), llvm::cl::cat(parityCategory())),
      maxLsb("max-lsb",
             llvm::cl::desc("Error bound in quantization steps: the first "
                            "tensor past it is marked; exit 1 when any is"),
             llvm::cl::init(4), llvm::cl::cat(parityCategory())),
      html("html", llvm::cl::desc("Write a self-contained HTML report"),
           llvm::cl::cat(parityCategory())),
      args("arg",
           llvm::cl::desc("NAME=VALUE for a scalar argument of the model"),
           llvm::cl::cat(parityCategory())) {}

bool CommonOptions::scalars(std::map<std::string, std::string> &out) const {
  for (const std::string &a : args) {
    auto [k, v] = llvm::StringRef(a).split('=');
    if (k.empty() || v.empty()) {
      llvm::errs() << "kiln-parity: --arg expects NAME=VALUE, got '" << a
                   << "'\n";
      return false;
    }
    out[k.str()] = v.str();
  }
  return true;
}

void writeFileAtomically(const std::string &path,
                         const std::function<void(llvm::raw_ostream &)> &body) {
  std::string tmp = path + ".tmp";
  std::error_code ec;
  {
    llvm::raw_fd_ostream os(tmp, ec);
    if (ec)
      fail("cannot write '" + path + "': " + ec.message());
    body(os);
  }
  if (std::error_code rc = llvm::sys::fs::rename(tmp, path))
    fail("cannot write '" + path + "': " + rc.message());
}

} // namespace kiln::runtime
