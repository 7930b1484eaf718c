//===- MappedMemory.cpp - Weights that live in a file mapping -------------===//
#include "kiln/Dialect/Kiln/Utils/MappedMemory.h"

#include <map>
#include <mutex>
#include <sys/mman.h>
#include <unistd.h>

namespace {
std::mutex &registryMutex() {
  static std::mutex m;
  return m;
}
/// Start address -> size.
std::map<uintptr_t, size_t> &registry() {
  static std::map<uintptr_t, size_t> r;
  return r;
}
} // namespace

void kiln::registerFileMapping(const void *data, size_t size) {
  std::lock_guard<std::mutex> lock(registryMutex());
  registry()[reinterpret_cast<uintptr_t>(data)] = size;
}

void kiln::unregisterFileMapping(const void *data) {
  std::lock_guard<std::mutex> lock(registryMutex());
  registry().erase(reinterpret_cast<uintptr_t>(data));
}

static bool contains(uintptr_t lo, uintptr_t hi) {
  auto &r = registry();
  auto it = r.upper_bound(lo);
  if (it == r.begin())
    return false;
  --it;
  return lo >= it->first && hi <= it->first + it->second;
}

bool kiln::isInFileMapping(const void *p) {
  std::lock_guard<std::mutex> lock(registryMutex());
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  return contains(a, a + 1);
}

void kiln::doneReading(llvm::ArrayRef<char> bytes) {
  if (bytes.empty())
    return;
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t lo = reinterpret_cast<uintptr_t>(bytes.data()),
            hi = lo + bytes.size();
  {
    std::lock_guard<std::mutex> lock(registryMutex());
    if (!contains(lo, hi))
      return;
  }
  lo = (lo + page - 1) / page * page;
  hi = hi / page * page;
  if (hi > lo)
    ::madvise(reinterpret_cast<void *>(lo), hi - lo, MADV_DONTNEED);
}
