//===- KilnShapeTest.cpp - broadcasting, dims and shape inference --------===//
#include "kiln/Dialect/Kiln/IR/KilnOps.h"
#include "kiln/InitAll.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include <gtest/gtest.h>

using namespace mlir;

namespace {
constexpr int64_t kDyn = ShapedType::kDynamic;

TEST(KilnShape, NormalizeDim) {
  EXPECT_EQ(kiln::normalizeDim(-1, 4), 3);
  EXPECT_EQ(kiln::normalizeDim(0, 4), 0);
  EXPECT_EQ(kiln::normalizeDim(-4, 4), 0);
  EXPECT_FALSE(kiln::normalizeDim(4, 4).has_value());
  EXPECT_FALSE(kiln::normalizeDim(-5, 4).has_value());
}

TEST(KilnShape, BroadcastFollowsPyTorch) {
  auto r = kiln::broadcastShapes({1, 4, 16, 16}, {16});
  ASSERT_TRUE(succeeded(r));
  EXPECT_EQ(*r, (SmallVector<int64_t>{1, 4, 16, 16}));
  r = kiln::broadcastShapes({2, 1, 3}, {5, 1});
  ASSERT_TRUE(succeeded(r));
  EXPECT_EQ(*r, (SmallVector<int64_t>{2, 5, 3}));
  r = kiln::broadcastShapes({kDyn, 3}, {4, 1});
  ASSERT_TRUE(succeeded(r));
  EXPECT_EQ(*r, (SmallVector<int64_t>{4, 3}));
  EXPECT_TRUE(failed(kiln::broadcastShapes({2, 3}, {4, 3})));
}

class KilnOpsTest : public ::testing::Test {
protected:
  KilnOpsTest() : builder(&context) {
    DialectRegistry registry;
    kiln::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
    module = ModuleOp::create(builder.getUnknownLoc());
    builder.setInsertionPointToEnd(module->getBody());
  }
  Value arg(ArrayRef<int64_t> shape) {
    auto type = RankedTensorType::get(shape, builder.getF32Type());
    auto func = builder.create<func::FuncOp>(
        builder.getUnknownLoc(), "f" + std::to_string(counter++),
        builder.getFunctionType({type}, {}));
    Block *block = func.addEntryBlock();
    builder.setInsertionPointToStart(block);
    return block->getArgument(0);
  }
  Value i64(int64_t v) {
    return builder.create<arith::ConstantIntOp>(builder.getUnknownLoc(), v, 64);
  }
  Type unranked() { return UnrankedTensorType::get(builder.getF32Type()); }
  static ArrayRef<int64_t> shapeOf(Type t) {
    return cast<RankedTensorType>(t).getShape();
  }

  MLIRContext context;
  OpBuilder builder;
  OwningOpRef<ModuleOp> module;
  int counter = 0;
};

TEST_F(KilnOpsTest, MatmulWithAdjointInfersTransposedShape) {
  Value q = arg({1, 4, 16, 8});
  Value k = builder.create<kiln::NegOp>(builder.getUnknownLoc(), unranked(), q);
  k.setType(RankedTensorType::get({1, 1, 32, 8}, builder.getF32Type()));
  auto mm = builder.create<kiln::MatmulOp>(builder.getUnknownLoc(), unranked(),
                                           q, k, false, true);
  EXPECT_EQ(shapeOf(mm.inferResultType()), (ArrayRef<int64_t>{1, 4, 16, 32}));
}

TEST_F(KilnOpsTest, ReshapeInfersMinusOneFromConstants) {
  Value x = arg({1, 16, 64});
  auto r = builder.create<kiln::ReshapeOp>(
      builder.getUnknownLoc(), unranked(), x,
      ValueRange{i64(1), i64(16), i64(-1), i64(16)});
  EXPECT_EQ(shapeOf(r.inferResultType()), (ArrayRef<int64_t>{1, 16, 4, 16}));
}

TEST_F(KilnOpsTest, SliceFollowsPythonClamping) {
  Value x = arg({1, 4, 16, 16});
  auto half = builder.create<kiln::SliceOp>(builder.getUnknownLoc(), unranked(),
                                            x, builder.getI64IntegerAttr(-1),
                                            i64(8), i64(INT64_MAX), i64(1));
  EXPECT_EQ(shapeOf(half.inferResultType()), (ArrayRef<int64_t>{1, 4, 16, 8}));
  auto strided = builder.create<kiln::SliceOp>(
      builder.getUnknownLoc(), unranked(), x, builder.getI64IntegerAttr(2),
      i64(-5), i64(100), i64(2));
  EXPECT_EQ(shapeOf(strided.inferResultType()),
            (ArrayRef<int64_t>{1, 4, 3, 16}));
}

TEST_F(KilnOpsTest, UnknownSizesStayDynamic) {
  Value x = arg({1, 16, 64});
  Value n = builder.create<kiln::SizeOp>(builder.getUnknownLoc(),
                                         builder.getI64Type(), x, i64(1));
  // A size that is not yet folded stays dynamic in the inferred type.
  Value notConst = builder.create<arith::AddIOp>(builder.getUnknownLoc(), n, n);
  auto e =
      builder.create<kiln::ExpandOp>(builder.getUnknownLoc(), unranked(), x,
                                     ValueRange{i64(2), notConst, i64(-1)});
  EXPECT_EQ(shapeOf(e.inferResultType()), (ArrayRef<int64_t>{2, kDyn, 64}));
}
} // namespace
