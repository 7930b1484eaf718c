//===- LegalizeToCircle.cpp - kiln-legalize-to-circle ---------------------===//
//
// Runs in four steps: target type checks (tflite), Circle-only fusions
// (circle), float islands for quantized ops the target cannot run, then one
// lowering function per kiln op in program order.
//
//===----------------------------------------------------------------------===//
#include "PerRowTables.h"
#include "RmsNorm.h"
#include "kiln/Conversion/Passes.h"
#include "kiln/Dialect/Circle/IR/CircleOps.h"
#include "kiln/Dialect/Kiln/IR/KilnOps.h"
#include "kiln/Dialect/Kiln/Utils/DeadCode.h"
#include "kiln/Dialect/Kiln/Utils/QuantUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/TypeSwitch.h"

namespace kiln {
#define GEN_PASS_DEF_LEGALIZETOCIRCLE
#include "kiln/Dialect/Circle/KilnToCirclePasses.h.inc"
} // namespace kiln

using namespace mlir;
using namespace kiln;
namespace kc = kiln::circle;

namespace {
quant::QuantizedType quantOf(Value v) {
  return dyn_cast<quant::QuantizedType>(getElementTypeOrSelf(v.getType()));
}

Type withElementType(Type type, Type element) {
  return cast<TensorType>(type).clone(element);
}

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

/// The user-facing name of a value: the NameLoc the importer attached (module
/// path), else the op name and location.
std::string tensorName(Value v) {
  std::string name = getLocName(v.getLoc());
  if (!name.empty())
    return name;
  // Weights are named by their resource blob (the module path).
  if (auto cst = v.getDefiningOp<ConstantOp>())
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(cst.getValue()))
      return resource.getRawHandle().getKey().str();
  if (Operation *op = v.getDefiningOp())
    return op->getName().getStringRef().str() + " result";
  return "function argument " +
         std::to_string(cast<BlockArgument>(v).getArgNumber());
}

/// A constant (possibly dequantized) float tensor equal to `value` everywhere.
bool isSplatConstant(Value v, double value) {
  DenseElementsAttr dense;
  if (!matchPattern(v, m_Constant(&dense)))
    return false;
  return dense && dense.isSplat() && isa<FloatType>(dense.getElementType()) &&
         dense.getSplatValue<APFloat>().convertToDouble() == value;
}

Value stripDequantize(Value v) {
  if (auto d = v.getDefiningOp<DequantizeOp>())
    return d.getInput();
  return v;
}

struct LegalizeToCirclePass
    : kiln::impl::LegalizeToCircleBase<LegalizeToCirclePass> {
  using LegalizeToCircleBase::LegalizeToCircleBase;

  bool isTflite() const { return flavor == "tflite"; }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (flavor != "circle" && flavor != "tflite") {
      emitError(func.getLoc(), "unknown flavor '")
          << flavor << "' (circle or tflite)";
      return signalPassFailure();
    }
    if (rmsNormTierRatio <= 1) {
      emitError(func.getLoc(), "rms-norm-tier-ratio must be above 1, got ")
          << rmsNormTierRatio;
      return signalPassFailure();
    }
    if (failed(checkShapes(func)) ||
        (isTflite() && failed(checkTfliteTypes(func))))
      return signalPassFailure();
    IRRewriter rw(&getContext());
    if (!isTflite())
      fuseRmsNorms(rw, func);
    else {
      lowerPerRowTablesForTflite(rw, func); // PerRowTables.cpp
      if (integerRmsNorm)                   // IntegerRmsNorm.cpp
        numIntegerRmsNorm +=
            lowerRmsNormsToIntegerTflite(rw, func, rmsNormTierRatio);
      eraseDeadCode(func);
      warnFloatRmsNorms(func);
    }
    makeFloatIslands(rw, func);

    SmallVector<Operation *> ops;
    func.walk([&](Operation *op) {
      if (op->getDialect() && isa<KilnDialect>(op->getDialect()))
        ops.push_back(op);
    });
    bool failedAny = false;
    for (Operation *op : ops) {
      rw.setInsertionPoint(op);
      FailureOr<Value> lowered = lower(rw, op);
      if (failed(lowered)) {
        failedAny = true;
        continue;
      }
      if (*lowered)
        rw.replaceOp(op, *lowered);
      ++numLowered;
    }
    if (failedAny)
      return signalPassFailure();
    eraseDeadCode(func);
    // Nothing but circle, func and leftover scalar constants may remain.
    func.walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (isa<func::FuncOp, func::ReturnOp>(op) ||
          isa<kc::CircleDialect>(op->getDialect()))
        return WalkResult::advance();
      op->emitError("'") << op->getName()
                         << "' cannot be lowered to circle (run the export "
                            "adapter and kiln-fold-fake-quant first)";
      failedAny = true;
      return WalkResult::skip();
    });
    if (failedAny)
      signalPassFailure();
  }

  //===--- checks
  //----------------------------------------------------------===//

  LogicalResult checkShapes(func::FuncOp func) {
    LogicalResult result = success();
    func.walk([&](Operation *op) {
      if (!op->getDialect() || !isa<KilnDialect>(op->getDialect()))
        return;
      for (Value v : op->getResults())
        if (auto t = dyn_cast<TensorType>(v.getType());
            t && !(t.hasRank() && t.hasStaticShape())) {
          op->emitError("tensor '")
              << tensorName(v)
              << "' has a dynamic shape; fix shapes before lowering "
                 "(kiln-export-adapter)";
          result = failure();
        }
    });
    return result;
  }

  LogicalResult checkTfliteTypes(func::FuncOp func) {
    LogicalResult result = success();
    auto check = [&](Value v, Operation *at) {
      auto q = quantOf(v);
      if (!q)
        return;
      if (!q.isSigned() && q.getStorageTypeIntegralWidth() == 4) {
        at->emitError("tensor '")
            << tensorName(v)
            << "' has type uint4, which TFLite lacks (Circle-only); export "
               "with --format circle or use a signed int4 recipe";
        result = failure();
      }
      if (isa<quant::UniformQuantizedPerAxisType>(q) &&
          !v.getDefiningOp<ConstantOp>()) {
        at->emitError("tensor '")
            << tensorName(v)
            << "' is an activation with per-axis quantization, which TFLite "
               "lacks; export the head-unrolled prefill variant instead";
        result = failure();
      }
    };
    func.walk([&](Operation *op) {
      if (op->getDialect() && isa<KilnDialect>(op->getDialect()))
        for (Value v : op->getResults())
          check(v, op);
    });
    return result;
  }

  //===--- Circle-only fusion ---------------------------------------------===//

  /// w * (x * rsqrt(mean(x * x, -1, keepdim) + eps)) -> rms_norm(x, w, eps).
  void fuseRmsNorms(IRRewriter &rw, func::FuncOp func) {
    SmallVector<MulOp> candidates;
    func.walk([&](MulOp m) { candidates.push_back(m); });
    for (MulOp outer : candidates) {
      if (!outer->getBlock())
        continue;
      for (auto [w, inner] : {std::pair(outer.getLhs(), outer.getRhs()),
                              std::pair(outer.getRhs(), outer.getLhs())}) {
        auto m1 = inner.getDefiningOp<MulOp>();
        if (!m1 || !stripDequantize(w).getDefiningOp<ConstantOp>())
          continue;
        std::optional<float> eps;
        Value x = matchRmsNormalized(m1, eps);
        if (!x || shapeOf(stripDequantize(w)).size() != 1)
          continue;
        // Quantized output: fuse the quantize too and read quantized inputs.
        Value result = outer.getResult();
        QuantizeOp requant;
        if (result.hasOneUse())
          requant = dyn_cast<QuantizeOp>(*result.getUsers().begin());
        Value input = requant ? stripDequantize(x) : x;
        Value gamma = requant ? stripDequantize(w) : w;
        Operation *replaced =
            requant ? requant.getOperation() : outer.getOperation();
        rw.setInsertionPoint(replaced);
        Location loc = requant
                           ? rw.getFusedLoc({outer.getLoc(), requant.getLoc()},
                                            rw.getStringAttr("kiln.fake_quant"))
                           : outer.getLoc();
        auto norm = rw.create<kc::RmsNormOp>(
            loc, TypeRange{replaced->getResult(0).getType()},
            ValueRange{input, gamma},
            ArrayRef<NamedAttribute>{
                rw.getNamedAttr("epsilon", rw.getF32FloatAttr(*eps))});
        rw.replaceOp(replaced, norm.getResult());
        ++numRmsNorm;
        break;
      }
    }
    eraseDeadCode(func);
  }

  /// TFLite has no RMS_NORM kernel: an RMSNorm whose intermediates the
  /// model left unquantized and that the integer lowering did not take (an
  /// input or output not int16 per tensor, integer-rms-norm=false) computes
  /// in float there. One warning per function, at the first.
  void warnFloatRmsNorms(func::FuncOp func) {
    SmallVector<Location> found;
    func.walk([&](MulOp m) {
      std::optional<float> eps;
      if (matchRmsNormalized(m, eps) && !quantOf(m.getResult()))
        found.push_back(m.getLoc());
    });
    if (found.empty())
      return;
    emitWarning(found.front())
        << found.size()
        << (found.size() == 1 ? " RMSNorm computes" : " RMSNorms compute")
        << " in float for TFLite: it has no RMS_NORM kernel and the model does "
           "not "
           "quantize the intermediates (x^2, its mean, rsqrt) and its input or "
           "output "
           "is not int16 per tensor; export with --format circle (RMS_NORM) or "
           "fake-quantize them (kiln_torch does)";
  }

  //===--- float islands
  //---------------------------------------------------===//

  /// Quantized ops without an integer kernel in TFLite (and so in ONE) run in
  /// float: dequantize their quantized inputs, quantize their result.
  bool needsFloat(Operation *op) const {
    if (auto neg = dyn_cast<NegOp>(op))
      return !isSymmetricNegation(neg);
    // TFLite (LiteRT) has int16 RSQRT and DIV kernels and an int8 RSQRT;
    // other storage types compute in float.
    if (isa<RsqrtOp>(op))
      return !allInt16(op) && !allInt8(op);
    if (isa<DivOp>(op))
      return !allInt16(op);
    if (isa<CastOp, WhereOp>(op))
      return true;
    // TFLite's FULLY_CONNECTED takes signed weights only (lm_head is uint8
    // per channel): compute it in float from the dequantized weight.
    if (auto linear = dyn_cast<LinearOp>(op); linear && isTflite())
      if (auto w = quantOf(linear.getWeight()); w && !w.isSigned())
        return true;
    if (auto pow = dyn_cast<PowOp>(op))
      return !isSplatConstant(pow.getRhs(), 2.0);
    if (auto emb = dyn_cast<EmbeddingOp>(op))
      return isa_and_nonnull<quant::UniformQuantizedPerAxisType>(
          quantOf(emb.getWeight()));
    return false;
  }

  /// Every operand and the result int16 symmetric per-tensor.
  static bool allInt16(Operation *op) {
    auto ok = [](Value v) {
      auto q = dyn_cast_or_null<quant::UniformQuantizedType>(quantOf(v));
      return q && q.getStorageTypeIntegralWidth() == 16 && q.isSigned() &&
             q.getZeroPoint() == 0;
    };
    return llvm::all_of(op->getOperands(), ok) && ok(op->getResult(0));
  }

  /// Every operand and the result int8 per-tensor (any zero point).
  static bool allInt8(Operation *op) {
    auto ok = [](Value v) {
      auto q = dyn_cast_or_null<quant::UniformQuantizedType>(quantOf(v));
      return q && q.getStorageTypeIntegralWidth() == 8 && q.isSigned();
    };
    return llvm::all_of(op->getOperands(), ok) && ok(op->getResult(0));
  }

  /// -x on the grid that holds it exactly: an integer multiply by -1.
  static bool isSymmetricNegation(NegOp neg) {
    auto q =
        dyn_cast_or_null<quant::UniformQuantizedType>(quantOf(neg.getInput()));
    auto r =
        dyn_cast_or_null<quant::UniformQuantizedType>(quantOf(neg.getResult()));
    return q && r && r == negatedGrid(q);
  }

  /// The grid that holds -x exactly for x on q: q itself when symmetric
  /// (zero point 0, signed), else the same scale with zero point
  /// qmin + qmax - z (storage q' = qmin + qmax - q).
  static quant::UniformQuantizedType
  negatedGrid(quant::UniformQuantizedType q) {
    if (q.getZeroPoint() == 0 && q.isSigned())
      return q;
    return quant::UniformQuantizedType::get(
        q.getFlags(), q.getStorageType(), q.getExpressedType(), q.getScale(),
        q.getStorageTypeMin() + q.getStorageTypeMax() - q.getZeroPoint(),
        q.getStorageTypeMin(), q.getStorageTypeMax());
  }

  void makeFloatIslands(IRRewriter &rw, func::FuncOp func) {
    SmallVector<Operation *> ops;
    func.walk([&](Operation *op) {
      if (needsFloat(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      bool quantized = quantOf(op->getResult(0)) != nullptr;
      for (Value v : op->getOperands())
        quantized |= quantOf(v) != nullptr;
      if (!quantized)
        continue;
      rw.setInsertionPoint(op);
      for (OpOperand &operand : op->getOpOperands())
        if (auto q = quantOf(operand.get()))
          operand.set(rw.create<DequantizeOp>(
              op->getLoc(),
              withElementType(operand.get().getType(), q.getExpressedType()),
              operand.get()));
      Value result = op->getResult(0);
      if (auto q = quantOf(result)) {
        Type quantType = result.getType();
        result.setType(withElementType(quantType, q.getExpressedType()));
        rw.setInsertionPointAfter(op);
        auto requant = rw.create<QuantizeOp>(op->getLoc(), quantType, result);
        result.replaceAllUsesExcept(requant.getResult(), requant);
      }
      ++numFloatIslands;
    }
  }

  //===--- lowering
  //--------------------------------------------------------===//

  static Value constI32(IRRewriter &rw, Location loc,
                        ArrayRef<int64_t> values) {
    auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                      rw.getI32Type());
    SmallVector<int32_t> ints(values.begin(), values.end());
    return rw.create<kc::ConstOp>(loc, type,
                                  DenseIntElementsAttr::get(type, ints));
  }

  template <typename Op>
  static Value create(IRRewriter &rw, Location loc, Type type,
                      ValueRange operands,
                      ArrayRef<NamedAttribute> attrs = {}) {
    return rw.create<Op>(loc, TypeRange{type}, operands, attrs)->getResult(0);
  }

  /// The output type TFLite requires of softmax/logistic on quantized data.
  static Type fixedProbabilityType(Type resultType) {
    auto q =
        dyn_cast<quant::UniformQuantizedType>(getElementTypeOrSelf(resultType));
    if (!q)
      return resultType;
    MLIRContext *ctx = resultType.getContext();
    std::string error;
    quant::QuantizedType fixed;
    if (q.getStorageTypeIntegralWidth() == 16)
      fixed = getPerTensorType(ctx, 1.0 / 32768, 0, -32768, 32767, error);
    else if (q.getStorageTypeIntegralWidth() == 8 && q.isSigned())
      fixed = getPerTensorType(ctx, 1.0 / 256, -128, -128, 127, error);
    else if (q.getStorageTypeIntegralWidth() == 8)
      fixed = getPerTensorType(ctx, 1.0 / 256, 0, 0, 255, error);
    return fixed ? withElementType(resultType, fixed) : resultType;
  }

  /// A probability-valued op at the fixed output scale, requantized to the
  /// type the model asked for.
  template <typename Op>
  static Value probability(IRRewriter &rw, Location loc, Type type, Value input,
                           ArrayRef<NamedAttribute> attrs = {}) {
    Type fixed = fixedProbabilityType(type);
    Value v = create<Op>(rw, loc, fixed, input, attrs);
    if (fixed != type)
      v = create<kc::QuantizeOp>(rw, loc, type, v);
    return v;
  }

  FailureOr<Value> lower(IRRewriter &rw, Operation *op) {
    Location loc = op->getLoc();
    Type type = op->getNumResults() ? op->getResult(0).getType() : Type();
    auto attr = [&](StringRef name, Attribute a) {
      return rw.getNamedAttr(name, a);
    };

    return llvm::TypeSwitch<Operation *, FailureOr<Value>>(op)
        .Case([&](ConstantOp c) -> FailureOr<Value> {
          auto cst = rw.create<kc::ConstOp>(loc, type, c.getValue());
          // Quantization of storage wider than MLIR's quant types (int64
          // bias) travels as kiln.quant_* attributes to the writer.
          for (NamedAttribute a : c->getDiscardableAttrs())
            if (a.getName().getValue().starts_with("kiln.quant_"))
              cst->setAttr(a.getName(), a.getValue());
          return cst.getResult();
        })
        .Case([&](QuantizeOp q) -> FailureOr<Value> {
          return create<kc::QuantizeOp>(rw, loc, type, q.getInput());
        })
        .Case([&](DequantizeOp d) -> FailureOr<Value> {
          // TFLite's DEQUANTIZE has no kernel for per-channel uint8 (the
          // embedding table): dequantize such constants at compile time.
          if (isTflite())
            if (Value folded = dequantizeConstant(rw, d))
              return folded;
          return create<kc::DequantizeOp>(rw, loc, type, d.getInput());
        })
        .Case([&](LinearOp l) -> FailureOr<Value> {
          SmallVector<Value> operands{l.getInput(), l.getWeight()};
          if (l.getBias())
            operands.push_back(l.getBias());
          return create<kc::FullyConnectedOp>(
              rw, loc, type, operands,
              {attr("keep_num_dims", rw.getBoolAttr(true))});
        })
        .Case([&](MatmulOp m) -> FailureOr<Value> {
          SmallVector<NamedAttribute> attrs;
          if (m.getAdjX())
            attrs.push_back(attr("adj_x", rw.getBoolAttr(true)));
          if (m.getAdjY())
            attrs.push_back(attr("adj_y", rw.getBoolAttr(true)));
          return create<kc::BatchMatMulOp>(rw, loc, type,
                                           {m.getLhs(), m.getRhs()}, attrs);
        })
        .Case([&](AddOp o) -> FailureOr<Value> {
          return create<kc::AddOp>(rw, loc, type, {o.getLhs(), o.getRhs()});
        })
        .Case([&](SubOp o) -> FailureOr<Value> {
          return create<kc::SubOp>(rw, loc, type, {o.getLhs(), o.getRhs()});
        })
        .Case([&](MulOp o) -> FailureOr<Value> {
          return create<kc::MulOp>(rw, loc, type, {o.getLhs(), o.getRhs()});
        })
        .Case([&](DivOp o) -> FailureOr<Value> {
          return create<kc::DivOp>(rw, loc, type, {o.getLhs(), o.getRhs()});
        })
        .Case([&](PowOp o) -> FailureOr<Value> {
          if (isSplatConstant(o.getRhs(), 2.0))
            return create<kc::MulOp>(rw, loc, type, {o.getLhs(), o.getLhs()});
          return create<kc::PowOp>(rw, loc, type, {o.getLhs(), o.getRhs()});
        })
        .Case([&](WhereOp o) -> FailureOr<Value> {
          return create<kc::SelectV2Op>(
              rw, loc, type, {o.getCondition(), o.getLhs(), o.getRhs()});
        })
        .Case([&](NegOp o) -> FailureOr<Value> {
          // Integer NEG kernels are not in TFLite for 16 bits: x * (-1 at
          // scale 1) onto the negated grid, multiplier exactly 1.
          if (isSymmetricNegation(o)) {
            // -1 at scale 1: storage -1 (signed) or 0 with zero point 1.
            auto q = cast<quant::UniformQuantizedType>(quantOf(o.getInput()));
            bool sign = q.isSigned();
            auto minusOne = quant::UniformQuantizedType::get(
                q.getFlags(), q.getStorageType(), q.getExpressedType(), 1.0,
                sign ? 0 : 1, q.getStorageTypeMin(), q.getStorageTypeMax());
            auto storage = RankedTensorType::get({}, q.getStorageType());
            Value c = rw.create<kc::ConstOp>(
                loc, RankedTensorType::get({}, minusOne),
                DenseElementsAttr::get(storage,
                                       APInt(q.getStorageTypeIntegralWidth(),
                                             sign ? -1 : 0, sign)));
            return create<kc::MulOp>(rw, loc, type, {o.getInput(), c});
          }
          return create<kc::NegOp>(rw, loc, type, o.getInput());
        })
        .Case([&](RsqrtOp o) -> FailureOr<Value> {
          return create<kc::RsqrtOp>(rw, loc, type, o.getInput());
        })
        .Case([&](CastOp o) -> FailureOr<Value> {
          return create<kc::CastOp>(rw, loc, type, o.getInput());
        })
        .Case([&](SigmoidOp o) -> FailureOr<Value> {
          return probability<kc::LogisticOp>(rw, loc, type, o.getInput());
        })
        .Case([&](SiluOp o) -> FailureOr<Value> {
          Type sigType = type;
          if (quantOf(o.getInput()))
            sigType = fixedProbabilityType(type);
          Value sig = create<kc::LogisticOp>(rw, loc, sigType, o.getInput());
          return create<kc::MulOp>(rw, loc, type, {o.getInput(), sig});
        })
        .Case([&](MeanOp o) -> FailureOr<Value> {
          int64_t rank = shapeOf(o.getInput()).size();
          SmallVector<int64_t> axes;
          for (int64_t d : o.getDims())
            axes.push_back(*normalizeDim(d, rank));
          SmallVector<NamedAttribute> attrs;
          if (o.getKeepDims())
            attrs.push_back(attr("keep_dims", rw.getBoolAttr(true)));
          return create<kc::MeanOp>(
              rw, loc, type, {o.getInput(), constI32(rw, loc, axes)}, attrs);
        })
        .Case([&](SoftmaxOp o) -> FailureOr<Value> {
          int64_t rank = shapeOf(o.getInput()).size();
          if (normalizeDim(o.getDim(), rank) != rank - 1)
            return o.emitError("softmax over dimension ")
                   << o.getDim() << " of rank " << rank
                   << ": circle softmax works on the last axis only";
          return probability<kc::SoftmaxOp>(rw, loc, type, o.getInput());
        })
        .Case([&](EmbeddingOp o) -> FailureOr<Value> {
          return create<kc::GatherOp>(rw, loc, type,
                                      {o.getWeight(), o.getIndices()});
        })
        .Case<ReshapeOp, UnsqueezeOp, SqueezeOp>(
            [&](Operation *o) -> FailureOr<Value> {
              return create<kc::ReshapeOp>(
                  rw, loc, type,
                  {o->getOperand(0),
                   constI32(rw, loc, shapeOf(o->getResult(0)))});
            })
        .Case([&](TransposeOp o) -> FailureOr<Value> {
          int64_t rank = shapeOf(o.getInput()).size();
          SmallVector<int64_t> perm =
              llvm::to_vector(llvm::seq<int64_t>(0, rank));
          std::swap(perm[*normalizeDim(o.getDim0(), rank)],
                    perm[*normalizeDim(o.getDim1(), rank)]);
          return create<kc::TransposeOp>(
              rw, loc, type, {o.getInput(), constI32(rw, loc, perm)});
        })
        .Case([&](PermuteOp o) -> FailureOr<Value> {
          int64_t rank = shapeOf(o.getInput()).size();
          SmallVector<int64_t> perm;
          for (int64_t p : o.getPermutation())
            perm.push_back(*normalizeDim(p, rank));
          return create<kc::TransposeOp>(
              rw, loc, type, {o.getInput(), constI32(rw, loc, perm)});
        })
        .Case([&](ExpandOp o) -> FailureOr<Value> {
          return create<kc::BroadcastToOp>(
              rw, loc, type,
              {o.getInput(), constI32(rw, loc, shapeOf(o.getResult()))});
        })
        .Case([&](RepeatInterleaveOp o) -> FailureOr<Value> {
          // [.., n, ..] -> [.., n, 1, ..] -> [.., n, r, ..] -> [.., n*r, ..]
          auto in = shapeOf(o.getInput());
          int64_t dim = *normalizeDim(o.getDim(), in.size());
          SmallVector<int64_t> inserted(in);
          inserted.insert(inserted.begin() + dim + 1, 1);
          Type elt = getElementTypeOrSelf(o.getInput().getType());
          Value v = create<kc::ReshapeOp>(
              rw, loc, RankedTensorType::get(inserted, elt),
              {o.getInput(), constI32(rw, loc, inserted)});
          inserted[dim + 1] = o.getRepeats();
          v = create<kc::BroadcastToOp>(rw, loc,
                                        RankedTensorType::get(inserted, elt),
                                        {v, constI32(rw, loc, inserted)});
          return create<kc::ReshapeOp>(
              rw, loc, type, {v, constI32(rw, loc, shapeOf(o.getResult()))});
        })
        .Case([&](SliceOp o) -> FailureOr<Value> {
          auto in = shapeOf(o.getInput());
          int64_t dim = *normalizeDim(o.getDim(), in.size());
          auto start = getConstantI64(o.getStart()),
               end = getConstantI64(o.getEnd()),
               step = getConstantI64(o.getStep());
          if (!start || !end || !step)
            return o.emitError("slice bounds of tensor '")
                   << tensorName(o.getResult()) << "' are not constant";
          auto clampIndex = [&](int64_t i) {
            if (i < 0)
              i += in[dim];
            return std::clamp<int64_t>(i, 0, in[dim]);
          };
          SmallVector<int64_t> begin(in.size(), 0), stop(in),
              strides(in.size(), 1);
          begin[dim] = clampIndex(*start);
          stop[dim] = std::max(begin[dim], clampIndex(*end));
          strides[dim] = *step;
          return create<kc::StridedSliceOp>(
              rw, loc, type,
              {o.getInput(), constI32(rw, loc, begin), constI32(rw, loc, stop),
               constI32(rw, loc, strides)});
        })
        .Case([&](SelectOp o) -> FailureOr<Value> {
          auto in = shapeOf(o.getInput());
          int64_t dim = *normalizeDim(o.getDim(), in.size());
          auto index = getConstantI64(o.getIndex());
          if (!index)
            return o.emitError("select index of tensor '")
                   << tensorName(o.getResult()) << "' is not constant";
          int64_t i = *normalizeDim(*index, in[dim]);
          SmallVector<int64_t> begin(in.size(), 0), stop(in),
              strides(in.size(), 1);
          begin[dim] = i;
          stop[dim] = i + 1;
          return create<kc::StridedSliceOp>(
              rw, loc, type,
              {o.getInput(), constI32(rw, loc, begin), constI32(rw, loc, stop),
               constI32(rw, loc, strides)},
              {attr("shrink_axis_mask", rw.getI32IntegerAttr(1 << dim))});
        })
        .Case([&](CatOp o) -> FailureOr<Value> {
          int64_t rank = shapeOf(o.getResult()).size();
          return create<kc::ConcatenationOp>(
              rw, loc, type, o.getInputs(),
              {attr("axis",
                    rw.getI32IntegerAttr(*normalizeDim(o.getDim(), rank)))});
        })
        .Case<FakeQuantOp, FakeQuantPerAxisOp>(
            [&](Operation *o) -> FailureOr<Value> {
              return o->emitError("fake quant of tensor '")
                     << tensorName(o->getResult(0))
                     << "' is left: run kiln-fold-fake-quant before lowering";
            })
        .Case<SizeOp, ShapeOp, RankOp, ListGetOp, TupleGetOp, IsNoneOp,
              UncheckedCastOp, FromScalarOp, ListOp, TupleOp, NoneOp, SomeOp>(
            [&](Operation *o) -> FailureOr<Value> {
              if (o->use_empty()) {
                rw.eraseOp(o);
                return Value();
              }
              return o->emitError("'")
                     << o->getName()
                     << "' is left from the unified model: run the export "
                        "adapter before lowering";
            })
        .Default([&](Operation *o) -> FailureOr<Value> {
          return o->emitError("no circle lowering for '")
                 << o->getName() << "'";
        });
  }

  /// (q - zero_point) * scale of a per-axis unsigned constant, as a float
  /// constant; null when the input is anything else.
  static Value dequantizeConstant(IRRewriter &rw, DequantizeOp d) {
    auto q = dyn_cast_or_null<quant::UniformQuantizedPerAxisType>(
        quantOf(d.getInput()));
    ElementsAttr attr;
    if (!q || q.isSigned() || !matchPattern(d.getInput(), m_Constant(&attr)))
      return {};
    auto type = cast<RankedTensorType>(d.getType());
    int64_t axis = q.getQuantizedDimension();
    int64_t inner = 1;
    for (int64_t i = axis + 1; i < type.getRank(); ++i)
      inner *= type.getDimSize(i);
    int64_t channels = type.getDimSize(axis);
    unsigned bytes = std::max(1u, q.getStorageTypeIntegralWidth() / 8);
    auto scales = q.getScales();
    auto zps = q.getZeroPoints();
    std::vector<float> values(type.getNumElements());
    auto fill = [&](int64_t i, uint64_t stored) {
      int64_t c = (i / inner) % channels;
      values[i] = static_cast<float>((static_cast<int64_t>(stored) - zps[c]) *
                                     scales[c]);
    };
    if (auto dense = dyn_cast<DenseIntElementsAttr>(attr)) {
      int64_t i = 0;
      for (const APInt &v : dense.getValues<APInt>())
        fill(i++, v.getZExtValue());
    } else if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
      AsmResourceBlob *blob = resource.getRawHandle().getBlob();
      if (!blob)
        return {};
      ArrayRef<char> data = blob->getData();
      for (int64_t i = 0; i < static_cast<int64_t>(values.size()); ++i) {
        uint64_t v = 0;
        for (unsigned b = 0; b < bytes; ++b)
          v |= static_cast<uint64_t>(static_cast<uint8_t>(data[i * bytes + b]))
               << (8 * b);
        fill(i, v);
      }
    } else {
      return {};
    }
    std::string name = "kiln.dequantized";
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr))
      name = (resource.getRawHandle().getKey() + ".f32").str();
    auto data = DenseResourceElementsAttr::get(
        type, name,
        HeapAsmResourceBlob::allocateAndCopyInferAlign(
            ArrayRef<float>(values)));
    return rw.create<kc::ConstOp>(d.getLoc(), type, data);
  }
};
} // namespace
