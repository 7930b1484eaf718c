//===- CompositeOps.cpp - shape arithmetic and composite ops --------------===//
//
// - Shape arithmetic on 0-d tensors. Traced graphs compute sizes on boxed
//   scalars: aten::Int(aten::floor_divide(prim::NumToTensor(aten::size(x,
//   -1)), 2)). Such ops compute on the i64 scalars (arith), so that they
//   fold with kiln.size once shapes are static.
// - Ops that are compositions of kiln ops: aten::scaled_dot_product_attention
//   (the same ops as eager attention, so that every attention pass sees one
//   form), circle_custom::rms_norm (the aten RMSNorm form the lowering fuses),
//   aten::chunk (slices), aten::stack (unsqueeze + cat).
//
//===----------------------------------------------------------------------===//
#include "ImporterImpl.h"

#include "kiln/Dialect/Kiln/IR/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <limits>

using namespace mlir;
using namespace kiln;
using namespace kiln::torchscript;

using c10::TypeKind;

//===----------------------------------------------------------------------===//
// Boxed scalars
//===----------------------------------------------------------------------===//

Value FunctionImporter::boxedScalar(Entry &e) {
  if (e.kind == Entry::Kind::Value) {
    if (auto boxed = e.value.getDefiningOp<FromScalarOp>())
      return boxed.getScalar();
    return {};
  }
  if (e.kind != Entry::Kind::Constant || !e.ivalue.isTensor())
    return {};
  const at::Tensor &t = e.ivalue.toTensor();
  if (t.dim() != 0)
    return {};
  if (t.is_floating_point())
    return constantF64(t.item<double>());
  if (t.scalar_type() == at::kBool)
    return {};
  return constantI64(t.item<int64_t>());
}

Value FunctionImporter::scalarBinary(llvm::StringRef kind, Value lhs, Value rhs,
                                     Location loc) {
  bool isFloat =
      lhs.getType().isF64() || rhs.getType().isF64() || kind == "div";
  auto toFloat = [&](Value v) -> Value {
    if (v.getType().isF64())
      return v;
    return b.create<arith::SIToFPOp>(loc, b.getF64Type(), v);
  };
  if (isFloat) {
    lhs = toFloat(lhs);
    rhs = toFloat(rhs);
  }
  if (kind == "add")
    return isFloat ? b.create<arith::AddFOp>(loc, lhs, rhs).getResult()
                   : b.create<arith::AddIOp>(loc, lhs, rhs).getResult();
  if (kind == "sub")
    return isFloat ? b.create<arith::SubFOp>(loc, lhs, rhs).getResult()
                   : b.create<arith::SubIOp>(loc, lhs, rhs).getResult();
  if (kind == "mul")
    return isFloat ? b.create<arith::MulFOp>(loc, lhs, rhs).getResult()
                   : b.create<arith::MulIOp>(loc, lhs, rhs).getResult();
  if (kind == "div")
    return b.create<arith::DivFOp>(loc, lhs, rhs);
  if ((kind == "floordiv" || kind == "floor_divide") && !isFloat)
    return b.create<arith::FloorDivSIOp>(loc, lhs, rhs);
  if (kind == "remainder" && !isFloat) {
    // Python's modulo takes the sign of the divisor.
    Value rem = b.create<arith::RemSIOp>(loc, lhs, rhs);
    Value zero = constantI64(0);
    Value remNeg =
        b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, rem, zero);
    Value divNeg =
        b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, rhs, zero);
    Value remNonZero =
        b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne, rem, zero);
    Value signsDiffer = b.create<arith::XOrIOp>(loc, remNeg, divNeg);
    Value fix = b.create<arith::AndIOp>(loc, remNonZero, signsDiffer);
    Value adjusted = b.create<arith::AddIOp>(loc, rem, rhs);
    return b.create<arith::SelectOp>(loc, fix, adjusted, rem);
  }
  return {};
}

FailureOr<bool> FunctionImporter::tryBoxedArith(TSNode *n, Frame &f,
                                                llvm::StringRef kind) {
  if (n->inputs().size() < 2)
    return false;
  Value lhs = boxedScalar(input(n, f, 0));
  if (!lhs)
    return false;
  // The other operand is a boxed scalar or a plain number.
  Value rhs;
  if (isTensorInput(n, 1)) {
    rhs = boxedScalar(input(n, f, 1));
  } else {
    TypeKind k = n->input(1)->type()->kind();
    if (k == TypeKind::IntType || k == TypeKind::FloatType ||
        k == TypeKind::NumberType) {
      auto v = materialize(input(n, f, 1), locOf(n, f));
      if (failed(v))
        return failure();
      rhs = *v;
    }
  }
  if (!rhs || !(rhs.getType().isInteger(64) || rhs.getType().isF64()))
    return false;
  // An add/sub with alpha != 1 is left to the tensor path.
  if ((kind == "add" || kind == "sub") && n->inputs().size() == 3) {
    std::optional<double> alpha = constDouble(n, f, 2);
    if (!alpha || *alpha != 1.0)
      return false;
  }
  if (kind == "div" && n->inputs().size() == 3 && !isNoneOperand(n, f, 2))
    return false; // rounding modes go through the tensor path's diagnostic
  Location loc = locOf(n, f);
  Value r = scalarBinary(kind, lhs, rhs, loc);
  if (!r)
    return false;
  setOutput(
      n, f, 0,
      b.create<FromScalarOp>(loc, RankedTensorType::get({}, r.getType()), r)
          .getResult());
  return true;
}

LogicalResult FunctionImporter::convertFloorDivide(TSNode *n, Frame &f) {
  auto boxed = tryBoxedArith(n, f, "floor_divide");
  if (failed(boxed))
    return failure();
  if (*boxed)
    return success();
  return error(n, f) << "aten::floor_divide is only supported on sizes "
                        "(0-d integer tensors computed from aten::size)";
}

//===----------------------------------------------------------------------===//
// Composite ops
//===----------------------------------------------------------------------===//

LogicalResult FunctionImporter::convertScaledDotProductAttention(TSNode *n,
                                                                 Frame &f) {
  // (query, key, value, attn_mask=None, dropout_p=0., is_causal=False, *,
  //  scale=None, enable_gqa=False)
  auto q = tensorOperand(n, f, 0), k = tensorOperand(n, f, 1),
       v = tensorOperand(n, f, 2);
  if (failed(q) || failed(k) || failed(v))
    return failure();
  unsigned count = n->inputs().size();
  std::optional<double> dropout = count > 4 ? constDouble(n, f, 4) : 0.0;
  if (!dropout || *dropout != 0.0)
    return error(n, f) << "aten::scaled_dot_product_attention with dropout "
                          "is not supported (inference graphs have "
                          "dropout_p=0)";
  std::optional<bool> causal = count > 5 ? constBool(n, f, 5) : false;
  if (!causal)
    return error(n, f) << "is_causal of aten::scaled_dot_product_attention "
                          "must be a constant";
  std::optional<bool> gqa = count > 7 ? constBool(n, f, 7) : false;
  if (!gqa)
    return error(n, f) << "enable_gqa of aten::scaled_dot_product_attention "
                          "must be a constant";
  Location loc = locOf(n, f);
  Type elt = elementTypeOf(*q);
  Type type = unrankedOf(elt);
  Value key = *k, value = *v;
  if (*gqa) {
    // Each KV head serves heads / kv_heads query heads: the repeat_kv form
    // ([B, kv, 1, S, D] expanded to [B, kv, G, S, D], viewed as [B, H, S,
    // D]) that the attention passes know.
    Value heads = b.create<SizeOp>(loc, b.getI64Type(), *q, constantI64(-3));
    auto repeat = [&](Value x) {
      Value kvHeads = b.create<SizeOp>(loc, b.getI64Type(), x, constantI64(-3));
      Value groups = b.create<arith::FloorDivSIOp>(loc, heads, kvHeads);
      Value batch = b.create<SizeOp>(loc, b.getI64Type(), x, constantI64(0));
      Value len = b.create<SizeOp>(loc, b.getI64Type(), x, constantI64(-2));
      Value dim = b.create<SizeOp>(loc, b.getI64Type(), x, constantI64(-1));
      Value one =
          finish(b.create<UnsqueezeOp>(loc, type, x, b.getI64IntegerAttr(2)));
      Value wide = finish(b.create<ExpandOp>(
          loc, type, one, ValueRange{batch, kvHeads, groups, len, dim}));
      return finish(b.create<ReshapeOp>(loc, type, wide,
                                        ValueRange{batch, heads, len, dim}));
    };
    key = repeat(key);
    value = repeat(value);
  }
  Value keyT = finish(b.create<TransposeOp>(
      loc, type, key, b.getI64IntegerAttr(-2), b.getI64IntegerAttr(-1)));
  Value scores = finish(b.create<MatmulOp>(loc, type, *q, keyT));
  Value scale;
  if (count > 6 && !isNoneOperand(n, f, 6)) {
    std::optional<double> s = constDouble(n, f, 6);
    if (!s)
      return error(n, f) << "the scale of aten::scaled_dot_product_attention "
                            "must be a constant";
    scale = scalarTensorConstant(*s, elt);
  } else {
    // 1 / sqrt(head_dim), from the query's last dimension.
    Value d = b.create<SizeOp>(loc, b.getI64Type(), *q, constantI64(-1));
    Value df = b.create<arith::SIToFPOp>(loc, b.getF64Type(), d);
    Value boxed = b.create<FromScalarOp>(
        loc, RankedTensorType::get({}, b.getF64Type()), df);
    Value asElt =
        finish(b.create<CastOp>(loc, RankedTensorType::get({}, elt), boxed));
    scale =
        finish(b.create<RsqrtOp>(loc, RankedTensorType::get({}, elt), asElt));
  }
  scores = finish(b.create<MulOp>(loc, type, scores, scale));
  if (count > 3 && !isNoneOperand(n, f, 3)) {
    auto mask = tensorOperand(n, f, 3);
    if (failed(mask))
      return failure();
    if (elementTypeOf(*mask).isInteger(1)) {
      Value ninf =
          scalarTensorConstant(-std::numeric_limits<double>::infinity(), elt);
      scores = finish(b.create<WhereOp>(loc, type, *mask, scores, ninf));
    } else {
      scores = finish(b.create<AddOp>(loc, type, scores, *mask));
    }
  }
  if (*causal) {
    // PyTorch's is_causal: query i sees keys 0..i (top-left aligned).
    Value l = b.create<SizeOp>(loc, b.getI64Type(), *q, constantI64(-2));
    Value s = b.create<SizeOp>(loc, b.getI64Type(), key, constantI64(-2));
    Value mask = finish(b.create<CausalMaskOp>(
        loc,
        RankedTensorType::get({ShapedType::kDynamic, ShapedType::kDynamic},
                              elt),
        l, s));
    scores = finish(b.create<AddOp>(loc, type, scores, mask));
  }
  Value probs =
      finish(b.create<SoftmaxOp>(loc, type, scores, b.getI64IntegerAttr(-1)));
  setOutput(n, f, 0, finish(b.create<MatmulOp>(loc, type, probs, value)));
  return success();
}

LogicalResult FunctionImporter::convertRmsNorm(TSNode *n, Frame &f) {
  // circle_custom::rms_norm(hidden_states, weight, eps=1e-06)
  //   = weight * (x * rsqrt(mean(x^2, -1, keepdim) + eps))
  auto x = tensorOperand(n, f, 0), w = tensorOperand(n, f, 1);
  if (failed(x) || failed(w))
    return failure();
  std::optional<double> eps =
      n->inputs().size() > 2 ? constDouble(n, f, 2) : 1e-6;
  if (!eps)
    return error(n, f) << "the eps of circle_custom::rms_norm must be a "
                          "constant";
  Location loc = locOf(n, f);
  Type elt = elementTypeOf(*x);
  Type type = unrankedOf(elt);
  Value sq =
      finish(b.create<PowOp>(loc, type, *x, scalarTensorConstant(2.0, elt)));
  Value var = finish(b.create<MeanOp>(
      loc, type, sq, b.getDenseI64ArrayAttr({-1}), b.getBoolAttr(true)));
  Value shifted =
      finish(b.create<AddOp>(loc, type, var, scalarTensorConstant(*eps, elt)));
  Value inv = finish(b.create<RsqrtOp>(loc, type, shifted));
  Value normed = finish(b.create<MulOp>(loc, type, *x, inv));
  setOutput(n, f, 0, finish(b.create<MulOp>(loc, type, *w, normed)));
  return success();
}

LogicalResult FunctionImporter::convertChunk(TSNode *n, Frame &f) {
  // aten::chunk(x, chunks, dim) -> list of `chunks` slices (the last may be
  // shorter); every use unpacks it (prim::ListUnpack).
  auto x = tensorOperand(n, f, 0);
  auto chunks = requireConstInt(n, f, 1, "number of chunks");
  if (failed(x) || failed(chunks))
    return failure();
  if (*chunks < 1)
    return error(n, f) << "aten::chunk into " << *chunks << " chunks";
  auto dimOr = optionalConstInt(n, f, 2, 0, "dimension");
  if (failed(dimOr))
    return failure();
  int64_t dim = *dimOr;
  Location loc = locOf(n, f);
  Value size = b.create<SizeOp>(loc, b.getI64Type(), *x, constantI64(dim));
  // chunk size = ceil(size / chunks)
  Value c = constantI64(*chunks);
  Value step = b.create<arith::FloorDivSIOp>(
      loc, b.create<arith::AddIOp>(loc, size, constantI64(*chunks - 1)), c);
  Entry list;
  list.kind = Entry::Kind::Aggregate;
  list.isList = true;
  list.tsType = n->output()->type();
  Type type = unrankedOf(elementTypeOf(*x));
  for (int64_t i = 0; i < *chunks; ++i) {
    Value start = b.create<arith::MulIOp>(loc, step, constantI64(i));
    Value end = b.create<arith::MulIOp>(loc, step, constantI64(i + 1));
    list.elements.push_back(Entry::ofValue(finish(b.create<SliceOp>(
        loc, type, *x, b.getI64IntegerAttr(dim), start, end, constantI64(1)))));
  }
  setOutput(n, f, 0, list);
  return success();
}

LogicalResult FunctionImporter::convertStack(TSNode *n, Frame &f) {
  auto inputs = tensorListOperands(n, f, 0);
  if (failed(inputs))
    return failure();
  if (inputs->empty())
    return error(n, f) << "aten::stack of an empty list";
  auto dimOr = optionalConstInt(n, f, 1, 0, "dimension");
  if (failed(dimOr))
    return failure();
  int64_t dim = *dimOr;
  Location loc = locOf(n, f);
  Type elt = elementTypeOf(inputs->front());
  SmallVector<Value> expanded;
  for (Value v : *inputs) {
    if (elementTypeOf(v) != elt)
      return error(n, f) << "aten::stack of tensors with different dtypes";
    expanded.push_back(finish(b.create<UnsqueezeOp>(loc, unrankedOf(elt), v,
                                                    b.getI64IntegerAttr(dim))));
  }
  setOutput(n, f, 0,
            finish(b.create<CatOp>(loc, unrankedOf(elt), expanded,
                                   b.getI64IntegerAttr(dim))));
  return success();
}
