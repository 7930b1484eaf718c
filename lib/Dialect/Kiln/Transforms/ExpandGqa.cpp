//===- ExpandGqa.cpp - kiln-expand-gqa ------------------------------------===//
//
// q [B, H, S, K] @ repeat_interleave(kv [B, Hkv, T, K], r, 1)
//   == view(view(q, [B, Hkv, r, S, K]) @ unsqueeze(kv, 2), [B, H, S, T])
// where the [B, Hkv, 1, T, K] operand broadcasts over the r query heads of
// each group: no key or value is copied.
//
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/Kiln/IR/KilnOps.h"
#include "kiln/Dialect/Kiln/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln {
#define GEN_PASS_DEF_EXPANDGQA
#include "kiln/Dialect/Kiln/Transforms/Passes.h.inc"
} // namespace kiln

using namespace mlir;
using namespace kiln;

namespace {

struct ExpandGqaPass : kiln::impl::ExpandGqaBase<ExpandGqaPass> {
  using ExpandGqaBase::ExpandGqaBase;

  Value reshape(OpBuilder &b, Location loc, Value v, ArrayRef<int64_t> shape) {
    SmallVector<Value> sizes;
    for (int64_t d : shape)
      sizes.push_back(b.create<arith::ConstantIntOp>(loc, d, 64));
    auto type = RankedTensorType::get(shape, cast<ShapedType>(v.getType()).getElementType());
    return b.create<ReshapeOp>(loc, type, v, sizes);
  }

  /// matmul(lhs, repeat(kv)) as a grouped, broadcasting matmul.
  void groupMatmul(MatmulOp mm, Value kv, int64_t repeats, bool adjY) {
    OpBuilder b(mm);
    Location loc = mm.getLoc();
    auto lhs = getStaticTensorType(mm.getLhs());
    auto kvType = getStaticTensorType(kv);
    auto out = getStaticTensorType(mm.getResult());
    int64_t groups = kvType.getDimSize(1);
    SmallVector<int64_t> lhsShape{lhs.getDimSize(0), groups, repeats,
                                  lhs.getDimSize(2), lhs.getDimSize(3)};
    Value grouped = reshape(b, loc, mm.getLhs(), lhsShape);
    SmallVector<int64_t> kvShape{kvType.getDimSize(0), groups, 1,
                                 kvType.getDimSize(2), kvType.getDimSize(3)};
    Value shared = b.create<UnsqueezeOp>(
        loc, RankedTensorType::get(kvShape, kvType.getElementType()), kv,
        b.getI64IntegerAttr(2));
    SmallVector<int64_t> prodShape{out.getDimSize(0), groups, repeats,
                                   out.getDimSize(2), out.getDimSize(3)};
    Value prod = b.create<MatmulOp>(
        loc, RankedTensorType::get(prodShape, out.getElementType()), grouped,
        shared, b.getBoolAttr(mm.getAdjX()), b.getBoolAttr(adjY));
    mm.getResult().replaceAllUsesWith(reshape(b, loc, prod, out.getShape()));
    mm.erase();
    ++numGroupedMatmuls;
  }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    SmallVector<RepeatInterleaveOp> repeats;
    func.walk([&](RepeatInterleaveOp r) { repeats.push_back(r); });
    for (RepeatInterleaveOp rep : repeats) {
      auto in = getStaticTensorType(rep.getInput());
      if (!in || in.getRank() != 4 || normalizeDim(rep.getDim(), 4) != 1)
        continue;
      Value kv = rep.getInput();
      int64_t r = rep.getRepeats();
      for (OpOperand &use : llvm::make_early_inc_range(rep.getResult().getUses())) {
        Operation *user = use.getOwner();
        auto mm = dyn_cast<MatmulOp>(user);
        if (mm && use.getOperandNumber() == 1 && getStaticTensorType(mm.getLhs())) {
          groupMatmul(mm, kv, r, mm.getAdjY());
          continue;
        }
        auto tr = dyn_cast<TransposeOp>(user);
        if (tr) {
          auto d0 = normalizeDim(tr.getDim0(), 4), d1 = normalizeDim(tr.getDim1(), 4);
          bool lastTwo = (d0 == 2 && d1 == 3) || (d0 == 3 && d1 == 2);
          if (lastTwo && llvm::all_of(tr->getUses(), [&](OpOperand &u) {
                auto m = dyn_cast<MatmulOp>(u.getOwner());
                return m && u.getOperandNumber() == 1 && getStaticTensorType(m.getLhs());
              })) {
            for (Operation *u : llvm::make_early_inc_range(tr->getUsers())) {
              auto m = cast<MatmulOp>(u);
              groupMatmul(m, kv, r, !m.getAdjY());
            }
            continue;
          }
        }
        // Other users: an explicit broadcast (expand is a view, not a copy).
        OpBuilder b(user);
        Location loc = rep.getLoc();
        SmallVector<int64_t> shape{in.getDimSize(0), in.getDimSize(1), 1,
                                   in.getDimSize(2), in.getDimSize(3)};
        Value u = b.create<UnsqueezeOp>(
            loc, RankedTensorType::get(shape, in.getElementType()), kv,
            b.getI64IntegerAttr(2));
        shape[2] = r;
        SmallVector<Value> sizes;
        for (int64_t d : shape)
          sizes.push_back(b.create<arith::ConstantIntOp>(loc, d, 64));
        Value e = b.create<ExpandOp>(
            loc, RankedTensorType::get(shape, in.getElementType()), u, sizes);
        use.set(reshape(b, loc, e, getStaticTensorType(rep.getResult()).getShape()));
        ++numExpanded;
      }
    }
    RewritePatternSet patterns(&getContext());
    if (failed(applyPatternsAndFoldGreedily(func, std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
