//===- Format.h - Circle/TFLite file format facts and helpers ---*- C++ -*-===//
//
// Facts of the Circle (CIR0) and TFLite (TFL3) FlatBuffer formats that the
// writer, the reader and the tests share, free of the generated FlatBuffer
// API: flavors, identifiers, model versions, data alignment, 4-bit packing
// and the operator-code encoding.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_EXPORT_CIRCLE_FORMAT_H
#define KILN_EXPORT_CIRCLE_FORMAT_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace kiln::circle {

/// Which runtime family a file is written for.
enum class Flavor {
  /// Samsung ONE's Circle: identifier CIR0, Model.version 0, Circle-only
  /// operators (RMS_NORM, ROPE) and types (UINT4) allowed.
  Circle,
  /// TFLite / LiteRT: identifier TFL3, Model.version 3, TFLite builtins only.
  TFLite,
};

/// "circle" or "tflite".
llvm::StringRef stringifyFlavor(Flavor flavor);
std::optional<Flavor> parseFlavor(llvm::StringRef name);

/// The 4-character FlatBuffer file identifier: "CIR0" or "TFL3".
llvm::StringRef getFileIdentifier(Flavor flavor);
/// The flavor a file identifier names, if any.
std::optional<Flavor> getFlavorFromIdentifier(llvm::StringRef identifier);

/// Model.version written for a flavor: 0 for Circle (as ONE writes it), 3
/// for TFLite (the schema version TFLite runtimes check).
uint32_t getModelVersion(Flavor flavor);

/// Alignment of every buffer's data, inline or out of line, in the file
/// (the schema's `force_align: 16` on Buffer.data; TFLite's converter and
/// ONE align out-of-line data the same way).
constexpr uint64_t kBufferAlignment = 16;
inline uint64_t alignBufferOffset(uint64_t offset) {
  return (offset + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
}

/// Alignment of out-of-line buffer data (Buffer.offset): a multiple of
/// kBufferAlignment and of a cache line, so that a runtime that maps the file
/// uses the weights in place with 64-byte aligned loads.
constexpr uint64_t kExternalBufferAlignment = 64;
inline uint64_t alignExternalBufferOffset(uint64_t offset) {
  return (offset + kExternalBufferAlignment - 1) / kExternalBufferAlignment *
         kExternalBufferAlignment;
}

/// Total size above which the writer moves constant data out of the
/// FlatBuffer (FlatBuffers use 32-bit offsets: a buffer must stay below
/// 2 GiB). Leaves 64 MiB of headroom for the tables themselves.
constexpr uint64_t kDefaultExternalBufferThreshold =
    (uint64_t(1) << 31) - (uint64_t(64) << 20);

/// Number of bytes that `count` 4-bit values occupy packed.
inline uint64_t getPackedInt4Size(uint64_t count) { return (count + 1) / 2; }

/// Packs 4-bit values, one per input byte (only the low nibble is used), two
/// per output byte with the first value in the low nibble. An odd count
/// leaves the last high nibble zero.
std::vector<uint8_t> packInt4(llvm::ArrayRef<uint8_t> values);

/// Inverse of packInt4: `count` values, one per byte, sign-extended to 8 bits
/// when `isSigned` (so -1 is 0xFF), zero-extended otherwise.
std::vector<uint8_t> unpackInt4(llvm::ArrayRef<uint8_t> packed, uint64_t count,
                                bool isSigned);

/// OperatorCode.deprecated_builtin_code for a builtin code: the code itself
/// when it is below 127 (negative Circle-only codes included), 127
/// (PLACEHOLDER_FOR_GREATER_OP_CODES) otherwise.
int8_t getDeprecatedBuiltinCode(int32_t builtinCode);

/// The builtin code a reader takes from an OperatorCode: ONE reads the
/// deprecated byte unless it is 127; TFLite takes the larger of the two.
/// Both agree on files written with getDeprecatedBuiltinCode.
int32_t getEffectiveBuiltinCode(int8_t deprecatedCode, int32_t builtinCode);

} // namespace kiln::circle

#endif // KILN_EXPORT_CIRCLE_FORMAT_H
