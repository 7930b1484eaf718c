//===- KilnOps.cpp - kiln op verifiers, folders and shape inference -------===//
//
// Every shape rule lives in one `inferResultType` per op; verifiers check the
// op's own constraints and then that the declared result type is compatible
// with what inference says, so shape rules are never written twice.
//
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/Kiln/IR/KilnOps.h"

#include "kiln/Dialect/Common/ConstantFormat.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace kiln;

static constexpr int64_t kDyn = ShapedType::kDynamic;

#include "kiln/Dialect/Kiln/KilnInterfaces.cpp.inc"

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

std::optional<int64_t> kiln::normalizeDim(int64_t dim, int64_t rank) {
  if (dim < 0)
    dim += rank;
  if (dim < 0 || dim >= rank)
    return std::nullopt;
  return dim;
}

FailureOr<SmallVector<int64_t>> kiln::broadcastShapes(ArrayRef<int64_t> a,
                                                      ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == 1)
      out[i] = db;
    else if (db == 1)
      out[i] = da;
    else if (da == kDyn)
      out[i] = db;
    else if (db == kDyn || da == db)
      out[i] = da;
    else
      return failure();
  }
  return out;
}

std::optional<int64_t> kiln::getConstantI64(Value v) {
  APInt value;
  if (v && matchPattern(v, m_ConstantInt(&value)))
    return value.getSExtValue();
  return std::nullopt;
}

RankedTensorType kiln::getStaticTensorType(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.hasStaticShape() ? t : RankedTensorType();
}

std::string kiln::getLocName(Location loc) {
  std::string name;
  loc->walk([&](Location l) {
    if (auto n = dyn_cast<NameLoc>(l)) {
      name = n.getName().str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return name;
}

static RankedTensorType rankedOrNull(Value v) {
  return dyn_cast<RankedTensorType>(v.getType());
}

/// A ranked tensor type with `shape` and the element type of `like`.
static Type withShape(Value like, ArrayRef<int64_t> shape) {
  // Sizes computed from invalid operands (negative) are unknown here; the
  // op's verifier reports them.
  SmallVector<int64_t> dims(shape);
  for (int64_t &d : dims)
    if (d < 0)
      d = kDyn;
  return RankedTensorType::get(dims, getElementTypeOrSelf(like.getType()));
}

static std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (i)
      s += ", ";
    s += d == kDyn ? "?" : std::to_string(d);
  }
  return s + "]";
}

/// Checks the declared result type against the inferred one.
static LogicalResult verifyInferred(Operation *op) {
  auto iface = cast<ShapeInferenceOpInterface>(op);
  Type inferred = iface.inferResultType();
  auto actual = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  auto expected = dyn_cast_or_null<RankedTensorType>(inferred);
  if (!actual || !expected)
    return success();
  if (failed(verifyCompatibleShape(actual.getShape(), expected.getShape())))
    return op->emitOpError("result shape ")
           << shapeStr(actual.getShape())
           << " is incompatible with inferred shape "
           << shapeStr(expected.getShape());
  return success();
}

//===----------------------------------------------------------------------===//
// Non-tensor values
//===----------------------------------------------------------------------===//

LogicalResult ConstantOp::verify() {
  auto attrType = cast<ShapedType>(getValue().getType());
  auto resultType = getType();
  if (resultType.hasRank() && attrType.hasRank() &&
      resultType.getShape() != attrType.getShape())
    return emitOpError("value shape ")
           << shapeStr(attrType.getShape()) << " differs from result shape "
           << shapeStr(resultType.getShape());
  Type resultElt = resultType.getElementType();
  Type attrElt = attrType.getElementType();
  if (resultElt == attrElt)
    return success();
  if (auto q = dyn_cast<quant::QuantizedType>(resultElt)) {
    auto storage = dyn_cast<IntegerType>(attrElt);
    if (storage && storage.getWidth() == q.getStorageTypeIntegralWidth())
      return success();
    return emitOpError("quantized result needs integer storage of width ")
           << q.getStorageTypeIntegralWidth() << ", got " << attrElt;
  }
  return emitOpError("value element type ")
         << attrElt << " differs from result element type " << resultElt;
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

ParseResult ConstantOp::parse(OpAsmParser &parser, OperationState &result) {
  return kiln::parseConstantOp(parser, result);
}

void ConstantOp::print(OpAsmPrinter &p) {
  kiln::printConstantOp(p, *this, getValue());
}

OpFoldResult NoneOp::fold(FoldAdaptor) { return UnitAttr::get(getContext()); }

LogicalResult SomeOp::verify() {
  if (getType().getElementType() != getValue().getType())
    return emitOpError("wraps ")
           << getValue().getType() << " into " << getType();
  return success();
}

OpFoldResult IsNoneOp::fold(FoldAdaptor) {
  Type t = getValue().getType();
  auto boolAttr = [&](bool b) { return BoolAttr::get(getContext(), b); };
  if (isa<NoneType>(t) || getValue().getDefiningOp<NoneOp>())
    return boolAttr(true);
  if (!isa<OptionalType>(t) || getValue().getDefiningOp<SomeOp>())
    return boolAttr(false);
  return {};
}

OpFoldResult UncheckedCastOp::fold(FoldAdaptor) {
  if (getValue().getType() == getType())
    return getValue();
  if (auto some = getValue().getDefiningOp<SomeOp>())
    if (some.getValue().getType() == getType())
      return some.getValue();
  return {};
}

LogicalResult TupleOp::verify() {
  if (!llvm::equal(getType().getTypes(), getElements().getTypes()))
    return emitOpError("result type does not match element types");
  return success();
}

LogicalResult TupleGetOp::verify() {
  auto types = getTuple().getType().getTypes();
  int64_t index = getIndex();
  if (index < 0 || index >= static_cast<int64_t>(types.size()))
    return emitOpError("index ")
           << index << " out of range for a tuple of " << types.size();
  if (types[index] != getType())
    return emitOpError("result type ")
           << getType() << " differs from element " << types[index];
  return success();
}

OpFoldResult TupleGetOp::fold(FoldAdaptor) {
  if (auto tuple = getTuple().getDefiningOp<TupleOp>())
    return tuple.getElements()[getIndex()];
  return {};
}

LogicalResult ListOp::verify() {
  Type elt = getType().getElementType();
  for (Value v : getElements())
    if (v.getType() != elt)
      return emitOpError("element of type ")
             << v.getType() << " in a list of " << elt;
  return success();
}

OpFoldResult ListGetOp::fold(FoldAdaptor) {
  std::optional<int64_t> index = getConstantI64(getIndex());
  if (!index)
    return {};
  if (auto list = getList().getDefiningOp<ListOp>()) {
    auto pos = normalizeDim(*index, list.getElements().size());
    if (pos && list.getElements()[*pos].getType() == getType())
      return list.getElements()[*pos];
  }
  if (auto shape = getList().getDefiningOp<ShapeOp>())
    if (auto t = rankedOrNull(shape.getInput()))
      if (auto pos = normalizeDim(*index, t.getRank()))
        if (!t.isDynamicDim(*pos))
          return IntegerAttr::get(getType(), t.getDimSize(*pos));
  return {};
}

LogicalResult ListAppendOp::verify() {
  Type elt = getList().getType().getElementType();
  if (getValue().getType() != elt)
    return emitOpError("appends ")
           << getValue().getType() << " to a list of " << elt;
  return success();
}

LogicalResult ListAppendOp::canonicalize(ListAppendOp op,
                                         PatternRewriter &rewriter) {
  auto list = op.getList().getDefiningOp<ListOp>();
  if (!list)
    return failure();
  SmallVector<Value> elements(list.getElements());
  elements.push_back(op.getValue());
  rewriter.replaceOpWithNewOp<ListOp>(op, op.getType(), elements);
  return success();
}

OpFoldResult SizeOp::fold(FoldAdaptor) {
  auto t = rankedOrNull(getInput());
  std::optional<int64_t> dim = getConstantI64(getDim());
  if (!t || !dim)
    return {};
  auto pos = normalizeDim(*dim, t.getRank());
  if (!pos || t.isDynamicDim(*pos))
    return {};
  return IntegerAttr::get(getType(), t.getDimSize(*pos));
}

OpFoldResult RankOp::fold(FoldAdaptor) {
  if (auto t = rankedOrNull(getInput()))
    return IntegerAttr::get(getType(), t.getRank());
  return {};
}

OpFoldResult FromScalarOp::fold(FoldAdaptor adaptor) {
  auto type = cast<ShapedType>(getType());
  Type elt = type.getElementType();
  if (auto i = dyn_cast_or_null<IntegerAttr>(adaptor.getScalar())) {
    if (auto ft = dyn_cast<FloatType>(elt))
      return DenseElementsAttr::get(
          type,
          FloatAttr::get(ft, static_cast<double>(i.getValue().getSExtValue()))
              .getValue());
    if (auto it = dyn_cast<IntegerType>(elt))
      return DenseElementsAttr::get(
          type, APInt(it.getWidth(), i.getValue().getSExtValue(), true));
  }
  if (auto f = dyn_cast_or_null<FloatAttr>(adaptor.getScalar()))
    if (auto ft = dyn_cast<FloatType>(elt))
      return DenseElementsAttr::get(
          type, FloatAttr::get(ft, f.getValueAsDouble()).getValue());
  return {};
}

Type CausalMaskOp::inferResultType() {
  SmallVector<int64_t> shape(2, kDyn);
  if (auto l = getConstantI64(getQueries()); l && *l >= 0)
    shape[0] = *l;
  if (auto s = getConstantI64(getKeys()); s && *s >= 0)
    shape[1] = *s;
  return withShape(getResult(), shape);
}

LogicalResult CausalMaskOp::verify() {
  for (Value v : {getQueries(), getKeys()})
    if (auto c = getConstantI64(v); c && *c < 0)
      return emitOpError("negative size ") << *c;
  if (auto r = dyn_cast<RankedTensorType>(getType()); r && r.getRank() != 2)
    return emitOpError("result must be 2-d, got rank ") << r.getRank();
  return verifyInferred(*this);
}

OpFoldResult CausalMaskOp::fold(FoldAdaptor) {
  auto t = dyn_cast<RankedTensorType>(getType());
  if (!t || !t.hasStaticShape() || t.getNumElements() > (int64_t(1) << 24))
    return {};
  auto ft = cast<FloatType>(t.getElementType());
  int64_t l = t.getDimSize(0), s = t.getDimSize(1);
  APFloat zero = APFloat::getZero(ft.getFloatSemantics());
  APFloat ninf = APFloat::getInf(ft.getFloatSemantics(), /*Negative=*/true);
  SmallVector<APFloat> values;
  values.reserve(l * s);
  for (int64_t i = 0; i < l; ++i)
    for (int64_t j = 0; j < s; ++j)
      values.push_back(j <= i ? zero : ninf);
  return DenseElementsAttr::get(t, values);
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

template <typename Op> static Type inferBroadcast(Op op, ValueRange operands) {
  SmallVector<int64_t> shape;
  for (Value v : operands) {
    auto t = rankedOrNull(v);
    if (!t)
      return {};
    auto b = broadcastShapes(shape, t.getShape());
    if (failed(b))
      return {};
    shape = *b;
  }
  return withShape(op.getResult(), shape);
}

static LogicalResult verifyBroadcastable(Operation *op, ValueRange operands) {
  SmallVector<int64_t> shape;
  for (Value v : operands) {
    auto t = rankedOrNull(v);
    if (!t)
      return success();
    auto b = broadcastShapes(shape, t.getShape());
    if (failed(b))
      return op->emitOpError("operands are not broadcast-compatible: ")
             << shapeStr(shape) << " and " << shapeStr(t.getShape());
    shape = *b;
  }
  return verifyInferred(op);
}

#define KILN_BINARY(OP)                                                        \
  Type OP::inferResultType() {                                                 \
    return inferBroadcast(*this, getOperation()->getOperands());               \
  }                                                                            \
  LogicalResult OP::verify() {                                                 \
    return verifyBroadcastable(getOperation(), getOperation()->getOperands()); \
  }
KILN_BINARY(AddOp)
KILN_BINARY(SubOp)
KILN_BINARY(MulOp)
KILN_BINARY(DivOp)
KILN_BINARY(PowOp)
KILN_BINARY(WhereOp)
#undef KILN_BINARY

#define KILN_SAME_SHAPE(OP)                                                    \
  Type OP::inferResultType() {                                                 \
    auto t = rankedOrNull(getInput());                                         \
    return t ? withShape(getResult(), t.getShape()) : Type();                  \
  }
KILN_SAME_SHAPE(NegOp)
KILN_SAME_SHAPE(RsqrtOp)
KILN_SAME_SHAPE(SiluOp)
KILN_SAME_SHAPE(SigmoidOp)
KILN_SAME_SHAPE(CastOp)
KILN_SAME_SHAPE(SoftmaxOp)
KILN_SAME_SHAPE(FakeQuantOp)
KILN_SAME_SHAPE(FakeQuantPerAxisOp)
#undef KILN_SAME_SHAPE

LogicalResult NegOp::verify() { return verifyInferred(*this); }
LogicalResult RsqrtOp::verify() { return verifyInferred(*this); }
LogicalResult SiluOp::verify() { return verifyInferred(*this); }
LogicalResult SigmoidOp::verify() { return verifyInferred(*this); }
LogicalResult CastOp::verify() { return verifyInferred(*this); }

OpFoldResult CastOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

//===----------------------------------------------------------------------===//
// Contractions and reductions
//===----------------------------------------------------------------------===//

Type LinearOp::inferResultType() {
  auto x = rankedOrNull(getInput());
  auto w = rankedOrNull(getWeight());
  if (!x || x.getRank() < 1)
    return {};
  SmallVector<int64_t> shape(x.getShape());
  shape.back() = w && w.getRank() == 2 ? w.getDimSize(0) : kDyn;
  return withShape(getResult(), shape);
}

LogicalResult LinearOp::verify() {
  auto x = rankedOrNull(getInput());
  auto w = rankedOrNull(getWeight());
  if (w && w.getRank() != 2)
    return emitOpError("weight must be [out_features, in_features], got rank ")
           << w.getRank();
  if (x && x.getRank() < 1)
    return emitOpError("input must have rank >= 1");
  if (x && w && x.getShape().back() != kDyn && w.getDimSize(1) != kDyn &&
      x.getShape().back() != w.getDimSize(1))
    return emitOpError("input features ")
           << x.getShape().back() << " differ from weight in_features "
           << w.getDimSize(1);
  if (getBias())
    if (auto b = rankedOrNull(getBias()))
      if (b.getRank() != 1 ||
          (w && b.getDimSize(0) != kDyn && w.getDimSize(0) != kDyn &&
           b.getDimSize(0) != w.getDimSize(0)))
        return emitOpError("bias must be [out_features]");
  return verifyInferred(*this);
}

/// [.., M, K] x [.., K, N] with adjoints; returns failure on a mismatch.
static FailureOr<SmallVector<int64_t>> matmulShape(RankedTensorType a,
                                                   RankedTensorType b,
                                                   bool adjX, bool adjY,
                                                   std::string &why) {
  if (a.getRank() < 2 || b.getRank() < 2) {
    why = "operands must have rank >= 2";
    return failure();
  }
  int64_t m = a.getDimSize(a.getRank() - (adjX ? 1 : 2));
  int64_t ka = a.getDimSize(a.getRank() - (adjX ? 2 : 1));
  int64_t kb = b.getDimSize(b.getRank() - (adjY ? 1 : 2));
  int64_t n = b.getDimSize(b.getRank() - (adjY ? 2 : 1));
  if (ka != kDyn && kb != kDyn && ka != kb) {
    why = "contracting dimensions differ: " + std::to_string(ka) + " vs " +
          std::to_string(kb);
    return failure();
  }
  auto batch =
      broadcastShapes(a.getShape().drop_back(2), b.getShape().drop_back(2));
  if (failed(batch)) {
    why = "batch dimensions are not broadcast-compatible";
    return failure();
  }
  SmallVector<int64_t> shape = *batch;
  shape.push_back(m);
  shape.push_back(n);
  return shape;
}

Type MatmulOp::inferResultType() {
  auto a = rankedOrNull(getLhs());
  auto b = rankedOrNull(getRhs());
  if (!a || !b)
    return {};
  std::string why;
  auto shape = matmulShape(a, b, getAdjX(), getAdjY(), why);
  return succeeded(shape) ? withShape(getResult(), *shape) : Type();
}

LogicalResult MatmulOp::verify() {
  auto a = rankedOrNull(getLhs());
  auto b = rankedOrNull(getRhs());
  if (a && b) {
    std::string why;
    if (failed(matmulShape(a, b, getAdjX(), getAdjY(), why)))
      return emitOpError(why);
  }
  return verifyInferred(*this);
}

Type MeanOp::inferResultType() {
  auto t = rankedOrNull(getInput());
  if (!t)
    return {};
  llvm::SmallSet<int64_t, 4> reduced;
  for (int64_t d : getDims())
    if (auto pos = normalizeDim(d, t.getRank()))
      reduced.insert(*pos);
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < t.getRank(); ++i) {
    if (!reduced.contains(i))
      shape.push_back(t.getDimSize(i));
    else if (getKeepDims())
      shape.push_back(1);
  }
  return withShape(getResult(), shape);
}

LogicalResult MeanOp::verify() {
  if (getDims().empty())
    return emitOpError("needs at least one dimension to reduce");
  if (auto t = rankedOrNull(getInput())) {
    llvm::SmallSet<int64_t, 4> seen;
    for (int64_t d : getDims()) {
      auto pos = normalizeDim(d, t.getRank());
      if (!pos)
        return emitOpError("dimension ")
               << d << " out of range for rank " << t.getRank();
      if (!seen.insert(*pos).second)
        return emitOpError("dimension ") << d << " repeated";
    }
  }
  return verifyInferred(*this);
}

LogicalResult SoftmaxOp::verify() {
  if (auto t = rankedOrNull(getInput()))
    if (!normalizeDim(getDim(), t.getRank()))
      return emitOpError("dimension ")
             << getDim() << " out of range for rank " << t.getRank();
  return verifyInferred(*this);
}

Type EmbeddingOp::inferResultType() {
  auto w = rankedOrNull(getWeight());
  auto idx = rankedOrNull(getIndices());
  if (!idx)
    return {};
  SmallVector<int64_t> shape(idx.getShape());
  shape.push_back(w && w.getRank() == 2 ? w.getDimSize(1) : kDyn);
  return withShape(getResult(), shape);
}

LogicalResult EmbeddingOp::verify() {
  if (auto w = rankedOrNull(getWeight()))
    if (w.getRank() != 2)
      return emitOpError("weight must be [num_embeddings, embedding_dim]");
  return verifyInferred(*this);
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

/// Static sizes of a reshape/expand operand list (kDyn where not constant).
static SmallVector<int64_t> constantSizes(ValueRange sizes) {
  SmallVector<int64_t> out;
  for (Value v : sizes)
    out.push_back(getConstantI64(v).value_or(kDyn));
  return out;
}

Type ReshapeOp::inferResultType() {
  SmallVector<int64_t> shape = constantSizes(getSizes());
  int64_t inferIdx = -1, known = 1;
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (d == -1) {
      inferIdx = i;
    } else if (d == kDyn || d < 0) {
      d = kDyn; // unknown, or invalid (the verifier reports it)
      known = kDyn;
    } else if (known != kDyn) {
      if (d != 0 && known > std::numeric_limits<int64_t>::max() / d)
        known = kDyn;
      else
        known *= d;
    }
  }
  if (inferIdx >= 0) {
    auto t = rankedOrNull(getInput());
    if (t && t.hasStaticShape() && known != kDyn && known > 0)
      shape[inferIdx] = t.getNumElements() / known;
    else
      shape[inferIdx] = kDyn;
  }
  return withShape(getResult(), shape);
}

LogicalResult ReshapeOp::verify() {
  SmallVector<int64_t> sizes = constantSizes(getSizes());
  if (llvm::count(sizes, -1) > 1)
    return emitOpError("at most one size may be -1");
  for (int64_t d : sizes)
    if (d != kDyn && d < -1)
      return emitOpError("invalid size ") << d;
  auto t = rankedOrNull(getInput());
  if (t && t.hasStaticShape() &&
      llvm::none_of(sizes, [](int64_t d) { return d == kDyn || d == -1; })) {
    int64_t n = 1;
    for (int64_t d : sizes)
      n *= d;
    if (n != t.getNumElements())
      return emitOpError("cannot view ")
             << shapeStr(t.getShape()) << " as " << shapeStr(sizes);
  }
  if (auto r = dyn_cast<RankedTensorType>(getType()))
    if (r.getRank() != static_cast<int64_t>(sizes.size()))
      return emitOpError("result rank ")
             << r.getRank() << " differs from " << sizes.size() << " sizes";
  return verifyInferred(*this);
}

Type TransposeOp::inferResultType() {
  auto t = rankedOrNull(getInput());
  if (!t)
    return {};
  auto d0 = normalizeDim(getDim0(), t.getRank());
  auto d1 = normalizeDim(getDim1(), t.getRank());
  if (!d0 || !d1)
    return {};
  SmallVector<int64_t> shape(t.getShape());
  std::swap(shape[*d0], shape[*d1]);
  return withShape(getResult(), shape);
}

LogicalResult TransposeOp::verify() {
  if (auto t = rankedOrNull(getInput()))
    if (!normalizeDim(getDim0(), t.getRank()) ||
        !normalizeDim(getDim1(), t.getRank()))
      return emitOpError("dimensions out of range for rank ") << t.getRank();
  return verifyInferred(*this);
}

Type PermuteOp::inferResultType() {
  auto t = rankedOrNull(getInput());
  if (!t || static_cast<int64_t>(getPermutation().size()) != t.getRank())
    return {};
  SmallVector<int64_t> shape;
  for (int64_t p : getPermutation()) {
    auto pos = normalizeDim(p, t.getRank());
    if (!pos)
      return {};
    shape.push_back(t.getDimSize(*pos));
  }
  return withShape(getResult(), shape);
}

LogicalResult PermuteOp::verify() {
  int64_t n = getPermutation().size();
  if (auto t = rankedOrNull(getInput()))
    if (t.getRank() != n)
      return emitOpError("permutation of ")
             << n << " dims for rank " << t.getRank();
  llvm::SmallSet<int64_t, 8> seen;
  for (int64_t p : getPermutation()) {
    auto pos = normalizeDim(p, n);
    if (!pos || !seen.insert(*pos).second)
      return emitOpError("is not a permutation");
  }
  return verifyInferred(*this);
}

Type UnsqueezeOp::inferResultType() {
  auto t = rankedOrNull(getInput());
  if (!t)
    return {};
  auto pos = normalizeDim(getDim(), t.getRank() + 1);
  if (!pos)
    return {};
  SmallVector<int64_t> shape(t.getShape());
  shape.insert(shape.begin() + *pos, 1);
  return withShape(getResult(), shape);
}

LogicalResult UnsqueezeOp::verify() {
  if (auto t = rankedOrNull(getInput()))
    if (!normalizeDim(getDim(), t.getRank() + 1))
      return emitOpError("dimension ") << getDim() << " out of range";
  return verifyInferred(*this);
}

Type SqueezeOp::inferResultType() {
  auto t = rankedOrNull(getInput());
  if (!t)
    return {};
  auto pos = normalizeDim(getDim(), t.getRank());
  if (!pos || t.isDynamicDim(*pos))
    return {};
  SmallVector<int64_t> shape(t.getShape());
  // aten::squeeze(x, dim) leaves x unchanged when that dim is not 1.
  if (shape[*pos] == 1)
    shape.erase(shape.begin() + *pos);
  return withShape(getResult(), shape);
}

LogicalResult SqueezeOp::verify() {
  if (auto t = rankedOrNull(getInput()))
    if (t.getRank() > 0 && !normalizeDim(getDim(), t.getRank()))
      return emitOpError("dimension ") << getDim() << " out of range";
  return verifyInferred(*this);
}

Type ExpandOp::inferResultType() {
  auto t = rankedOrNull(getInput());
  SmallVector<int64_t> sizes = constantSizes(getSizes());
  int64_t lead = t ? static_cast<int64_t>(sizes.size()) - t.getRank() : 0;
  for (auto [i, d] : llvm::enumerate(sizes)) {
    if (d != -1)
      continue;
    int64_t src = static_cast<int64_t>(i) - lead;
    d = t && src >= 0 ? t.getDimSize(src) : kDyn;
  }
  return withShape(getResult(), sizes);
}

LogicalResult ExpandOp::verify() {
  SmallVector<int64_t> sizes = constantSizes(getSizes());
  if (auto t = rankedOrNull(getInput())) {
    int64_t lead = static_cast<int64_t>(sizes.size()) - t.getRank();
    if (lead < 0)
      return emitOpError("cannot expand rank ")
             << t.getRank() << " to " << sizes.size() << " sizes";
    for (int64_t i = 0; i < t.getRank(); ++i) {
      int64_t src = t.getDimSize(i), dst = sizes[i + lead];
      if (src != kDyn && src != 1 && dst != kDyn && dst != -1 && dst != src)
        return emitOpError("cannot expand ")
               << shapeStr(t.getShape()) << " to " << shapeStr(sizes);
    }
  }
  return verifyInferred(*this);
}

Type RepeatInterleaveOp::inferResultType() {
  auto t = rankedOrNull(getInput());
  if (!t)
    return {};
  auto pos = normalizeDim(getDim(), t.getRank());
  if (!pos)
    return {};
  SmallVector<int64_t> shape(t.getShape());
  if (shape[*pos] != kDyn)
    shape[*pos] *= getRepeats();
  return withShape(getResult(), shape);
}

LogicalResult RepeatInterleaveOp::verify() {
  if (getRepeats() < 1)
    return emitOpError("repeats must be positive, got ") << getRepeats();
  if (auto t = rankedOrNull(getInput()))
    if (!normalizeDim(getDim(), t.getRank()))
      return emitOpError("dimension ") << getDim() << " out of range";
  return verifyInferred(*this);
}

/// Python slice semantics on a dimension of size `size`.
static int64_t sliceLength(int64_t size, int64_t start, int64_t end,
                           int64_t step) {
  auto clampIndex = [&](int64_t i) {
    if (i < 0)
      i += size;
    return std::clamp<int64_t>(i, 0, size);
  };
  int64_t s = clampIndex(start), e = clampIndex(end);
  return e <= s ? 0 : (e - s + step - 1) / step;
}

Type SliceOp::inferResultType() {
  auto t = rankedOrNull(getInput());
  if (!t)
    return {};
  auto pos = normalizeDim(getDim(), t.getRank());
  if (!pos)
    return {};
  SmallVector<int64_t> shape(t.getShape());
  auto start = getConstantI64(getStart()), end = getConstantI64(getEnd()),
       step = getConstantI64(getStep());
  if (shape[*pos] == kDyn || !start || !end || !step || *step < 1)
    shape[*pos] = kDyn;
  else
    shape[*pos] = sliceLength(shape[*pos], *start, *end, *step);
  return withShape(getResult(), shape);
}

LogicalResult SliceOp::verify() {
  if (auto step = getConstantI64(getStep()))
    if (*step < 1)
      return emitOpError("step must be positive, got ") << *step;
  if (auto t = rankedOrNull(getInput()))
    if (!normalizeDim(getDim(), t.getRank()))
      return emitOpError("dimension ") << getDim() << " out of range";
  return verifyInferred(*this);
}

namespace {
/// slice(cat(a, b, ...)) taking exactly one input of the cat -> that input.
/// Decode returns only this step's cache entries this way.
struct SliceOfCat : OpRewritePattern<SliceOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SliceOp slice,
                                PatternRewriter &rewriter) const override {
    auto cat = slice.getInput().getDefiningOp<CatOp>();
    auto t = rankedOrNull(slice.getInput());
    auto start = getConstantI64(slice.getStart()),
         end = getConstantI64(slice.getEnd()),
         step = getConstantI64(slice.getStep());
    if (!cat || !t || !start || !end || step != 1)
      return failure();
    auto dim = normalizeDim(slice.getDim(), t.getRank());
    auto catDim = normalizeDim(cat.getDim(), t.getRank());
    if (!dim || dim != catDim || t.isDynamicDim(*dim))
      return failure();
    int64_t size = t.getDimSize(*dim);
    int64_t s = *start < 0 ? *start + size : *start;
    int64_t e = std::min(*end < 0 ? *end + size : *end, size);
    int64_t offset = 0;
    for (Value in : cat.getInputs()) {
      auto it = rankedOrNull(in);
      if (!it || it.isDynamicDim(*dim))
        return failure();
      int64_t n = it.getDimSize(*dim);
      if (offset == s && offset + n == e && in.getType() == slice.getType()) {
        rewriter.replaceOp(slice, in);
        return success();
      }
      offset += n;
    }
    return failure();
  }
};

/// slice(fake_quant(x)) -> fake_quant(slice(x)): per-tensor fake quant is
/// elementwise, so only the sliced part needs computing.
struct SliceOfFakeQuant : OpRewritePattern<SliceOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SliceOp slice,
                                PatternRewriter &rewriter) const override {
    auto fq = slice.getInput().getDefiningOp<FakeQuantOp>();
    if (!fq || !fq->hasOneUse())
      return failure();
    auto inner = rewriter.create<SliceOp>(
        slice.getLoc(), slice.getType(), fq.getInput(), slice.getDimAttr(),
        slice.getStart(), slice.getEnd(), slice.getStep());
    rewriter.replaceOpWithNewOp<FakeQuantOp>(
        slice, slice.getType(), inner, fq.getScaleAttr(), fq.getZeroPointAttr(),
        fq.getQminAttr(), fq.getQmaxAttr());
    return success();
  }
};

/// A slice that keeps a whole static axis (`x[:, :]`) is its input.
struct WholeAxisSlice : OpRewritePattern<SliceOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SliceOp slice,
                                PatternRewriter &rewriter) const override {
    auto t = rankedOrNull(slice.getInput());
    auto start = getConstantI64(slice.getStart()),
         end = getConstantI64(slice.getEnd()),
         step = getConstantI64(slice.getStep());
    if (!t || !start || !end || step != 1 ||
        slice.getInput().getType() != slice.getType())
      return failure();
    auto dim = normalizeDim(slice.getDim(), t.getRank());
    if (!dim || t.isDynamicDim(*dim))
      return failure();
    int64_t size = t.getDimSize(*dim);
    auto clampIndex = [&](int64_t i) {
      if (i < 0)
        i = i < -size
                ? 0
                : i + size; // no overflow: size >= 0, i >= INT64_MIN + 1 here
      return std::min(i, size);
    };
    if (*start == std::numeric_limits<int64_t>::min() ||
        *end == std::numeric_limits<int64_t>::min() ||
        clampIndex(*start) != 0 || clampIndex(*end) != size)
      return failure();
    rewriter.replaceOp(slice, slice.getInput());
    return success();
  }
};
} // namespace

void SliceOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<SliceOfCat, SliceOfFakeQuant, WholeAxisSlice>(context);
}

Type SelectOp::inferResultType() {
  auto t = rankedOrNull(getInput());
  if (!t)
    return {};
  auto pos = normalizeDim(getDim(), t.getRank());
  if (!pos)
    return {};
  SmallVector<int64_t> shape(t.getShape());
  shape.erase(shape.begin() + *pos);
  return withShape(getResult(), shape);
}

LogicalResult SelectOp::verify() {
  if (auto t = rankedOrNull(getInput())) {
    auto pos = normalizeDim(getDim(), t.getRank());
    if (!pos)
      return emitOpError("dimension ") << getDim() << " out of range";
    auto index = getConstantI64(getIndex());
    if (index && !t.isDynamicDim(*pos) &&
        !normalizeDim(*index, t.getDimSize(*pos)))
      return emitOpError("index ")
             << *index << " out of range for size " << t.getDimSize(*pos);
  }
  return verifyInferred(*this);
}

Type CatOp::inferResultType() {
  SmallVector<int64_t> shape;
  std::optional<int64_t> pos;
  for (Value v : getInputs()) {
    auto t = rankedOrNull(v);
    if (!t)
      return {};
    if (!pos) {
      pos = normalizeDim(getDim(), t.getRank());
      if (!pos)
        return {};
      shape.assign(t.getShape().begin(), t.getShape().end());
      continue;
    }
    if (t.getRank() != static_cast<int64_t>(shape.size()))
      return {};
    for (int64_t i = 0; i < t.getRank(); ++i) {
      int64_t d = t.getDimSize(i);
      if (i == *pos)
        shape[i] = shape[i] == kDyn || d == kDyn ? kDyn : shape[i] + d;
      else if (shape[i] == kDyn)
        shape[i] = d;
    }
  }
  return pos ? withShape(getResult(), shape) : Type();
}

LogicalResult CatOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one input");
  RankedTensorType first;
  for (Value v : getInputs()) {
    auto t = rankedOrNull(v);
    if (!t)
      continue;
    if (!first) {
      first = t;
      if (!normalizeDim(getDim(), t.getRank()))
        return emitOpError("dimension ") << getDim() << " out of range";
      continue;
    }
    if (t.getRank() != first.getRank())
      return emitOpError("inputs have different ranks");
    int64_t pos = *normalizeDim(getDim(), t.getRank());
    for (int64_t i = 0; i < t.getRank(); ++i)
      if (i != pos && !t.isDynamicDim(i) && !first.isDynamicDim(i) &&
          t.getDimSize(i) != first.getDimSize(i))
        return emitOpError("inputs differ outside the concatenated dimension: ")
               << shapeStr(first.getShape()) << " and "
               << shapeStr(t.getShape());
  }
  return verifyInferred(*this);
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

static LogicalResult verifyQuantParams(Operation *op, double scale,
                                       int64_t zeroPoint, int64_t qmin,
                                       int64_t qmax) {
  if (!(scale > 0) || !std::isfinite(scale))
    return op->emitOpError("scale must be positive and finite, got ") << scale;
  if (qmin >= qmax)
    return op->emitOpError("qmin ") << qmin << " must be below qmax " << qmax;
  if (zeroPoint < qmin || zeroPoint > qmax)
    return op->emitOpError("zero point ")
           << zeroPoint << " outside [" << qmin << ", " << qmax << "]";
  return success();
}

LogicalResult FakeQuantOp::verify() {
  if (failed(verifyQuantParams(*this, getScale().convertToDouble(),
                               getZeroPoint(), getQmin(), getQmax())))
    return failure();
  return verifyInferred(*this);
}

/// `[0.1, 0.0029951690323650835]`: like the stripped dense array syntax, but
/// every value printed so that it parses back to the same double (the
/// stripped form prints six digits only).
static ParseResult parseF64Array(OpAsmParser &parser, DenseF64ArrayAttr &attr) {
  SmallVector<double> values;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        double v;
        if (parser.parseFloat(v))
          return failure();
        values.push_back(v);
        return success();
      }))
    return failure();
  attr = DenseF64ArrayAttr::get(parser.getContext(), values);
  return success();
}

static void printF64Array(OpAsmPrinter &p, Operation *,
                          DenseF64ArrayAttr attr) {
  p << '[';
  llvm::interleaveComma(attr.asArrayRef(), p,
                        [&](double v) { p.printFloat(APFloat(v)); });
  p << ']';
}

LogicalResult FakeQuantPerAxisOp::verify() {
  auto scales = getScales();
  auto zps = getZeroPoints();
  if (scales.empty())
    return emitOpError("needs at least one scale");
  if (scales.size() != zps.size())
    return emitOpError("has ")
           << scales.size() << " scales but " << zps.size() << " zero points";
  for (auto [s, z] : llvm::zip(scales, zps))
    if (failed(verifyQuantParams(*this, s, z, getQmin(), getQmax())))
      return failure();
  if (auto t = rankedOrNull(getInput())) {
    auto pos = normalizeDim(getAxis(), t.getRank());
    if (!pos)
      return emitOpError("axis ")
             << getAxis() << " out of range for rank " << t.getRank();
    if (!t.isDynamicDim(*pos) &&
        t.getDimSize(*pos) != static_cast<int64_t>(scales.size()))
      return emitOpError("axis ")
             << getAxis() << " has size " << t.getDimSize(*pos) << " but "
             << scales.size() << " scales";
  }
  return verifyInferred(*this);
}

Type QuantizeOp::inferResultType() {
  auto t = rankedOrNull(getInput());
  return t ? withShape(getResult(), t.getShape()) : Type();
}

LogicalResult QuantizeOp::verify() {
  if (!isa<quant::QuantizedType>(getElementTypeOrSelf(getType())))
    return emitOpError("result must have a quantized element type");
  return verifyInferred(*this);
}

Type DequantizeOp::inferResultType() {
  auto t = rankedOrNull(getInput());
  return t ? withShape(getResult(), t.getShape()) : Type();
}

LogicalResult DequantizeOp::verify() {
  auto q = dyn_cast<quant::QuantizedType>(
      getElementTypeOrSelf(getInput().getType()));
  if (!q)
    return emitOpError("input must have a quantized element type");
  if (getElementTypeOrSelf(getType()) != q.getExpressedType())
    return emitOpError("result element type must be the expressed type ")
           << q.getExpressedType();
  return verifyInferred(*this);
}

#define GET_OP_CLASSES
#include "kiln/Dialect/Kiln/KilnOps.cpp.inc"
