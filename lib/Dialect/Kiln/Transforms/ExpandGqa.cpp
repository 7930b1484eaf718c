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

  /// kv viewed [B, Hkv, 1, T, K], made where it is needed.
  using SharedFn = llvm::function_ref<Value(OpBuilder &, Location)>;

  /// matmul(lhs, repeat(kv)) as a grouped, broadcasting matmul.
  void groupMatmul(MatmulOp mm, SharedFn makeShared, int64_t repeats, bool adjY) {
    OpBuilder b(mm);
    Location loc = mm.getLoc();
    auto lhs = getStaticTensorType(mm.getLhs());
    auto out = getStaticTensorType(mm.getResult());
    int64_t groups = lhs.getDimSize(1) / repeats;
    SmallVector<int64_t> lhsShape{lhs.getDimSize(0), groups, repeats,
                                  lhs.getDimSize(2), lhs.getDimSize(3)};
    Value grouped = reshape(b, loc, mm.getLhs(), lhsShape);
    Value shared = makeShared(b, loc);
    SmallVector<int64_t> prodShape{out.getDimSize(0), groups, repeats,
                                   out.getDimSize(2), out.getDimSize(3)};
    Value prod = b.create<MatmulOp>(
        loc, RankedTensorType::get(prodShape, out.getElementType()), grouped,
        shared, b.getBoolAttr(mm.getAdjX()), b.getBoolAttr(adjY));
    mm.getResult().replaceAllUsesWith(reshape(b, loc, prod, out.getShape()));
    mm.erase();
    ++numGroupedMatmuls;
  }

  /// kv [B, Hkv, T, K] viewed [B, Hkv, 1, T, K].
  Value unsqueezeGroups(OpBuilder &b, Location loc, Value kv) {
    auto in = getStaticTensorType(kv);
    SmallVector<int64_t> shape{in.getDimSize(0), in.getDimSize(1), 1,
                               in.getDimSize(2), in.getDimSize(3)};
    return b.create<UnsqueezeOp>(
        loc, RankedTensorType::get(shape, in.getElementType()), kv,
        b.getI64IntegerAttr(2));
  }

  static bool isWholeSlice(SliceOp sl) {
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

  /// Users of a repeat `rep` (H = Hkv * r heads from `shared`, kv viewed
  /// [B, Hkv, 1, T, K]) that are attention matmuls (directly, or through
  /// a transpose of the last two axes) become grouped matmuls. Returns
  /// whether any user is left.
  bool groupUsers(Value rep, SharedFn shared, int64_t r) {
    for (OpOperand &use : llvm::make_early_inc_range(rep.getUses())) {
      Operation *user = use.getOwner();
      auto mm = dyn_cast<MatmulOp>(user);
      if (mm && use.getOperandNumber() == 1 && getStaticTensorType(mm.getLhs()) &&
          getStaticTensorType(mm.getLhs()).getRank() == 4) {
        groupMatmul(mm, shared, r, mm.getAdjY());
        continue;
      }
      auto tr = dyn_cast<TransposeOp>(user);
      if (tr) {
        auto d0 = normalizeDim(tr.getDim0(), 4), d1 = normalizeDim(tr.getDim1(), 4);
        bool lastTwo = (d0 == 2 && d1 == 3) || (d0 == 3 && d1 == 2);
        if (lastTwo && llvm::all_of(tr->getUses(), [&](OpOperand &u) {
              auto m = dyn_cast<MatmulOp>(u.getOwner());
              return m && u.getOperandNumber() == 1 && getStaticTensorType(m.getLhs()) &&
                     getStaticTensorType(m.getLhs()).getRank() == 4;
            })) {
          for (Operation *u : llvm::make_early_inc_range(tr->getUsers())) {
            auto m = cast<MatmulOp>(u);
            groupMatmul(m, shared, r, !m.getAdjY());
          }
          continue;
        }
      }
    }
    return !rep.use_empty();
  }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    // Whole-axis slices (x[:, :, None] in repeat_kv) are the identity.
    func.walk([](SliceOp sl) {
      if (isWholeSlice(sl) && sl.getType() == sl.getInput().getType())
        sl.getResult().replaceAllUsesWith(sl.getInput());
    });
    SmallVector<RepeatInterleaveOp> repeats;
    func.walk([&](RepeatInterleaveOp r) { repeats.push_back(r); });
    for (RepeatInterleaveOp rep : repeats) {
      auto in = getStaticTensorType(rep.getInput());
      if (!in || in.getRank() != 4 || normalizeDim(rep.getDim(), 4) != 1)
        continue;
      Value kv = rep.getInput();
      int64_t r = rep.getRepeats();
      auto shared = [&](OpBuilder &b, Location loc) { return unsqueezeGroups(b, loc, kv); };
      if (!groupUsers(rep.getResult(), shared, r))
        continue;
      // Other users: an explicit broadcast (expand is a view, not a copy).
      for (OpOperand &use : llvm::make_early_inc_range(rep.getResult().getUses())) {
        OpBuilder b(use.getOwner());
        Location loc = rep.getLoc();
        Value u = unsqueezeGroups(b, loc, kv);
        SmallVector<int64_t> shape(getStaticTensorType(u).getShape());
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

    // repeat_kv: view(expand(x [B, Hkv, 1, T, K] -> [B, Hkv, r, T, K]),
    // [B, Hkv*r, T, K]); x may come through whole-axis slices.
    SmallVector<ReshapeOp> views;
    func.walk([&](ReshapeOp v) { views.push_back(v); });
    for (ReshapeOp view : views) {
      auto out = getStaticTensorType(view.getResult());
      auto e = view.getInput().getDefiningOp<ExpandOp>();
      if (!out || out.getRank() != 4 || !e)
        continue;
      auto et = getStaticTensorType(e.getResult());
      Value shared = e.getInput();
      while (auto sl = shared.getDefiningOp<SliceOp>()) {
        if (!isWholeSlice(sl))
          break;
        shared = sl.getInput();
      }
      auto st = getStaticTensorType(shared);
      if (!et || !st || et.getRank() != 5 || st.getRank() != 5 || st.getDimSize(2) != 1)
        continue;
      int64_t r = et.getDimSize(2);
      bool isRepeat = et.getDimSize(0) == out.getDimSize(0) &&
                      et.getDimSize(1) * r == out.getDimSize(1) &&
                      et.getShape().drop_front(3) == out.getShape().drop_front(2) &&
                      st.getShape().drop_front(3) == et.getShape().drop_front(3) &&
                      st.getDimSize(0) == et.getDimSize(0) &&
                      st.getDimSize(1) == et.getDimSize(1);
      if (isRepeat)
        groupUsers(view.getResult(), [&](OpBuilder &, Location) { return shared; }, r);
    }

    // K^T for a matmul is its adjoint flag, not a transpose.
    func.walk([](MatmulOp mm) {
      auto lastTwo = [](TransposeOp tr) {
        auto t = dyn_cast<RankedTensorType>(tr.getInput().getType());
        if (!t || t.getRank() < 2)
          return false;
        int64_t n = t.getRank();
        auto d0 = normalizeDim(tr.getDim0(), n), d1 = normalizeDim(tr.getDim1(), n);
        return d0 && d1 && std::min(*d0, *d1) == n - 2 && std::max(*d0, *d1) == n - 1;
      };
      if (auto tr = mm.getLhs().getDefiningOp<TransposeOp>(); tr && lastTwo(tr)) {
        mm.getLhsMutable().assign(tr.getInput());
        mm.setAdjX(!mm.getAdjX());
      }
      if (auto tr = mm.getRhs().getDefiningOp<TransposeOp>(); tr && lastTwo(tr)) {
        mm.getRhsMutable().assign(tr.getInput());
        mm.setAdjY(!mm.getAdjY());
      }
    });

    RewritePatternSet patterns(&getContext());
    if (failed(applyPatternsAndFoldGreedily(func, std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
