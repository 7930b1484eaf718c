//===- FixedPoint.h - TFLite's fixed-point requantization arithmetic -*- C++
//-*-===//
//
// Private to lib/Runtime. The integer arithmetic TFLite's quantized kernels
// use to rescale accumulators (gemmlowp's conventions, as documented in
// TFLite's kernels/internal/common.h and quantization_util.h): a real
// multiplier M is stored as a Q31 mantissa and a power-of-two exponent, and
// applied with rounding high multiplications and rounding right shifts.
// Scalar versions (for tables, unit tests) and elementwise versions over
// int64 ATen tensors (holding int32-range values) for the kernels.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_LIB_RUNTIME_FIXEDPOINT_H
#define KILN_LIB_RUNTIME_FIXEDPOINT_H

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <limits>

namespace kiln::runtime::fixedpoint {

/// M = mantissa * 2^(shift - 31) with mantissa in [2^30, 2^31) (0 for M = 0).
struct Multiplier {
  int32_t mantissa = 0;
  int shift = 0;
};

/// TFLite's QuantizeMultiplier: frexp, mantissa rounded half away from zero
/// to Q31; a mantissa that rounds up to 2^31 is halved; exponents below -31
/// flush to zero.
inline Multiplier quantizeMultiplier(double m) {
  Multiplier r;
  if (m == 0)
    return r;
  int shift = 0;
  double q = std::frexp(m, &shift);
  int64_t fixed = static_cast<int64_t>(std::round(q * (int64_t(1) << 31)));
  if (fixed == (int64_t(1) << 31)) {
    fixed /= 2;
    ++shift;
  }
  if (shift < -31) {
    shift = 0;
    fixed = 0;
  }
  r.mantissa = static_cast<int32_t>(fixed);
  r.shift = shift;
  return r;
}

/// (a * b * 2 + 2^31) / 2^32 with rounding half away from zero, saturating
/// the one overflow case (INT32_MIN * INT32_MIN).
inline int32_t saturatingRoundingDoublingHighMul(int32_t a, int32_t b) {
  if (a == b && a == std::numeric_limits<int32_t>::min())
    return std::numeric_limits<int32_t>::max();
  int64_t ab = int64_t(a) * int64_t(b);
  int64_t nudge = ab >= 0 ? (int64_t(1) << 30) : (1 - (int64_t(1) << 30));
  return static_cast<int32_t>((ab + nudge) / (int64_t(1) << 31));
}

/// x / 2^exponent rounded to nearest, ties away from zero.
inline int32_t roundingDivideByPOT(int32_t x, int exponent) {
  int32_t mask = static_cast<int32_t>((int64_t(1) << exponent) - 1);
  int32_t remainder = x & mask;
  int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/// x * M for an int32 accumulator (TFLite's default, double rounding).
inline int32_t multiplyByQuantizedMultiplier(int32_t x, Multiplier m) {
  int left = m.shift > 0 ? m.shift : 0, right = m.shift > 0 ? 0 : -m.shift;
  return roundingDivideByPOT(
      saturatingRoundingDoublingHighMul(
          static_cast<int32_t>(int64_t(x) * (int64_t(1) << left)), m.mantissa),
      right);
}

/// x * M for an int64 accumulator (16-bit activation kernels): the
/// mantissa reduced to Q15, one rounding shift.
inline int32_t multiplyByQuantizedMultiplier64(int64_t x, Multiplier m) {
  int64_t reduced = m.mantissa < 0x7FFF0000
                        ? (int64_t(m.mantissa) + (1 << 15)) >> 16
                        : 0x7FFF;
  int64_t total = 15 - m.shift;
  int64_t round = int64_t(1) << (total - 1);
  return static_cast<int32_t>((x * reduced + round) >> total);
}

//===----------------------------------------------------------------------===//
// Elementwise over int64 tensors. Multipliers broadcast: a 0-d tensor or one
// entry per channel of the last dimension.
//===----------------------------------------------------------------------===//

inline at::Tensor pow2(const at::Tensor &exponent) {
  return at::pow(at::full({}, 2, at::kLong), exponent);
}

inline at::Tensor saturatingRoundingDoublingHighMul(const at::Tensor &a,
                                                    const at::Tensor &b) {
  at::Tensor ab = a * b;
  at::Tensor nudge =
      at::where(ab >= 0, at::full({}, int64_t(1) << 30, at::kLong),
                at::full({}, 1 - (int64_t(1) << 30), at::kLong));
  at::Tensor r = at::div(ab + nudge, int64_t(1) << 31, "trunc");
  int64_t min = std::numeric_limits<int32_t>::min();
  return at::where(a.eq(min).logical_and(b.eq(min)),
                   at::full({}, std::numeric_limits<int32_t>::max(), at::kLong),
                   r);
}

inline at::Tensor roundingDivideByPOT(const at::Tensor &x,
                                      const at::Tensor &exponent) {
  at::Tensor p = pow2(exponent);
  at::Tensor q = at::div(x, p, "floor"); // x >> exponent
  at::Tensor remainder = x - q * p;      // x & mask
  at::Tensor threshold = at::div(p - 1, 2, "floor") + x.lt(0).to(at::kLong);
  return q + remainder.gt(threshold).to(at::kLong);
}

/// C's round() (half away from zero) of doubles, as int64.
inline at::Tensor roundHalfAway(const at::Tensor &v) {
  at::Tensor t = at::trunc(v);
  at::Tensor up = (v - t).abs().ge(0.5).to(at::kDouble) * at::sign(v);
  return (t + up).to(at::kLong);
}

/// Mantissas and shifts as int64 tensors (0-d, or [C]).
struct MultiplierTensor {
  at::Tensor mantissa, shift;
};

inline MultiplierTensor toTensor(const std::vector<Multiplier> &ms) {
  std::vector<int64_t> mant, shift;
  for (const Multiplier &m : ms) {
    mant.push_back(m.mantissa);
    shift.push_back(m.shift);
  }
  MultiplierTensor t{at::tensor(mant, at::kLong), at::tensor(shift, at::kLong)};
  if (ms.size() == 1) {
    t.mantissa = t.mantissa.reshape({});
    t.shift = t.shift.reshape({});
  }
  return t;
}

inline at::Tensor multiplyByQuantizedMultiplier(const at::Tensor &x,
                                                const MultiplierTensor &m) {
  at::Tensor left = at::clamp_min(m.shift, 0),
             right = at::clamp_min(-m.shift, 0);
  at::Tensor shifted = x * pow2(left);
  // TFLite shifts an int32 left: keep the int32 wrap-around of an overflow.
  shifted = shifted.to(at::kInt).to(at::kLong);
  return roundingDivideByPOT(
      saturatingRoundingDoublingHighMul(shifted, m.mantissa), right);
}

/// x * M with one rounding (TFLite built with TFLITE_SINGLE_ROUNDING, the
/// form its int64-accumulator kernels use): (x * mantissa + 2^(30 - shift))
/// >> (31 - shift), exact for |x| < 2^47 (the product is formed in two
/// halves so that it does not overflow int64).
inline at::Tensor
multiplyByQuantizedMultiplierSingle(const at::Tensor &x,
                                    const MultiplierTensor &m) {
  at::Tensor total = 31 - m.shift; // >= 24 for the multipliers below 2^8
  at::Tensor hi = at::div(m.mantissa, 1 << 16, "floor"),
             lo = m.mantissa - hi * (1 << 16);
  // floor((x*hi*2^16 + x*lo + 2^(total-1)) / 2^total)
  at::Tensor low = at::div(x * lo + pow2(total - 1), 1 << 16, "floor");
  return at::div(x * hi + low, pow2(total - 16), "floor");
}

inline at::Tensor multiplyByQuantizedMultiplier64(const at::Tensor &x,
                                                  const MultiplierTensor &m) {
  at::Tensor reduced =
      at::where(m.mantissa < 0x7FFF0000,
                at::div(m.mantissa + (1 << 15), 1 << 16, "floor"),
                at::full({}, 0x7FFF, at::kLong));
  at::Tensor total = 15 - m.shift;
  at::Tensor round = pow2(total - 1);
  return at::div(x * reduced + round, pow2(total), "floor");
}

} // namespace kiln::runtime::fixedpoint

#endif
