//===- ModelFile.cpp - A verified Circle/TFLite file in memory ------------===//
#include "ModelFile.h"

#include "mlir/IR/Diagnostics.h"

#include <algorithm>

using namespace mlir;
using namespace kiln::circle;

FailureOr<ModelFile> ModelFile::open(llvm::StringRef bytes, Location loc) {
  if (bytes.size() < 8)
    return emitError(loc, "not a Circle/TFLite file: only ")
           << bytes.size() << " bytes";
  llvm::StringRef identifier = bytes.substr(4, 4);
  std::optional<Flavor> flavor = getFlavorFromIdentifier(identifier);
  if (!flavor) {
    std::string shown;
    for (char c : identifier)
      shown += (c >= 32 && c < 127) ? c : '?';
    return emitError(loc, "not a Circle (CIR0) or TFLite (TFL3) file: its "
                          "identifier is '")
           << shown << "'";
  }
  // The FlatBuffer itself is below 2 GiB; out-of-line data may follow it.
  size_t length =
      std::min<size_t>(bytes.size(), FLATBUFFERS_MAX_BUFFER_SIZE - 1);
  flatbuffers::Verifier verifier(
      reinterpret_cast<const uint8_t *>(bytes.data()), length, /*max_depth=*/64,
      /*max_tables=*/100000000);
  if (!verifier.VerifyBuffer<fb::Model>(nullptr))
    return emitError(loc, "the ")
           << identifier << " FlatBuffer does not verify against Kiln's schema";
  ModelFile file;
  file.bytes = bytes;
  file.model = fb::GetModel(bytes.data());
  file.flavor = *flavor;
  return file;
}

FailureOr<llvm::ArrayRef<uint8_t>>
ModelFile::getBufferData(uint32_t index, Location loc) const {
  auto *buffers = model->buffers();
  if (!buffers || index >= buffers->size())
    return emitError(loc, "buffer ") << index << " does not exist";
  const fb::Buffer *buffer = buffers->Get(index);
  if (buffer->offset() > 1) {
    uint64_t offset = buffer->offset(), size = buffer->size();
    if (offset > bytes.size() || size > bytes.size() - offset)
      return emitError(loc, "buffer ")
             << index << " lies outside the file (offset " << offset
             << ", size " << size << ", file " << bytes.size() << " bytes)";
    return llvm::ArrayRef<uint8_t>(
        reinterpret_cast<const uint8_t *>(bytes.data()) + offset, size);
  }
  if (auto *data = buffer->data())
    return llvm::ArrayRef<uint8_t>(data->data(), data->size());
  return llvm::ArrayRef<uint8_t>();
}
