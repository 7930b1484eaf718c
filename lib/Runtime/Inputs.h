//===- Inputs.h - Tensor files, reference folders, argument binding -*- C++
//-*-===//
//
// Private to lib/Runtime. Shared by kiln-run and --kiln-verify-numerics.
//
// Binding inputs to a function: the arguments are walked in order and
// flattened into leaves (a tuple's elements, an Optional's value, a list's
// elements). Positional inputs (a kiln_torch reference step, or --input N=...)
// fill tensor leaves in order; named inputs (--input NAME=..., --arg
// NAME=VALUE) fill the leaf of that name. An Optional is present when one of
// its leaves gets an input, a list takes positional inputs while any remain.
// Leaf names: the `kiln.name` argument attribute, or a NameLoc on the
// argument, else `argN`; tuple/list elements append `.K`.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_LIB_RUNTIME_INPUTS_H
#define KILN_LIB_RUNTIME_INPUTS_H

#include "Interpreter.h"

#include "llvm/Support/JSON.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kiln::runtime {

/// One tensor of a reference folder's index.json.
struct TensorEntry {
  std::string name;
  std::string file; // absolute or relative to the folder
  std::vector<int64_t> shape;
  at::ScalarType dtype = at::kFloat;
};

struct ReferenceStep {
  std::vector<TensorEntry> inputs, outputs;
};

struct ReferenceFolder {
  std::string dir;
  llvm::json::Object model;
  std::vector<std::string> stepNames;
  std::map<std::string, ReferenceStep> steps;
};

/// Reads index.json of a kiln_torch reference folder (throws EvalError).
ReferenceFolder readReferenceFolder(const std::string &dir);

/// Reads a raw little-endian C-contiguous tensor file, checking its size.
at::Tensor readTensorFile(const std::string &path,
                          llvm::ArrayRef<int64_t> shape, at::ScalarType dtype,
                          const std::string &what);
void writeTensorFile(const std::string &path, const at::Tensor &t);
/// Writes `t` as DIR/FILE and returns its index.json entry ({name, file,
/// shape, dtype}).
llvm::json::Object writeTensorEntry(const std::string &dir,
                                    const std::string &file,
                                    const std::string &name,
                                    const at::Tensor &t);
const char *dtypeFileName(at::ScalarType dtype);
std::optional<at::ScalarType> parseDTypeName(llvm::StringRef name);

/// Where a leaf's value comes from.
struct InputSource {
  std::string label; // for messages: "input 'hidden_states'"
  std::optional<RValue> value;
  std::string file; // loaded with the leaf's static type when value is empty
  bool random = false;
  uint64_t seed = 0;
};

struct InputSet {
  std::vector<InputSource> positional;
  std::map<std::string, InputSource> named;
  /// --arg NAME=VALUE (true/false, integers, floats, none).
  std::map<std::string, std::string> scalars;
  /// Values for scalar arguments of these names when they exist and have no
  /// --arg (a kiln_torch reference's calling convention).
  std::map<std::string, std::string> defaults;
  /// Seeded random values for tensor leaves without an input.
  std::optional<uint64_t> randomSeed;
  int64_t randomIntRange = 16;
  /// Scalars without a value become 0 / false (random mode).
  bool defaultScalars = false;
};

/// Flattened names of a function's argument and result leaves.
std::string argumentName(mlir::func::FuncOp func, unsigned index);

/// Builds one value per argument of `func`. Throws EvalError.
std::vector<RValue> bindInputs(mlir::func::FuncOp func, const InputSet &inputs);

/// Parses a value for --arg.
RValue parseScalar(const std::string &text, const std::string &what);

/// A flattened output: tensors, and scalars as 0-d tensors; None is skipped.
struct OutputLeaf {
  std::string name;
  at::Tensor tensor;
};
/// `types` are the function's result types (for the dtype of scalars);
/// leaves are named after `names` (a result's `kiln.name`, NAME.K inside a
/// tuple) when every result has one, else output.0, output.1, ...
std::vector<OutputLeaf> flattenOutputs(const std::vector<RValue> &results,
                                       llvm::ArrayRef<mlir::Type> types = {},
                                       llvm::ArrayRef<std::string> names = {});
/// The `kiln.name` result attributes ("" where missing).
std::vector<std::string> resultNames(mlir::func::FuncOp func);

struct TensorMetrics {
  double maxAbs = 0, meanAbs = 0, peir = 0, cosine = 1;
  int64_t numel = 0;
  /// Set when only the trailing part of `actual` was compared.
  std::string note;
};
/// Compares actual against expected (same numel, or one of them larger along
/// one dimension: the trailing entries of the larger one are compared, as for
/// kiln_torch's new_key/new_value against a full cache). Throws EvalError on
/// incompatible shapes.
TensorMetrics compareTensors(const at::Tensor &actual,
                             const at::Tensor &expected);

std::string shapeToString(llvm::ArrayRef<int64_t> shape);

} // namespace kiln::runtime

#endif
