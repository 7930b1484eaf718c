//===- VerifyNumerics.cpp - --kiln-verify-numerics ------------------------===//
//
// A module pass wrapping a pass pipeline: the module is snapshotted (MLIR
// bytecode, weights included) before and after the pipeline, and
// `kiln-run --compare before.mlirbc@f after.mlirbc@f` evaluates every
// function on the same seeded random inputs (or a kiln_torch reference step)
// and fails when an output moved by more than the pipeline's tolerance.
//
//   kiln-opt m.mlir
//   --kiln-verify-numerics="pipeline=func.func(kiln-infer-shapes) max-abs=0"
//
// Built without LibTorch on purpose: kiln-run is a separate process, so
// kiln-opt and every tool linking KilnInitAll stay free of LibTorch's
// start-up cost (about a second of static initialisation per process).
//
//===----------------------------------------------------------------------===//
#include "kiln/Runtime/VerifyNumerics.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>

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
    return "Run a pass pipeline and check with kiln-run that functions compute "
           "the same "
           "numbers before and after it (seeded random inputs or a kiln_torch "
           "reference "
           "step; tolerance per pipeline)";
  }

  Option<std::string> pipeline{
      *this, "pipeline",
      llvm::cl::desc("Pass pipeline to verify, nested in the module, e.g. "
                     "func.func(kiln-infer-shapes) (or builtin.module(...))")};
  ListOption<std::string> functions{
      *this, "functions",
      llvm::cl::desc(
          "Functions to evaluate (default: every public function with a body); "
          "BEFORE:AFTER compares BEFORE before the pipeline with AFTER after "
          "it "
          "(e.g. forward:prefill around an export adapter)")};
  Option<uint64_t> seed{*this, "seed",
                        llvm::cl::desc("Seed of the random inputs"),
                        llvm::cl::init(0)};
  Option<int64_t> intRange{
      *this, "int-range",
      llvm::cl::desc("Random integer inputs are drawn from [0, N)"),
      llvm::cl::init(16)};
  Option<double> maxAbs{
      *this, "max-abs",
      llvm::cl::desc("Largest allowed max abs error per output (default 0: "
                     "bit-exact)"),
      llvm::cl::init(0.0)};
  Option<double> maxPeir{
      *this, "max-peir",
      llvm::cl::desc("Largest allowed PEIR per output (negative: not checked)"),
      llvm::cl::init(-1.0)};
  Option<std::string> inputsFrom{
      *this, "inputs-from",
      llvm::cl::desc("kiln_torch reference folder to take inputs from (missing "
                     "ones are random)")};
  Option<std::string> step{
      *this, "step",
      llvm::cl::desc("Reference step (default: the function's name)")};
  ListOption<std::string> args{
      *this, "args",
      llvm::cl::desc("NAME=VALUE for scalar / Optional arguments "
                     "(default 0 / false / absent)")};
  Option<bool> report{
      *this, "report",
      llvm::cl::desc(
          "Emit a remark with kiln-run's metrics when within tolerance"),
      llvm::cl::init(false)};
  Option<std::string> quantizedKernels{
      *this, "quantized-kernels",
      llvm::cl::desc("kiln-run's kernels for quantized circle ops: float "
                     "(default: the fake-quant semantics a lowering must "
                     "keep) or integer (TFLite's integer kernels, which "
                     "round differently)"),
      llvm::cl::init("float")};
  Option<std::string> kilnRun{
      *this, "kiln-run",
      llvm::cl::desc(
          "kiln-run executable (default: next to this tool, then PATH)")};

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

  std::string findKilnRun() const {
    if (!kilnRun.empty())
      return kilnRun;
    static int anchor;
    std::string self = llvm::sys::fs::getMainExecutable(nullptr, &anchor);
    if (!self.empty()) {
      llvm::SmallString<256> sibling(llvm::sys::path::parent_path(self));
      llvm::sys::path::append(sibling, "kiln-run");
      if (llvm::sys::fs::can_execute(sibling))
        return sibling.str().str();
    }
    if (auto found = llvm::sys::findProgramByName("kiln-run"))
      return *found;
    return "";
  }

  void runOnOperation() override;
};

std::string num(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.17g", v);
  return buffer;
}

LogicalResult writeSnapshot(ModuleOp module, StringRef path) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return module.emitError() << "kiln-verify-numerics: cannot write '" << path
                              << "': " << ec.message();
  return writeBytecodeToFile(module, os);
}

void VerifyNumericsPass::runOnOperation() {
  ModuleOp module = getOperation();
  OpPassManager pm(ModuleOp::getOperationName());
  std::string error;
  if (pipeline.empty() || failed(parse(pm, error))) {
    module.emitError() << "kiln-verify-numerics: cannot parse pipeline '"
                       << pipeline
                       << "': " << (pipeline.empty() ? "empty" : error);
    return signalPassFailure();
  }
  std::string runner = findKilnRun();
  if (runner.empty()) {
    module.emitError()
        << "kiln-verify-numerics: cannot find kiln-run (build it, or give "
           "kiln-run=PATH)";
    return signalPassFailure();
  }

  // (before, after) function pairs.
  std::vector<std::pair<std::string, std::string>> names;
  for (const std::string &f : functions) {
    auto [before, after] = StringRef(f).split(':');
    names.push_back({before.str(), after.empty() ? before.str() : after.str()});
  }
  if (names.empty())
    for (auto f : module.getOps<func::FuncOp>())
      if (!f.isDeclaration() && f.isPublic())
        names.push_back({f.getSymName().str(), f.getSymName().str()});
  for (const auto &name : names)
    if (!module.lookupSymbol<func::FuncOp>(name.first)) {
      module.emitError() << "kiln-verify-numerics: no function named '"
                         << name.first << "'";
      return signalPassFailure();
    }

  llvm::SmallString<128> dir;
  if (std::error_code ec =
          llvm::sys::fs::createUniqueDirectory("kiln-verify-numerics", dir)) {
    module.emitError()
        << "kiln-verify-numerics: cannot create a temporary directory: "
        << ec.message();
    return signalPassFailure();
  }
  auto file = [&](StringRef name) {
    llvm::SmallString<128> p(dir);
    llvm::sys::path::append(p, name);
    return p.str().str();
  };
  std::string before = file("before.mlirbc"), after = file("after.mlirbc");
  if (failed(writeSnapshot(module, before)))
    return signalPassFailure();
  if (failed(runPipeline(pm, module)))
    return signalPassFailure();
  if (failed(writeSnapshot(module, after)))
    return signalPassFailure();

  bool ok = true;
  for (const auto &[name, afterName] : names) {
    auto func = module.lookupSymbol<func::FuncOp>(afterName);
    if (!func) {
      module.emitError() << "kiln-verify-numerics: function '" << afterName
                         << "' does not exist after '" << pipeline << "'";
      ok = false;
      continue;
    }
    Operation *anchor = func.getOperation();
    std::string label =
        "@" + name + (afterName != name ? " -> @" + afterName : "");
    std::vector<std::string> cmd = {runner,
                                    "--compare",
                                    before + "@" + name,
                                    after + "@" + afterName,
                                    "--random-inputs",
                                    "--seed=" + std::to_string(seed),
                                    "--int-range=" + std::to_string(intRange),
                                    "--max-abs-error=" + num(maxAbs),
                                    "--quantized-kernels=" +
                                        std::string(quantizedKernels)};
    if (maxPeir >= 0)
      cmd.push_back("--max-peir=" + num(maxPeir));
    if (!inputsFrom.empty()) {
      cmd.push_back("--inputs-from=" + inputsFrom);
      cmd.push_back("--step=" + (step.empty() ? name : std::string(step)));
    }
    for (const std::string &a : args)
      cmd.push_back("--arg=" + a);
    std::string log = file(name + ".log");
    std::vector<StringRef> argv(cmd.begin(), cmd.end());
    std::optional<StringRef> redirects[] = {std::nullopt, StringRef(log),
                                            StringRef(log)};
    std::string execError;
    int rc = llvm::sys::ExecuteAndWait(runner, argv, std::nullopt, redirects, 0,
                                       0, &execError);
    std::string output;
    if (auto buffer = llvm::MemoryBuffer::getFile(log))
      output = (*buffer)->getBuffer().rtrim().str();
    if (rc != 0) {
      InFlightDiagnostic diag = anchor->emitError();
      diag << "kiln-verify-numerics: " << label;
      if (rc < 0)
        diag << ": cannot run '" << runner << "': " << execError;
      else
        diag << " differs before and after '" << pipeline
             << "' (tolerance: max-abs " << num(maxAbs)
             << (maxPeir >= 0 ? ", max-peir " + num(maxPeir) : "")
             << "; snapshots kept in " << dir << "):\n"
             << output;
      ok = false;
    } else if (report) {
      anchor->emitRemark() << "kiln-verify-numerics: " << label
                           << " within tolerance after '" << pipeline << "':\n"
                           << output;
    }
  }
  if (!ok)
    return signalPassFailure();
  llvm::sys::fs::remove_directories(dir);
}

} // namespace

void registerVerifyNumericsPass() { PassRegistration<VerifyNumericsPass>(); }

} // namespace kiln::runtime
