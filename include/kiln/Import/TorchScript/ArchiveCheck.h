//===- ArchiveCheck.h - Checks a TorchScript archive before LibTorch ------===//
//
// LibTorch's zip reader and unpickler trust their input: a damaged pickle can
// make them read out of bounds, pop an empty stack or ask for gigabytes. The
// checker validates, in memory and with bounded work, the zip structure
// (EOCD, zip64, central directory, local headers, entry bounds), the pickles
// TorchScript writes (data.pkl, constants.pkl: a strict stack machine over
// the opcode subset LibTorch reads, every tensor's extent against its
// record) and the debug pickles (*.debug_pkl: also their source-range
// structure). Damaged debug pickles are not fatal: they are reported as
// warnings and the caller drops them (renameOffsets).
//
// No LibTorch types: the fuzz target links this alone.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_IMPORT_TORCHSCRIPT_ARCHIVECHECK_H
#define KILN_IMPORT_TORCHSCRIPT_ARCHIVECHECK_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::torchscript {

/// One zip entry as the central directory describes it.
struct ArchiveRecord {
  std::string name;
  uint64_t dataOffset = 0, compressedSize = 0, size = 0;
  uint32_t crc = 0;
  uint16_t method = 0; // 0 stored, 8 deflated
  /// A damaged debug pickle the caller should drop.
  bool dropped = false;
};

struct ArchiveCheckResult {
  /// Empty when LibTorch may read the archive; otherwise one line naming the
  /// damaged part (entry, offset).
  std::string error;
  /// Damaged debug information (one line each), dropped before loading.
  std::vector<std::string> warnings;
  /// Byte offsets (in the file) of the last character of the names, in the
  /// local headers and the central directory, of the debug pickles to drop:
  /// changing that character hides the entry from LibTorch.
  std::vector<uint64_t> renameOffsets;
  /// Every entry, in central-directory order (filled when the zip structure
  /// parses), and the archive's directory ("name/") every record is under.
  std::vector<ArchiveRecord> records;
  std::string prefix;
};

/// `checked(offset, size)` is called after each record's bytes have been
/// read for its CRC (a caller that mapped the file can drop those pages).
ArchiveCheckResult checkTorchScriptArchive(
    llvm::ArrayRef<uint8_t> bytes,
    llvm::function_ref<void(uint64_t, uint64_t)> checked = nullptr);

} // namespace kiln::torchscript

#endif
