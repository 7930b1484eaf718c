//===- LiteRt.h - Running a circle module in LiteRT ---------------*- C++
//-*-===//
//
// Private to lib/Runtime. LiteRT (the official TFLite runtime) runs under Node
// as @litertjs/core through test/e2e/litert/run.mjs; this file writes a
// module as a .tflite file, runs one signature there and reads the outputs
// back. Every tensor of a function can be made an output first
// (exposeTensors), which is how kiln-run --against-litert and kiln-parity
// --runtime litert see LiteRT's intermediate tensors (LiteRT.js returns
// signature outputs only).
//
//===----------------------------------------------------------------------===//
#ifndef KILN_LIB_RUNTIME_LITERT_H
#define KILN_LIB_RUNTIME_LITERT_H

#include "Interpreter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <map>
#include <string>
#include <vector>

namespace kiln::runtime {

/// A tensor made a function result by exposeTensors.
struct ExposedTensor {
  std::string name; // the result's kiln.name (LiteRT's output name)
  mlir::Operation *op = nullptr;
  unsigned result = 0;
};

/// Appends every tensor result of `func`'s ops (constants and values already
/// returned excepted) to its results, in op order, named "kiln.tN". Returns
/// them in that order.
std::vector<ExposedTensor> exposeTensors(mlir::func::FuncOp func);

/// A copy of `module` holding only `function`, every tensor of it a result
/// (exposeTensors). Throws EvalError when there is no such function.
struct ExposedCopy {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  mlir::func::FuncOp func;
  std::vector<ExposedTensor> exposed;
  /// LiteRT's names of the function's own results (kiln.name, else the
  /// writer's output_<i>).
  std::vector<std::string> outputNames;
};
ExposedCopy exposeCopy(mlir::ModuleOp module, llvm::StringRef function);

/// The LiteRT runner: $KILN_LITERT_RUNNER, else the source tree's
/// test/e2e/litert/run.mjs. Throws EvalError when it or Node is missing.
std::string liteRtRunner();

/// Writes `module` as a TFLite file in `workDir`, runs `function`'s signature
/// in LiteRT on `args` (one tensor per argument) and returns the outputs by
/// name, in LiteRT's dtypes (integer storage for quantized tensors). Throws
/// EvalError.
std::map<std::string, at::Tensor> runLiteRt(mlir::ModuleOp module,
                                            mlir::func::FuncOp function,
                                            llvm::ArrayRef<RValue> args,
                                            const std::string &workDir);

/// A temporary directory removed when this goes out of scope.
struct TempDir {
  std::string path;
  explicit TempDir(llvm::StringRef prefix);
  ~TempDir();
};

/// kiln-run --against-litert: runs `function` of a copy of `module` with
/// every tensor exposed, in kiln-run and in LiteRT, and compares the two
/// tensor by tensor, as integers for quantized tensors. Each op is evaluated
/// on LiteRT's values of its operands, so a difference belongs to that op's
/// kernel; the outputs are also compared when kiln-run runs on its own
/// values. Prints a table per op kind; returns 1 unless every tensor is
/// bit-exact. Throws EvalError / Reported.
int compareWithLiteRt(mlir::ModuleOp module, llvm::StringRef function,
                      llvm::ArrayRef<RValue> args, unsigned maxListed,
                      llvm::raw_ostream &os,
                      const CompileOptions &options = {});

} // namespace kiln::runtime

#endif
