//===- kiln-import.cpp - TorchScript (.pt) to kiln MLIR -------------------===//
//
//   kiln-import model.pt -o model.mlir [--method forward] [--extra-method
//   decode]
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
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Signals.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

static cl::opt<std::string> inputFile(cl::Positional, cl::Required,
                                      cl::desc("<model.pt>"));
static cl::opt<std::string>
    outputFile("o", cl::init("-"), cl::value_desc("file"),
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
static cl::opt<std::string> loadMode(
    "load", cl::init("map"), cl::value_desc("map|copy"),
    cl::desc("map: use the file's tensor records in place (default); copy: "
             "LibTorch reads each record into memory"));
static cl::opt<bool> reportLoad("report-load",
                                cl::desc("Say on stderr which load was used"));
static cl::opt<bool> emitBytecode("emit-bytecode",
                                  cl::desc("Write MLIR bytecode (weights are "
                                           "written without a hex copy)"));

/// Prints a resource key as MLIR does: a bare identifier when possible.
static void printKey(StringRef key, raw_ostream &os) {
  bool bare = !key.empty() && (isAlpha(key.front()) || key.front() == '_') &&
              llvm::all_of(key, [](char c) {
                return isAlnum(c) || c == '_' || c == '$' || c == '.';
              });
  if (bare) {
    os << key;
    return;
  }
  os << '"';
  printEscapedString(key, os);
  os << '"';
}

/// The textual form, with the weight blobs streamed in hex straight from
/// their memory. MLIR's printer builds each blob's whole hex string (twice
/// its size, then copied) before writing it, which for a 1 GB embedding table
/// would nearly double the peak memory of the import. The blobs are detached
/// from their handles while the IR is printed, then written here in the
/// printer's exact format, so the output is byte for byte the printer's.
static void printText(mlir::ModuleOp module, raw_ostream &os) {
  mlir::OpPrintingFlags flags;
  if (flags.getLargeResourceStringLimit() || flags.shouldUseLocalScope()) {
    module->print(os, flags); // elided or local-scope output: nothing to stream
    os << "\n";
    return;
  }
  struct Detached {
    StringRef key;
    mlir::DialectResourceBlobManager::BlobEntry *entry;
    mlir::AsmResourceBlob blob;
  };
  std::vector<Detached> blobs;
  llvm::DenseSet<void *> seen;
  module->walk([&](mlir::Operation *op) {
    for (mlir::NamedAttribute attr : op->getAttrs())
      attr.getValue().walk([&](mlir::DenseResourceElementsAttr r) {
        mlir::DenseResourceElementsHandle handle = r.getRawHandle();
        auto *entry = handle.getResource();
        if (!entry || !entry->getBlob() || !seen.insert(entry).second)
          return;
        blobs.push_back({handle.getKey(), entry, std::move(*entry->getBlob())});
        entry->setBlob(mlir::AsmResourceBlob());
      });
  });
  std::string text;
  {
    raw_string_ostream ts(text);
    module->print(ts, flags);
  }
  for (Detached &d : blobs)
    d.entry->setBlob(std::move(d.blob));

  // The printer's metadata block now lists the detached (empty) blobs only;
  // anything else in it (other resources) and the text is printed as is.
  StringRef body(text);
  size_t meta = body.rfind("\n{-#\n");
  bool onlyOurs = false;
  if (!blobs.empty() && meta != StringRef::npos) {
    SmallVector<StringRef> lines;
    body.drop_front(meta + 1).rtrim().split(lines, '\n');
    onlyOurs = lines.size() == blobs.size() + 6 && lines[0] == "{-#" &&
               lines[1] == "  dialect_resources: {" &&
               lines[2] == "    builtin: {" && lines.end()[-3] == "    }" &&
               lines.end()[-2] == "  }" && lines.end()[-1] == "#-}";
  }
  if (!onlyOurs) {
    module->print(os, flags);
    os << "\n";
    return;
  }
  os << body.take_front(meta).rtrim()
     << "\n\n{-#\n  dialect_resources: {\n    builtin: {\n";
  for (auto [i, d] : llvm::enumerate(blobs)) {
    mlir::AsmResourceBlob *blob = d.entry->getBlob();
    os << "      ";
    printKey(d.key, os);
    uint32_t alignment = support::endian::byte_swap<uint32_t>(
        blob->getDataAlignment(), llvm::endianness::little);
    os << ": \"0x"
       << toHex(StringRef(reinterpret_cast<const char *>(&alignment),
                          sizeof(alignment)));
    ArrayRef<char> data = blob->getData();
    constexpr size_t chunk = 1 << 16;
    for (size_t pos = 0; pos < data.size(); pos += chunk)
      os << toHex(
          StringRef(data.data() + pos, std::min(chunk, data.size() - pos)));
    os << '"' << (i + 1 < blobs.size() ? "," : "") << "\n";
  }
  os << "    }\n  }\n#-}\n\n";
}

static bool writeModule(mlir::ModuleOp module, raw_ostream &os) {
  if (emitBytecode)
    return mlir::succeeded(mlir::writeBytecodeToFile(module, os));
  printText(module, os);
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
  if (loadMode != "map" && loadMode != "copy") {
    llvm::errs() << "kiln-import: --load must be map or copy, not '" << loadMode
                 << "'\n";
    return 1;
  }
  options.mappedLoad = loadMode == "map";
  options.reportLoad = reportLoad;
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
  // An existing output that is not a regular file (/dev/null, a pipe) is
  // written in place: renaming a temporary over it would replace the device.
  sys::fs::file_status status;
  if (!sys::fs::status(outputFile, status) && sys::fs::exists(status) &&
      !sys::fs::is_regular_file(status)) {
    std::error_code ec;
    raw_fd_ostream os(outputFile, ec);
    if (ec) {
      errs() << "error: cannot open '" << outputFile << "': " << ec.message()
             << "\n";
      return 1;
    }
    bool ok = writeModule(*module, os);
    os.close();
    if (os.has_error()) {
      errs() << "error: writing '" << outputFile
             << "' failed: " << os.error().message() << "\n";
      os.clear_error();
      ok = false;
    }
    return ok ? 0 : 1;
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
