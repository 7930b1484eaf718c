//===- AtenOps.cpp - ATen and scalar ops to kiln/arith --------------------===//
//
// One converter per TorchScript node kind (several overloads each, told
// apart by the TorchScript types of the inputs). Shape and index operands
// stay SSA i64 values; dimensions, permutations and quantization parameters
// must be constants and become attributes.
//
//===----------------------------------------------------------------------===//
#include "ImporterImpl.h"

#include "kiln/Dialect/Kiln/IR/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/ADT/StringSwitch.h"

#include <limits>

using namespace mlir;
using namespace kiln;
using namespace kiln::torchscript;

using c10::TypeKind;

//===----------------------------------------------------------------------===//
// Operand helpers
//===----------------------------------------------------------------------===//

static TypeKind tsKind(TSNode *n, unsigned i) {
  return n->input(i)->type()->kind();
}

bool FunctionImporter::isTensorInput(TSNode *n, unsigned i) {
  return tsKind(n, i) == TypeKind::TensorType;
}

std::optional<int64_t> FunctionImporter::constInt(TSNode *n, Frame &f,
                                                  unsigned i) {
  Entry &e = input(n, f, i);
  if (e.kind == Entry::Kind::Constant) {
    if (e.ivalue.isInt())
      return e.ivalue.toInt();
    if (e.ivalue.isBool())
      return e.ivalue.toBool() ? 1 : 0;
    return std::nullopt;
  }
  if (e.kind == Entry::Kind::Value && e.value.getType().isInteger(64))
    return getConstantI64(e.value);
  return std::nullopt;
}

std::optional<double> FunctionImporter::constDouble(TSNode *n, Frame &f,
                                                    unsigned i) {
  Entry &e = input(n, f, i);
  if (e.kind != Entry::Kind::Constant)
    return std::nullopt;
  if (e.ivalue.isDouble())
    return e.ivalue.toDouble();
  if (e.ivalue.isInt())
    return static_cast<double>(e.ivalue.toInt());
  if (e.ivalue.isBool())
    return e.ivalue.toBool() ? 1.0 : 0.0;
  return std::nullopt;
}

std::optional<bool> FunctionImporter::constBool(TSNode *n, Frame &f,
                                                unsigned i) {
  Entry &e = input(n, f, i);
  if (e.kind == Entry::Kind::Constant && e.ivalue.isBool())
    return e.ivalue.toBool();
  return std::nullopt;
}

bool FunctionImporter::isNoneOperand(TSNode *n, Frame &f, unsigned i) {
  return tsKind(n, i) == TypeKind::NoneType || input(n, f, i).isNone();
}

FailureOr<int64_t> FunctionImporter::optionalConstInt(TSNode *n, Frame &f,
                                                      unsigned i, int64_t dflt,
                                                      llvm::StringRef what) {
  if (i >= n->inputs().size() || isNoneOperand(n, f, i))
    return dflt;
  return requireConstInt(n, f, i, what);
}

FailureOr<int64_t> FunctionImporter::requireConstInt(TSNode *n, Frame &f,
                                                     unsigned i,
                                                     llvm::StringRef what) {
  if (auto v = constInt(n, f, i))
    return *v;
  return error(n, f) << "the " << what << " of " << n->kind().toQualString()
                     << " must be a constant";
}

FailureOr<SmallVector<int64_t>>
FunctionImporter::requireConstIntList(TSNode *n, Frame &f, unsigned i,
                                      llvm::StringRef what) {
  Entry &e = input(n, f, i);
  SmallVector<int64_t> out;
  if (e.kind == Entry::Kind::Constant && e.ivalue.isIntList()) {
    for (int64_t v : e.ivalue.toIntVector())
      out.push_back(v);
    return out;
  }
  if (e.kind == Entry::Kind::Constant && e.ivalue.isInt()) {
    out.push_back(e.ivalue.toInt()); // int[1] given as a single int
    return out;
  }
  if (e.kind == Entry::Kind::Aggregate) {
    for (Entry &el : e.elements) {
      if (el.kind == Entry::Kind::Constant && el.ivalue.isInt())
        out.push_back(el.ivalue.toInt());
      else if (el.kind == Entry::Kind::Value && getConstantI64(el.value))
        out.push_back(*getConstantI64(el.value));
      else
        return error(n, f) << "the " << what << " of "
                           << n->kind().toQualString() << " must be constants";
    }
    return out;
  }
  return error(n, f) << "the " << what << " of " << n->kind().toQualString()
                     << " must be a constant list";
}

FailureOr<Value> FunctionImporter::scalarOperand(TSNode *n, Frame &f,
                                                 unsigned i, Type type) {
  Location loc = locOf(n, f);
  auto v = materialize(input(n, f, i), loc);
  if (failed(v))
    return failure();
  Type from = v->getType();
  if (from == type)
    return *v;
  if (from.isInteger(1) && type.isInteger(64))
    return Value(b.create<arith::ExtUIOp>(loc, type, *v));
  if (from.isInteger(64) && isa<FloatType>(type))
    return Value(b.create<arith::SIToFPOp>(loc, type, *v));
  if (from.isInteger(1) && isa<FloatType>(type))
    return Value(b.create<arith::UIToFPOp>(loc, type, *v));
  return error(n, f) << "operand " << i << " of " << n->kind().toQualString()
                     << " is a " << from << ", expected " << type;
}

FailureOr<Value> FunctionImporter::tensorOperand(TSNode *n, Frame &f,
                                                 unsigned i) {
  auto v = materialize(input(n, f, i), locOf(n, f));
  if (failed(v))
    return failure();
  if (!isa<TensorType>(v->getType()))
    return error(n, f) << "operand " << i << " of " << n->kind().toQualString()
                       << " must be a tensor, got " << v->getType();
  return *v;
}

FailureOr<SmallVector<Value>>
FunctionImporter::intListOperands(TSNode *n, Frame &f, unsigned i) {
  Entry &e = input(n, f, i);
  SmallVector<Value> out;
  if (e.kind == Entry::Kind::Constant && e.ivalue.isIntList()) {
    for (int64_t v : e.ivalue.toIntVector())
      out.push_back(constantI64(v));
    return out;
  }
  if (e.kind == Entry::Kind::Aggregate) {
    Location loc = locOf(n, f);
    for (Entry &el : e.elements) {
      auto v = materialize(el, loc);
      if (failed(v))
        return failure();
      if (v->getType().isInteger(1))
        *v = b.create<arith::ExtUIOp>(loc, b.getI64Type(), *v);
      if (!v->getType().isInteger(64))
        return error(n, f) << "size list element of type " << v->getType();
      out.push_back(*v);
    }
    return out;
  }
  if (e.kind == Entry::Kind::Value)
    if (auto list = e.value.getDefiningOp<ListOp>()) {
      for (Value v : list.getElements())
        out.push_back(v);
      return out;
    }
  return error(n, f) << "the sizes of " << n->kind().toQualString()
                     << " must be a list built in the graph (its length must "
                        "be known)";
}

FailureOr<SmallVector<Value>>
FunctionImporter::tensorListOperands(TSNode *n, Frame &f, unsigned i) {
  Entry &e = input(n, f, i);
  Location loc = locOf(n, f);
  SmallVector<Value> out;
  if (auto known = [&]() -> std::optional<std::vector<Entry>> {
        if (e.kind == Entry::Kind::Aggregate)
          return e.elements;
        if (e.kind == Entry::Kind::Constant && e.ivalue.isList()) {
          std::vector<Entry> els;
          for (const c10::IValue &iv : e.ivalue.toListRef())
            els.push_back(Entry::ofConstant(iv));
          return els;
        }
        return std::nullopt;
      }()) {
    for (Entry &el : *known) {
      auto v = materialize(el, loc);
      if (failed(v))
        return failure();
      if (!isa<TensorType>(v->getType()))
        return error(n, f) << "tensor list element of type " << v->getType();
      out.push_back(*v);
    }
    return out;
  }
  if (e.kind == Entry::Kind::Value)
    if (auto list = e.value.getDefiningOp<ListOp>()) {
      for (Value v : list.getElements())
        out.push_back(v);
      return out;
    }
  return error(n, f) << "the tensors of " << n->kind().toQualString()
                     << " must be a list built in the graph";
}

/// A constant 0-d tensor (a traced Python scalar) as a double.
static std::optional<double> scalarOfConstTensor(const Entry &e) {
  if (e.kind != Entry::Kind::Constant || !e.ivalue.isTensor())
    return std::nullopt;
  const at::Tensor &t = e.ivalue.toTensor();
  if (t.dim() != 0)
    return std::nullopt;
  return t.item<double>();
}

FailureOr<Value> FunctionImporter::tensorOrScalarOperand(TSNode *n, Frame &f,
                                                         unsigned i,
                                                         Type scalarElement) {
  Entry &e = input(n, f, i);
  if (isTensorInput(n, i)) {
    if (auto s = scalarOfConstTensor(e))
      return scalarTensorConstant(*s, scalarElement);
    return tensorOperand(n, f, i);
  }
  if (auto d = constDouble(n, f, i))
    return scalarTensorConstant(*d, scalarElement);
  Location loc = locOf(n, f);
  auto v = materialize(e, loc);
  if (failed(v))
    return failure();
  if (!v->getType().isInteger(64) && !v->getType().isF64() &&
      !v->getType().isInteger(1))
    return error(n, f) << "operand " << i << " of " << n->kind().toQualString()
                       << " is a " << v->getType()
                       << ", expected a tensor or a number";
  return Value(b.create<FromScalarOp>(
      loc, RankedTensorType::get({}, scalarElement), *v));
}

/// Type category for promotion: bool < int < float.
static int category(Type t) {
  if (isa<FloatType>(t))
    return 2;
  if (t.isInteger(1))
    return 0;
  return 1;
}

Type FunctionImporter::promotionType(TSNode *n, Frame &f, unsigned i,
                                     bool &isScalar) {
  Entry &e = input(n, f, i);
  isScalar = true;
  switch (tsKind(n, i)) {
  case TypeKind::IntType:
    return b.getI64Type();
  case TypeKind::FloatType:
    return b.getF64Type();
  case TypeKind::BoolType:
    return b.getI1Type();
  case TypeKind::TensorType:
    break;
  default:
    // Scalar (NumberType) and friends: use the value's own type.
    if (e.kind == Entry::Kind::Constant)
      return e.ivalue.isDouble() ? Type(b.getF64Type()) : Type(b.getI64Type());
    if (e.kind == Entry::Kind::Value)
      return e.value.getType();
    return b.getF64Type();
  }
  if (e.kind == Entry::Kind::Constant && e.ivalue.isTensor() &&
      e.ivalue.toTensor().dim() == 0) {
    const at::Tensor &t = e.ivalue.toTensor();
    return t.is_floating_point()                      ? Type(b.getF64Type())
           : t.scalar_type() == c10::ScalarType::Bool ? Type(b.getI1Type())
                                                      : Type(b.getI64Type());
  }
  isScalar = false;
  auto v = materialize(e, locOf(n, f));
  if (failed(v))
    return {};
  return elementTypeOf(*v);
}

/// PyTorch's result dtype for a binary op (scalars only matter when they
/// are of a higher category).
static Type promote(Type a, bool aScalar, Type b, bool bScalar) {
  MLIRContext *ctx = a.getContext();
  auto defaultOf = [&](Type t) -> Type {
    if (isa<FloatType>(t))
      return Float32Type::get(ctx);
    if (t.isInteger(1))
      return t;
    return IntegerType::get(ctx, 64);
  };
  if (aScalar && bScalar)
    return defaultOf(category(a) >= category(b) ? a : b);
  if (aScalar || bScalar) {
    Type tensor = aScalar ? b : a, scalar = aScalar ? a : b;
    if (category(scalar) > category(tensor))
      return defaultOf(scalar);
    return tensor;
  }
  if (a == b)
    return a;
  if (category(a) != category(b))
    return category(a) > category(b) ? a : b;
  return a.getIntOrFloatBitWidth() >= b.getIntOrFloatBitWidth() ? a : b;
}

Value FunctionImporter::withElementType(Value tensor, Type elementType,
                                        Location loc) {
  auto type = cast<TensorType>(tensor.getType());
  if (type.getElementType() == elementType)
    return tensor;
  if (guessedElementType.contains(tensor) && tensor.use_empty()) {
    // An argument whose dtype TorchScript does not record: the first use
    // tells (embedding indices are integers, masks are bool).
    tensor.setType(type.clone(elementType));
    guessedElementType.erase(tensor);
    return tensor;
  }
  return b.create<CastOp>(loc, type.clone(elementType), tensor);
}

Value FunctionImporter::finish(Operation *op) {
  Value result = op->getResult(0);
  if (refineShapes)
    if (auto iface = dyn_cast<ShapeInferenceOpInterface>(op))
      if (Type t = iface.inferResultType())
        result.setType(t);
  return result;
}

//===----------------------------------------------------------------------===//
// Scalars
//===----------------------------------------------------------------------===//

LogicalResult FunctionImporter::convertNot(TSNode *n, Frame &f) {
  auto v = scalarOperand(n, f, 0, b.getI1Type());
  if (failed(v))
    return failure();
  setOutput(
      n, f, 0,
      b.create<arith::XOrIOp>(locOf(n, f), *v, constantBool(true)).getResult());
  return success();
}

LogicalResult FunctionImporter::convertBoolBinary(TSNode *n, Frame &f) {
  if (isTensorInput(n, 0) || isTensorInput(n, 1))
    return error(n, f) << "tensor " << n->kind().toQualString()
                       << " is not supported";
  Type t =
      tsKind(n, 0) == TypeKind::BoolType && tsKind(n, 1) == TypeKind::BoolType
          ? Type(b.getI1Type())
          : Type(b.getI64Type());
  auto lhs = scalarOperand(n, f, 0, t), rhs = scalarOperand(n, f, 1, t);
  if (failed(lhs) || failed(rhs))
    return failure();
  Location loc = locOf(n, f);
  Value r = n->kind() == c10::aten::__and__
                ? b.create<arith::AndIOp>(loc, *lhs, *rhs).getResult()
                : b.create<arith::OrIOp>(loc, *lhs, *rhs).getResult();
  setOutput(n, f, 0, r);
  return success();
}

LogicalResult FunctionImporter::convertCompare(TSNode *n, Frame &f) {
  if (isTensorInput(n, 0) || isTensorInput(n, 1))
    return error(n, f) << "tensor comparison " << n->kind().toQualString()
                       << " is not supported by kiln";
  bool isFloat = tsKind(n, 0) == TypeKind::FloatType ||
                 tsKind(n, 1) == TypeKind::FloatType;
  bool isBool =
      tsKind(n, 0) == TypeKind::BoolType && tsKind(n, 1) == TypeKind::BoolType;
  Type t = isFloat  ? Type(b.getF64Type())
           : isBool ? Type(b.getI1Type())
                    : Type(b.getI64Type());
  auto lhs = scalarOperand(n, f, 0, t), rhs = scalarOperand(n, f, 1, t);
  if (failed(lhs) || failed(rhs))
    return failure();
  Location loc = locOf(n, f);
  llvm::StringRef kind = n->kind().toUnqualString();
  Value r;
  if (isFloat) {
    auto pred = llvm::StringSwitch<arith::CmpFPredicate>(kind)
                    .Case("eq", arith::CmpFPredicate::OEQ)
                    .Case("ne", arith::CmpFPredicate::UNE)
                    .Case("lt", arith::CmpFPredicate::OLT)
                    .Case("le", arith::CmpFPredicate::OLE)
                    .Case("gt", arith::CmpFPredicate::OGT)
                    .Default(arith::CmpFPredicate::OGE);
    r = b.create<arith::CmpFOp>(loc, pred, *lhs, *rhs);
  } else {
    auto pred = llvm::StringSwitch<arith::CmpIPredicate>(kind)
                    .Case("eq", arith::CmpIPredicate::eq)
                    .Case("ne", arith::CmpIPredicate::ne)
                    .Case("lt", arith::CmpIPredicate::slt)
                    .Case("le", arith::CmpIPredicate::sle)
                    .Case("gt", arith::CmpIPredicate::sgt)
                    .Default(arith::CmpIPredicate::sge);
    r = b.create<arith::CmpIOp>(loc, pred, *lhs, *rhs);
  }
  setOutput(n, f, 0, r);
  return success();
}

LogicalResult FunctionImporter::convertScalarCast(TSNode *n, Frame &f) {
  if (isTensorInput(n, 0)) {
    // Traced graphs box sizes: aten::Int(prim::NumToTensor(aten::size(..))).
    Entry &in = input(n, f, 0);
    if (auto s = scalarOfConstTensor(in)) {
      llvm::StringRef kind = n->kind().toUnqualString();
      if (kind == "ScalarImplicit") {
        const at::Tensor &t = in.ivalue.toTensor();
        setOutput(
            n, f, 0,
            Entry::ofConstant(t.is_floating_point()
                                  ? c10::IValue(*s)
                                  : c10::IValue(static_cast<int64_t>(*s))));
      } else if (kind == "Int")
        setOutput(n, f, 0,
                  Entry::ofConstant(c10::IValue(static_cast<int64_t>(*s))));
      else if (kind == "Float")
        setOutput(n, f, 0, Entry::ofConstant(c10::IValue(*s)));
      else
        setOutput(n, f, 0, Entry::ofConstant(c10::IValue(*s != 0)));
      return success();
    }
    if (in.kind == Entry::Kind::Value)
      if (auto boxed = in.value.getDefiningOp<FromScalarOp>()) {
        if (n->kind().toUnqualString() == llvm::StringRef("ScalarImplicit")) {
          setOutput(n, f, 0, boxed.getScalar());
          return success();
        }
        return convertScalarCastOf(n, f, boxed.getScalar());
      }
    return error(n, f) << n->kind().toQualString()
                       << " of a tensor (reading a tensor's value into a "
                          "scalar) is not supported";
  }
  auto v = materialize(input(n, f, 0), locOf(n, f));
  if (failed(v))
    return failure();
  return convertScalarCastOf(n, f, *v);
}

LogicalResult FunctionImporter::convertScalarCastOf(TSNode *n, Frame &f,
                                                    Value scalar) {
  Location loc = locOf(n, f);
  std::optional<Value> v = scalar;
  Type from = v->getType();
  llvm::StringRef kind = n->kind().toUnqualString();
  Value r;
  if (kind == "Int") {
    if (from.isInteger(64))
      r = *v;
    else if (from.isInteger(1))
      r = b.create<arith::ExtUIOp>(loc, b.getI64Type(), *v);
    else if (from.isF64())
      r = b.create<arith::FPToSIOp>(loc, b.getI64Type(), *v);
  } else if (kind == "Float") {
    if (from.isF64())
      r = *v;
    else if (from.isInteger(64))
      r = b.create<arith::SIToFPOp>(loc, b.getF64Type(), *v);
    else if (from.isInteger(1))
      r = b.create<arith::UIToFPOp>(loc, b.getF64Type(), *v);
  } else { // Bool
    if (from.isInteger(1))
      r = *v;
    else if (from.isInteger(64))
      r = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne, *v,
                                  constantI64(0));
    else if (from.isF64())
      r = b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::UNE, *v,
                                  constantF64(0.0));
  }
  if (!r)
    return error(n, f) << "cannot convert a " << from << " with "
                       << n->kind().toQualString();
  setOutput(n, f, 0, r);
  return success();
}

LogicalResult FunctionImporter::convertNumToTensor(TSNode *n, Frame &f) {
  Location loc = locOf(n, f);
  auto v = materialize(input(n, f, 0), loc);
  if (failed(v))
    return failure();
  Type t = v->getType();
  if (!t.isInteger(64) && !t.isF64() && !t.isInteger(1))
    return error(n, f) << "prim::NumToTensor of a " << t;
  setOutput(n, f, 0,
            b.create<FromScalarOp>(loc, RankedTensorType::get({}, t), *v)
                .getResult());
  return success();
}

LogicalResult FunctionImporter::convertSize(TSNode *n, Frame &f) {
  if (!isTensorInput(n, 0))
    return error(n, f) << "aten::size of a non-tensor";
  auto x = tensorOperand(n, f, 0);
  if (failed(x))
    return failure();
  Location loc = locOf(n, f);
  // Sizes of statically shaped tensors (inputs given --input-shape hints, and
  // what is computed from them) are constants, so that everything computed
  // from shapes alone (RoPE tables, causal masks) folds at import.
  if (auto ranked = dyn_cast<RankedTensorType>(x->getType())) {
    if (n->inputs().size() == 1 && ranked.hasStaticShape()) {
      setOutput(n, f, 0,
                Entry::ofConstant(c10::IValue(std::vector<int64_t>(
                    ranked.getShape().begin(), ranked.getShape().end()))));
      return success();
    }
    if (n->inputs().size() == 2)
      if (std::optional<int64_t> d = constInt(n, f, 1)) {
        int64_t rank = ranked.getRank();
        int64_t dim = *d < 0 ? *d + rank : *d;
        if (dim >= 0 && dim < rank && !ranked.isDynamicDim(dim)) {
          setOutput(n, f, 0,
                    Entry::ofConstant(c10::IValue(ranked.getDimSize(dim))));
          return success();
        }
      }
  }
  if (n->inputs().size() == 1) {
    setOutput(n, f, 0,
              b.create<ShapeOp>(loc, ListType::get(ctx, b.getI64Type()), *x)
                  .getResult());
    return success();
  }
  if (tsKind(n, 1) != TypeKind::IntType)
    return error(n, f) << "aten::size with a named dimension is not supported";
  auto dim = scalarOperand(n, f, 1, b.getI64Type());
  if (failed(dim))
    return failure();
  setOutput(n, f, 0,
            b.create<SizeOp>(loc, b.getI64Type(), *x, *dim).getResult());
  return success();
}

LogicalResult FunctionImporter::convertDim(TSNode *n, Frame &f) {
  auto x = tensorOperand(n, f, 0);
  if (failed(x))
    return failure();
  setOutput(n, f, 0,
            b.create<RankOp>(locOf(n, f), b.getI64Type(), *x).getResult());
  return success();
}

LogicalResult FunctionImporter::convertScalarArith(TSNode *n, Frame &f) {
  for (unsigned i = 0; i < 2; ++i) {
    TypeKind k = tsKind(n, i);
    if (k != TypeKind::IntType && k != TypeKind::FloatType &&
        k != TypeKind::BoolType && k != TypeKind::NumberType)
      return error(n, f) << n->kind().toQualString() << " on '"
                         << n->input(i)->type()->annotation_str()
                         << "' is not supported";
  }
  llvm::StringRef kind = n->kind().toUnqualString();
  Location loc = locOf(n, f);
  auto lhsV = materialize(input(n, f, 0), loc);
  auto rhsV = materialize(input(n, f, 1), loc);
  if (failed(lhsV) || failed(rhsV))
    return failure();
  bool isFloat =
      lhsV->getType().isF64() || rhsV->getType().isF64() || kind == "div";
  Type t = isFloat ? Type(b.getF64Type()) : Type(b.getI64Type());
  auto lhs = scalarOperand(n, f, 0, t), rhs = scalarOperand(n, f, 1, t);
  if (failed(lhs) || failed(rhs))
    return failure();
  Value r = scalarBinary(kind, *lhs, *rhs, loc);
  if (!r)
    return error(n, f) << "float " << n->kind().toQualString()
                       << " is not supported";
  setOutput(n, f, 0, r);
  return success();
}

//===----------------------------------------------------------------------===//
// Elementwise tensor ops
//===----------------------------------------------------------------------===//

LogicalResult FunctionImporter::convertArith(TSNode *n, Frame &f) {
  if (!isTensorInput(n, 0) && !isTensorInput(n, 1))
    return convertScalarArith(n, f);
  llvm::StringRef kind = n->kind().toUnqualString();
  // Shape arithmetic on boxed sizes (traced graphs).
  auto boxed = tryBoxedArith(n, f, kind);
  if (failed(boxed))
    return failure();
  if (*boxed)
    return success();
  if (!isTensorInput(n, 0))
    return error(n, f) << n->kind().toQualString()
                       << " with a scalar first operand is not supported";
  if (kind == "floordiv" || kind == "remainder")
    return error(n, f) << "tensor " << n->kind().toQualString()
                       << " is not supported by kiln";
  if (kind == "div" && n->inputs().size() == 3 && !isNoneOperand(n, f, 2))
    return error(n, f) << "aten::div with a rounding mode is not supported";
  bool lScalar, rScalar;
  Type lt = promotionType(n, f, 0, lScalar);
  Type rt = promotionType(n, f, 1, rScalar);
  if (!lt || !rt)
    return failure();
  Type elt = promote(lt, lScalar, rt, rScalar);
  if (kind == "div" && !isa<FloatType>(elt))
    elt = b.getF32Type(); // true division
  Location loc = locOf(n, f);
  auto lhs = tensorOrScalarOperand(n, f, 0, elt);
  auto rhs = tensorOrScalarOperand(n, f, 1, elt);
  if (failed(lhs) || failed(rhs))
    return failure();
  Value r = *rhs;
  if ((kind == "add" || kind == "sub") && n->inputs().size() == 3) {
    std::optional<double> alpha = constDouble(n, f, 2);
    if (!alpha || *alpha != 1.0) {
      auto a = tensorOrScalarOperand(n, f, 2, elt);
      if (failed(a))
        return failure();
      r = finish(b.create<MulOp>(loc, unrankedOf(elt), r, *a));
    }
  }
  Type type = unrankedOf(elt);
  Operation *op;
  if (kind == "add")
    op = b.create<AddOp>(loc, type, *lhs, r);
  else if (kind == "sub")
    op = b.create<SubOp>(loc, type, *lhs, r);
  else if (kind == "mul")
    op = b.create<MulOp>(loc, type, *lhs, r);
  else
    op = b.create<DivOp>(loc, type, *lhs, r);
  setOutput(n, f, 0, finish(op));
  return success();
}

LogicalResult FunctionImporter::convertRsub(TSNode *n, Frame &f) {
  // rsub(self, other, alpha) = other - alpha * self
  bool lScalar, rScalar;
  Type lt = promotionType(n, f, 0, lScalar);
  Type rt = promotionType(n, f, 1, rScalar);
  if (!lt || !rt)
    return failure();
  Type elt = promote(lt, lScalar, rt, rScalar);
  Location loc = locOf(n, f);
  auto self = tensorOrScalarOperand(n, f, 0, elt);
  auto other = tensorOrScalarOperand(n, f, 1, elt);
  if (failed(self) || failed(other))
    return failure();
  Value s = *self;
  if (n->inputs().size() == 3) {
    std::optional<double> alpha = constDouble(n, f, 2);
    if (!alpha || *alpha != 1.0) {
      auto a = tensorOrScalarOperand(n, f, 2, elt);
      if (failed(a))
        return failure();
      s = finish(b.create<MulOp>(loc, unrankedOf(elt), s, *a));
    }
  }
  setOutput(n, f, 0, finish(b.create<SubOp>(loc, unrankedOf(elt), *other, s)));
  return success();
}

LogicalResult FunctionImporter::convertNeg(TSNode *n, Frame &f) {
  Location loc = locOf(n, f);
  if (!isTensorInput(n, 0)) {
    auto v = materialize(input(n, f, 0), loc);
    if (failed(v))
      return failure();
    if (v->getType().isF64())
      setOutput(n, f, 0, b.create<arith::NegFOp>(loc, *v).getResult());
    else if (v->getType().isInteger(64))
      setOutput(n, f, 0,
                b.create<arith::SubIOp>(loc, constantI64(0), *v).getResult());
    else
      return error(n, f) << "aten::neg of a " << v->getType();
    return success();
  }
  auto x = tensorOperand(n, f, 0);
  if (failed(x))
    return failure();
  setOutput(n, f, 0, finish(b.create<NegOp>(loc, x->getType(), *x)));
  return success();
}

LogicalResult FunctionImporter::convertUnary(TSNode *n, Frame &f) {
  auto x = tensorOperand(n, f, 0);
  if (failed(x))
    return failure();
  Location loc = locOf(n, f);
  Type type = unrankedOf(elementTypeOf(*x));
  llvm::StringRef kind = n->kind().toUnqualString();
  Operation *op;
  if (kind == "rsqrt")
    op = b.create<RsqrtOp>(loc, type, *x);
  else if (kind == "silu")
    op = b.create<SiluOp>(loc, type, *x);
  else
    op = b.create<SigmoidOp>(loc, type, *x);
  setOutput(n, f, 0, finish(op));
  return success();
}

LogicalResult FunctionImporter::convertPow(TSNode *n, Frame &f) {
  if (!isTensorInput(n, 0))
    return error(n, f) << "aten::pow with a scalar base is not supported";
  bool lScalar, rScalar;
  Type lt = promotionType(n, f, 0, lScalar);
  Type rt = promotionType(n, f, 1, rScalar);
  if (!lt || !rt)
    return failure();
  Type elt = promote(lt, lScalar, rt, rScalar);
  auto x = tensorOperand(n, f, 0);
  auto e = tensorOrScalarOperand(n, f, 1, elt);
  if (failed(x) || failed(e))
    return failure();
  setOutput(n, f, 0,
            finish(b.create<PowOp>(locOf(n, f), unrankedOf(elt), *x, *e)));
  return success();
}

//===----------------------------------------------------------------------===//
// Contractions and reductions
//===----------------------------------------------------------------------===//

LogicalResult FunctionImporter::convertLinear(TSNode *n, Frame &f) {
  auto x = tensorOperand(n, f, 0), w = tensorOperand(n, f, 1);
  if (failed(x) || failed(w))
    return failure();
  Value bias;
  if (n->inputs().size() > 2 && !isNoneOperand(n, f, 2)) {
    auto bv = tensorOperand(n, f, 2);
    if (failed(bv))
      return failure();
    bias = *bv;
  }
  setOutput(n, f, 0,
            finish(b.create<LinearOp>(
                locOf(n, f), unrankedOf(elementTypeOf(*x)), *x, *w, bias)));
  return success();
}

LogicalResult FunctionImporter::convertMatmul(TSNode *n, Frame &f) {
  auto x = tensorOperand(n, f, 0), y = tensorOperand(n, f, 1);
  if (failed(x) || failed(y))
    return failure();
  setOutput(n, f, 0,
            finish(b.create<MatmulOp>(locOf(n, f),
                                      unrankedOf(elementTypeOf(*x)), *x, *y)));
  return success();
}

/// Applies an optional `dtype` argument (a ScalarType constant) by casting.
static FailureOr<Value> applyDtype(FunctionImporter &fi, OpBuilder &b,
                                   Location loc, Value x,
                                   std::optional<int64_t> dtype,
                                   MLIRContext &ctx) {
  if (!dtype)
    return x;
  auto elt = convertScalarType(static_cast<c10::ScalarType>(*dtype), ctx);
  if (failed(elt))
    return failure();
  if (*elt == elementTypeOf(x))
    return x;
  auto type = cast<TensorType>(x.getType());
  return Value(b.create<CastOp>(loc, type.clone(*elt), x));
}

LogicalResult FunctionImporter::convertMean(TSNode *n, Frame &f) {
  auto x = tensorOperand(n, f, 0);
  if (failed(x))
    return failure();
  Location loc = locOf(n, f);
  unsigned dtypeIndex = n->inputs().size() == 2 ? 1 : 3;
  std::optional<int64_t> dtype;
  if (!isNoneOperand(n, f, dtypeIndex)) {
    dtype = constInt(n, f, dtypeIndex);
    if (!dtype)
      return error(n, f) << "the dtype of aten::mean must be a constant";
  }
  SmallVector<int64_t> dims;
  bool keepDims = false;
  if (n->inputs().size() == 2 || isNoneOperand(n, f, 1)) {
    auto ranked = dyn_cast<RankedTensorType>(x->getType());
    if (!ranked)
      return error(n, f) << "aten::mean over all dimensions needs the input's "
                            "rank (give --input-shape hints)";
    for (int64_t i = 0; i < ranked.getRank(); ++i)
      dims.push_back(i);
  } else {
    auto d = requireConstIntList(n, f, 1, "dimensions");
    if (failed(d))
      return failure();
    dims = *d;
  }
  if (n->inputs().size() > 2) {
    auto k = constBool(n, f, 2);
    if (!k)
      return error(n, f) << "keepdim of aten::mean must be a constant";
    keepDims = *k;
  }
  auto in = applyDtype(*this, b, loc, *x, dtype, *ctx);
  if (failed(in))
    return error(n, f) << "unsupported dtype for aten::mean";
  setOutput(n, f, 0,
            finish(b.create<MeanOp>(loc, unrankedOf(elementTypeOf(*in)), *in,
                                    b.getDenseI64ArrayAttr(dims),
                                    b.getBoolAttr(keepDims))));
  return success();
}

LogicalResult FunctionImporter::convertSoftmax(TSNode *n, Frame &f) {
  auto x = tensorOperand(n, f, 0);
  auto dim = requireConstInt(n, f, 1, "dimension");
  if (failed(x) || failed(dim))
    return failure();
  Location loc = locOf(n, f);
  std::optional<int64_t> dtype;
  if (n->inputs().size() > 2 && !isNoneOperand(n, f, 2)) {
    dtype = constInt(n, f, 2);
    if (!dtype)
      return error(n, f) << "the dtype of aten::softmax must be a constant";
  }
  auto in = applyDtype(*this, b, loc, *x, dtype, *ctx);
  if (failed(in))
    return error(n, f) << "unsupported dtype for aten::softmax";
  setOutput(n, f, 0,
            finish(b.create<SoftmaxOp>(loc, unrankedOf(elementTypeOf(*in)), *in,
                                       b.getI64IntegerAttr(*dim))));
  return success();
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult FunctionImporter::convertReshape(TSNode *n, Frame &f) {
  if (tsKind(n, 1) != TypeKind::ListType)
    return error(n, f) << n->kind().toQualString()
                       << " to a dtype is not supported";
  auto x = tensorOperand(n, f, 0);
  auto sizes = intListOperands(n, f, 1);
  if (failed(x) || failed(sizes))
    return failure();
  setOutput(n, f, 0,
            finish(b.create<ReshapeOp>(
                locOf(n, f), unrankedOf(elementTypeOf(*x)), *x, *sizes)));
  return success();
}

LogicalResult FunctionImporter::convertTranspose(TSNode *n, Frame &f) {
  auto x = tensorOperand(n, f, 0);
  auto d0 = requireConstInt(n, f, 1, "dimensions");
  if (failed(x) || failed(d0))
    return failure();
  auto d1 = requireConstInt(n, f, 2, "dimensions");
  if (failed(d1))
    return failure();
  setOutput(n, f, 0,
            finish(b.create<TransposeOp>(
                locOf(n, f), unrankedOf(elementTypeOf(*x)), *x,
                b.getI64IntegerAttr(*d0), b.getI64IntegerAttr(*d1))));
  return success();
}

LogicalResult FunctionImporter::convertPermute(TSNode *n, Frame &f) {
  auto x = tensorOperand(n, f, 0);
  auto dims = requireConstIntList(n, f, 1, "permutation");
  if (failed(x) || failed(dims))
    return failure();
  setOutput(
      n, f, 0,
      finish(b.create<PermuteOp>(locOf(n, f), unrankedOf(elementTypeOf(*x)), *x,
                                 b.getDenseI64ArrayAttr(*dims))));
  return success();
}

LogicalResult FunctionImporter::convertIdentity(TSNode *n, Frame &f) {
  // contiguous / detach / clone: no change of value in an inference graph.
  setOutput(n, f, 0, input(n, f, 0));
  return success();
}

LogicalResult FunctionImporter::convertDropout(TSNode *n, Frame &f) {
  std::optional<bool> train = constBool(n, f, 2);
  if (!train || *train)
    return error(n, f) << "aten::dropout in training mode is not supported";
  setOutput(n, f, 0, input(n, f, 0));
  return success();
}

LogicalResult FunctionImporter::convertUnsqueeze(TSNode *n, Frame &f) {
  auto x = tensorOperand(n, f, 0);
  auto dim = requireConstInt(n, f, 1, "dimension");
  if (failed(x) || failed(dim))
    return failure();
  setOutput(
      n, f, 0,
      finish(b.create<UnsqueezeOp>(locOf(n, f), unrankedOf(elementTypeOf(*x)),
                                   *x, b.getI64IntegerAttr(*dim))));
  return success();
}

LogicalResult FunctionImporter::convertSqueeze(TSNode *n, Frame &f) {
  if (n->inputs().size() < 2 || tsKind(n, 1) != TypeKind::IntType)
    return error(n, f) << "aten::squeeze without a single dimension is not "
                          "supported";
  auto x = tensorOperand(n, f, 0);
  auto dim = requireConstInt(n, f, 1, "dimension");
  if (failed(x) || failed(dim))
    return failure();
  setOutput(
      n, f, 0,
      finish(b.create<SqueezeOp>(locOf(n, f), unrankedOf(elementTypeOf(*x)), *x,
                                 b.getI64IntegerAttr(*dim))));
  return success();
}

LogicalResult FunctionImporter::convertExpand(TSNode *n, Frame &f) {
  auto x = tensorOperand(n, f, 0);
  auto sizes = intListOperands(n, f, 1);
  if (failed(x) || failed(sizes))
    return failure();
  setOutput(n, f, 0,
            finish(b.create<ExpandOp>(
                locOf(n, f), unrankedOf(elementTypeOf(*x)), *x, *sizes)));
  return success();
}

LogicalResult FunctionImporter::convertRepeatInterleave(TSNode *n, Frame &f) {
  if (n->inputs().size() < 3 || tsKind(n, 1) != TypeKind::IntType)
    return error(n, f) << "aten::repeat_interleave is only supported with an "
                          "int count and a dimension";
  auto x = tensorOperand(n, f, 0);
  auto repeats = requireConstInt(n, f, 1, "repeat count");
  if (failed(x) || failed(repeats))
    return failure();
  if (isNoneOperand(n, f, 2))
    return error(n, f) << "aten::repeat_interleave without a dimension (on the "
                          "flattened tensor) is not supported";
  auto dim = requireConstInt(n, f, 2, "dimension");
  if (failed(dim))
    return failure();
  setOutput(n, f, 0,
            finish(b.create<RepeatInterleaveOp>(
                locOf(n, f), unrankedOf(elementTypeOf(*x)), *x,
                b.getI64IntegerAttr(*repeats), b.getI64IntegerAttr(*dim))));
  return success();
}

LogicalResult FunctionImporter::convertSlice(TSNode *n, Frame &f) {
  if (!isTensorInput(n, 0))
    return error(n, f) << "slicing a '" << n->input(0)->type()->annotation_str()
                       << "' is not supported";
  auto x = tensorOperand(n, f, 0);
  auto dim = requireConstInt(n, f, 1, "dimension");
  if (failed(x) || failed(dim))
    return failure();
  auto bound = [&](unsigned i, int64_t dflt) -> FailureOr<Value> {
    if (i >= n->inputs().size() || isNoneOperand(n, f, i))
      return constantI64(dflt);
    return scalarOperand(n, f, i, b.getI64Type());
  };
  auto start = bound(2, 0);
  auto end = bound(3, std::numeric_limits<int64_t>::max());
  auto step = bound(4, 1);
  if (failed(start) || failed(end) || failed(step))
    return failure();
  setOutput(n, f, 0,
            finish(b.create<SliceOp>(locOf(n, f), unrankedOf(elementTypeOf(*x)),
                                     *x, b.getI64IntegerAttr(*dim), *start,
                                     *end, *step)));
  return success();
}

LogicalResult FunctionImporter::convertSelect(TSNode *n, Frame &f) {
  if (tsKind(n, 1) != TypeKind::IntType)
    return error(n, f)
           << "aten::select with a named dimension is not supported";
  auto x = tensorOperand(n, f, 0);
  auto dim = requireConstInt(n, f, 1, "dimension");
  if (failed(x) || failed(dim))
    return failure();
  auto index = scalarOperand(n, f, 2, b.getI64Type());
  if (failed(index))
    return failure();
  setOutput(
      n, f, 0,
      finish(b.create<SelectOp>(locOf(n, f), unrankedOf(elementTypeOf(*x)), *x,
                                b.getI64IntegerAttr(*dim), *index)));
  return success();
}

LogicalResult FunctionImporter::convertNarrow(TSNode *n, Frame &f) {
  if (tsKind(n, 2) != TypeKind::IntType)
    return error(n, f) << "aten::narrow with a tensor start is not supported";
  auto x = tensorOperand(n, f, 0);
  auto dim = requireConstInt(n, f, 1, "dimension");
  if (failed(x) || failed(dim))
    return failure();
  Location loc = locOf(n, f);
  auto start = scalarOperand(n, f, 2, b.getI64Type());
  auto length = scalarOperand(n, f, 3, b.getI64Type());
  if (failed(start) || failed(length))
    return failure();
  Value s = *start;
  std::optional<int64_t> cs = constInt(n, f, 2), cl = constInt(n, f, 3);
  Value end;
  if (cs && *cs >= 0 && cl) {
    end = constantI64(*cs + *cl);
  } else {
    if (!cs || *cs < 0) {
      // A negative start counts from the end of the dimension.
      Value size = b.create<SizeOp>(loc, b.getI64Type(), *x, constantI64(*dim));
      Value neg = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, s,
                                          constantI64(0));
      Value wrapped = b.create<arith::AddIOp>(loc, s, size);
      s = b.create<arith::SelectOp>(loc, neg, wrapped, s);
    }
    end = b.create<arith::AddIOp>(loc, s, *length);
  }
  setOutput(n, f, 0,
            finish(b.create<SliceOp>(loc, unrankedOf(elementTypeOf(*x)), *x,
                                     b.getI64IntegerAttr(*dim), s, end,
                                     constantI64(1))));
  return success();
}

LogicalResult FunctionImporter::convertCat(TSNode *n, Frame &f) {
  auto inputs = tensorListOperands(n, f, 0);
  if (failed(inputs))
    return failure();
  // Like aten::cat, skip 1-d empty tensors (an empty cache: torch.tensor([])).
  llvm::erase_if(*inputs, [](Value v) {
    auto t = dyn_cast<RankedTensorType>(v.getType());
    return t && t.getRank() == 1 && t.getDimSize(0) == 0;
  });
  if (inputs->empty())
    return error(n, f) << "aten::cat of an empty list";
  auto dimOr = optionalConstInt(n, f, 1, 0, "dimension");
  if (failed(dimOr))
    return failure();
  int64_t dim = *dimOr;
  Type elt = elementTypeOf(inputs->front());
  for (Value v : *inputs)
    if (elementTypeOf(v) != elt)
      return error(n, f) << "aten::cat of tensors with different dtypes";
  setOutput(n, f, 0,
            finish(b.create<CatOp>(locOf(n, f), unrankedOf(elt), *inputs,
                                   b.getI64IntegerAttr(dim))));
  return success();
}

LogicalResult FunctionImporter::convertEmbedding(TSNode *n, Frame &f) {
  auto w = tensorOperand(n, f, 0), idx = tensorOperand(n, f, 1);
  if (failed(w) || failed(idx))
    return failure();
  Location loc = locOf(n, f);
  Value indices = *idx;
  if (!isa<IntegerType>(elementTypeOf(indices)) ||
      elementTypeOf(indices).isInteger(1) ||
      elementTypeOf(indices).isUnsignedInteger())
    indices = withElementType(indices, b.getI64Type(), loc);
  setOutput(n, f, 0,
            finish(b.create<EmbeddingOp>(loc, unrankedOf(elementTypeOf(*w)), *w,
                                         indices)));
  return success();
}

LogicalResult FunctionImporter::convertTo(TSNode *n, Frame &f) {
  auto x = tensorOperand(n, f, 0);
  if (failed(x))
    return failure();
  Location loc = locOf(n, f);
  unsigned count = n->inputs().size();
  // Find the dtype argument of this overload.
  std::optional<unsigned> dtypeIndex;
  Type target;
  if (count > 1 && tsKind(n, 1) == TypeKind::TensorType) {
    auto other = tensorOperand(n, f, 1); // to(other): other's dtype
    if (failed(other))
      return failure();
    target = elementTypeOf(*other);
  } else if (count > 1 && (tsKind(n, 1) == TypeKind::DeviceObjType ||
                           (tsKind(n, 1) == TypeKind::OptionalType &&
                            n->input(1)
                                    ->type()
                                    ->expectRef<c10::OptionalType>()
                                    .getElementType()
                                    ->kind() == TypeKind::DeviceObjType))) {
    dtypeIndex = 2; // to.device, to.prim_Device
  } else if (count > 1) {
    dtypeIndex = 1; // to.dtype, to.dtype_layout, to.prim_dtype
  }
  if (dtypeIndex && *dtypeIndex < count && !isNoneOperand(n, f, *dtypeIndex)) {
    std::optional<int64_t> dtype = constInt(n, f, *dtypeIndex);
    if (!dtype)
      return error(n, f) << "the dtype of aten::to must be a constant";
    auto elt = convertScalarType(static_cast<c10::ScalarType>(*dtype), *ctx);
    if (failed(elt))
      return error(n, f) << "aten::to an unsupported dtype";
    target = *elt;
  }
  if (!target || target == elementTypeOf(*x)) {
    setOutput(n, f, 0, *x);
    return success();
  }
  auto type = cast<TensorType>(x->getType());
  setOutput(n, f, 0, finish(b.create<CastOp>(loc, type.clone(target), *x)));
  return success();
}

LogicalResult FunctionImporter::convertTypeAs(TSNode *n, Frame &f) {
  auto x = tensorOperand(n, f, 0), other = tensorOperand(n, f, 1);
  if (failed(x) || failed(other))
    return failure();
  Type target = elementTypeOf(*other);
  if (target == elementTypeOf(*x)) {
    setOutput(n, f, 0, *x);
    return success();
  }
  auto type = cast<TensorType>(x->getType());
  setOutput(n, f, 0,
            finish(b.create<CastOp>(locOf(n, f), type.clone(target), *x)));
  return success();
}

LogicalResult FunctionImporter::convertMaskedFill(TSNode *n, Frame &f) {
  auto x = tensorOperand(n, f, 0), mask = tensorOperand(n, f, 1);
  if (failed(x) || failed(mask))
    return failure();
  Location loc = locOf(n, f);
  Type elt = elementTypeOf(*x);
  auto value = tensorOrScalarOperand(n, f, 2, elt);
  if (failed(value))
    return failure();
  Value cond = withElementType(*mask, b.getI1Type(), loc);
  setOutput(n, f, 0,
            finish(b.create<WhereOp>(loc, unrankedOf(elt), cond, *value, *x)));
  return success();
}

LogicalResult FunctionImporter::convertWhere(TSNode *n, Frame &f) {
  if (n->inputs().size() != 3)
    return error(n, f) << "aten::where(condition) (nonzero) is not supported";
  auto cond = tensorOperand(n, f, 0);
  if (failed(cond))
    return failure();
  bool lScalar, rScalar;
  Type lt = promotionType(n, f, 1, lScalar);
  Type rt = promotionType(n, f, 2, rScalar);
  if (!lt || !rt)
    return failure();
  Type elt = promote(lt, lScalar, rt, rScalar);
  Location loc = locOf(n, f);
  auto lhs = tensorOrScalarOperand(n, f, 1, elt);
  auto rhs = tensorOrScalarOperand(n, f, 2, elt);
  if (failed(lhs) || failed(rhs))
    return failure();
  Value c = withElementType(*cond, b.getI1Type(), loc);
  setOutput(n, f, 0,
            finish(b.create<WhereOp>(loc, unrankedOf(elt), c, *lhs, *rhs)));
  return success();
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

/// Values of a constant (attribute or literal) tensor operand.
static const at::Tensor *constTensor(Entry &e) {
  if (e.kind == Entry::Kind::Constant && e.ivalue.isTensor())
    return &e.ivalue.toTensor();
  return nullptr;
}

LogicalResult FunctionImporter::convertFakeQuant(TSNode *n, Frame &f) {
  auto x = tensorOperand(n, f, 0);
  if (failed(x))
    return failure();
  auto nonConstant = [&](llvm::StringRef what) {
    return error(n, f)
           << "the " << what << " of " << n->kind().toQualString()
           << " must be a constant (a module attribute or literal) at import, "
              "but it is computed in the graph";
  };
  std::optional<double> scale;
  if (const at::Tensor *t = constTensor(input(n, f, 1))) {
    if (t->numel() != 1)
      return error(n, f) << "per-tensor fake quant with " << t->numel()
                         << " scales";
    scale = t->item<double>();
  } else {
    scale = constDouble(n, f, 1);
  }
  if (!scale)
    return nonConstant("scale");
  std::optional<int64_t> zp;
  if (const at::Tensor *t = constTensor(input(n, f, 2))) {
    if (t->numel() != 1)
      return error(n, f) << "per-tensor fake quant with " << t->numel()
                         << " zero points";
    zp = t->item<int64_t>();
  } else {
    zp = constInt(n, f, 2);
  }
  if (!zp)
    return nonConstant("zero point");
  std::optional<int64_t> qmin = constInt(n, f, 3), qmax = constInt(n, f, 4);
  if (!qmin || !qmax)
    return nonConstant("quant_min/quant_max");
  setOutput(n, f, 0,
            finish(b.create<FakeQuantOp>(
                locOf(n, f), x->getType(), *x, b.getF64FloatAttr(*scale),
                b.getI64IntegerAttr(*zp), b.getI64IntegerAttr(*qmin),
                b.getI64IntegerAttr(*qmax))));
  return success();
}

LogicalResult FunctionImporter::convertFakeQuantPerChannel(TSNode *n,
                                                           Frame &f) {
  auto x = tensorOperand(n, f, 0);
  if (failed(x))
    return failure();
  auto nonConstant = [&](llvm::StringRef what) {
    return error(n, f)
           << "the " << what << " of " << n->kind().toQualString()
           << " must be a constant (a module buffer or literal) at import, "
              "but it is computed in the graph";
  };
  const at::Tensor *scales = constTensor(input(n, f, 1));
  if (!scales)
    return nonConstant("scales");
  const at::Tensor *zps = constTensor(input(n, f, 2));
  if (!zps)
    return nonConstant("zero points");
  std::optional<int64_t> axis = constInt(n, f, 3), qmin = constInt(n, f, 4),
                         qmax = constInt(n, f, 5);
  if (!axis)
    return nonConstant("axis");
  if (!qmin || !qmax)
    return nonConstant("quant_min/quant_max");
  if (scales->dim() != 1 || zps->dim() != 1 || scales->numel() != zps->numel())
    return error(n, f) << "per-channel fake quant needs 1-d scales and zero "
                          "points of one length";
  at::Tensor s = scales->to(at::kDouble).contiguous();
  at::Tensor z = zps->to(at::kLong).contiguous();
  SmallVector<double> sv(s.data_ptr<double>(),
                         s.data_ptr<double>() + s.numel());
  SmallVector<int64_t> zv(z.data_ptr<int64_t>(),
                          z.data_ptr<int64_t>() + z.numel());
  setOutput(n, f, 0,
            finish(b.create<FakeQuantPerAxisOp>(
                locOf(n, f), x->getType(), *x, b.getI64IntegerAttr(*axis),
                b.getDenseF64ArrayAttr(sv), b.getDenseI64ArrayAttr(zv),
                b.getI64IntegerAttr(*qmin), b.getI64IntegerAttr(*qmax))));
  return success();
}

//===----------------------------------------------------------------------===//
// The table
//===----------------------------------------------------------------------===//

const llvm::StringMap<FunctionImporter::Converter> &
FunctionImporter::converters() {
  using FI = FunctionImporter;
  static const llvm::StringMap<Converter> table = {
      // Structure and values.
      {"prim::Constant", &FI::convertConstant},
      {"prim::GetAttr", &FI::convertGetAttr},
      {"prim::CallMethod", &FI::convertCallMethod},
      {"prim::CallFunction", &FI::convertCallFunction},
      {"prim::If", &FI::convertIf},
      {"prim::Loop", &FI::convertLoop},
      {"prim::ListConstruct", &FI::convertListConstruct},
      {"prim::ListUnpack", &FI::convertListUnpack},
      {"prim::TupleConstruct", &FI::convertTupleConstruct},
      {"prim::TupleUnpack", &FI::convertTupleUnpack},
      {"prim::TupleIndex", &FI::convertTupleIndex},
      {"prim::unchecked_cast", &FI::convertUncheckedCast},
      {"prim::NumToTensor", &FI::convertNumToTensor},
      {"aten::__getitem__", &FI::convertGetItem},
      {"aten::append", &FI::convertAppend},
      {"aten::__is__", &FI::convertIs},
      {"aten::__isnot__", &FI::convertIs},
      // Scalars.
      {"aten::__not__", &FI::convertNot},
      {"aten::__and__", &FI::convertBoolBinary},
      {"aten::__or__", &FI::convertBoolBinary},
      {"aten::eq", &FI::convertCompare},
      {"aten::ne", &FI::convertCompare},
      {"aten::lt", &FI::convertCompare},
      {"aten::le", &FI::convertCompare},
      {"aten::gt", &FI::convertCompare},
      {"aten::ge", &FI::convertCompare},
      {"aten::Int", &FI::convertScalarCast},
      {"aten::Float", &FI::convertScalarCast},
      {"aten::Bool", &FI::convertScalarCast},
      {"aten::ScalarImplicit", &FI::convertScalarCast},
      {"aten::floor_divide", &FI::convertFloorDivide},
      {"aten::size", &FI::convertSize},
      {"aten::dim", &FI::convertDim},
      {"aten::floordiv", &FI::convertScalarArith},
      {"aten::remainder", &FI::convertArith},
      // Tensors (and the scalar overloads of add/sub/mul/div/neg).
      {"aten::add", &FI::convertArith},
      {"aten::sub", &FI::convertArith},
      {"aten::mul", &FI::convertArith},
      {"aten::div", &FI::convertArith},
      {"aten::rsub", &FI::convertRsub},
      {"aten::neg", &FI::convertNeg},
      {"aten::rsqrt", &FI::convertUnary},
      {"aten::silu", &FI::convertUnary},
      {"aten::sigmoid", &FI::convertUnary},
      {"aten::pow", &FI::convertPow},
      {"aten::linear", &FI::convertLinear},
      {"aten::matmul", &FI::convertMatmul},
      {"aten::mean", &FI::convertMean},
      {"aten::softmax", &FI::convertSoftmax},
      {"aten::view", &FI::convertReshape},
      {"aten::reshape", &FI::convertReshape},
      {"aten::transpose", &FI::convertTranspose},
      {"aten::permute", &FI::convertPermute},
      {"aten::contiguous", &FI::convertIdentity},
      {"aten::detach", &FI::convertIdentity},
      {"aten::clone", &FI::convertIdentity},
      {"aten::dropout", &FI::convertDropout},
      {"aten::unsqueeze", &FI::convertUnsqueeze},
      {"aten::squeeze", &FI::convertSqueeze},
      {"aten::expand", &FI::convertExpand},
      {"aten::repeat_interleave", &FI::convertRepeatInterleave},
      {"aten::slice", &FI::convertSlice},
      {"aten::select", &FI::convertSelect},
      {"aten::narrow", &FI::convertNarrow},
      {"aten::cat", &FI::convertCat},
      {"aten::embedding", &FI::convertEmbedding},
      {"aten::to", &FI::convertTo},
      {"aten::type_as", &FI::convertTypeAs},
      {"aten::masked_fill", &FI::convertMaskedFill},
      {"aten::where", &FI::convertWhere},
      {"aten::fake_quantize_per_tensor_affine", &FI::convertFakeQuant},
      {"aten::fake_quantize_per_channel_affine",
       &FI::convertFakeQuantPerChannel},
      // Composites (CompositeOps.cpp).
      {"aten::scaled_dot_product_attention",
       &FI::convertScaledDotProductAttention},
      {"circle_custom::rms_norm", &FI::convertRmsNorm},
      {"aten::chunk", &FI::convertChunk},
      {"aten::stack", &FI::convertStack},
  };
  return table;
}
