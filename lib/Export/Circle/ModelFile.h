//===- ModelFile.h - A verified Circle/TFLite file in memory -----*- C++
//-*-===//
#ifndef KILN_LIB_EXPORT_CIRCLE_MODELFILE_H
#define KILN_LIB_EXPORT_CIRCLE_MODELFILE_H

#include "Schema.h"
#include "kiln/Export/Circle/Format.h"

#include "mlir/IR/Location.h"
#include "mlir/Support/LogicalResult.h"

namespace kiln::circle {

struct ModelFile {
  llvm::StringRef bytes;
  const fb::Model *model = nullptr;
  Flavor flavor = Flavor::Circle;

  /// Opens a whole file: checks the identifier (CIR0 or TFL3) and verifies
  /// the FlatBuffer against Kiln's schema. Errors are emitted at `loc`.
  static mlir::FailureOr<ModelFile> open(llvm::StringRef bytes,
                                         mlir::Location loc);

  /// The data of buffer `index`: its inline vector, or its out-of-line bytes
  /// (Buffer.offset > 1, from the start of the file). Empty for no data.
  mlir::FailureOr<llvm::ArrayRef<uint8_t>>
  getBufferData(uint32_t index, mlir::Location loc) const;
  /// Offset of an inline buffer's data from the start of the file.
  uint64_t getFileOffset(const void *pointer) const {
    return static_cast<const char *>(pointer) - bytes.data();
  }
};

} // namespace kiln::circle

#endif
