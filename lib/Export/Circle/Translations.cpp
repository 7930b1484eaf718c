//===- Translations.cpp - mlir-translate registrations
//---------------------===//
#include "kiln/Export/Circle/Reader.h"
#include "kiln/Export/Circle/Writer.h"

#include "kiln/Dialect/Circle/IR/CircleDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/QuantOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;
using namespace kiln::circle;

static void registerCircleDialects(DialectRegistry &registry) {
  registry
      .insert<func::FuncDialect, quant::QuantizationDialect, CircleDialect>();
}

void kiln::circle::registerToCircleTranslation(
    const std::function<void(DialectRegistry &)> &extraDialects) {
  static llvm::cl::opt<Flavor> flavor(
      "circle-flavor", llvm::cl::desc("File flavor for --mlir-to-circle"),
      llvm::cl::values(
          clEnumValN(Flavor::Circle, "circle",
                     "Circle (CIR0): Circle-only operators and types allowed"),
          clEnumValN(Flavor::TFLite, "tflite",
                     "TFLite (TFL3): TFLite builtins only")),
      llvm::cl::init(Flavor::Circle));
  static llvm::cl::opt<bool> forceExternal(
      "force-external-buffers",
      llvm::cl::desc("Write every constant buffer after the FlatBuffer "
                     "(Buffer.offset/size), as for files over 2 GiB"),
      llvm::cl::init(false));
  static llvm::cl::opt<bool> sourceLocations(
      "circle-source-locations",
      llvm::cl::desc("Store each tensor's source locations (module path, "
                     "file:line:col) as the kiln.locations metadata"),
      llvm::cl::init(false));
  static std::function<void(DialectRegistry &)> extra = extraDialects;

  static TranslateFromMLIRRegistration toCircle(
      "mlir-to-circle",
      "Write circle-dialect functions as a Circle/TFLite file",
      [](Operation *op, llvm::raw_ostream &os) -> LogicalResult {
        auto module = dyn_cast<ModuleOp>(op);
        if (!module)
          return op->emitError("expected a builtin.module");
        WriterOptions options;
        if (flavor.getNumOccurrences())
          options.flavor = flavor;
        else if (std::optional<Flavor> fromModule = getModuleFlavor(module))
          options.flavor = *fromModule;
        options.forceExternalBuffers = forceExternal;
        options.sourceLocations = sourceLocations;
        return writeCircle(module, os, options);
      },
      [](DialectRegistry &registry) {
        registerCircleDialects(registry);
        if (extra)
          extra(registry);
      });
}

static llvm::StringRef getMainBuffer(llvm::SourceMgr &sourceMgr) {
  return sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID())->getBuffer();
}

static Location getMainLocation(llvm::SourceMgr &sourceMgr,
                                MLIRContext *context) {
  return FileLineColLoc::get(
      context,
      sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID())
          ->getBufferIdentifier(),
      0, 0);
}

void kiln::circle::registerFromCircleTranslations() {
  static TranslateToMLIRRegistration fromCircle(
      "circle-to-mlir", "Import a Circle/TFLite file into the circle dialect",
      [](llvm::SourceMgr &sourceMgr,
         MLIRContext *context) -> OwningOpRef<Operation *> {
        OwningOpRef<ModuleOp> module =
            readCircle(getMainBuffer(sourceMgr), context,
                       getMainLocation(sourceMgr, context));
        return OwningOpRef<Operation *>(module.release());
      },
      registerCircleDialects, llvm::Align(16));

  static TranslateRegistration dump(
      "circle-dump", "Print the structure of a Circle/TFLite file",
      [](const std::shared_ptr<llvm::SourceMgr> &sourceMgr,
         llvm::raw_ostream &os, MLIRContext *context) -> LogicalResult {
        return dumpCircle(getMainBuffer(*sourceMgr), os, context,
                          getMainLocation(*sourceMgr, context));
      });
}
