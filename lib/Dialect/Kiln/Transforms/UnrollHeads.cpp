//===- UnrollHeads.cpp - kiln-unroll-heads ---------------------------------===//
//
// perHead(v, h) is head h's [B, S, X] slice of a batched attention tensor v
// [B, n, S, X], built by one rule per producer op and memoised. Head merges
// and attention-shaped results are the roots; the batched ops die after.
//
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/Kiln/IR/KilnOps.h"
#include "kiln/Dialect/Kiln/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

namespace kiln {
#define GEN_PASS_DEF_UNROLLHEADS
#include "kiln/Dialect/Kiln/Transforms/Passes.h.inc"
} // namespace kiln

using namespace mlir;
using namespace kiln;

namespace {

/// [B, n, S, X] -> [B, S, X].
RankedTensorType dropHeadAxis(RankedTensorType t) {
  SmallVector<int64_t> shape(t.getShape());
  shape.erase(shape.begin() + 1);
  return RankedTensorType::get(shape, t.getElementType());
}

bool isHeadTranspose(TransposeOp t, int64_t a, int64_t b) {
  auto in = getStaticTensorType(t.getInput());
  if (!in || in.getRank() != 4)
    return false;
  auto d0 = normalizeDim(t.getDim0(), 4), d1 = normalizeDim(t.getDim1(), 4);
  return (d0 == a && d1 == b) || (d0 == b && d1 == a);
}

class Unroller {
public:
  Unroller(func::FuncOp func) : func(func), builder(func.getContext()) {}

  /// Head h of v ([B, n, S, X] with n > 1, or n == 1 for broadcast tensors).
  FailureOr<Value> perHead(Value v, int64_t h) {
    auto t = getStaticTensorType(v);
    if (!t || t.getRank() != 4)
      return fail(v, "is not a static [B, heads, S, D] tensor");
    if (t.getDimSize(1) == 1)
      h = 0; // broadcast over heads: every head reads the same slice
    else if (h >= t.getDimSize(1))
      return fail(v, "has fewer heads than asked for");
    auto key = std::make_pair(v, h);
    if (auto it = memo.find(key); it != memo.end())
      return it->second;
    FailureOr<Value> result = build(v, t, h);
    if (succeeded(result))
      memo[key] = *result;
    return result;
  }

  /// The reason the last perHead failed, with its op.
  std::string reason;
  Operation *failedAt = nullptr;
  int64_t numHeadOps = 0;

private:
  FailureOr<Value> fail(Value v, const Twine &why) {
    if (reason.empty()) {
      failedAt = v.getDefiningOp();
      std::string name = failedAt ? failedAt->getName().getStringRef().str()
                                  : "function argument";
      reason = "'" + name + "' result " + why.str();
    }
    return mlir::failure();
  }

  Location headLoc(Location loc, int64_t h) {
    std::string name = getLocName(loc);
    return NameLoc::get(
        builder.getStringAttr((name.empty() ? "attention" : name) + ".head" +
                              std::to_string(h)),
        loc);
  }

  void insertAfterDefinition(Value v) {
    if (Operation *op = v.getDefiningOp())
      builder.setInsertionPointAfter(op);
    else
      builder.setInsertionPointToStart(&func.front());
  }

  Value i64(Location loc, int64_t v) {
    return builder.create<arith::ConstantIntOp>(loc, v, 64);
  }

  /// Dims of a [B, n, S, X] op map to [B, S, X]; the head axis has none.
  static std::optional<int64_t> mapDim(int64_t dim) {
    auto d = normalizeDim(dim, 4);
    if (!d || *d == 1)
      return std::nullopt;
    return *d == 0 ? 0 : *d - 1;
  }

  /// An operand of an elementwise op in the region: per-head when it has
  /// the head axis, unchanged when it broadcasts over it.
  FailureOr<Value> operandForHead(Value operand, int64_t h) {
    auto t = dyn_cast<RankedTensorType>(operand.getType());
    if (!t)
      return fail(operand, "has no rank");
    if (t.getRank() == 4)
      return perHead(operand, h);
    if (t.getRank() <= 2 || (t.getRank() == 3 && t.getDimSize(0) == 1))
      return operand;
    return fail(operand, "broadcasts against the head axis in a way that "
                         "cannot be split per head");
  }

  template <typename OpT, typename... Args>
  Value create(Location loc, int64_t h, Type type, Args &&...args) {
    ++numHeadOps;
    return builder.create<OpT>(headLoc(loc, h), type, std::forward<Args>(args)...)
        .getResult();
  }

  FailureOr<Value> build(Value v, RankedTensorType t, int64_t h) {
    RankedTensorType headType = dropHeadAxis(t);
    int64_t heads = t.getDimSize(1);
    Operation *def = v.getDefiningOp();
    // A cache argument: read head h directly.
    if (!def) {
      insertAfterDefinition(v);
      Location loc = func.getLoc();
      return create<SelectOp>(loc, h, headType, v, builder.getI64IntegerAttr(1),
                              i64(loc, h));
    }
    // Broadcast over heads: the value before unsqueeze(1).
    if (auto u = dyn_cast<UnsqueezeOp>(def); u && heads == 1 &&
                                               normalizeDim(u.getDim(), 4) == 1)
      return u.getInput();
    Location loc = def->getLoc();

    // Head split: transpose(1, 2) of view [B, S, n, D] of a [B, S, n*D]
    // projection: head h is a slice of the projection output.
    if (auto tr = dyn_cast<TransposeOp>(def); tr && isHeadTranspose(tr, 1, 2)) {
      auto view = tr.getInput().getDefiningOp<ReshapeOp>();
      auto proj = view ? getStaticTensorType(view.getInput()) : RankedTensorType();
      int64_t d = t.getDimSize(3);
      if (!proj || proj.getRank() != 3 || proj.getDimSize(2) != heads * d)
        return fail(v, "splits heads from something other than a [B, S, heads*D] projection");
      insertAfterDefinition(v);
      return create<SliceOp>(loc, h, headType, view.getInput(),
                             builder.getI64IntegerAttr(2), i64(loc, h * d),
                             i64(loc, (h + 1) * d), i64(loc, 1));
    }

    if (auto rep = dyn_cast<RepeatInterleaveOp>(def)) {
      if (normalizeDim(rep.getDim(), 4) != 1)
        return fail(v, "repeats along an axis other than heads");
      return perHead(rep.getInput(), h / rep.getRepeats());
    }

    if (auto fq = dyn_cast<FakeQuantOp>(def)) {
      auto in = perHead(fq.getInput(), h);
      if (failed(in))
        return mlir::failure();
      insertAfterDefinition(v);
      return create<FakeQuantOp>(loc, h, headType, *in, fq.getScaleAttr(),
                                 fq.getZeroPointAttr(), fq.getQminAttr(),
                                 fq.getQmaxAttr());
    }
    if (auto fq = dyn_cast<FakeQuantPerAxisOp>(def)) {
      if (normalizeDim(fq.getAxis(), 4) != 1)
        return fail(v, "is quantized per axis along an axis other than heads");
      auto in = perHead(fq.getInput(), h);
      if (failed(in))
        return mlir::failure();
      insertAfterDefinition(v);
      return create<FakeQuantOp>(loc, h, headType, *in,
                                 builder.getF64FloatAttr(fq.getScales()[h]),
                                 builder.getI64IntegerAttr(fq.getZeroPoints()[h]),
                                 fq.getQminAttr(), fq.getQmaxAttr());
    }

    if (auto mm = dyn_cast<MatmulOp>(def)) {
      auto lhs = perHead(mm.getLhs(), h);
      if (failed(lhs))
        return mlir::failure();
      bool adjY = mm.getAdjY();
      Value rhsSource = mm.getRhs();
      // k^T as a transpose of the last two axes becomes the adjoint flag.
      if (auto tr = rhsSource.getDefiningOp<TransposeOp>(); tr && isHeadTranspose(tr, 2, 3)) {
        rhsSource = tr.getInput();
        adjY = !adjY;
      }
      auto rhs = perHead(rhsSource, h);
      if (failed(rhs))
        return mlir::failure();
      insertAfterDefinition(v);
      ++numHeadOps;
      return builder
          .create<MatmulOp>(headLoc(loc, h), headType, *lhs, *rhs,
                            builder.getBoolAttr(mm.getAdjX()), builder.getBoolAttr(adjY))
          .getResult();
    }

    if (isa<AddOp, SubOp, MulOp, DivOp, PowOp, WhereOp, NegOp, RsqrtOp, SiluOp,
            SigmoidOp, CastOp>(def)) {
      SmallVector<Value> operands;
      for (Value operand : def->getOperands()) {
        auto o = operandForHead(operand, h);
        if (failed(o))
          return mlir::failure();
        operands.push_back(*o);
      }
      insertAfterDefinition(v);
      ++numHeadOps;
      Operation *clone = builder.create(headLoc(loc, h), def->getName().getIdentifier(),
                                        operands, TypeRange{headType}, def->getAttrs());
      return clone->getResult(0);
    }

    if (auto sm = dyn_cast<SoftmaxOp>(def)) {
      auto dim = mapDim(sm.getDim());
      if (!dim)
        return fail(v, "normalizes over the head axis");
      auto in = perHead(sm.getInput(), h);
      if (failed(in))
        return mlir::failure();
      insertAfterDefinition(v);
      return create<SoftmaxOp>(loc, h, headType, *in, builder.getI64IntegerAttr(*dim));
    }

    if (auto sl = dyn_cast<SliceOp>(def)) {
      auto dim = mapDim(sl.getDim());
      if (!dim)
        return fail(v, "slices the head axis");
      auto in = perHead(sl.getInput(), h);
      if (failed(in))
        return mlir::failure();
      insertAfterDefinition(v);
      return create<SliceOp>(loc, h, headType, *in, builder.getI64IntegerAttr(*dim),
                             sl.getStart(), sl.getEnd(), sl.getStep());
    }

    if (auto cat = dyn_cast<CatOp>(def)) {
      auto dim = mapDim(cat.getDim());
      if (!dim)
        return fail(v, "concatenates along the head axis");
      SmallVector<Value> inputs;
      for (Value in : cat.getInputs()) {
        auto o = perHead(in, h);
        if (failed(o))
          return mlir::failure();
        inputs.push_back(*o);
      }
      insertAfterDefinition(v);
      return create<CatOp>(loc, h, headType, inputs, builder.getI64IntegerAttr(*dim));
    }

    // A single-head tensor made some other way: read its only head.
    if (heads == 1) {
      insertAfterDefinition(v);
      return create<SelectOp>(loc, h, headType, v, builder.getI64IntegerAttr(1),
                              i64(loc, 0));
    }
    return fail(v, "has no per-head form");
  }

  func::FuncOp func;
  OpBuilder builder;
  llvm::DenseMap<std::pair<Value, int64_t>, Value> memo;

public:
  OpBuilder &getBuilder() { return builder; }
};

struct UnrollHeadsPass : kiln::impl::UnrollHeadsBase<UnrollHeadsPass> {
  using UnrollHeadsBase::UnrollHeadsBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    Unroller unroller(func);
    OpBuilder &b = unroller.getBuilder();

    // Roots 1: head merges view(transpose(c, 1, 2), [B, S, n*D]).
    SmallVector<ReshapeOp> merges;
    func.walk([&](ReshapeOp r) {
      auto tr = r.getInput().getDefiningOp<TransposeOp>();
      auto out = getStaticTensorType(r.getResult());
      if (tr && isHeadTranspose(tr, 1, 2) && out && out.getRank() == 3)
        merges.push_back(r);
    });
    for (ReshapeOp merge : merges) {
      Value batched = merge.getInput().getDefiningOp<TransposeOp>().getInput();
      int64_t heads = getStaticTensorType(batched).getDimSize(1);
      SmallVector<Value> parts;
      for (int64_t h = 0; h < heads; ++h) {
        auto part = unroller.perHead(batched, h);
        if (failed(part))
          return report(merge, unroller);
        parts.push_back(*part);
      }
      b.setInsertionPoint(merge);
      Value merged = b.create<CatOp>(merge.getLoc(), merge.getType(), parts,
                                     b.getI64IntegerAttr(2));
      merge.getResult().replaceAllUsesWith(merged);
      ++numMerges;
    }
    if (merges.empty()) {
      func.emitError("kiln-unroll-heads: no head merge (transpose(1, 2) + view to "
                     "[B, S, heads*D]) found: nothing to unroll");
      return signalPassFailure();
    }

    // Roots 2: attention-shaped results (keys, values, attention weights)
    // are re-stacked from their heads.
    auto ret = cast<func::ReturnOp>(func.front().getTerminator());
    for (OpOperand &operand : ret->getOpOperands()) {
      auto t = getStaticTensorType(operand.get());
      if (!t || t.getRank() != 4 || !operand.get().getDefiningOp())
        continue;
      SmallVector<Value> heads;
      for (int64_t h = 0; h < t.getDimSize(1); ++h) {
        auto part = unroller.perHead(operand.get(), h);
        if (failed(part))
          return report(ret, unroller);
        b.setInsertionPoint(ret);
        SmallVector<int64_t> shape(t.getShape());
        shape[1] = 1;
        SmallVector<Value> sizes;
        for (int64_t d : shape)
          sizes.push_back(b.create<arith::ConstantIntOp>(ret.getLoc(), d, 64));
        heads.push_back(b.create<ReshapeOp>(
            part->getLoc(), RankedTensorType::get(shape, t.getElementType()), *part, sizes));
      }
      b.setInsertionPoint(ret);
      operand.set(b.create<CatOp>(operand.get().getLoc(), t, heads, b.getI64IntegerAttr(1)));
    }
    numHeadOps = unroller.numHeadOps;

    // The batched ops are dead now.
    RewritePatternSet patterns(&getContext());
    if (failed(applyPatternsAndFoldGreedily(func, std::move(patterns))))
      return signalPassFailure();
    bool left = false;
    func.walk([&](Operation *op) {
      if (isa<TransposeOp, PermuteOp, RepeatInterleaveOp, ExpandOp>(op)) {
        op->emitError("kiln-unroll-heads: '")
            << op->getName() << "' remains after unrolling (not part of an attention block it understands)";
        left = true;
      }
    });
    if (left)
      signalPassFailure();
  }

  void report(Operation *root, Unroller &unroller) {
    InFlightDiagnostic diag = root->emitError("kiln-unroll-heads: cannot unroll attention: ")
                              << unroller.reason;
    if (unroller.failedAt)
      diag.attachNote(unroller.failedAt->getLoc()) << "at this op";
    signalPassFailure();
  }
};
} // namespace
