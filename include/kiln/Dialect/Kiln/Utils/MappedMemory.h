//===- MappedMemory.h - Weights that live in a file mapping -----*- C++ -*-===//
//
// The importer uses a model's tensor records in place, in a private mapping
// of the .pt file. A pass that has read a weight for the last time (for now)
// can say so: the pages are dropped from the process and read again from the
// file (usually its page cache) if something touches them later. Memory that
// is not in a registered mapping is left alone, so callers need not know
// where a blob's bytes live.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_DIALECT_KILN_UTILS_MAPPEDMEMORY_H
#define KILN_DIALECT_KILN_UTILS_MAPPEDMEMORY_H

#include "llvm/ADT/ArrayRef.h"

#include <cstddef>

namespace kiln {
/// [data, data + size) is a private, read-only-in-practice mapping of a file.
void registerFileMapping(const void *data, size_t size);
void unregisterFileMapping(const void *data);
/// Drops the whole pages of `bytes` that lie in a registered mapping.
void doneReading(llvm::ArrayRef<char> bytes);
/// Whether `p` lies in a registered mapping (tests, statistics).
bool isInFileMapping(const void *p);
} // namespace kiln

#endif
