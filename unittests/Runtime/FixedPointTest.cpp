//===- FixedPointTest.cpp - TFLite's requantization arithmetic ------------===//
//
// Expectations from exact rational arithmetic (long double / __int128) and
// from values worked out by hand, not from the functions under test.
//
//===----------------------------------------------------------------------===//
#include "kiln/Runtime/FixedPoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace kiln::runtime::fixedpoint;

namespace {

/// The real value a multiplier stands for.
long double realOf(Multiplier m) {
  return std::ldexp(static_cast<long double>(m.mantissa), m.shift - 31);
}

TEST(FixedPoint, QuantizeMultiplierNormalizesTheMantissa) {
  EXPECT_EQ(quantizeMultiplier(0).mantissa, 0);
  Multiplier half = quantizeMultiplier(0.5);
  EXPECT_EQ(half.mantissa, 1 << 30);
  EXPECT_EQ(half.shift, 0);
  Multiplier three = quantizeMultiplier(3.0); // 0.75 * 2^2
  EXPECT_EQ(three.mantissa, 3 << 29);
  EXPECT_EQ(three.shift, 2);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(-20, 6);
  for (int i = 0; i < 1000; ++i) {
    double m = std::pow(2.0, exponent(rng));
    Multiplier q = quantizeMultiplier(m);
    EXPECT_GE(q.mantissa, 1 << 30);
    // Within half a unit of the Q31 mantissa.
    EXPECT_LE(std::fabs(realOf(q) - m), std::ldexp(0.5L, q.shift - 31));
  }
}

TEST(FixedPoint, MantissaRoundingUpToTwoToThe31IsHalved) {
  // frexp gives a mantissa just below 1 that rounds to 2^31 in Q31.
  Multiplier q = quantizeMultiplier(std::nextafter(1.0, 0.0));
  EXPECT_EQ(q.mantissa, 1 << 30);
  EXPECT_EQ(q.shift, 1);
}

TEST(FixedPoint, DoublingHighMulRoundsHalfAwayAndSaturates) {
  int32_t min = std::numeric_limits<int32_t>::min();
  EXPECT_EQ(saturatingRoundingDoublingHighMul(min, min),
            std::numeric_limits<int32_t>::max());
  // 2^30 * 2^30 * 2 / 2^32 = 2^29.
  EXPECT_EQ(saturatingRoundingDoublingHighMul(1 << 30, 1 << 30), 1 << 29);
  // 3 * 2^30 * 2 / 2^32 = 1.5 -> 2; the nudge 1 - 2^30 of negative
  // products sends -1.5 to -1 (ties toward +infinity there).
  EXPECT_EQ(saturatingRoundingDoublingHighMul(3, 1 << 30), 2);
  EXPECT_EQ(saturatingRoundingDoublingHighMul(-3, 1 << 30), -1);
  EXPECT_EQ(saturatingRoundingDoublingHighMul(-5, 1 << 30), -2); // -2.5
}

TEST(FixedPoint, RoundingDivideByPowerOfTwoTiesAwayFromZero) {
  EXPECT_EQ(roundingDivideByPOT(5, 1), 3);   // 2.5
  EXPECT_EQ(roundingDivideByPOT(-5, 1), -3); // -2.5
  EXPECT_EQ(roundingDivideByPOT(7, 2), 2);   // 1.75
  EXPECT_EQ(roundingDivideByPOT(-7, 2), -2);
  EXPECT_EQ(roundingDivideByPOT(6, 2), 2); // 1.5
  EXPECT_EQ(roundingDivideByPOT(-6, 2), -2);
  EXPECT_EQ(roundingDivideByPOT(123, 0), 123);
}

TEST(FixedPoint, MultipliersApproximateTheRealProduct) {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int32_t> value(-(1 << 22), 1 << 22);
  std::uniform_real_distribution<double> exponent(-16, -1);
  for (int i = 0; i < 2000; ++i) {
    Multiplier m = quantizeMultiplier(std::pow(2.0, exponent(rng)));
    int32_t x = value(rng);
    long double exact = x * realOf(m);
    // Double rounding: within one unit; single rounding: the nearest
    // integer, ties up.
    EXPECT_LE(std::fabs(multiplyByQuantizedMultiplier(x, m) - exact), 1.0L);
    EXPECT_EQ(multiplyByQuantizedMultiplierSingle(x, m),
              static_cast<int64_t>(std::floor(exact + 0.5L)));
  }
}

TEST(FixedPoint, WideAccumulatorUsesAQ15Mantissa) {
  // Reduced mantissa (2^30 + 2^15) >> 16 = 2^14 with shift 0: x * 0.5; an
  // accumulator beyond int32 scaled back into it.
  Multiplier half = quantizeMultiplier(0.5);
  EXPECT_EQ(multiplyByQuantizedMultiplier64(int64_t(1) << 40,
                                            quantizeMultiplier(1.0 / 4096)),
            1 << 28);
  EXPECT_EQ(multiplyByQuantizedMultiplier64(3, half), 2);   // 1.5 rounds up
  EXPECT_EQ(multiplyByQuantizedMultiplier64(-3, half), -1); // -1.5 up
}

TEST(FixedPoint, RoundHalfAwayFromZero) {
  EXPECT_EQ(roundHalfAway(2.5), 3);
  EXPECT_EQ(roundHalfAway(-2.5), -3);
  EXPECT_EQ(roundHalfAway(0.49999999999999994), 0);
}

} // namespace
