//===- TypeMapping.cpp - TorchScript types and values in kiln -------------===//
#include "ImporterImpl.h"

#include "kiln/Dialect/Kiln/IR/KilnOps.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"

#include <torch/csrc/jit/frontend/function_schema_parser.h>

using namespace mlir;

namespace kiln::torchscript {

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

FailureOr<Type> convertScalarType(c10::ScalarType type, MLIRContext &ctx) {
  switch (type) {
  case c10::ScalarType::Float:
    return Type(Float32Type::get(&ctx));
  case c10::ScalarType::Double:
    return Type(Float64Type::get(&ctx));
  case c10::ScalarType::Half:
    return Type(Float16Type::get(&ctx));
  case c10::ScalarType::BFloat16:
    return Type(BFloat16Type::get(&ctx));
  case c10::ScalarType::Long:
    return Type(IntegerType::get(&ctx, 64));
  case c10::ScalarType::Int:
    return Type(IntegerType::get(&ctx, 32));
  case c10::ScalarType::Short:
    return Type(IntegerType::get(&ctx, 16));
  case c10::ScalarType::Char:
    return Type(IntegerType::get(&ctx, 8));
  case c10::ScalarType::Byte:
    return Type(IntegerType::get(&ctx, 8, IntegerType::Unsigned));
  case c10::ScalarType::Bool:
    return Type(IntegerType::get(&ctx, 1));
  default:
    return failure();
  }
}

FailureOr<Type> convertScalarTypeName(llvm::StringRef name, MLIRContext &ctx) {
#define KILN_SCALAR_NAME(_, n)                                                 \
  if (name == #n)                                                              \
    return convertScalarType(c10::ScalarType::n, ctx);
  AT_FORALL_SCALAR_TYPES_WITH_COMPLEX_AND_QINTS(KILN_SCALAR_NAME)
#undef KILN_SCALAR_NAME
  if (name == "Bool")
    return convertScalarType(c10::ScalarType::Bool, ctx);
  if (name == "Half")
    return convertScalarType(c10::ScalarType::Half, ctx);
  if (name == "BFloat16")
    return convertScalarType(c10::ScalarType::BFloat16, ctx);
  return failure();
}

Type unrankedOf(Type elementType) {
  return UnrankedTensorType::get(elementType);
}

Type elementTypeOf(Value value) {
  if (auto t = dyn_cast<TensorType>(value.getType()))
    return t.getElementType();
  return {};
}

FailureOr<Type> convertType(const c10::TypePtr &type, MLIRContext &ctx,
                            std::string &error) {
  using c10::TypeKind;
  switch (type->kind()) {
  case TypeKind::TensorType: {
    Type elt = Float32Type::get(&ctx);
    if (auto st = type->expectRef<c10::TensorType>().scalarType()) {
      auto converted = convertScalarType(*st, ctx);
      if (failed(converted)) {
        error = std::string("unsupported tensor dtype ") + c10::toString(*st);
        return failure();
      }
      elt = *converted;
    }
    return unrankedOf(elt);
  }
  case TypeKind::IntType:
    return Type(IntegerType::get(&ctx, 64));
  case TypeKind::FloatType:
    return Type(Float64Type::get(&ctx));
  case TypeKind::BoolType:
    return Type(IntegerType::get(&ctx, 1));
  case TypeKind::NoneType:
    return Type(NoneType::get(&ctx));
  case TypeKind::OptionalType: {
    auto inner = convertType(
        type->expectRef<c10::OptionalType>().getElementType(), ctx, error);
    if (failed(inner))
      return failure();
    return Type(OptionalType::get(&ctx, *inner));
  }
  case TypeKind::TupleType: {
    SmallVector<Type> elements;
    for (const c10::TypePtr &el :
         type->expectRef<c10::TupleType>().elements()) {
      auto converted = convertType(el, ctx, error);
      if (failed(converted))
        return failure();
      elements.push_back(*converted);
    }
    return Type(TupleType::get(&ctx, elements));
  }
  case TypeKind::ListType: {
    auto inner = convertType(type->expectRef<c10::ListType>().getElementType(),
                             ctx, error);
    if (failed(inner))
      return failure();
    return Type(ListType::get(&ctx, *inner));
  }
  default:
    error = "TorchScript type '" + type->annotation_str() +
            "' has no kiln value type";
    return failure();
  }
}

FailureOr<Type> convertTypeString(llvm::StringRef type, MLIRContext &ctx,
                                  std::string &error) {
  try {
    // The schema parser is LibTorch's own TorchScript type syntax.
    c10::FunctionSchema schema =
        torch::jit::parseSchema("kiln::f(" + type.str() + " x) -> ()");
    return convertType(schema.arguments().at(0).type(), ctx, error);
  } catch (const std::exception &e) {
    error = "cannot parse TorchScript type '" + type.str() + "'";
    return failure();
  }
}

Type joinTypes(Type a, Type b) {
  if (!a || !b)
    return {};
  if (a == b)
    return a;
  MLIRContext *ctx = a.getContext();
  // None joins with T (or Optional[T]) to Optional[T].
  if (isa<NoneType>(a) || isa<NoneType>(b)) {
    Type other = isa<NoneType>(a) ? b : a;
    if (isa<OptionalType>(other))
      return other;
    return OptionalType::get(ctx, other);
  }
  auto optA = dyn_cast<OptionalType>(a), optB = dyn_cast<OptionalType>(b);
  if (optA || optB) {
    Type inner = joinTypes(optA ? optA.getElementType() : a,
                           optB ? optB.getElementType() : b);
    return inner ? OptionalType::get(ctx, inner) : Type();
  }
  auto tupA = dyn_cast<TupleType>(a), tupB = dyn_cast<TupleType>(b);
  if (tupA && tupB) {
    if (tupA.size() != tupB.size())
      return {};
    SmallVector<Type> elements;
    for (auto [x, y] : llvm::zip(tupA.getTypes(), tupB.getTypes())) {
      Type j = joinTypes(x, y);
      if (!j)
        return {};
      elements.push_back(j);
    }
    return TupleType::get(ctx, elements);
  }
  auto tA = dyn_cast<TensorType>(a), tB = dyn_cast<TensorType>(b);
  if (tA && tB) {
    if (tA.getElementType() != tB.getElementType())
      return {};
    if (!tA.hasRank() || !tB.hasRank() || tA.getRank() != tB.getRank())
      return UnrankedTensorType::get(tA.getElementType());
    SmallVector<int64_t> shape;
    for (auto [x, y] : llvm::zip(tA.getShape(), tB.getShape()))
      shape.push_back(x == y ? x : ShapedType::kDynamic);
    return RankedTensorType::get(shape, tA.getElementType());
  }
  return {};
}

FailureOr<Value> coerceValue(OpBuilder &b, Location loc, Value value,
                             Type type) {
  Type from = value.getType();
  if (from == type)
    return value;
  if (auto opt = dyn_cast<OptionalType>(type)) {
    if (isa<NoneType>(from))
      return Value(b.create<NoneOp>(loc, type));
    if (isa<OptionalType>(from))
      return failure();
    auto inner = coerceValue(b, loc, value, opt.getElementType());
    if (failed(inner))
      return failure();
    return Value(b.create<SomeOp>(loc, type, *inner));
  }
  if (auto tuple = dyn_cast<TupleType>(type)) {
    auto fromTuple = dyn_cast<TupleType>(from);
    if (!fromTuple || fromTuple.size() != tuple.size())
      return failure();
    SmallVector<Value> elements;
    for (auto [i, t] : llvm::enumerate(tuple.getTypes())) {
      Value el;
      if (auto construct = value.getDefiningOp<TupleOp>())
        el = construct.getElements()[i];
      else
        el = b.create<TupleGetOp>(loc, fromTuple.getType(i), value,
                                  b.getI64IntegerAttr(i));
      auto coerced = coerceValue(b, loc, el, t);
      if (failed(coerced))
        return failure();
      elements.push_back(*coerced);
    }
    return Value(b.create<TupleOp>(loc, type, elements));
  }
  auto toT = dyn_cast<TensorType>(type), fromT = dyn_cast<TensorType>(from);
  if (toT && fromT && toT.getElementType() == fromT.getElementType() &&
      tensor::CastOp::areCastCompatible(fromT, toT))
    return Value(b.create<tensor::CastOp>(loc, type, value));
  return failure();
}

//===----------------------------------------------------------------------===//
// Input shape hints
//===----------------------------------------------------------------------===//

FailureOr<InputShapeHint> parseInputShapeHint(llvm::StringRef hint,
                                              MLIRContext &ctx,
                                              std::string &error) {
  auto [lhs, rhs] = hint.split('=');
  if (lhs.empty() || rhs.empty()) {
    error = "input shape hint '" + hint.str() +
            "' is not of the form name=1x16x64xf32";
    return failure();
  }
  InputShapeHint result;
  SmallVector<StringRef> parts;
  lhs.split(parts, '.');
  result.name = parts.front().str();
  for (StringRef p : llvm::drop_begin(parts)) {
    unsigned index;
    if (p.getAsInteger(10, index)) {
      error = "input shape hint '" + hint.str() + "': '" + p.str() +
              "' is not a tuple element index";
      return failure();
    }
    result.path.push_back(index);
  }
  std::string spec = "tensor<" + rhs.str() + ">";
  size_t consumed = 0;
  // The parser's own diagnostic is replaced by the message below.
  ScopedDiagnosticHandler silence(&ctx, [](Diagnostic &) { return success(); });
  Type type =
      mlir::parseType(spec, &ctx, &consumed, /*isKnownNullTerminated=*/false);
  auto tensor = dyn_cast_or_null<TensorType>(type);
  if (!tensor || consumed != spec.size()) {
    error = "input shape hint '" + hint.str() + "': '" + rhs.str() +
            "' is not a shape like 1x16x64xf32";
    return failure();
  }
  result.type = tensor;
  return result;
}

FailureOr<Type> applyShapeHint(Type type, llvm::ArrayRef<unsigned> path,
                               TensorType hint) {
  MLIRContext *ctx = type.getContext();
  if (auto opt = dyn_cast<OptionalType>(type)) {
    auto inner = applyShapeHint(opt.getElementType(), path, hint);
    if (failed(inner))
      return failure();
    return Type(OptionalType::get(ctx, *inner));
  }
  if (path.empty()) {
    if (!isa<TensorType>(type))
      return failure();
    return Type(hint);
  }
  auto tuple = dyn_cast<TupleType>(type);
  if (!tuple || path.front() >= tuple.size())
    return failure();
  SmallVector<Type> elements(tuple.getTypes());
  auto inner = applyShapeHint(elements[path.front()], path.drop_front(), hint);
  if (failed(inner))
    return failure();
  elements[path.front()] = *inner;
  return Type(TupleType::get(ctx, elements));
}

//===----------------------------------------------------------------------===//
// Tensors as attributes
//===----------------------------------------------------------------------===//

DenseResourceElementsAttr borrowResource(ShapedType type, llvm::StringRef name,
                                         llvm::ArrayRef<char> data,
                                         std::function<void()> release) {
  // The largest power of two (up to 64) the address is aligned to.
  uintptr_t address = reinterpret_cast<uintptr_t>(data.data());
  size_t alignment = 64;
  while (alignment > 1 && address % alignment)
    alignment /= 2;
  AsmResourceBlob blob(
      data, alignment,
      [release = std::move(release)](void *, size_t, size_t) {
        if (release)
          release();
      },
      /*dataIsMutable=*/false);
  return DenseResourceElementsAttr::get(type, name, std::move(blob));
}

FailureOr<ElementsAttr> tensorToAttr(const at::Tensor &tensor,
                                     llvm::StringRef name, MLIRContext &ctx,
                                     std::string &error, bool preferDense,
                                     std::function<void()> onRelease) {
  if (tensor.device().type() != c10::kCPU) {
    error = "tensor '" + name.str() + "' is not on the CPU";
    return failure();
  }
  auto elt = convertScalarType(tensor.scalar_type(), ctx);
  if (failed(elt)) {
    error = std::string("tensor '") + name.str() + "' has unsupported dtype " +
            c10::toString(tensor.scalar_type());
    return failure();
  }
  SmallVector<int64_t> shape(tensor.sizes().begin(), tensor.sizes().end());
  auto type = RankedTensorType::get(shape, *elt);
  // Contiguous tensors (all parameters) are borrowed as they are; anything
  // else is made contiguous once, and the blob owns that copy.
  at::Tensor data = tensor.contiguous();
  int64_t bytes = data.numel() * static_cast<int64_t>(data.element_size());
  bool dense = preferDense || tensor.scalar_type() == c10::ScalarType::Bool ||
               data.numel() == 0;
  if (dense) {
    if (tensor.scalar_type() == c10::ScalarType::Bool) {
      at::Tensor bytesTensor = data.to(c10::ScalarType::Byte);
      const uint8_t *p = bytesTensor.data_ptr<uint8_t>();
      SmallVector<bool> values(p, p + bytesTensor.numel());
      if (onRelease)
        onRelease();
      return ElementsAttr(DenseElementsAttr::get(type, values));
    }
    auto attr = DenseElementsAttr::getFromRawBuffer(
        type,
        ArrayRef<char>(static_cast<const char *>(data.data_ptr()), bytes));
    if (onRelease)
      onRelease();
    return ElementsAttr(attr);
  }
  ArrayRef<char> raw(static_cast<const char *>(data.data_ptr()), bytes);
  // The deleter owns a reference to the tensor: its storage lives as long as
  // the blob (i.e. the MLIRContext), however long the torch module lives.
  auto keep = std::make_shared<at::Tensor>(data);
  return ElementsAttr(
      borrowResource(type, name, raw, [keep, onRelease]() mutable {
        keep.reset();
        if (onRelease)
          onRelease();
      }));
}

TensorImportForTest importTensorForTest(MLIRContext &ctx,
                                        llvm::StringRef scalarTypeName,
                                        llvm::ArrayRef<int64_t> shape,
                                        llvm::StringRef name, bool transposed,
                                        std::function<void()> onRelease) {
  TensorImportForTest result;
  try {
    c10::ScalarType st = c10::ScalarType::Float;
#define KILN_SCALAR_NAME(_, n)                                                 \
  if (scalarTypeName == #n)                                                    \
    st = c10::ScalarType::n;
    AT_FORALL_SCALAR_TYPES_AND3(Bool, Half, BFloat16, KILN_SCALAR_NAME)
#undef KILN_SCALAR_NAME
    int64_t numel = 1;
    for (int64_t d : shape)
      numel *= d;
    at::Tensor t = at::arange(numel, at::TensorOptions().dtype(at::kLong));
    if (st == c10::ScalarType::Bool)
      t = t.remainder(2);
    t = t.to(st).reshape(std::vector<int64_t>(shape.begin(), shape.end()));
    if (transposed)
      t = t.t();
    std::string error;
    auto attr = tensorToAttr(t, name, ctx, error, /*preferDense=*/false,
                             std::move(onRelease));
    if (succeeded(attr))
      result.attr = *attr;
    result.tensorData = t.data_ptr();
  } catch (const std::exception &) {
  }
  return result;
}

} // namespace kiln::torchscript
