//===- QuantUtils.cpp - Quantization parameter math -----------------------===//
#include "kiln/Dialect/Kiln/Utils/QuantUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cmath>

using namespace mlir;

std::string kiln::StorageKind::name() const {
  return (isSigned ? "int" : "uint") + std::to_string(bits);
}

std::optional<kiln::StorageKind> kiln::storageKindForRange(int64_t qmin,
                                                           int64_t qmax) {
  for (unsigned bits : {4u, 8u, 16u, 32u}) {
    int64_t hi = (int64_t(1) << (bits - 1)) - 1;
    if (qmax == hi && (qmin == -hi - 1 || qmin == -hi))
      return StorageKind{bits, true};
    if (bits <= 8 && qmin == 0 && qmax == (int64_t(1) << bits) - 1)
      return StorageKind{bits, false};
  }
  return std::nullopt;
}

int64_t kiln::quantizeValue(float x, float scale, int64_t zeroPoint,
                            int64_t qmin, int64_t qmax) {
  // PyTorch computes x * (1 / scale) in float, then nearbyint (ties to even
  // under the default rounding mode).
  float inv = 1.0f / scale;
  int64_t q = static_cast<int64_t>(std::nearbyint(x * inv)) + zeroPoint;
  return std::clamp(q, qmin, qmax);
}

float kiln::fakeQuantValue(float x, float scale, int64_t zeroPoint,
                           int64_t qmin, int64_t qmax) {
  return static_cast<float>(quantizeValue(x, scale, zeroPoint, qmin, qmax) -
                            zeroPoint) *
         scale;
}

static std::optional<kiln::StorageKind>
kindOrError(int64_t qmin, int64_t qmax, std::string &error) {
  auto kind = kiln::storageKindForRange(qmin, qmax);
  if (!kind)
    error = "quantization range [" + std::to_string(qmin) + ", " +
            std::to_string(qmax) +
            "] matches no integer type (int4, uint4, int8, uint8, int16, "
            "int32, full or narrow range)";
  return kind;
}

quant::UniformQuantizedType
kiln::getPerTensorType(MLIRContext *ctx, double scale, int64_t zeroPoint,
                       int64_t qmin, int64_t qmax, std::string &error) {
  auto kind = kindOrError(qmin, qmax, error);
  if (!kind)
    return {};
  if (!(scale > 0) || !std::isfinite(scale)) {
    error = "scale must be positive and finite";
    return {};
  }
  if (zeroPoint < qmin || zeroPoint > qmax) {
    error = "zero point " + std::to_string(zeroPoint) + " outside [" +
            std::to_string(qmin) + ", " + std::to_string(qmax) + "]";
    return {};
  }
  return quant::UniformQuantizedType::get(
      kind->isSigned ? quant::QuantizationFlags::Signed : 0,
      IntegerType::get(ctx, kind->bits), Float32Type::get(ctx), scale,
      zeroPoint, qmin, qmax);
}

quant::UniformQuantizedPerAxisType
kiln::getPerAxisType(MLIRContext *ctx, ArrayRef<double> scales,
                     ArrayRef<int64_t> zeroPoints, int32_t axis, int64_t qmin,
                     int64_t qmax, std::string &error) {
  auto kind = kindOrError(qmin, qmax, error);
  if (!kind)
    return {};
  for (auto [s, z] : llvm::zip(scales, zeroPoints)) {
    if (!(s > 0) || !std::isfinite(s)) {
      error = "scale must be positive and finite";
      return {};
    }
    if (z < qmin || z > qmax) {
      error = "zero point " + std::to_string(z) + " outside [" +
              std::to_string(qmin) + ", " + std::to_string(qmax) + "]";
      return {};
    }
  }
  return quant::UniformQuantizedPerAxisType::get(
      kind->isSigned ? quant::QuantizationFlags::Signed : 0,
      IntegerType::get(ctx, kind->bits), Float32Type::get(ctx), scales,
      zeroPoints, axis, qmin, qmax);
}

IntegerType kiln::getStorageElementType(quant::QuantizedType q) {
  return IntegerType::get(q.getContext(), q.getStorageTypeIntegralWidth(),
                          q.isSigned() ? IntegerType::Signless
                                       : IntegerType::Unsigned);
}

std::optional<std::vector<int64_t>>
kiln::readStoredIntegers(ElementsAttr attr, quant::QuantizedType q) {
  unsigned width = q.getStorageTypeIntegralWidth();
  if (width % 8 != 0 || width > 32)
    return std::nullopt;
  int64_t count = cast<ShapedType>(attr.getType()).getNumElements();
  std::vector<int64_t> values;
  values.reserve(count);
  if (auto dense = dyn_cast<DenseIntElementsAttr>(attr)) {
    for (const APInt &v : dense.getValues<APInt>())
      values.push_back(q.isSigned() ? v.getSExtValue()
                                    : static_cast<int64_t>(v.getZExtValue()));
    return values;
  }
  auto resource = dyn_cast<DenseResourceElementsAttr>(attr);
  AsmResourceBlob *blob = resource ? resource.getRawHandle().getBlob() : nullptr;
  if (!blob)
    return std::nullopt;
  ArrayRef<char> data = blob->getData();
  unsigned bytes = width / 8;
  if (static_cast<int64_t>(data.size()) != count * bytes)
    return std::nullopt;
  for (int64_t i = 0; i < count; ++i) {
    uint64_t v = 0;
    for (unsigned b = 0; b < bytes; ++b)
      v |= static_cast<uint64_t>(static_cast<uint8_t>(data[i * bytes + b])) << (8 * b);
    int64_t value = static_cast<int64_t>(v);
    if (q.isSigned() && (v >> (width - 1)) & 1)
      value -= int64_t(1) << width;
    values.push_back(value);
  }
  return values;
}
