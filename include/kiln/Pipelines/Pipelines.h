//===- Pipelines.h - Kiln's named pass pipelines ----------------*- C++ -*-===//
//
// The pipelines kiln-opt registers and kiln-convert runs (through
// kiln::convertModel, Convert.h): one builder per stage, so tools and tests
// run exactly the same passes.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_PIPELINES_PIPELINES_H
#define KILN_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <string>

namespace kiln {
/// Options shared by the export pipelines (the adapter's contract).
struct ExportPipelineOptions
    : public mlir::PassPipelineOptions<ExportPipelineOptions> {
  Option<int64_t> batch{*this, "batch", llvm::cl::desc("Batch size"),
                        llvm::cl::init(1)};
  Option<int64_t> seqLen{
      *this, "seq-len",
      llvm::cl::desc("Prefill sequence length (append: new tokens)"),
      llvm::cl::init(0)};
  Option<int64_t> cacheLen{
      *this, "cache-len",
      llvm::cl::desc("Decode and append: number of past positions"),
      llvm::cl::init(0)};
  Option<bool> returnKv{*this, "return-kv",
                        llvm::cl::desc("Return this call's keys and values"),
                        llvm::cl::init(true)};
  Option<std::string> function{
      *this, "function", llvm::cl::desc("Imported function to specialise"),
      llvm::cl::init("forward")};
  Option<std::string> outputName{
      *this, "output-name",
      llvm::cl::desc("Name of the result function (default: the mode)"),
      llvm::cl::init("")};
  ListOption<std::string> inputRoles{
      *this, "input-roles",
      llvm::cl::desc("Roles of arguments with unusual names: NAME=ROLE")};
  Option<std::string> cacheOut{
      *this, "cache-out",
      llvm::cl::desc("Decode keys/values: auto, delta or full"),
      llvm::cl::init("auto")};
  Option<std::string> keyLayout{
      *this, "key-layout",
      llvm::cl::desc("Keys in the cache inputs and outputs: bhsd or bhds "
                     "(transposed)"),
      llvm::cl::init("bhsd")};
};

/// The variants Kiln exports.
enum class Variant { Prefill, PrefillReference, Decode, Append };
/// prefill, prefill_reference, decode, append.
llvm::StringRef getVariantName(Variant v);

/// kiln-prefill: adapter (prefill) + kiln-unroll-heads: hardware-faithful.
void buildPrefillPipeline(mlir::OpPassManager &pm,
                          const ExportPipelineOptions &options);
/// kiln-prefill-reference: adapter (prefill) + kiln-expand-gqa: batched.
void buildPrefillReferencePipeline(mlir::OpPassManager &pm,
                                   const ExportPipelineOptions &options);
/// kiln-decode: adapter (decode) + kiln-unroll-heads.
void buildDecodePipeline(mlir::OpPassManager &pm,
                         const ExportPipelineOptions &options);
/// kiln-append: adapter (append: seq-len new tokens after cache-len past
/// positions) + kiln-unroll-heads.
void buildAppendPipeline(mlir::OpPassManager &pm,
                         const ExportPipelineOptions &options);
void buildVariantPipeline(mlir::OpPassManager &pm, Variant variant,
                          const ExportPipelineOptions &options);

/// Options of kiln-lower-to-circle.
struct LowerToCirclePipelineOptions
    : public mlir::PassPipelineOptions<LowerToCirclePipelineOptions> {
  Option<std::string> flavor{*this, "flavor",
                             llvm::cl::desc("circle or tflite"),
                             llvm::cl::init("circle")};
  Option<bool> integerOnly{
      *this, "integer-only",
      llvm::cl::desc("Integer graphs: kiln-fold-fake-quant's integer-only, "
                     "then any float compute left is an error "
                     "(kiln-check-integer-only)"),
      llvm::cl::init(false)};
};

/// kiln-lower-to-circle: buildQuantizePipeline then buildLegalizePipeline.
void buildLowerToCirclePipeline(mlir::OpPassManager &pm,
                                const LowerToCirclePipelineOptions &options);
/// Its first half: kiln-fold-fake-quant (kiln-convert prints and times the
/// quantized module between the halves).
void buildQuantizePipeline(mlir::OpPassManager &pm,
                           const LowerToCirclePipelineOptions &options);
/// Its second half: kiln-legalize-to-circle, kiln-exact-masked-softmax
/// (tflite), cse, and kiln-check-integer-only (integer-only).
void buildLegalizePipeline(mlir::OpPassManager &pm,
                           const LowerToCirclePipelineOptions &options);

void registerKilnPipelines();
} // namespace kiln

#endif
