//===- TensorMatch.h - Recorded tensors, head slices, error figures -*- C++
//-*-===//
//
// Private to lib/Runtime: what kiln-parity's modes share (Parity.cpp, the
// exported file against PyTorch; Variants.cpp, prefill against
// prefill_reference). A function runs in Kiln's evaluator with every op's
// result recorded with its source points and quantization; a head-unrolled
// tensor (".headN") is compared with slice N of a batched one; errors are
// given as max |diff|, PEIR, SQNR and cosine; the HTML report plots the
// error in steps along the graph.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_LIB_RUNTIME_TENSORMATCH_H
#define KILN_LIB_RUNTIME_TENSORMATCH_H

#include "Interpreter.h"

#include "kiln/Export/Circle/Locations.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kiln::runtime {

/// One op result of an evaluated function (the first tensor result of each
/// step, in execution order).
struct ExportTensor {
  unsigned order = 0; // position in execution order
  std::string name, op;
  std::vector<circle::SourcePoint> points;
  at::Tensor value;
  std::vector<int64_t> shape;
  std::vector<double> scales; // empty: not quantized
  int64_t zeroPoint = 0;
  std::string storage;               // "i16", "i8", "f32"
  mlir::Operation *source = nullptr; // the op that computed it
};

/// The arguments of `func` from positional tensor inputs (a reference step's,
/// in order), bound to their types as kiln-run binds them.
std::vector<RValue> bindPositional(mlir::func::FuncOp func,
                                   const std::vector<at::Tensor> &inputs);

/// An ExportTensor for op result `result` holding `value` (kiln-run's
/// representation: dequantized floats for quantized types).
ExportTensor describeTensor(mlir::Value result, const at::Tensor &value,
                            unsigned order, bool fusedNames = false);

/// Calls `fn` on `args`, appending every step's first tensor result to
/// `tensors`. The tensor name is the op's location name (a NameLoc, or the
/// first one inside a FusedLoc when `fusedNames`: the name the writer gives
/// it). Throws Reported / EvalError as callFunction does.
std::vector<RValue> recordTensors(const Function &fn,
                                  llvm::ArrayRef<RValue> args,
                                  std::vector<ExportTensor> &tensors,
                                  bool fusedNames = false);

/// `batched` as a tensor of `shape`: reshaped when `head` is empty, else
/// slice `head` ("2", "0_1": one index per axis, axes in increasing order)
/// along the axes whose removal gives `shape` (`note` says which). Nullopt
/// when no such slice exists.
std::optional<at::Tensor> align(const at::Tensor &batched,
                                const std::vector<int64_t> &shape,
                                const std::string &head, std::string &note);

/// `actual` against `expected` (same number of elements).
struct ErrorFigures {
  double maxAbs = 0, peir = 0, sqnr = 0, cosine = 1;
};
ErrorFigures errorFigures(const at::Tensor &actual, const at::Tensor &expected);

std::string basename(const std::string &file);
/// "1x16x64", "scalar".
std::string shapeText(llvm::ArrayRef<int64_t> shape);
/// "inf", or `v` formatted with formatv's `spec` ("{0:f2}").
std::string fmt(double v, const char *spec);
/// The HTML class attribute of report row `row`: the first tensor past the
/// bound, another one past it, or none.
inline const char *rowClass(size_t row, int firstPast, double steps,
                            double maxLsb) {
  return static_cast<int>(row) == firstPast ? " class=\"first\""
         : steps > maxLsb                   ? " class=\"past\""
                                            : "";
}

std::string htmlEscape(llvm::StringRef s);
/// "layer 3" for module paths through layers.3 (model.layers.3, ...), else
/// "model".
std::string layerOf(const std::string &path);

/// The last line of a report: "<what>: W steps; N tensors past --max-lsb B",
/// then "; first: #i NAME (LOCATION)" when one is.
void printVerdict(llvm::raw_ostream &os, llvm::StringRef what, double worst,
                  unsigned numPast, double maxLsb, int firstPast,
                  llvm::StringRef name, llvm::StringRef location);

/// One point of the HTML report's plot.
struct PlotPoint {
  double steps = 0;
  std::string layer, label;
};
/// The top of the HTML report: <head> (`title`), the `heading`, a paragraph
/// (`summary`, then "--max-lsb B: N past, first: #i NAME."), and an SVG of
/// the error in steps (log scale) along the graph, one line per layer, the
/// --max-lsb bound dashed, the first row past it (or -1) circled.
void writeReportTop(llvm::raw_ostream &os, llvm::StringRef title,
                    llvm::StringRef heading, llvm::StringRef summary,
                    llvm::ArrayRef<PlotPoint> points, double maxLsb,
                    unsigned numPast, int firstPast);

/// The category of kiln-parity's own options (--help shows only these when
/// a mode hides the others).
llvm::cl::OptionCategory &parityCategory();

/// The options every kiln-parity mode takes (declared before parsing).
struct CommonOptions {
  explicit CommonOptions(const char *stepHelp);
  llvm::cl::opt<std::string> inputsFrom;
  llvm::cl::opt<std::string> step;
  llvm::cl::opt<double> maxLsb;
  llvm::cl::opt<std::string> html;
  llvm::cl::list<std::string> args;
  /// The --arg NAME=VALUE pairs; false after a message on a malformed one.
  bool scalars(std::map<std::string, std::string> &out) const;
};

/// Writes `path` through a temporary renamed at the end (throws EvalError).
void writeFileAtomically(const std::string &path,
                         const std::function<void(llvm::raw_ostream &)> &body);

} // namespace kiln::runtime

#endif // KILN_LIB_RUNTIME_TENSORMATCH_H
