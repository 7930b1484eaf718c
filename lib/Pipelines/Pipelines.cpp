//===- Pipelines.cpp - Kiln's named pass pipelines ------------------------===//
#include "kiln/Pipelines/Pipelines.h"

#include "llvm/ADT/StringExtras.h"

#include "kiln/Conversion/Passes.h"
#include "kiln/Dialect/Kiln/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

llvm::StringRef kiln::getVariantName(Variant v) {
  switch (v) {
  case Variant::Prefill:
    return "prefill";
  case Variant::PrefillReference:
    return "prefill_reference";
  case Variant::Decode:
    return "decode";
  }
  return "";
}

static void addAdapter(OpPassManager &pm, kiln::Variant variant,
                       const kiln::ExportPipelineOptions &options) {
  kiln::ExportAdapterOptions adapter;
  adapter.mode = variant == kiln::Variant::Decode ? "decode" : "prefill";
  adapter.function = options.function;
  adapter.outputName = options.outputName;
  adapter.batch = options.batch;
  adapter.seqLen = options.seqLen;
  adapter.cacheLen = options.cacheLen;
  adapter.returnKv = options.returnKv;
  adapter.inputRoles = llvm::join(options.inputRoles, ",");
  adapter.cacheOut = options.cacheOut;
  adapter.variant = kiln::getVariantName(variant).str();
  pm.addPass(kiln::createExportAdapter(adapter));
}

void kiln::buildVariantPipeline(OpPassManager &pm, Variant variant,
                                const ExportPipelineOptions &options) {
  addAdapter(pm, variant, options);
  OpPassManager &fn = pm.nest<func::FuncOp>();
  if (variant == Variant::PrefillReference)
    fn.addPass(createExpandGqa());
  else
    fn.addPass(createUnrollHeads());
  fn.addPass(createInferShapes());
  fn.addPass(createCSEPass());
}

void kiln::buildPrefillPipeline(OpPassManager &pm,
                                const ExportPipelineOptions &options) {
  buildVariantPipeline(pm, Variant::Prefill, options);
}

void kiln::buildPrefillReferencePipeline(OpPassManager &pm,
                                         const ExportPipelineOptions &options) {
  buildVariantPipeline(pm, Variant::PrefillReference, options);
}

void kiln::buildDecodePipeline(OpPassManager &pm,
                               const ExportPipelineOptions &options) {
  buildVariantPipeline(pm, Variant::Decode, options);
}

void kiln::buildLowerToCirclePipeline(OpPassManager &pm, StringRef flavor) {
  OpPassManager &fn = pm.nest<func::FuncOp>();
  fn.addPass(createFoldFakeQuant());
  LegalizeToCircleOptions legalize;
  legalize.flavor = flavor.str();
  fn.addPass(createLegalizeToCircle(legalize));
  if (flavor == "tflite")
    fn.addPass(createExactMaskedSoftmax());
  fn.addPass(createCSEPass());
}

namespace {
struct LowerOptions : public PassPipelineOptions<LowerOptions> {
  Option<std::string> flavor{*this, "flavor",
                             llvm::cl::desc("circle or tflite"),
                             llvm::cl::init("circle")};
};
} // namespace

void kiln::registerKilnPipelines() {
  PassPipelineRegistration<ExportPipelineOptions>(
      "kiln-prefill",
      "Prefill export contract with per-head attention (hardware-faithful)",
      buildPrefillPipeline);
  PassPipelineRegistration<ExportPipelineOptions>(
      "kiln-prefill-reference",
      "Prefill export contract with batched attention (fast evaluation)",
      buildPrefillReferencePipeline);
  PassPipelineRegistration<ExportPipelineOptions>(
      "kiln-decode", "Decode export contract with per-head attention",
      buildDecodePipeline);
  PassPipelineRegistration<LowerOptions>(
      "kiln-lower-to-circle",
      "Fold fake quantization and lower kiln to circle ops",
      [](OpPassManager &pm, const LowerOptions &o) {
        buildLowerToCirclePipeline(pm, o.flavor);
      });
}
