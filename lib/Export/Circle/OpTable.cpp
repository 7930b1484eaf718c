//===- OpTable.cpp - circle ops <-> builtin operators ---------------------===//
#include "OpTable.h"

#include "kiln/Dialect/Circle/IR/CircleOps.h"

#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace kiln::circle;

namespace {
/// Builtin operator name of each circle op, collected from the ODS list.
struct OpNames {
  llvm::StringMap<llvm::StringRef> builtinOfOp; // circle.add -> ADD
  llvm::StringMap<llvm::StringRef> opOfBuiltin; // ADD -> circle.add

  template <typename... OpTys> static OpNames collect() {
    OpNames names;
    (names.add(OpTys::getOperationName(), OpTys::getBuiltinOperatorName()),
     ...);
    return names;
  }
  void add(llvm::StringRef op, llvm::StringRef builtin) {
    if (builtin.empty())
      return; // circle.const: a buffer, not an operator
    builtinOfOp[op] = builtin;
    opOfBuiltin[builtin] = op;
  }
};

const OpNames &getOpNames() {
  static const OpNames names = OpNames::collect<
#define GET_OP_LIST
#include "kiln/Dialect/Circle/CircleOps.cpp.inc"
      >();
  return names;
}

std::optional<fb::BuiltinOperator> lookupBuiltin(llvm::StringRef name) {
  for (fb::BuiltinOperator code : fb::EnumValuesBuiltinOperator())
    if (name == fb::EnumNameBuiltinOperator(code))
      return code;
  return std::nullopt;
}
} // namespace

std::optional<fb::BuiltinOperator>
kiln::circle::getBuiltinOperator(Operation *op, llvm::StringRef *name) {
  const OpNames &names = getOpNames();
  auto it = names.builtinOfOp.find(op->getName().getStringRef());
  if (it == names.builtinOfOp.end())
    return std::nullopt;
  if (name)
    *name = it->second;
  return lookupBuiltin(it->second);
}

std::optional<llvm::StringRef> kiln::circle::getOperationName(int32_t code) {
  const char *builtin =
      fb::EnumNameBuiltinOperator(static_cast<fb::BuiltinOperator>(code));
  if (!builtin || !*builtin)
    return std::nullopt;
  const OpNames &names = getOpNames();
  auto it = names.opOfBuiltin.find(builtin);
  if (it == names.opOfBuiltin.end())
    return std::nullopt;
  return it->second;
}

std::string kiln::circle::getBuiltinName(int32_t code) {
  const char *name =
      fb::EnumNameBuiltinOperator(static_cast<fb::BuiltinOperator>(code));
  if (name && *name)
    return name;
  return "BUILTIN_" + std::to_string(code);
}

std::string kiln::circle::getTensorTypeName(int8_t type) {
  const char *name = fb::EnumNameTensorType(static_cast<fb::TensorType>(type));
  if (name && *name)
    return name;
  return "TYPE_" + std::to_string(type);
}

static std::optional<fb::TensorType> integerTensorType(unsigned width,
                                                       bool isSigned) {
  using T = fb::TensorType;
  switch (width) {
  case 4:
    return isSigned ? T::INT4 : T::UINT4;
  case 8:
    return isSigned ? T::INT8 : T::UINT8;
  case 16:
    return isSigned ? T::INT16 : T::UINT16;
  case 32:
    return isSigned ? T::INT32 : T::UINT32;
  case 64:
    return isSigned ? T::INT64 : T::UINT64;
  default:
    return std::nullopt;
  }
}

std::optional<fb::TensorType> kiln::circle::getTensorType(Type type) {
  using T = fb::TensorType;
  if (auto q = dyn_cast<quant::QuantizedType>(type))
    return integerTensorType(q.getStorageTypeIntegralWidth(), q.isSigned());
  if (auto i = dyn_cast<IntegerType>(type)) {
    if (i.getWidth() == 1)
      return T::BOOL;
    return integerTensorType(i.getWidth(), !i.isUnsigned());
  }
  if (type.isF32())
    return T::FLOAT32;
  if (type.isF16())
    return T::FLOAT16;
  if (type.isBF16())
    return T::BFLOAT16;
  if (type.isF64())
    return T::FLOAT64;
  return std::nullopt;
}

bool kiln::circle::getIntegerStorage(int8_t type, unsigned &width,
                                     bool &isSigned) {
  using T = fb::TensorType;
  switch (static_cast<T>(type)) {
  case T::INT4:
    width = 4;
    isSigned = true;
    return true;
  case T::UINT4:
    width = 4;
    isSigned = false;
    return true;
  case T::INT8:
    width = 8;
    isSigned = true;
    return true;
  case T::UINT8:
    width = 8;
    isSigned = false;
    return true;
  case T::INT16:
    width = 16;
    isSigned = true;
    return true;
  case T::UINT16:
    width = 16;
    isSigned = false;
    return true;
  case T::INT32:
    width = 32;
    isSigned = true;
    return true;
  case T::UINT32:
    width = 32;
    isSigned = false;
    return true;
  case T::INT64:
    width = 64;
    isSigned = true;
    return true;
  case T::UINT64:
    width = 64;
    isSigned = false;
    return true;
  default:
    return false;
  }
}

Type kiln::circle::getElementType(int8_t type, MLIRContext *context) {
  using T = fb::TensorType;
  Builder b(context);
  switch (static_cast<T>(type)) {
  case T::FLOAT32:
    return b.getF32Type();
  case T::FLOAT16:
    return b.getF16Type();
  case T::BFLOAT16:
    return b.getBF16Type();
  case T::FLOAT64:
    return b.getF64Type();
  case T::BOOL:
    return b.getI1Type();
  default:
    break;
  }
  unsigned width;
  bool isSigned;
  if (!getIntegerStorage(type, width, isSigned))
    return nullptr;
  // Signed integers are signless in MLIR; unsigned ones keep their sign.
  return isSigned ? IntegerType::get(context, width)
                  : IntegerType::get(context, width, IntegerType::Unsigned);
}

unsigned kiln::circle::getTensorTypeBitWidth(int8_t type) {
  using T = fb::TensorType;
  switch (static_cast<T>(type)) {
  case T::FLOAT32:
    return 32;
  case T::FLOAT16:
  case T::BFLOAT16:
    return 16;
  case T::FLOAT64:
    return 64;
  case T::BOOL:
    return 8;
  default:
    break;
  }
  unsigned width;
  bool isSigned;
  return getIntegerStorage(type, width, isSigned) ? width : 0;
}
