//===- FixedPointTensor.h - FixedPoint.h over ATen tensors -------*- C++
//-*-===//
//
// Private to lib/Runtime. kiln/Runtime/FixedPoint.h's requantization
// arithmetic elementwise over int64 tensors holding int32-range values, for
// the integer kernels (IntegerKernels.cpp). unittests/Runtime/FixedPointTest
// checks the scalar forms; kiln-run --against-litert checks these.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_LIB_RUNTIME_FIXEDPOINTTENSOR_H
#define KILN_LIB_RUNTIME_FIXEDPOINTTENSOR_H

#include "kiln/Runtime/FixedPoint.h"

#include <ATen/ATen.h>

#include <vector>

namespace kiln::runtime::fixedpoint {

// Multipliers broadcast: a 0-d tensor or one entry per channel of the last
// dimension.

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

/// multiplyByQuantizedMultiplierSingle: (x * mantissa + 2^(30 - shift))
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
