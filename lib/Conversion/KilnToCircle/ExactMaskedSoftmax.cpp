//===- ExactMaskedSoftmax.cpp - kiln-exact-masked-softmax -----------------===//
//
// TFLite's int16 SOFTMAX reads exp(x - max) from a table over [-10, 0] and
// clamps below: a masked key (additive mask -100 or -inf) still gets
// exp(-10), about 2 steps of 2^-15 of probability. Summed over many masked
// keys the leak is large (0.125 at 2048 keys). This pass rewrites
//
//   p = softmax(scores + mask)
//
// on int16 into
//
//   keep = 1 + clamp(mask, -1, 0)         (1 for a kept key, 0 for a masked
//   one) q    = p * keep                       (masked keys exactly 0) w    =
//   (1/T) / mean(q, -1)            (= 1 / sum(q): one value per row) p'   = q *
//   w                          (renormalized over the kept keys)
//
// all int16 kernels TFLite has (MUL with RELU_N1_TO_1, ADD, MEAN, DIV). The
// mask contract: 0 for a kept key, <= -1 for a masked one (kiln_torch uses
// -100, Hugging Face finfo.min).
//
//===----------------------------------------------------------------------===//
#include "kiln/Conversion/Passes.h"
#include "kiln/Dialect/Circle/IR/CircleOps.h"

#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/TypeUtilities.h"

#include <algorithm>

namespace kiln {
#define GEN_PASS_DEF_EXACTMASKEDSOFTMAX
#include "kiln/Dialect/Circle/KilnToCirclePasses.h.inc"
} // namespace kiln

using namespace mlir;
namespace cir = kiln::circle;

namespace {
quant::UniformQuantizedType int16Of(Value v) {
  auto q =
      dyn_cast<quant::UniformQuantizedType>(getElementTypeOrSelf(v.getType()));
  if (!q || q.getStorageTypeIntegralWidth() != 16 || !q.isSigned() ||
      q.getZeroPoint() != 0)
    return {};
  return q;
}

/// A value computed from the function's inputs and constants by data
/// movement only (the mask, sliced or reshaped for a head), not from scores.
bool isMaskSource(Value v, unsigned depth = 0) {
  if (depth > 16)
    return false;
  if (isa<BlockArgument>(v))
    return true;
  Operation *op = v.getDefiningOp();
  if (!op)
    return false;
  if (isa<cir::ConstOp>(op))
    return true;
  if (isa<cir::ReshapeOp, cir::StridedSliceOp, cir::SliceOp, cir::BroadcastToOp,
          cir::TransposeOp, cir::QuantizeOp, cir::DequantizeOp>(op))
    return isMaskSource(op->getOperand(0), depth + 1);
  if (auto cat = dyn_cast<cir::ConcatenationOp>(op))
    return llvm::all_of(cat.getValues(),
                        [&](Value x) { return isMaskSource(x, depth + 1); });
  return false;
}

struct ExactMaskedSoftmaxPass
    : kiln::impl::ExactMaskedSoftmaxBase<ExactMaskedSoftmaxPass> {
  using ExactMaskedSoftmaxBase::ExactMaskedSoftmaxBase;

  void runOnOperation() override {
    SmallVector<cir::SoftmaxOp> softmaxes;
    getOperation().walk([&](cir::SoftmaxOp s) { softmaxes.push_back(s); });
    for (cir::SoftmaxOp s : softmaxes)
      rewrite(s);
  }

  Type tensorOf(ArrayRef<int64_t> shape, Type element) {
    return RankedTensorType::get(shape, element);
  }

  quant::UniformQuantizedType i16(double scale) {
    return quant::UniformQuantizedType::get(
        quant::QuantizationFlags::Signed, IntegerType::get(&getContext(), 16),
        Float32Type::get(&getContext()), scale, 0, -32768, 32767);
  }

  Value scalar(OpBuilder &b, Location loc, quant::UniformQuantizedType type,
               int16_t storage) {
    auto st = RankedTensorType::get({}, IntegerType::get(&getContext(), 16));
    return b.create<cir::ConstOp>(
        loc, RankedTensorType::get({}, type),
        DenseElementsAttr::get(st, APInt(16, storage, true)));
  }

  void rewrite(cir::SoftmaxOp softmax) {
    auto add = softmax.getInput().getDefiningOp<cir::AddOp>();
    auto pType = int16Of(softmax.getResult());
    if (!add || add.getFusedActivationFunction() != "NONE" || !pType ||
        !int16Of(add.getLhs()) || !int16Of(add.getRhs()))
      return;
    bool lhsMask = isMaskSource(add.getLhs()),
         rhsMask = isMaskSource(add.getRhs());
    if (lhsMask == rhsMask)
      return;
    Value mask = lhsMask ? add.getLhs() : add.getRhs();
    auto pShaped = cast<RankedTensorType>(softmax.getResult().getType());
    auto maskShaped = dyn_cast<RankedTensorType>(mask.getType());
    if (!maskShaped || !pShaped.hasStaticShape() || pShaped.getRank() < 1)
      return;
    int64_t keys = pShaped.getShape().back();
    if (keys < 2)
      return;

    Location loc = softmax.getLoc();
    OpBuilder b(softmax->getContext());
    b.setInsertionPointAfter(softmax);
    // keep = 1 + clamp(mask * 1, -1, 0) on the grid 1/32767 (exact 0 or 1).
    auto unit = i16(1.0 / 32767);
    Value one = scalar(b, loc, i16(1.0), 1);
    Value clamped =
        b.create<cir::MulOp>(loc, tensorOf(maskShaped.getShape(), unit), mask,
                             one, b.getStringAttr("RELU_N1_TO_1"));
    Value keep = b.create<cir::AddOp>(
        loc, tensorOf(maskShaped.getShape(), unit), clamped,
        scalar(b, loc, unit, 32767), b.getStringAttr("NONE"));
    Value p = softmax.getResult();
    Value q = b.create<cir::MulOp>(loc, p.getType(), p, keep,
                                   b.getStringAttr("NONE"));
    // mean(q) <= (1 + rounding) / T.
    SmallVector<int64_t> rowShape(pShaped.getShape());
    rowShape.back() = 1;
    double meanMax = 1.02 / keys;
    auto axisType = RankedTensorType::get({1}, b.getI32Type());
    Value axis = b.create<cir::ConstOp>(
        loc, axisType,
        DenseElementsAttr::get(axisType,
                               {static_cast<int32_t>(pShaped.getRank() - 1)}));
    Value mean =
        b.create<cir::MeanOp>(loc, tensorOf(rowShape, i16(meanMax / 32767)), q,
                              axis, b.getBoolAttr(true));
    // w = 1 / sum(q) >= 1; the leak is at most ~2 steps of 2^-15 per key.
    double leak = std::min(0.9, keys * 2.0 / 32768);
    double wMax = 1.05 / (1.0 - leak);
    Value invKeys = scalar(b, loc, i16(1.0 / keys / 32767), 32767);
    Value w = b.create<cir::DivOp>(loc, tensorOf(rowShape, i16(wMax / 32767)),
                                   invKeys, mean, b.getStringAttr("NONE"));
    auto renormalized =
        b.create<cir::MulOp>(loc, p.getType(), q, w, b.getStringAttr("NONE"));
    p.replaceAllUsesExcept(renormalized.getResult(), q.getDefiningOp());
    ++numRewritten;
  }
};
} // namespace
