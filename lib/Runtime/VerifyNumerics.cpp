//===- VerifyNumerics.cpp - --kiln-verify-numerics ------------------------===//
//
// A module pass wrapping a pass pipeline: it evaluates functions on seeded
// random inputs (or a kiln_torch reference step), runs the pipeline, evaluates
// them again on the same inputs and fails with the error metrics when an
// output moved by more than the pipeline's tolerance.
//
//   kiln-opt m.mlir --kiln-verify-numerics="pipeline=func.func(kiln-infer-shapes) max-abs=0"
//
//===----------------------------------------------------------------------===//
#include "Inputs.h"
#include "Interpreter.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace kiln::runtime {
namespace {

struct VerifyNumericsPass
    : public PassWrapper<VerifyNumericsPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(VerifyNumericsPass)

  VerifyNumericsPass() = default;
  VerifyNumericsPass(const VerifyNumericsPass &other) : PassWrapper(other) {}

  StringRef getArgument() const final { return "kiln-verify-numerics"; }
  StringRef getDescription() const final {
    return "Run a pass pipeline and check with kiln-run's evaluator that functions compute the "
           "same numbers before and after it (seeded random inputs or a kiln_torch reference "
           "step; tolerance per pipeline)";
  }

  Option<std::string> pipeline{
      *this, "pipeline",
      llvm::cl::desc("Pass pipeline to verify, nested in the module, e.g. "
                     "func.func(kiln-infer-shapes) (or builtin.module(...))")};
  ListOption<std::string> functions{
      *this, "functions",
      llvm::cl::desc("Functions to evaluate (default: every public function with a body)")};
  Option<uint64_t> seed{*this, "seed", llvm::cl::desc("Seed of the random inputs"),
                        llvm::cl::init(0)};
  Option<int64_t> intRange{*this, "int-range",
                           llvm::cl::desc("Random integer inputs are drawn from [0, N)"),
                           llvm::cl::init(16)};
  Option<double> maxAbs{*this, "max-abs",
                        llvm::cl::desc("Largest allowed max abs error per output (default 0: "
                                       "bit-exact)"),
                        llvm::cl::init(0.0)};
  Option<double> maxPeir{*this, "max-peir",
                         llvm::cl::desc("Largest allowed PEIR per output (negative: not checked)"),
                         llvm::cl::init(-1.0)};
  Option<std::string> inputsFrom{
      *this, "inputs-from",
      llvm::cl::desc("kiln_torch reference folder to take inputs from instead of random ones")};
  Option<std::string> step{*this, "step",
                           llvm::cl::desc("Reference step (default: the function's name)")};
  ListOption<std::string> args{*this, "args",
                               llvm::cl::desc("NAME=VALUE for scalar / Optional arguments "
                                              "(default 0 / false / absent)")};
  Option<bool> report{*this, "report",
                      llvm::cl::desc("Emit a remark with the metrics of every output"),
                      llvm::cl::init(false)};

  LogicalResult parse(OpPassManager &pm, std::string &error) const {
    llvm::raw_string_ostream os(error);
    StringRef text = StringRef(pipeline).trim();
    if (text.starts_with("builtin.module(")) {
      FailureOr<OpPassManager> parsed = parsePassPipeline(text, os);
      if (failed(parsed))
        return failure();
      pm = std::move(*parsed);
      return success();
    }
    return parsePassPipeline(text, pm, os);
  }

  void getDependentDialects(DialectRegistry &registry) const override {
    OpPassManager pm(ModuleOp::getOperationName());
    std::string error;
    if (succeeded(parse(pm, error)))
      pm.getDependentDialects(registry);
  }

  void runOnOperation() override;
};

struct Snapshot {
  std::string function;
  std::vector<RValue> inputs;
  std::vector<OutputLeaf> outputs;
};

std::string formatMetrics(const TensorMetrics &m) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::format("max_abs %.3e, mean_abs %.3e, peir %.3e, cosine %.8f", m.maxAbs, m.meanAbs,
                     m.peir, m.cosine);
  if (!m.note.empty())
    os << " (" << m.note << ")";
  return s;
}

/// Evaluates `name` in `module` on `inputs`; null on failure (reported).
std::optional<std::vector<OutputLeaf>> evaluate(ModuleOp module, const std::string &name,
                                                const std::vector<RValue> &inputs) {
  Compiler compiler(module);
  Function *fn = compiler.getFunction(name, module.getLoc());
  if (!fn)
    return std::nullopt;
  func::FuncOp func = fn->func;
  try {
    if (inputs.size() != func.getNumArguments())
      fail("@" + name + " now takes " + llvm::Twine(func.getNumArguments()) +
           " arguments instead of " + llvm::Twine(inputs.size()));
    std::vector<RValue> bound;
    for (size_t i = 0; i < inputs.size(); ++i)
      bound.push_back(bindArgument(inputs[i], func.getArgumentTypes()[i],
                                   "argument '" + argumentName(func, i) + "'"));
    std::vector<OutputLeaf> out = flattenOutputs(callFunction(*fn, bound), func.getResultTypes());
    // Outputs may be views of weight blobs, which the pipeline may free.
    for (OutputLeaf &o : out)
      o.tensor = o.tensor.clone();
    return out;
  } catch (const Reported &) {
    return std::nullopt;
  } catch (const c10::Error &e) {
    func.emitError() << "kiln-verify-numerics: " << e.what_without_backtrace();
  } catch (const std::exception &e) {
    func.emitError() << "kiln-verify-numerics: " << e.what();
  }
  return std::nullopt;
}

void VerifyNumericsPass::runOnOperation() {
  ModuleOp module = getOperation();
  OpPassManager pm(ModuleOp::getOperationName());
  std::string error;
  if (pipeline.empty() || failed(parse(pm, error))) {
    module.emitError() << "kiln-verify-numerics: cannot parse pipeline '" << pipeline
                       << "': " << (pipeline.empty() ? "empty" : error);
    return signalPassFailure();
  }

  std::vector<std::string> names(functions.begin(), functions.end());
  if (names.empty())
    for (auto f : module.getOps<func::FuncOp>())
      if (!f.isDeclaration() && f.isPublic())
        names.push_back(f.getSymName().str());

  std::vector<Snapshot> before;
  try {
    std::optional<ReferenceFolder> reference;
    if (!inputsFrom.empty())
      reference = readReferenceFolder(inputsFrom);
    for (const std::string &name : names) {
      auto func = module.lookupSymbol<func::FuncOp>(name);
      if (!func) {
        module.emitError() << "kiln-verify-numerics: no function named '" << name << "'";
        return signalPassFailure();
      }
      InputSet inputs;
      if (reference) {
        std::string s = step.empty() ? name : std::string(step);
        auto it = reference->steps.find(s);
        if (it == reference->steps.end())
          fail("reference '" + inputsFrom + "' has no step '" + s + "'");
        for (const TensorEntry &e : it->second.inputs) {
          InputSource src;
          src.label = "reference input '" + e.name + "'";
          src.value = RValue::tensor(readTensorFile(e.file, e.shape, e.dtype, src.label));
          inputs.positional.push_back(std::move(src));
        }
      }
      inputs.randomSeed = seed;
      inputs.randomIntRange = intRange;
      inputs.defaultScalars = true;
      for (const std::string &a : args) {
        auto [k, v] = StringRef(a).split('=');
        inputs.scalars[k.str()] = v.str();
      }
      Snapshot snap;
      snap.function = name;
      try {
        snap.inputs = bindInputs(func, inputs);
      } catch (const EvalError &e) {
        func.emitError() << "kiln-verify-numerics: " << e.what();
        return signalPassFailure();
      }
      auto out = evaluate(module, name, snap.inputs);
      if (!out)
        return signalPassFailure();
      snap.outputs = std::move(*out);
      before.push_back(std::move(snap));
    }
  } catch (const std::exception &e) {
    module.emitError() << "kiln-verify-numerics: " << e.what();
    return signalPassFailure();
  }

  if (failed(runPipeline(pm, module)))
    return signalPassFailure();

  bool ok = true;
  for (const Snapshot &snap : before) {
    auto func = module.lookupSymbol<func::FuncOp>(snap.function);
    if (!func) {
      module.emitError() << "kiln-verify-numerics: function '" << snap.function
                         << "' no longer exists after '" << pipeline << "'";
      ok = false;
      continue;
    }
    auto after = evaluate(module, snap.function, snap.inputs);
    if (!after) {
      ok = false;
      continue;
    }
    if (after->size() != snap.outputs.size()) {
      func.emitError() << "kiln-verify-numerics: @" << snap.function << " returns "
                       << after->size() << " tensors after '" << pipeline << "', "
                       << snap.outputs.size() << " before";
      ok = false;
      continue;
    }
    for (size_t i = 0; i < after->size(); ++i) {
      const at::Tensor &a = (*after)[i].tensor, &b = snap.outputs[i].tensor;
      TensorMetrics m;
      try {
        if (a.sizes() != b.sizes())
          fail("shape " + shapeToString(a.sizes().vec()) + " after, " +
               shapeToString(b.sizes().vec()) + " before");
        m = compareTensors(a, b);
      } catch (const std::exception &e) {
        func.emitError() << "kiln-verify-numerics: @" << snap.function << " "
                         << snap.outputs[i].name << ": " << e.what();
        ok = false;
        continue;
      }
      bool bad = !(m.maxAbs <= maxAbs) || (maxPeir >= 0 && !(m.peir <= maxPeir));
      if (bad) {
        func.emitError() << "kiln-verify-numerics: @" << snap.function << " "
                         << snap.outputs[i].name << " changed after '" << pipeline
                         << "': " << formatMetrics(m) << " (tolerance: max-abs " << maxAbs
                         << (maxPeir >= 0 ? ", max-peir " + std::to_string(maxPeir) : "")
                         << ")";
        ok = false;
      } else if (report) {
        func.emitRemark() << "kiln-verify-numerics: @" << snap.function << " "
                          << snap.outputs[i].name << " within tolerance: " << formatMetrics(m);
      }
    }
  }
  if (!ok)
    signalPassFailure();
}

} // namespace

void registerVerifyNumericsPass() { PassRegistration<VerifyNumericsPass>(); }

} // namespace kiln::runtime
