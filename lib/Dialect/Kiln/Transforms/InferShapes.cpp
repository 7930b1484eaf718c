//===- InferShapes.cpp - kiln-infer-shapes --------------------------------===//
#include "kiln/Dialect/Kiln/IR/KilnOps.h"
#include "kiln/Dialect/Kiln/Transforms/Passes.h"
#include "kiln/Dialect/Kiln/Utils/DeadCode.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln {
#define GEN_PASS_DEF_INFERSHAPES
#include "kiln/Dialect/Kiln/KilnPasses.h.inc"
} // namespace kiln

using namespace mlir;
using namespace kiln;

namespace {
/// True when `refined` says strictly more than `current` about the shape.
bool isMoreRefined(Type refined, Type current) {
  auto r = dyn_cast_or_null<RankedTensorType>(refined);
  if (!r)
    return false;
  auto c = dyn_cast<RankedTensorType>(current);
  if (!c)
    return isa<UnrankedTensorType>(current);
  if (r.getRank() != c.getRank())
    return false;
  bool better = false;
  for (auto [rd, cd] : llvm::zip(r.getShape(), c.getShape())) {
    if (ShapedType::isDynamic(rd) && !ShapedType::isDynamic(cd))
      return false;
    if (!ShapedType::isDynamic(cd) && rd != cd)
      return false;
    better |= ShapedType::isDynamic(cd) && !ShapedType::isDynamic(rd);
  }
  return better;
}

struct InferShapesPass : kiln::impl::InferShapesBase<InferShapesPass> {
  using InferShapesBase::InferShapesBase;

  /// Every dialect's canonicalization patterns, collected once per pass
  /// instance (not once per round and function).
  FrozenRewritePatternSet patterns;

  LogicalResult initialize(MLIRContext *ctx) override {
    RewritePatternSet set(ctx);
    for (RegisteredOperationName name : ctx->getRegisteredOperations())
      name.getCanonicalizationPatterns(set, ctx);
    patterns = FrozenRewritePatternSet(std::move(set));
    return success();
  }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    // Folding (sizes to constants) and refinement feed each other: iterate.
    // A round refines every op whose operands are known in one walk, but a
    // size folded at its end is only seen by the next round: a decoder needs
    // about one round per layer (an 8B model's 32 layers did not fit in a
    // fixed 32). Every round that does not stop refines a type or folds an
    // op, so the default (0) runs to the fixed point, at most one round per
    // op of the function.
    int64_t rounds = maxRounds;
    if (rounds <= 0) {
      rounds = 2;
      func.walk([&](Operation *) { ++rounds; });
    }
    bool converged = false;
    for (int64_t round = 0; round < rounds; ++round) {
      bool changed = bypassRefiningCasts(func);
      func.walk([&](ShapeInferenceOpInterface op) {
        Type inferred = op.inferResultType();
        Value result = op->getResult(0);
        if (!isMoreRefined(inferred, result.getType()))
          return;
        Type old = result.getType();
        result.setType(inferred);
        keepTypesOfOtherUsers(result, old);
        ++numRefined;
        changed = true;
      });
      bool folded = false;
      if (failed(applyPatternsAndFoldGreedily(func, patterns,
                                              GreedyRewriteConfig(), &folded)))
        return signalPassFailure();
      ++numRounds;
      if (!changed && !folded) {
        converged = true;
        break;
      }
    }
    if (!converged)
      emitWarning(func.getLoc())
          << "kiln-infer-shapes did not reach a fixed point in " << rounds
          << " rounds of refinement and folding; shapes may be left dynamic "
             "(raise max-rounds)";
    if (updateSignature)
      refineSignature(func);
    // Casts the signature update made redundant.
    eraseDeadCode(func);
  }

  /// Kiln ops read the more precise source of a tensor.cast directly (the
  /// export adapter casts static arguments to the imported unranked types).
  static bool bypassRefiningCasts(func::FuncOp func) {
    bool changed = false;
    func.walk([&](Operation *op) {
      if (!isa<ShapeInferenceOpInterface, SizeOp, ShapeOp, RankOp>(op))
        return;
      for (OpOperand &operand : op->getOpOperands())
        if (auto cast = operand.get().getDefiningOp<tensor::CastOp>())
          if (isMoreRefined(cast.getSource().getType(), cast.getType()) &&
              getElementTypeOrSelf(cast.getSource().getType()) ==
                  getElementTypeOrSelf(cast.getType())) {
            operand.set(cast.getSource());
            changed = true;
          }
    });
    return changed;
  }

  /// Users that are not kiln tensor ops (scf.yield, kiln.tuple, func.return)
  /// need the type they were built with: give them a tensor.cast.
  static void keepTypesOfOtherUsers(Value result, Type old) {
    for (OpOperand &use : llvm::make_early_inc_range(result.getUses())) {
      Operation *user = use.getOwner();
      if (isa<ShapeInferenceOpInterface, SizeOp, ShapeOp, RankOp>(user))
        continue;
      OpBuilder b(user);
      use.set(b.create<tensor::CastOp>(user->getLoc(), old, result));
    }
  }

  void refineSignature(func::FuncOp func) {
    SmallVector<Type> results(func.getFunctionType().getResults());
    bool changed = false;
    func.walk([&](func::ReturnOp ret) {
      for (auto [i, operand] : llvm::enumerate(ret->getOpOperands())) {
        Value v = operand.get();
        if (auto cast = v.getDefiningOp<tensor::CastOp>())
          if (isMoreRefined(cast.getSource().getType(), results[i]))
            v = cast.getSource();
        if (v.getType() != results[i] &&
            isMoreRefined(v.getType(), results[i])) {
          operand.set(v);
          results[i] = v.getType();
          changed = true;
        }
      }
    });
    if (changed)
      func.setType(FunctionType::get(
          func.getContext(), func.getFunctionType().getInputs(), results));
  }
};
} // namespace
