//===- TypeMapping.h - TorchScript types and values in kiln -----*- C++ -*-===//
//
// The type and value mapping rules of the TorchScript importer, exposed
// without LibTorch types (so that LLVM-flag code and unit tests can use them).
//
//   Tensor               -> tensor<*xf32> (the dtype when known: i64, i1, ...)
//   int / float / bool   -> i64 / f64 / i1
//   None                 -> !kiln.none
//   Optional[T]          -> !kiln.optional<T>
//   Tuple[A, B]          -> tuple<A, B>
//   List[T]              -> !kiln.list<T>
//
//===----------------------------------------------------------------------===//
#ifndef KILN_IMPORT_TORCHSCRIPT_TYPEMAPPING_H
#define KILN_IMPORT_TORCHSCRIPT_TYPEMAPPING_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <functional>
#include <string>

namespace kiln::torchscript {

/// Maps a TorchScript type written as in a schema ("Tensor", "int[]",
/// "(Tensor, Tensor)?") to its kiln type. On failure `error` says why.
mlir::FailureOr<mlir::Type> convertTypeString(llvm::StringRef type,
                                              mlir::MLIRContext &context,
                                              std::string &error);

/// Element type of a c10::ScalarType given by name ("Float", "Long", "Bool",
/// "BFloat16", ...); failure for types kiln has no element type for.
mlir::FailureOr<mlir::Type> convertScalarTypeName(llvm::StringRef name,
                                                  mlir::MLIRContext &context);

/// The type of a value that is `a` on one path and `b` on another (the
/// results of an scf.if): equal types stay, tensors of one element type
/// generalise their shape, None and T give Optional[T], tuples join
/// element-wise. Null when the two cannot be joined.
mlir::Type joinTypes(mlir::Type a, mlir::Type b);

/// Converts `value` to `type` when `type` is a join of the value's type:
/// tensor.cast for tensors, kiln.some / kiln.none for optionals, element-wise
/// for tuples. Failure when there is no such conversion.
mlir::FailureOr<mlir::Value> coerceValue(mlir::OpBuilder &builder,
                                         mlir::Location loc, mlir::Value value,
                                         mlir::Type type);

/// A parsed --input-shape hint: `name` (possibly "arg.0.1") and its type.
struct InputShapeHint {
  std::string name;
  llvm::SmallVector<unsigned> path; // tuple element indices after the name
  mlir::TensorType type;
};
/// Parses "name=1x16x64xf32", "name.0=1x?x16xf32", "ids=1x16xi64".
mlir::FailureOr<InputShapeHint> parseInputShapeHint(llvm::StringRef hint,
                                                    mlir::MLIRContext &context,
                                                    std::string &error);
/// Puts `hint` into the tensor at `path` inside `type` (tuples, through
/// optionals). Failure if the path does not lead to a tensor or the element
/// types differ in kind.
mlir::FailureOr<mlir::Type> applyShapeHint(mlir::Type type,
                                           llvm::ArrayRef<unsigned> path,
                                           mlir::TensorType hint);

/// A dense_resource attribute over `data`, without copying it: the blob
/// borrows the memory and calls `release` when the context drops it. `name`
/// is a hint for the blob key (made unique by the context).
mlir::DenseResourceElementsAttr borrowResource(mlir::ShapedType type,
                                               llvm::StringRef name,
                                               llvm::ArrayRef<char> data,
                                               std::function<void()> release);

/// Test hook: makes an at::Tensor (arange values of dtype `scalarTypeName`,
/// `shape`, transposed when asked so it is not contiguous) and imports it as
/// a weight named `name`. Returns the attribute and the tensor's data pointer
/// (to check that no copy was made). `onRelease` runs when the context
/// releases the tensor.
struct TensorImportForTest {
  mlir::ElementsAttr attr;
  const void *tensorData = nullptr;
};
TensorImportForTest importTensorForTest(mlir::MLIRContext &context,
                                        llvm::StringRef scalarTypeName,
                                        llvm::ArrayRef<int64_t> shape,
                                        llvm::StringRef name, bool transposed,
                                        std::function<void()> onRelease = {});

} // namespace kiln::torchscript

#endif
