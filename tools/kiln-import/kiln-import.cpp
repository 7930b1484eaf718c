//===- kiln-import.cpp - TorchScript (.pt) to kiln MLIR -------------------===//
//
//   kiln-import model.pt -o model.mlir [--method forward] [--extra-method decode]
//               [--input-shape hidden_states=1x16x64xf32 ...] [--emit-bytecode]
//
// Diagnostics point at the Python source of the model. The output is written
// to a temporary file next to the destination and renamed at the end, so a
// failed import leaves no partial output.
//
//===----------------------------------------------------------------------===//
#include "kiln/Import/TorchScript/Importer.h"
#include "kiln/InitAll.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Signals.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

static cl::opt<std::string> inputFile(cl::Positional, cl::Required,
                                      cl::desc("<model.pt>"));
static cl::opt<std::string> outputFile("o", cl::init("-"),
                                       cl::value_desc("file"),
                                       cl::desc("Output file ('-' for stdout)"));
static cl::opt<std::string>
    methodName("method", cl::init("forward"),
               cl::desc("Method to import (becomes func.func @<name>)"));
static cl::list<std::string>
    extraMethods("extra-method", cl::value_desc("name"),
                 cl::desc("Also import this method into the same module "
                          "(e.g. decode of a traced module)"));
static cl::list<std::string> inputShapes(
    "input-shape", cl::value_desc("name=1x16x64xf32"),
    cl::desc("Annotate an argument (or 'name.i' for element i of a tuple "
             "argument) with a tensor type; ? is a dynamic dimension"));
static cl::opt<bool> emitBytecode("emit-bytecode",
                                  cl::desc("Write MLIR bytecode (weights are "
                                           "written without a hex copy)"));

static bool writeModule(mlir::ModuleOp module, raw_ostream &os) {
  if (emitBytecode)
    return mlir::succeeded(mlir::writeBytecodeToFile(module, os));
  module->print(os, mlir::OpPrintingFlags());
  os << "\n";
  return true;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  cl::ParseCommandLineOptions(argc, argv,
                              "Kiln TorchScript importer: .pt to the kiln "
                              "dialect\n");

  mlir::DialectRegistry registry;
  kiln::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  kiln::TorchScriptImportOptions options;
  options.methodName = methodName;
  options.extraMethods.assign(extraMethods.begin(), extraMethods.end());
  options.inputShapes.assign(inputShapes.begin(), inputShapes.end());
  mlir::OwningOpRef<mlir::ModuleOp> module =
      kiln::importTorchScript(inputFile, context, options);
  if (!module)
    return 1;

  if (outputFile == "-") {
    if (!writeModule(*module, outs()))
      return 1;
    outs().flush();
    return 0;
  }
  SmallString<256> tmp;
  int fd;
  if (std::error_code ec =
          sys::fs::createUniqueFile(outputFile + ".tmp-%%%%%%", fd, tmp)) {
    errs() << "error: cannot create a file next to '" << outputFile
           << "': " << ec.message() << "\n";
    return 1;
  }
  sys::RemoveFileOnSignal(tmp);
  bool ok;
  {
    raw_fd_ostream os(fd, /*shouldClose=*/true);
    ok = writeModule(*module, os);
    os.close();
    if (os.has_error()) {
      errs() << "error: writing '" << outputFile
             << "' failed: " << os.error().message() << "\n";
      os.clear_error();
      ok = false;
    }
  }
  if (ok) {
    if (std::error_code ec = sys::fs::rename(tmp, outputFile)) {
      errs() << "error: cannot rename the output to '" << outputFile
             << "': " << ec.message() << "\n";
      ok = false;
    }
  }
  if (!ok)
    sys::fs::remove(tmp);
  sys::DontRemoveFileOnSignal(tmp);
  return ok ? 0 : 1;
}
