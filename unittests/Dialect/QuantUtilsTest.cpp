//===- QuantUtilsTest.cpp - storage types and PyTorch's rounding ---------===//
#include "kiln/Dialect/Kiln/Utils/QuantUtils.h"

#include "mlir/Dialect/Quant/QuantOps.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;

namespace {
TEST(QuantUtils, StorageKindFromRange) {
  struct Case {
    int64_t qmin, qmax;
    const char *name;
  } cases[] = {{-128, 127, "int8"},
               {-127, 127, "int8"},
               {0, 255, "uint8"},
               {-8, 7, "int4"},
               {-7, 7, "int4"},
               {0, 15, "uint4"},
               {-32768, 32767, "int16"},
               {-32767, 32767, "int16"},
               {INT32_MIN, INT32_MAX, "int32"}};
  for (const Case &c : cases) {
    auto kind = kiln::storageKindForRange(c.qmin, c.qmax);
    ASSERT_TRUE(kind.has_value()) << c.qmin << ".." << c.qmax;
    EXPECT_EQ(kind->name(), c.name);
  }
  EXPECT_FALSE(kiln::storageKindForRange(-100, 100));
  EXPECT_FALSE(kiln::storageKindForRange(0, 127));
  EXPECT_FALSE(kiln::storageKindForRange(-128, 128));
  EXPECT_FALSE(kiln::storageKindForRange(1, 255));
}

TEST(QuantUtils, RoundsHalfToEvenAndClamps) {
  // 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -1.5 -> -2 (banker's rounding).
  EXPECT_EQ(kiln::quantizeValue(0.5f, 1.0f, 0, -128, 127), 0);
  EXPECT_EQ(kiln::quantizeValue(1.5f, 1.0f, 0, -128, 127), 2);
  EXPECT_EQ(kiln::quantizeValue(2.5f, 1.0f, 0, -128, 127), 2);
  EXPECT_EQ(kiln::quantizeValue(-0.5f, 1.0f, 0, -128, 127), 0);
  EXPECT_EQ(kiln::quantizeValue(-1.5f, 1.0f, 0, -128, 127), -2);
  EXPECT_EQ(kiln::quantizeValue(1000.0f, 1.0f, 0, -128, 127), 127);
  EXPECT_EQ(kiln::quantizeValue(-1000.0f, 1.0f, 0, -128, 127), -128);
  // Zero point shifts before clamping: uint4 with zp 8.
  EXPECT_EQ(kiln::quantizeValue(-4.0f, 0.5f, 8, 0, 15), 0);
  EXPECT_EQ(kiln::quantizeValue(3.5f, 0.5f, 8, 0, 15), 15);
  EXPECT_FLOAT_EQ(kiln::fakeQuantValue(0.3f, 0.5f, 8, 0, 15), 0.5f);
}

TEST(QuantUtils, MatchesPyTorchMultiplyByInverseScale) {
  // PyTorch multiplies by 1/scale in float: x = 0.15, scale = 0.1 gives
  // 0.15f * (1/0.1f) = 1.4999999 -> 1, where 0.15 / 0.1 in double is 1.5 -> 2.
  float x = 0.15f, scale = 0.1f;
  float inv = 1.0f / scale;
  int64_t expected = static_cast<int64_t>(std::nearbyint(x * inv));
  EXPECT_EQ(kiln::quantizeValue(x, scale, 0, -128, 127), expected);
}

TEST(QuantUtils, BuildsTypes) {
  MLIRContext ctx;
  ctx.loadDialect<quant::QuantizationDialect>();
  std::string error;
  auto t = kiln::getPerTensorType(&ctx, 0.5, 8, 0, 15, error);
  ASSERT_TRUE(t) << error;
  EXPECT_FALSE(t.isSigned());
  EXPECT_EQ(t.getStorageTypeIntegralWidth(), 4u);
  EXPECT_EQ(t.getZeroPoint(), 8);
  EXPECT_TRUE(kiln::getStorageElementType(t).isUnsignedInteger(4));

  auto a = kiln::getPerAxisType(&ctx, {0.1, 0.2}, {0, 0}, 0, -128, 127, error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a.getQuantizedDimension(), 0);
  EXPECT_TRUE(kiln::getStorageElementType(a).isSignlessInteger(8));

  EXPECT_FALSE(kiln::getPerTensorType(&ctx, 0.5, 0, -100, 100, error));
  EXPECT_NE(error.find("matches no integer type"), std::string::npos);
  EXPECT_FALSE(kiln::getPerTensorType(&ctx, -1.0, 0, -128, 127, error));
  EXPECT_FALSE(kiln::getPerTensorType(&ctx, 0.5, 200, -128, 127, error));
  EXPECT_NE(error.find("zero point 200"), std::string::npos);
}
} // namespace
