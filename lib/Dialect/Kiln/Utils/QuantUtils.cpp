//===- QuantUtils.cpp - Quantization parameter math -----------------------===//
#include "kiln/Dialect/Kiln/Utils/QuantUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Threading.h"
#include "llvm/ADT/bit.h"

#include <cmath>
#include <cstring>

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

namespace {
constexpr float kInt64Bound = 9223372036854775808.0f; // 2^63
} // namespace

int64_t kiln::quantizeValue(float x, float scale, int64_t zeroPoint,
                            int64_t qmin, int64_t qmax) {
  // PyTorch computes x * (1 / scale) in float, then nearbyint (ties to even
  // under the default rounding mode).
  float inv = 1.0f / scale;
  float r = std::nearbyint(x * inv);
  // What x86's cvttss2si gives for NaN and out-of-range values (this
  // function was a plain cast, and the zero point a wrapping add), spelled
  // out so that it does not depend on undefined behaviour.
  int64_t i =
      r > -kInt64Bound && r < kInt64Bound ? static_cast<int64_t>(r) : INT64_MIN;
  auto q = static_cast<int64_t>(static_cast<uint64_t>(i) +
                                static_cast<uint64_t>(zeroPoint));
  return std::clamp(q, qmin, qmax);
}

float kiln::fakeQuantValue(float x, float scale, int64_t zeroPoint,
                           int64_t qmin, int64_t qmax) {
  return static_cast<float>(quantizeValue(x, scale, zeroPoint, qmin, qmax) -
                            zeroPoint) *
         scale;
}

static std::optional<kiln::StorageKind> kindOrError(int64_t qmin, int64_t qmax,
                                                    std::string &error) {
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
  AsmResourceBlob *blob =
      resource ? resource.getRawHandle().getBlob() : nullptr;
  if (!blob)
    return std::nullopt;
  ArrayRef<char> data = blob->getData();
  unsigned bytes = width / 8;
  if (static_cast<int64_t>(data.size()) != count * bytes)
    return std::nullopt;
  for (int64_t i = 0; i < count; ++i) {
    uint64_t v = 0;
    for (unsigned b = 0; b < bytes; ++b)
      v |= static_cast<uint64_t>(static_cast<uint8_t>(data[i * bytes + b]))
           << (8 * b);
    int64_t value = static_cast<int64_t>(v);
    if (q.isSigned() && (v >> (width - 1)) & 1)
      value -= int64_t(1) << width;
    values.push_back(value);
  }
  return values;
}

//===--- Weight quantization kernel ---------------------------------------===//

kiln::QuantGrid kiln::getQuantGrid(quant::QuantizedType q,
                                   ArrayRef<int64_t> shape) {
  QuantGrid grid;
  grid.qmin = q.getStorageTypeMin();
  grid.qmax = q.getStorageTypeMax();
  if (auto perTensor = dyn_cast<quant::UniformQuantizedType>(q)) {
    grid.scales.push_back(static_cast<float>(perTensor.getScale()));
    grid.zeroPoints.push_back(perTensor.getZeroPoint());
    return grid;
  }
  auto perAxis = cast<quant::UniformQuantizedPerAxisType>(q);
  for (double s : perAxis.getScales())
    grid.scales.push_back(static_cast<float>(s));
  grid.zeroPoints.assign(perAxis.getZeroPoints().begin(),
                         perAxis.getZeroPoints().end());
  for (size_t d = perAxis.getQuantizedDimension() + 1; d < shape.size(); ++d)
    grid.inner *= shape[d];
  return grid;
}

/// A grid ready for the kernel: per channel (or, for channels shorter than
/// kMinRun elements, per element of one period of channels * inner) the
/// inverse scale, the bounds qmin - zp and qmax - zp in float, and the
/// value NaN and out-of-range inputs take.
struct kiln::WeightQuantizer::Step {
  QuantGrid grid;
  int64_t channels = 1;
  bool fast = false;  // every range within 2^22 of its zero point
  bool lanes = false; // parameters per element of one period
  int64_t period = 1;
  std::vector<float> scale, inv, lo, hi;
  std::vector<float> bad; // the value NaN gives, minus zp
  std::vector<int32_t> zp;

  static constexpr int64_t kMinRun = 16;
  static constexpr int64_t kMaxPeriod = int64_t(1) << 16;

  int64_t channelOf(int64_t index) const {
    return channels == 1 ? 0 : (index / grid.inner) % channels;
  }
};

kiln::WeightQuantizer::~WeightQuantizer() = default;
kiln::WeightQuantizer::WeightQuantizer(WeightQuantizer &&) = default;
kiln::WeightQuantizer &
kiln::WeightQuantizer::operator=(WeightQuantizer &&) = default;

kiln::WeightQuantizer::WeightQuantizer(ArrayRef<QuantGrid> fakeQuantFirst,
                                       QuantGrid grid, unsigned storageBits)
    : bits(storageBits) {
  auto prepare = [](QuantGrid g) {
    assert(!g.scales.empty() && g.scales.size() == g.zeroPoints.size() &&
           "a grid needs one zero point per scale");
    Step s;
    s.channels = std::max<int64_t>(1, g.scales.size());
    if (g.inner < 1)
      g.inner = 1;
    constexpr int64_t kLimit = int64_t(1) << 22;
    s.fast = true;
    for (int64_t c = 0; c < s.channels; ++c) {
      int64_t z = g.zeroPoints[c];
      s.fast &= g.qmin <= g.qmax && std::abs(z) <= kLimit &&
                std::abs(g.qmin - z) <= kLimit &&
                std::abs(g.qmax - z) <= kLimit;
    }
    s.lanes = s.fast && s.channels > 1 && g.inner < Step::kMinRun &&
              s.channels * g.inner <= Step::kMaxPeriod;
    s.period = s.lanes ? s.channels * g.inner : 1;
    int64_t count = s.lanes ? s.period : s.channels;
    for (int64_t j = 0; j < count; ++j) {
      int64_t c = s.lanes ? j / g.inner : j;
      float scale = g.scales[c];
      int64_t z = g.zeroPoints[c];
      s.scale.push_back(scale);
      s.inv.push_back(1.0f / scale);
      if (s.fast) {
        s.lo.push_back(static_cast<float>(g.qmin - z));
        s.hi.push_back(static_cast<float>(g.qmax - z));
        s.zp.push_back(static_cast<int32_t>(z));
        // INT64_MIN + z, clamped (see quantizeValue), minus z.
        s.bad.push_back(static_cast<float>((z < 0 ? g.qmax : g.qmin) - z));
      }
    }
    s.grid = std::move(g);
    return s;
  };
  for (const QuantGrid &g : fakeQuantFirst)
    steps.push_back(prepare(g));
  steps.push_back(prepare(std::move(grid)));
}

kiln::WeightQuantizer::WeightQuantizer(QuantGrid grid, unsigned storageBits)
    : WeightQuantizer({}, std::move(grid), storageBits) {}

int64_t kiln::WeightQuantizer::referenceValue(float x, int64_t index) const {
  for (const Step &s : ArrayRef<Step>(steps).drop_back()) {
    int64_t c = s.channelOf(index);
    x = fakeQuantValue(x, s.grid.scales[c], s.grid.zeroPoints[c], s.grid.qmin,
                       s.grid.qmax);
  }
  const Step &s = steps.back();
  int64_t c = s.channelOf(index);
  return quantizeValue(x, s.grid.scales[c], s.grid.zeroPoints[c], s.grid.qmin,
                       s.grid.qmax);
}

namespace {
using Step = kiln::WeightQuantizer::Step;

void storeBytes(char *dst, int64_t value, unsigned bytes) {
  for (unsigned b = 0; b < bytes; ++b)
    dst[b] =
        static_cast<char>((static_cast<uint64_t>(value) >> (8 * b)) & 0xff);
}

constexpr float kRoundMagic = 12582912.0f; // 1.5 * 2^23

/// Out is float for a fake quant (the value on the grid), else the storage
/// (uint8_t for 4 and 8 bits, uint16_t, uint32_t: the low bits of q).
template <typename Out> inline Out finish(int32_t q, int32_t zp, float scale) {
  if constexpr (std::is_same_v<Out, float>)
    return static_cast<float>(q - zp) * scale;
  else
    return static_cast<Out>(static_cast<uint32_t>(q));
}

/// The element mapping of quantizeValue for |qmin - zp|, |qmax - zp| <=
/// 2^22: nearbyint commutes with clamping to integer bounds, so clamp
/// first (std::max(lo, y) takes lo for NaN), round half to even by adding
/// and subtracting 1.5 * 2^23 (exact below 2^22), convert to int32. x * inv
/// NaN or outside (-2^63, 2^63) gives bad = badT + zp, as in quantizeValue
/// (|y| < 2^63 is false for NaN; selecting in float, before rounding, keeps
/// the loop free of control flow, so it vectorizes).
inline int32_t quantizeFast(float x, float inv, float lo, float hi, int32_t zp,
                            float badT) {
  float y = x * inv;
  float t = std::min(std::max(lo, y), hi);
  t = std::fabs(y) < kInt64Bound ? t : badT;
  t = (t + kRoundMagic) - kRoundMagic;
  return static_cast<int32_t>(t) + zp;
}

template <typename Out>
void kernelUniform(const float *__restrict x, Out *__restrict out, int64_t n,
                   float inv, float lo, float hi, int32_t zp, float bad,
                   float scale) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = finish<Out>(quantizeFast(x[i], inv, lo, hi, zp, bad), zp, scale);
}

template <typename Out>
void kernelLanes(const float *__restrict x, Out *__restrict out, int64_t n,
                 const float *__restrict inv, const float *__restrict lo,
                 const float *__restrict hi, const int32_t *__restrict zp,
                 const float *__restrict bad, const float *__restrict scale) {
  for (int64_t i = 0; i < n; ++i)
    out[i] =
        finish<Out>(quantizeFast(x[i], inv[i], lo[i], hi[i], zp[i], bad[i]),
                    zp[i], scale[i]);
}

/// Applies one step to elements [begin, end): `in` and `out` point at
/// element `begin`.
template <typename Out>
void applyStep(const Step &s, const float *in, Out *out, int64_t begin,
               int64_t end) {
  if (s.fast && s.lanes) {
    for (int64_t i = begin; i < end;) {
      int64_t off = i % s.period;
      int64_t len = std::min(end - i, s.period - off);
      kernelLanes(in + (i - begin), out + (i - begin), len, &s.inv[off],
                  &s.lo[off], &s.hi[off], &s.zp[off], &s.bad[off],
                  &s.scale[off]);
      i += len;
    }
    return;
  }
  for (int64_t i = begin; i < end;) {
    int64_t c = 0, runEnd = end;
    if (s.channels > 1) {
      int64_t run = i / s.grid.inner;
      c = run % s.channels;
      runEnd = std::min(end, (run + 1) * s.grid.inner);
    }
    const float *x = in + (i - begin);
    Out *o = out + (i - begin);
    int64_t n = runEnd - i;
    if (s.fast) {
      kernelUniform(x, o, n, s.inv[c], s.lo[c], s.hi[c], s.zp[c], s.bad[c],
                    s.scale[c]);
    } else {
      float scale = s.grid.scales[c];
      int64_t z = s.grid.zeroPoints[c];
      for (int64_t k = 0; k < n; ++k) {
        if constexpr (std::is_same_v<Out, float>)
          o[k] = kiln::fakeQuantValue(x[k], scale, z, s.grid.qmin, s.grid.qmax);
        else
          o[k] = static_cast<Out>(static_cast<uint64_t>(
              kiln::quantizeValue(x[k], scale, z, s.grid.qmin, s.grid.qmax)));
      }
    }
    i = runEnd;
  }
}

/// The final step into storage bytes.
void applyFinal(const Step &s, unsigned bits, const float *in, char *dst,
                int64_t begin, int64_t end) {
  unsigned bytes = bits <= 8 ? 1 : bits / 8;
  char *out = dst + begin * bytes;
  if (bytes == 1)
    return applyStep(s, in, reinterpret_cast<uint8_t *>(out), begin, end);
  if constexpr (llvm::endianness::native == llvm::endianness::little) {
    if (bytes == 2)
      return applyStep(s, in, reinterpret_cast<uint16_t *>(out), begin, end);
    if (bytes == 4)
      return applyStep(s, in, reinterpret_cast<uint32_t *>(out), begin, end);
  }
  for (int64_t i = begin; i < end; ++i) {
    int64_t c = s.channelOf(i);
    storeBytes(out + (i - begin) * bytes,
               kiln::quantizeValue(in[i - begin], s.grid.scales[c],
                                   s.grid.zeroPoints[c], s.grid.qmin,
                                   s.grid.qmax),
               bytes);
  }
}
} // namespace

void kiln::WeightQuantizer::run(const float *src, char *dst, int64_t begin,
                                int64_t end) const {
  if (steps.size() == 1)
    return applyFinal(steps.back(), bits, src + begin, dst, begin, end);
  // Fake quants first, block by block through two small buffers.
  constexpr int64_t kBlock = 1024;
  alignas(64) float a[kBlock], b[kBlock];
  for (int64_t i = begin; i < end; i += kBlock) {
    int64_t e = std::min(end, i + kBlock);
    const float *in = src + i;
    float *out = a;
    for (const Step &s : ArrayRef<Step>(steps).drop_back()) {
      applyStep(s, in, out, i, e);
      in = out;
      out = out == a ? b : a;
    }
    applyFinal(steps.back(), bits, in, dst, i, e);
  }
}

void kiln::WeightQuantizer::runReference(const float *src, char *dst,
                                         int64_t begin, int64_t end) const {
  unsigned bytes = bytesPerElement();
  for (int64_t i = begin; i < end; ++i)
    storeBytes(dst + i * bytes, referenceValue(src[i], i), bytes);
}

void kiln::WeightQuantizer::runParallel(MLIRContext *context, const float *src,
                                        char *dst, int64_t count) const {
  int64_t chunks = (count + kChunkElements - 1) / kChunkElements;
  if (!context) {
    run(src, dst, 0, count);
    return;
  }
  mlir::parallelFor(context, 0, chunks, [&](size_t k) {
    int64_t begin = static_cast<int64_t>(k) * kChunkElements;
    run(src, dst, begin, std::min(count, begin + kChunkElements));
  });
}
