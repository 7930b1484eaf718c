//===- QuantUtils.h - Quantization parameter math ---------------*- C++ -*-===//
//
// The arithmetic that turns PyTorch fake-quant parameters into MLIR quant
// types and integer weights, kept free of IR walking so gtest checks it
// directly.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_DIALECT_KILN_UTILS_QUANTUTILS_H
#define KILN_DIALECT_KILN_UTILS_QUANTUTILS_H

#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/BuiltinAttributeInterfaces.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln {
/// The integer type a (qmin, qmax) range stands for.
struct StorageKind {
  unsigned bits;
  bool isSigned;
  /// "int4", "uint4", "int8", "uint8", "int16", "int32".
  std::string name() const;
};

/// int4/int8/int16/int32 with full or narrow range (e.g. -127..127), and
/// uint4/uint8 with 0..2^bits-1. Anything else matches no type.
std::optional<StorageKind> storageKindForRange(int64_t qmin, int64_t qmax);

/// PyTorch's fake-quant value mapping: clamp(nearbyint(x * (1 / scale)) +
/// zp), rounding half to even as torch.fake_quantize_* does in float
/// arithmetic. x * (1 / scale) that is NaN or outside [-2^63, 2^63) reads as
/// INT64_MIN before the zero point is added (wrapping): x86's conversion of
/// such values, which this function always computed; so NaN, +-inf and huge
/// magnitudes give qmin, or qmax when zp < 0 (PyTorch gives qmin).
int64_t quantizeValue(float x, float scale, int64_t zeroPoint, int64_t qmin,
                      int64_t qmax);

/// The fake-quant output for x: (q - zp) * scale.
float fakeQuantValue(float x, float scale, int64_t zeroPoint, int64_t qmin,
                     int64_t qmax);

/// !quant.uniform<iN<qmin:qmax>:f32, scale:zp> (storage chosen by the range),
/// or null with `error` set when the range matches no type.
mlir::quant::UniformQuantizedType
getPerTensorType(mlir::MLIRContext *ctx, double scale, int64_t zeroPoint,
                 int64_t qmin, int64_t qmax, std::string &error);

mlir::quant::UniformQuantizedPerAxisType
getPerAxisType(mlir::MLIRContext *ctx, llvm::ArrayRef<double> scales,
               llvm::ArrayRef<int64_t> zeroPoints, int32_t axis, int64_t qmin,
               int64_t qmax, std::string &error);

/// The integer element type storing values of `q` (i8, ui8, i4, ui4, ...).
mlir::IntegerType getStorageElementType(mlir::quant::QuantizedType q);

/// One quantization grid over a tensor's elements: one (scale, zero point)
/// per tensor, or one per channel, element i being in channel
/// (i / inner) % scales.size() (inner = product of the dimensions after the
/// axis). Scales are floats, as PyTorch uses them.
struct QuantGrid {
  llvm::SmallVector<float, 1> scales;
  llvm::SmallVector<int64_t, 1> zeroPoints;
  int64_t qmin = 0, qmax = 0;
  int64_t inner = 1;
};

/// The grid of a per-tensor or per-axis quantized type over `shape`.
QuantGrid getQuantGrid(mlir::quant::QuantizedType q,
                       llvm::ArrayRef<int64_t> shape);

/// Turns float elements into the bytes an integer constant of a quantized
/// type stores: each element is first fake-quantized on `fakeQuantFirst`
/// (in order, e.g. a per-row table rewritten into its output's grid), then
/// quantized on `grid` and stored in `storageBits` (4- and 8-bit: one byte
/// per element; 16 and 32: little-endian), two's complement, low bits kept.
///
/// run() is the vectorized kernel: per element exactly
/// referenceValue(), which chains fakeQuantValue / quantizeValue. Grids
/// whose range is within 2^22 of the zero point (every 4-, 8- and 16-bit
/// type) clamp in float first (rounding commutes with clamping to integer
/// bounds), round with the 1.5 * 2^23 trick (round half to even, like
/// nearbyint under the default rounding mode) and convert to int32; wider
/// grids go element by element through quantizeValue.
class WeightQuantizer {
public:
  WeightQuantizer(llvm::ArrayRef<QuantGrid> fakeQuantFirst, QuantGrid grid,
                  unsigned storageBits);
  WeightQuantizer(QuantGrid grid, unsigned storageBits);

  unsigned bytesPerElement() const { return bits <= 8 ? 1 : bits / 8; }
  /// The stored integer of element `index` whose float value is x.
  int64_t referenceValue(float x, int64_t index) const;
  /// Writes elements [begin, end) of `src` to `dst` (both indexed from
  /// element 0 of the tensor; dst holds bytesPerElement() per element).
  void run(const float *src, char *dst, int64_t begin, int64_t end) const;
  /// The same through referenceValue(), one element at a time.
  void runReference(const float *src, char *dst, int64_t begin,
                    int64_t end) const;
  /// run() over `count` elements in chunks across the context's thread pool
  /// (serially with threading disabled or a null context).
  void runParallel(mlir::MLIRContext *context, const float *src, char *dst,
                   int64_t count) const;

  /// Elements per chunk of runParallel() and of the pass's shared work.
  static constexpr int64_t kChunkElements = int64_t(1) << 18;

  struct Step; // a grid prepared for the kernel
  ~WeightQuantizer();
  WeightQuantizer(WeightQuantizer &&);
  WeightQuantizer &operator=(WeightQuantizer &&);

private:
  std::vector<Step> steps; // fake quants, then the final quantize
  unsigned bits;
};

/// The integers stored in a constant of a quantized type (dense integers or
/// a resource blob; one per element, zero- or sign-extended from the storage
/// width); nullopt if unreadable.
std::optional<std::vector<int64_t>>
readStoredIntegers(mlir::ElementsAttr attr, mlir::quant::QuantizedType q);
} // namespace kiln

#endif
