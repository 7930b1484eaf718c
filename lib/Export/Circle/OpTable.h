//===- OpTable.h - circle ops <-> builtin operators, types <-> TensorType -===//
#ifndef KILN_LIB_EXPORT_CIRCLE_OPTABLE_H
#define KILN_LIB_EXPORT_CIRCLE_OPTABLE_H

#include "Schema.h"

#include "mlir/IR/Operation.h"
#include "mlir/IR/Types.h"

#include <optional>

namespace kiln::circle {

/// The builtin operator a circle op is written as (from the op's
/// getBuiltinOperatorName()), or nullopt for circle.const and non-circle ops.
/// `name` receives the builtin name even if Kiln's schema lacks it.
std::optional<fb::BuiltinOperator>
getBuiltinOperator(mlir::Operation *op, llvm::StringRef *name = nullptr);

/// The circle op name ("circle.add") written as `code`, if any.
std::optional<llvm::StringRef> getOperationName(int32_t code);

/// Name of a builtin code ("FULLY_CONNECTED"), or its number.
std::string getBuiltinName(int32_t code);
/// Name of a TensorType code ("INT8"), or its number.
std::string getTensorTypeName(int8_t type);

/// Circle-only builtin operators have negative codes.
inline bool isCircleOnly(fb::BuiltinOperator code) {
  return static_cast<int32_t>(code) < 0;
}

/// TensorType of an element type: a builtin integer or float, or the storage
/// of a quantized type. nullopt for anything else.
std::optional<fb::TensorType> getTensorType(mlir::Type elementType);

/// Element type of a non-quantized tensor of `type`, nullptr if unknown.
mlir::Type getElementType(int8_t type, mlir::MLIRContext *context);
/// Storage width and signedness of an integer TensorType (BOOL excluded).
bool getIntegerStorage(int8_t type, unsigned &width, bool &isSigned);
/// Bit width of one element of `type` (4 for INT4/UINT4), 0 if unknown.
unsigned getTensorTypeBitWidth(int8_t type);

} // namespace kiln::circle

#endif
