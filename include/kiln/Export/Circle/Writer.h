//===- Writer.h - circle dialect -> Circle / TFLite FlatBuffer --*- C++ -*-===//
//
// Writes a module of circle-dialect functions as one Circle (CIR0) or TFLite
// (TFL3) model:
//
//   - every public `func.func` becomes a subgraph (named after the function)
//     with a SignatureDef whose key is the function's `kiln.signature` string
//     attribute, or its name. Signature input/output names come from
//     `kiln.name` argument/result attributes (default `input_<i>` /
//     `output_<i>`);
//   - tensor names come from locations: the name of a NameLoc, also inside a
//     FusedLoc or CallSiteLoc (`loc("model.layers.0.q_proj")`,
//     `loc(fused["x", "f.py":3:1])`); unnamed tensors get `<op>_<index>`;
//     names are made unique within a subgraph with a `_<n>` suffix;
//   - `circle.const` values become buffers, shared by every tensor of every
//     subgraph whose attribute is the same (the same uniqued attribute, or
//     the same dense_resource blob with the same element type), and every
//     other constant with the same bytes too, so prefill and decode in one
//     file hold each weight once. Buffer 0 is the empty sentinel; data is
//     16-byte aligned in the file;
//   - a `!quant.uniform` element type becomes the storage TensorType with
//     scale, zero_point (always as many as scales) and quantized_dimension.
//     Constants keep integer storage in their attribute. An int64 constant
//     (MLIR 19 has no 64-bit quant storage) takes its parameters from
//     `kiln.quant_scales` (array<f64>), optional `kiln.quant_zero_points`
//     (array<i64>) and `kiln.quant_dimension` attributes. 4-bit values are
//     packed two per byte, low nibble first; a dense_resource blob of a
//     4-bit type holds one value per byte (or, if it is exactly half that
//     size rounded up, the values already packed);
//   - operator codes carry the version TFLite's versioning rules give for
//     their tensors and options (OpVersion.h), and
//     deprecated_builtin_code = code < 127 ? code : 127;
//   - metadata entries `kiln.version`, and `kiln.pipeline`, `kiln.variant`,
//     `kiln.recipe` from the module attributes of those names, then
//     `kiln.variant.<signature>` from functions' `kiln.variant` attributes,
//     then the entries of a `kiln.metadata` dictionary of strings;
//   - when the constant data would take the FlatBuffer past 2 GiB (or when
//     forced), every constant buffer is written after the FlatBuffer and
//     referenced by Buffer.offset (from the start of the file, 64-byte
//     aligned) and Buffer.size.
//
// Constant data is never copied into the FlatBuffer: the tables are built
// with room left for each buffer (inline: an uninitialized vector in memory
// that is reserved but never touched; out of line: nothing), and writing
// streams every buffer's bytes from its attribute or resource blob to the
// output in 1 MiB pieces (4-bit values held one per byte are packed piece
// by piece, splats expanded piece by piece). Peak memory is the tables plus
// one piece, whatever the model's size.
//
// The TFLite flavor refuses Circle-only operators (RMS_NORM, ROPE) and types
// (UINT4) with a diagnostic naming the operator or tensor. Output is
// deterministic: the same module gives the same bytes.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_EXPORT_CIRCLE_WRITER_H
#define KILN_EXPORT_CIRCLE_WRITER_H

#include "kiln/Export/Circle/Format.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Support/LogicalResult.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace kiln::circle {

/// What a write stored, for summaries (filled when WriterOptions::stats is
/// set and the model was written).
struct WriterStats {
  /// Bytes of constant data by kind: "int8", "uint8", "int4", "int16",
  /// "int32", "int64" for quantized tensors, else the element type ("f32",
  /// "i32", "i64", "i1"). Each buffer counts once, however many tensors and
  /// signatures share it; 4-bit data counts packed (half a byte a value).
  std::map<std::string, uint64_t> constantBytes;
  /// Constant buffers (the sentinel and metadata not counted), and tensors
  /// of all subgraphs that refer to one.
  uint64_t constantBuffers = 0;
  uint64_t constantTensors = 0;
  /// Bytes of the metadata strings.
  uint64_t metadataBytes = 0;
  /// Size of the whole file.
  uint64_t fileBytes = 0;

  uint64_t totalConstantBytes() const {
    uint64_t total = 0;
    for (const auto &entry : constantBytes)
      total += entry.second;
    return total;
  }
};

/// Where writing is: reported before the first buffer and after each one.
struct WriteProgress {
  uint64_t buffersWritten = 0, buffers = 0;
  uint64_t bytesWritten = 0, bytes = 0;
  /// A name for the buffer just written (empty before the first): its
  /// constant's location name, else that of the first operator that reads
  /// it (`model.layers.3.mlp.up_proj`); may be empty.
  llvm::StringRef tensorName;
  /// Whether buffers are out of line.
  bool external = false;
};

struct WriterOptions {
  Flavor flavor = Flavor::Circle;
  /// Filled with what was stored, when set.
  WriterStats *stats = nullptr;
  /// Put every constant buffer after the FlatBuffer even for small models.
  bool forceExternalBuffers = false;
  /// Total constant bytes above which buffers go out of line automatically.
  uint64_t externalBufferThreshold = kDefaultExternalBufferThreshold;
  /// Called while the buffers are written (on the writing thread).
  std::function<void(const WriteProgress &)> progress;
  /// Store each tensor's source locations (module path, file:line:col) as
  /// the "kiln.locations" metadata (Locations.h). kiln-convert does (the
  /// PyTorch source); kiln-translate with --circle-source-locations.
  bool sourceLocations = false;
};

/// Serializes `module` into `os`. Nothing is written to `os` unless the whole
/// model was built; errors are reported as diagnostics on the module's ops.
/// Constant data must stay alive and unchanged until this returns (it is
/// read while writing).
mlir::LogicalResult writeCircle(mlir::ModuleOp module, llvm::raw_ostream &os,
                                const WriterOptions &options = {});

/// Serializes `module` into `path` through a temporary file in the same
/// directory, renamed over `path` only when everything was written: an error
/// (a full disk, a file size limit, a signal) leaves no partial file and
/// leaves an existing `path` untouched. Writing stops at the first failed
/// write.
mlir::LogicalResult writeCircleFile(mlir::ModuleOp module, llvm::StringRef path,
                                    const WriterOptions &options = {});

/// The flavor named by the module's `kiln.flavor` string attribute (set by
/// the reader), if any.
std::optional<Flavor> getModuleFlavor(mlir::ModuleOp module);

/// Registers `--mlir-to-circle` (with `--circle-flavor=circle|tflite`,
/// default: the module's `kiln.flavor`, else circle, and
/// `--force-external-buffers`) for mlir-translate style tools. The input may
/// use the func, quant and circle dialects, and those `extraDialects` adds
/// (so that stray ops get the writer's diagnostic, not a parse error).
void registerToCircleTranslation(
    const std::function<void(mlir::DialectRegistry &)> &extraDialects = {});

} // namespace kiln::circle

#endif // KILN_EXPORT_CIRCLE_WRITER_H
