// kiln-consumer MODEL.pt: imports a TorchScript model with Kiln's importer,
// specialises it to prefill and lowers it to circle ops with Kiln's named
// pipelines, and prints how many circle ops it got.
#include "kiln/Import/TorchScript/Importer.h"
#include "kiln/InitAll.h"
#include "kiln/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    llvm::errs() << "usage: kiln-consumer MODEL.pt\n";
    return 2;
  }
  mlir::DialectRegistry registry;
  kiln::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      kiln::importTorchScript(argv[1], context);
  if (!module)
    return 1;
  mlir::PassManager pm(&context);
  kiln::ExportPipelineOptions exportOptions;
  exportOptions.seqLen = 8;
  kiln::buildPrefillPipeline(pm, exportOptions);
  kiln::LowerToCirclePipelineOptions lower;
  kiln::buildLowerToCirclePipeline(pm, lower);
  if (mlir::failed(pm.run(*module)))
    return 1;
  unsigned circleOps = 0;
  module->walk([&](mlir::Operation *op) {
    if (op->getName().getDialectNamespace() == "circle")
      ++circleOps;
  });
  llvm::outs() << "kiln-consumer: " << circleOps << " circle ops\n";
  return 0;
}
