//===- fuzz-archive.cpp - libFuzzer target: the TorchScript archive checker
//===//
//
//   build-asan/bin/kiln-fuzz-archive corpus/pt -max_total_time=600
//
// Any input must be checked without a crash, a sanitizer report or unbounded
// work (the checker runs before LibTorch sees a file).
//
//===----------------------------------------------------------------------===//
#include "kiln/Import/TorchScript/ArchiveCheck.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln::torchscript::ArchiveCheckResult result =
      kiln::torchscript::checkTorchScriptArchive(
          llvm::ArrayRef<uint8_t>(data, size));
  (void)result;
  return 0;
}
