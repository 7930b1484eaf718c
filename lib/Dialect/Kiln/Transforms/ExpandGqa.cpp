//===- ExpandGqa.cpp - kiln-expand-gqa ------------------------------------===//
//
// q [B, H, S, K] @ repeat_interleave(kv [B, Hkv, T, K], r, 1)
//   == view(view(q, [B, Hkv, r, S, K]) @ unsqueeze(kv, 2), [B, H, S, T])
// where the [B, Hkv, 1, T, K] operand broadcasts over the r query heads of
// each group: no key or value is copied. Hugging Face's repeat_kv,
// view(expand(kv[:, :, None], [B, Hkv, r, T, K]), [B, H, T, K]), is the
// same repeat and is rewritten the same way (its [B, Hkv, 1, T, K] operand
// is the shared one). Transposes of the last two axes feeding a matmul
// become its adjoint flags.
//
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/Kiln/IR/KilnOps.h"
#include "kiln/Dialect/Kiln/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln {
#define GEN_PASS_DEF_EXPANDGQA
#include "kiln/Dialect/Kiln/KilnPasses.h.inc"
} // namespace kiln

using namespace mlir;
using namespace kiln;

namespace {
Value reshapeTo(PatternRewriter &b, Location loc, Value v,
                ArrayRef<int64_t> shape) {
  SmallVector<Value> sizes;
  for (int64_t d : shape)
    sizes.push_back(b.create<arith::ConstantIntOp>(loc, d, 64));
  auto type = RankedTensorType::get(
      shape, cast<ShapedType>(v.getType()).getElementType());
  return b.create<ReshapeOp>(loc, type, v, sizes);
}

bool isWholeSlice(SliceOp sl) {
  auto t = getStaticTensorType(sl.getInput());
  if (!t)
    return false;
  int64_t d = normalizeDim(sl.getDim(), t.getRank()).value_or(-1);
  auto start = getConstantI64(sl.getStart()), end = getConstantI64(sl.getEnd()),
       step = getConstantI64(sl.getStep());
  if (d < 0 || !start || !end || !step)
    return false;
  int64_t n = t.getDimSize(d);
  return *step == 1 && (*start == 0 || *start <= -n) && *end >= n;
}

/// A transpose of the last two axes.
bool isLastTwoTranspose(TransposeOp tr) {
  auto t = dyn_cast<RankedTensorType>(tr.getInput().getType());
  if (!t || t.getRank() < 2)
    return false;
  int64_t n = t.getRank();
  auto d0 = normalizeDim(tr.getDim0(), n), d1 = normalizeDim(tr.getDim1(), n);
  return d0 && d1 && std::min(*d0, *d1) == n - 2 && std::max(*d0, *d1) == n - 1;
}

/// x[:, :, None] in repeat_kv: a whole-axis slice is the identity.
struct WholeSliceIsIdentity : OpRewritePattern<SliceOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SliceOp sl,
                                PatternRewriter &rw) const override {
    if (!isWholeSlice(sl) || sl.getType() != sl.getInput().getType())
      return failure();
    rw.replaceOp(sl, sl.getInput());
    return success();
  }
};

/// repeat_interleave(kv [B, Hkv, T, K], r, 1)
///   -> view(expand(unsqueeze(kv, 2), [B, Hkv, r, T, K]), [B, Hkv*r, T, K])
/// (a view, not a copy; attention matmuls then use GroupedMatmul).
struct RepeatAsExpand : OpRewritePattern<RepeatInterleaveOp> {
  RepeatAsExpand(MLIRContext *ctx, Pass::Statistic &count)
      : OpRewritePattern(ctx), count(count) {}
  Pass::Statistic &count;

  LogicalResult matchAndRewrite(RepeatInterleaveOp rep,
                                PatternRewriter &rw) const override {
    auto in = getStaticTensorType(rep.getInput());
    auto out = getStaticTensorType(rep.getResult());
    if (!in || !out || in.getRank() != 4 || normalizeDim(rep.getDim(), 4) != 1)
      return failure();
    Location loc = rep.getLoc();
    SmallVector<int64_t> one{in.getDimSize(0), in.getDimSize(1), 1,
                             in.getDimSize(2), in.getDimSize(3)};
    Value u = rw.create<UnsqueezeOp>(
        loc, RankedTensorType::get(one, in.getElementType()), rep.getInput(),
        rw.getI64IntegerAttr(2));
    SmallVector<int64_t> shape = one;
    shape[2] = rep.getRepeats();
    SmallVector<Value> sizes;
    for (int64_t d : shape)
      sizes.push_back(rw.create<arith::ConstantIntOp>(loc, d, 64));
    Value e = rw.create<ExpandOp>(
        loc, RankedTensorType::get(shape, in.getElementType()), u, sizes);
    rw.replaceOp(rep, reshapeTo(rw, loc, e, out.getShape()));
    ++count;
    return success();
  }
};

/// K^T for a matmul is its adjoint flag, not a transpose.
struct TransposeAsAdjoint : OpRewritePattern<MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MatmulOp mm,
                                PatternRewriter &rw) const override {
    auto lhs = mm.getLhs().getDefiningOp<TransposeOp>();
    auto rhs = mm.getRhs().getDefiningOp<TransposeOp>();
    bool l = lhs && isLastTwoTranspose(lhs), r = rhs && isLastTwoTranspose(rhs);
    if (!l && !r)
      return failure();
    rw.modifyOpInPlace(mm, [&] {
      if (l) {
        mm.getLhsMutable().assign(lhs.getInput());
        mm.setAdjX(!mm.getAdjX());
      }
      if (r) {
        mm.getRhsMutable().assign(rhs.getInput());
        mm.setAdjY(!mm.getAdjY());
      }
    });
    return success();
  }
};

/// matmul(lhs [B, H, S, K], view(expand(kv [B, Hkv, 1, T, K]), [B, H, T, K]))
///   -> view(matmul(view(lhs, [B, Hkv, r, S, K]), kv), [B, H, S, T])
/// (kiln_torch's repeat_interleave after RepeatAsExpand, or Hugging Face's
/// repeat_kv, whose kv may come through whole-axis slices): kv broadcasts
/// over the r query heads of its group, nothing is copied.
struct GroupedMatmul : OpRewritePattern<MatmulOp> {
  GroupedMatmul(MLIRContext *ctx, Pass::Statistic &count)
      : OpRewritePattern(ctx), count(count) {}
  Pass::Statistic &count;

  LogicalResult matchAndRewrite(MatmulOp mm,
                                PatternRewriter &rw) const override {
    auto lhs = getStaticTensorType(mm.getLhs());
    auto res = getStaticTensorType(mm.getResult());
    auto view = mm.getRhs().getDefiningOp<ReshapeOp>();
    if (!lhs || !res || lhs.getRank() != 4 || !view)
      return failure();
    auto out = getStaticTensorType(view.getResult());
    auto e = view.getInput().getDefiningOp<ExpandOp>();
    if (!out || out.getRank() != 4 || !e)
      return failure();
    auto et = getStaticTensorType(e.getResult());
    Value shared = e.getInput();
    while (auto sl = shared.getDefiningOp<SliceOp>()) {
      if (!isWholeSlice(sl))
        break;
      shared = sl.getInput();
    }
    auto st = getStaticTensorType(shared);
    if (!et || !st || et.getRank() != 5 || st.getRank() != 5 ||
        st.getDimSize(2) != 1)
      return failure();
    int64_t r = et.getDimSize(2);
    bool isRepeat =
        et.getDimSize(0) == out.getDimSize(0) &&
        et.getDimSize(1) * r == out.getDimSize(1) &&
        et.getShape().drop_front(3) == out.getShape().drop_front(2) &&
        st.getShape().drop_front(3) == et.getShape().drop_front(3) &&
        st.getDimSize(0) == et.getDimSize(0) &&
        st.getDimSize(1) == et.getDimSize(1);
    int64_t groups = et.getDimSize(1);
    if (!isRepeat || lhs.getDimSize(1) != groups * r)
      return failure();
    Location loc = mm.getLoc();
    Value grouped = reshapeTo(
        rw, loc, mm.getLhs(),
        {lhs.getDimSize(0), groups, r, lhs.getDimSize(2), lhs.getDimSize(3)});
    SmallVector<int64_t> prodShape{res.getDimSize(0), groups, r,
                                   res.getDimSize(2), res.getDimSize(3)};
    Value prod = rw.create<MatmulOp>(
        loc, RankedTensorType::get(prodShape, res.getElementType()), grouped,
        shared, rw.getBoolAttr(mm.getAdjX()), rw.getBoolAttr(mm.getAdjY()));
    rw.replaceOp(mm, reshapeTo(rw, loc, prod, res.getShape()));
    ++count;
    return success();
  }
};

struct ExpandGqaPass : kiln::impl::ExpandGqaBase<ExpandGqaPass> {
  using ExpandGqaBase::ExpandGqaBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<WholeSliceIsIdentity, TransposeAsAdjoint>(&getContext());
    patterns.add<RepeatAsExpand>(&getContext(), numExpanded);
    patterns.add<GroupedMatmul>(&getContext(), numGroupedMatmuls);
    if (failed(
            applyPatternsAndFoldGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
