//===- Perplexity.h - kiln-run --perplexity ---------------------*- C++ -*-===//
//
// Private to lib/Runtime. Whole-model evaluation of an exported causal LM
// (input_ids -> logits plus one key/value cache pair per layer, exported
// with --mode prefill+decode): each token sequence is prefilled, then
// decoded one token at a time into the static cache, and the next-token
// cross-entropy is averaged over every predicted position; optionally the
// TorchScript model is run the same way on the same tokens and compared.
// docs/perplexity.md says what is computed.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_LIB_RUNTIME_PERPLEXITY_H
#define KILN_LIB_RUNTIME_PERPLEXITY_H

#include "Interpreter.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"

#include <string>
#include <vector>

namespace kiln::runtime {

/// The options of the mode, registered in kiln-run's category.
struct PerplexityCommandLine {
  explicit PerplexityCommandLine(llvm::cl::OptionCategory &category);
  /// Whether --perplexity or --random-tokens was given.
  bool enabled() const;

  llvm::cl::opt<std::string> tokens;
  llvm::cl::opt<int64_t> randomTokens;
  llvm::cl::opt<unsigned> sequences;
  llvm::cl::opt<std::string> torchModel;
  llvm::cl::opt<int64_t> maxTokens;
  llvm::cl::opt<int64_t> prefillTokens;
  llvm::cl::opt<std::string> modelConfig;
  llvm::cl::opt<double> maskValue;
  llvm::cl::opt<bool> progress;
  llvm::cl::opt<double> maxLossDiff;
};

/// Options kiln-run shares with its other modes.
struct PerplexityShared {
  uint64_t seed = 0;
  int threads = 0;
  CompileOptions compile;
};

/// Runs the mode on `positional` (one exported model); returns the exit code.
/// Errors are printed (diagnostics, or "kiln-run: error: ...") and give 1.
int runPerplexity(mlir::MLIRContext &context,
                  const std::vector<std::string> &positional,
                  const PerplexityCommandLine &options,
                  const PerplexityShared &shared);

} // namespace kiln::runtime

#endif
