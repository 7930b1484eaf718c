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
  case Variant::Append:
    return "append";
  }
  return "";
}

static void addAdapter(OpPassManager &pm, kiln::Variant variant,
                       const kiln::ExportPipelineOptions &options) {
  kiln::ExportAdapterOptions adapter;
  adapter.mode = variant == kiln::Variant::Decode   ? "decode"
                 : variant == kiln::Variant::Append ? "append"
                                                    : "prefill";
  adapter.function = options.function;
  adapter.outputName = options.outputName;
  adapter.batch = options.batch;
  adapter.seqLen = options.seqLen;
  adapter.cacheLen = options.cacheLen;
  adapter.returnKv = options.returnKv;
  adapter.inputRoles = llvm::join(options.inputRoles, ",");
  adapter.cacheOut = options.cacheOut;
  adapter.keyLayout = options.keyLayout;
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

void kiln::buildAppendPipeline(OpPassManager &pm,
                               const ExportPipelineOptions &options) {
  buildVariantPipeline(pm, Variant::Append, options);
}

void kiln::buildQuantizePipeline(OpPassManager &pm,
                                 const LowerToCirclePipelineOptions &options) {
  FoldFakeQuantOptions fold;
  fold.integerOnly = options.integerOnly;
  pm.nest<func::FuncOp>().addPass(createFoldFakeQuant(fold));
}

void kiln::buildLegalizePipeline(OpPassManager &pm,
                                 const LowerToCirclePipelineOptions &options) {
  OpPassManager &fn = pm.nest<func::FuncOp>();
  LegalizeToCircleOptions legalize;
  legalize.flavor = options.flavor;
  fn.addPass(createLegalizeToCircle(legalize));
  if (options.flavor == "tflite")
    fn.addPass(createExactMaskedSoftmax());
  fn.addPass(createCSEPass());
  // After CSE: the check judges the ops that are written.
  if (options.integerOnly)
    fn.addPass(createCheckIntegerOnly());
}

void kiln::buildLowerToCirclePipeline(
    OpPassManager &pm, const LowerToCirclePipelineOptions &options) {
  buildQuantizePipeline(pm, options);
  buildLegalizePipeline(pm, options);
}

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
  PassPipelineRegistration<ExportPipelineOptions>(
      "kiln-append",
      "Append-prefill export contract (seq-len new tokens after cache-len "
      "past positions) with per-head attention",
      buildAppendPipeline);
  PassPipelineRegistration<LowerToCirclePipelineOptions>(
      "kiln-lower-to-circle",
      "Fold fake quantization and lower kiln to circle ops",
      buildLowerToCirclePipeline);
}
