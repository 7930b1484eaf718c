//===- FixedPoint.h - TFLite's fixed-point requantization arithmetic -*- C++
//-*-===//
//
// The integer arithmetic TFLite's quantized kernels
// use to rescale accumulators (gemmlowp's conventions, as documented in
// TFLite's kernels/internal/common.h and quantization_util.h): a real
// multiplier M is stored as a Q31 mantissa and a power-of-two exponent, and
// applied with rounding high multiplications and rounding right shifts.
// lib/Runtime/FixedPointTensor.h has the same functions elementwise over
// ATen tensors for kiln-run's kernels.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_FIXEDPOINT_H
#define KILN_RUNTIME_FIXEDPOINT_H

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

/// x * M with one rounding (TFLITE_SINGLE_ROUNDING builds; LiteRT.js's
/// 8-bit MUL): (x * mantissa + 2^(30 - shift)) >> (31 - shift).
inline int64_t multiplyByQuantizedMultiplierSingle(int64_t x, Multiplier m) {
  int total = 31 - m.shift;
  __int128 p = static_cast<__int128>(x) * m.mantissa +
               (static_cast<__int128>(1) << (total - 1));
  return static_cast<int64_t>(p >> total);
}

/// C's round() of a double (half away from zero).
inline int64_t roundHalfAway(double v) {
  return static_cast<int64_t>(std::round(v));
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

} // namespace kiln::runtime::fixedpoint

#endif
