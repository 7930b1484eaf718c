//===- Reader.h - Circle / TFLite FlatBuffer -> circle dialect --*- C++ -*-===//
//
// Imports a .circle (CIR0) or .tflite (TFL3) file written by Kiln (or any
// file using only the operators of the circle dialect) back into a module of
// circle-dialect functions, so that writing it again with the same flavor
// gives the same bytes:
//
//   - one public func.func per subgraph, named after the subgraph, with
//     `kiln.signature` when its SignatureDef key differs, `kiln.name`
//     argument/result attributes from the signature, and NameLoc locations
//     from tensor names;
//   - constants as `circle.const`, dense for small unique buffers and
//     dense_resource blobs (`buffer_<index>`) otherwise, one attribute per
//     buffer so that shared buffers stay shared; 4-bit data unpacked to one
//     value per byte; quantized int64 constants as i64 with
//     `kiln.quant_scales` (and `kiln.quant_zero_points`,
//     `kiln.quant_dimension` when not 0);
//   - module attributes `kiln.flavor`, `kiln.pipeline`, `kiln.variant`,
//     `kiln.recipe` and `kiln.metadata` from the file's metadata.
//
// Also a human-readable dump of a file for FileCheck tests and inspection.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_EXPORT_CIRCLE_READER_H
#define KILN_EXPORT_CIRCLE_READER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>

namespace kiln::circle {

/// Imports a whole file's bytes. Errors are emitted at `loc` (the file).
/// Constant buffers are copied into the context unless `keepAlive` is set:
/// then the dense_resource blobs point into `bytes` (which must stay valid
/// while `keepAlive` is held; each blob holds a reference), so an mmapped
/// file's weights are not copied (int4 data is still unpacked into a copy).
mlir::OwningOpRef<mlir::ModuleOp>
readCircle(llvm::StringRef bytes, mlir::MLIRContext *context,
           mlir::Location loc, std::shared_ptr<const void> keepAlive = nullptr);

/// Prints the file's structure: identifier and versions, operator codes,
/// buffers (size, inline or external offset, alignment), subgraphs with
/// tensors (type, shape, buffer, quantization) and operators (code, version,
/// inputs, outputs, options), signatures and metadata.
mlir::LogicalResult dumpCircle(llvm::StringRef bytes, llvm::raw_ostream &os,
                               mlir::MLIRContext *context, mlir::Location loc);

/// Registers `--circle-to-mlir` and `--circle-dump`.
void registerFromCircleTranslations();

} // namespace kiln::circle

#endif // KILN_EXPORT_CIRCLE_READER_H
