//===- MappedLoad.cpp - TorchScript loading without copying the weights ---===//
//
// `torch::jit::load` reads every tensor record into freshly allocated memory:
// the whole model is in RSS before Kiln has looked at one weight, and the
// archive check has read the file once already. TorchScript stores tensor
// records uncompressed and 64-byte aligned, so they can be used where they
// are, in a private mapping of the file:
//
//  1. The file is mapped (MAP_PRIVATE, so a write would copy its page, never
//     reach the file). The archive check reads it from the mapping, and the
//     pages of each record it has checked are dropped again.
//  2. LibTorch loads a small archive built in memory: the same entries, in
//     the same order, except that each stored record under data/ is replaced
//     by a 16-byte marker (a per-load nonce and the record's index). Code,
//     pickles, constants and debug information are copied as they are, so
//     LibTorch's own deserializer compiles the code and keeps the source
//     ranges; damaged debug pickles the check dropped are left out.
//  3. Every storage reachable from the module whose bytes start with the
//     marker gets the record's bytes in the mapping as its data. When the
//     storage is released (the last tensor or MLIR blob that borrowed it), its
//     pages are dropped from the process.
//
// Anything this scheme cannot see through falls back to `torch::jit::load`
// of the whole file: a class with `__setstate__` (code that reads tensors
// while loading), a custom class, a marker left unpatched, more entries
// than a plain zip holds.
//
//===----------------------------------------------------------------------===//
#include "ImporterImpl.h"

#include "kiln/Dialect/Kiln/Utils/MappedMemory.h"
#include "kiln/Import/TorchScript/ArchiveCheck.h"

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/serialization/import.h>

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringRef.h"

#include <fcntl.h>
#include <random>
#include <sstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

using namespace kiln::torchscript;

namespace {
size_t pageSize() {
  static size_t size = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

/// Drops the whole pages inside [begin, begin + n) from the process (a
/// private, unwritten file page is read again from the file if touched).
void dropPages(const char *begin, size_t n) {
  uintptr_t lo = reinterpret_cast<uintptr_t>(begin), hi = lo + n,
            page = pageSize();
  lo = (lo + page - 1) / page * page;
  hi = hi / page * page;
  if (hi > lo)
    ::madvise(reinterpret_cast<void *>(lo), hi - lo, MADV_DONTNEED);
}

void put16(std::string &s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>(v >> 8));
}
void put32(std::string &s, uint32_t v) {
  put16(s, static_cast<uint16_t>(v & 0xffff));
  put16(s, static_cast<uint16_t>(v >> 16));
}

/// A zip of `entries` (name, method, crc, sizes, bytes as stored).
struct ZipEntry {
  std::string name;
  uint16_t method;
  uint32_t crc;
  uint64_t size;
  llvm::StringRef stored;
};
std::optional<std::string> writeZip(const std::vector<ZipEntry> &entries) {
  if (entries.size() > 65535)
    return std::nullopt;
  std::string out, central;
  for (const ZipEntry &e : entries) {
    if (out.size() > 0xffffffffull - (1u << 20) || e.size > 0xffffffffull)
      return std::nullopt;
    uint32_t at = static_cast<uint32_t>(out.size());
    auto header = [&](std::string &s, bool isCentral) {
      put32(s, isCentral ? 0x02014b50 : 0x04034b50);
      if (isCentral)
        put16(s, 20); // version made by
      put16(s, 20);   // version needed
      put16(s, 0);    // flags
      put16(s, e.method);
      put16(s, 0);    // time
      put16(s, 0x21); // date (1980-01-01)
      put32(s, e.crc);
      put32(s, static_cast<uint32_t>(e.stored.size()));
      put32(s, static_cast<uint32_t>(e.size));
      put16(s, static_cast<uint16_t>(e.name.size()));
      put16(s, 0); // extra
      if (isCentral) {
        put16(s, 0); // comment
        put16(s, 0); // disk
        put16(s, 0); // internal attributes
        put32(s, 0); // external attributes
        put32(s, at);
      }
      s += e.name;
    };
    header(out, false);
    out.append(e.stored.data(), e.stored.size());
    header(central, true);
  }
  if (out.size() + central.size() > 0xffffffffull)
    return std::nullopt;
  uint32_t cdOffset = static_cast<uint32_t>(out.size());
  out += central;
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<uint16_t>(entries.size()));
  put16(out, static_cast<uint16_t>(entries.size()));
  put32(out, static_cast<uint32_t>(central.size()));
  put32(out, cdOffset);
  put16(out, 0);
  return out;
}

bool inflateTo(llvm::StringRef stored, uint64_t size, std::string &out) {
  out.assign(size, '\0');
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
    return false;
  zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(stored.data()));
  zs.avail_in = static_cast<uInt>(stored.size());
  zs.next_out = reinterpret_cast<Bytef *>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = ::inflate(&zs, Z_FINISH);
  inflateEnd(&zs);
  return rc == Z_STREAM_END && zs.total_out == size;
}

struct MarkedRecord {
  const char *data;
  size_t size;
};

/// What a mapped storage's DataPtr owns.
struct StorageRef {
  std::shared_ptr<MappedFile> file;
  const char *data;
  size_t size;
};
void releaseStorage(void *ctx) {
  auto *ref = static_cast<StorageRef *>(ctx);
  dropPages(ref->data, ref->size);
  delete ref;
}

/// Visits every tensor reachable from `v`; false if something the scheme
/// cannot see into (a custom class) is in the way.
bool forEachTensor(const c10::IValue &v, llvm::DenseSet<const void *> &seen,
                   const std::function<void(const at::Tensor &)> &fn) {
  if (v.isTensor()) {
    fn(v.toTensor());
    return true;
  }
  if (v.isCapsule())
    return false;
  if (v.isObject()) {
    auto obj = v.toObject();
    if (!seen.insert(obj.get()).second)
      return true;
    for (const c10::IValue &slot : obj->slots())
      if (!forEachTensor(slot, seen, fn))
        return false;
    return true;
  }
  if (v.isTuple()) {
    for (const c10::IValue &e : v.toTupleRef().elements())
      if (!forEachTensor(e, seen, fn))
        return false;
    return true;
  }
  if (v.isList()) {
    for (const c10::IValue &e : v.toListRef())
      if (!forEachTensor(e, seen, fn))
        return false;
    return true;
  }
  if (v.isGenericDict()) {
    for (const auto &kv : v.toGenericDict())
      if (!forEachTensor(kv.key(), seen, fn) ||
          !forEachTensor(kv.value(), seen, fn))
        return false;
    return true;
  }
  return true;
}
} // namespace

MappedFile::~MappedFile() {
  if (!data)
    return;
  kiln::unregisterFileMapping(data);
  ::munmap(data, size);
}

std::shared_ptr<MappedFile> kiln::torchscript::mapFile(const std::string &path,
                                                       std::string &error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = std::strerror(errno);
    return nullptr;
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    error = std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  if (st.st_size == 0) { // nothing to map: the archive check says what it is
    ::close(fd);
    return std::make_shared<MappedFile>();
  }
  // MAP_NORESERVE: a private writable mapping is otherwise charged in full
  // to the commit limit, and Linux's default heuristic refuses one larger
  // than RAM + swap (an 8B fp32 .pt of 32 GB on a 24 GiB machine failed with
  // ENOMEM). Nothing writes to it, so no page is ever copied.
  void *p = ::mmap(nullptr, static_cast<size_t>(st.st_size),
                   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    error = std::strerror(errno);
    return nullptr;
  }
  auto file = std::make_shared<MappedFile>();
  file->data = static_cast<char *>(p);
  file->size = static_cast<size_t>(st.st_size);
  // Passes that have read a weight may drop its pages (MappedMemory.h):
  // nothing writes to this mapping.
  kiln::registerFileMapping(file->data, file->size);
  return file;
}

void kiln::torchscript::dropMappedPages(const MappedFile &file, uint64_t offset,
                                        uint64_t size) {
  if (offset <= file.size && size <= file.size - offset)
    dropPages(file.data + offset, size);
}

std::optional<torch::jit::Module>
kiln::torchscript::loadMapped(const std::shared_ptr<MappedFile> &file,
                              const ArchiveCheckResult &check,
                              std::string &why) {
  llvm::StringRef bytes(file->data, file->size);
  std::string dataDir = check.prefix + "data/",
              codeDir = check.prefix + "code/";
  std::mt19937_64 rng(std::random_device{}());
  uint64_t nonce = rng();
  std::vector<ZipEntry> entries;
  std::vector<MarkedRecord> marked;
  std::string markers;
  markers.reserve(16 * check.records.size());
  std::vector<std::string> inflated;
  for (const ArchiveRecord &r : check.records) {
    if (r.dropped)
      continue;
    llvm::StringRef stored = bytes.substr(r.dataOffset, r.compressedSize);
    llvm::StringRef name(r.name);
    if (name.starts_with(codeDir) && name.ends_with(".py")) {
      llvm::StringRef text = stored;
      std::string buffer;
      if (r.method == 8) {
        if (!inflateTo(stored, r.size, buffer)) {
          why = "code record '" + r.name + "' does not inflate";
          return std::nullopt;
        }
        text = buffer;
      }
      if (text.contains("__setstate__")) {
        why = "'" + r.name + "' defines __setstate__";
        return std::nullopt;
      }
    }
    if (name.starts_with(dataDir) && r.method == 0 && r.size >= 64) {
      size_t at = markers.size();
      uint64_t index = marked.size();
      markers.append(reinterpret_cast<const char *>(&nonce), 8);
      markers.append(reinterpret_cast<const char *>(&index), 8);
      marked.push_back({file->data + r.dataOffset, r.size});
      // (markers does not reallocate: reserved above.)
      llvm::StringRef marker(markers.data() + at, 16);
      uint32_t crc = static_cast<uint32_t>(::crc32_z(
          0, reinterpret_cast<const Bytef *>(marker.data()), marker.size()));
      entries.push_back({r.name, 0, crc, 16, marker});
      continue;
    }
    entries.push_back({r.name, r.method, r.crc, r.size, stored});
  }
  std::optional<std::string> zip = writeZip(entries);
  if (!zip) {
    why = "the archive needs zip64 to be rewritten";
    return std::nullopt;
  }
  std::istringstream in(std::move(*zip));
  torch::jit::Module module = torch::jit::load(in);

  // Patch every marked storage with its record in the mapping.
  std::vector<bool> patched(marked.size(), false);
  llvm::DenseSet<const void *> seen, storages;
  bool ok = forEachTensor(module._ivalue(), seen, [&](const at::Tensor &t) {
    if (!t.defined() || !t.has_storage())
      return;
    c10::StorageImpl *s = t.storage().unsafeGetStorageImpl();
    if (!storages.insert(s).second || s->nbytes() < 64 || !s->data())
      return;
    uint64_t header[2];
    std::memcpy(header, s->data(), 16);
    if (header[0] != nonce || header[1] >= marked.size())
      return;
    const MarkedRecord &rec = marked[header[1]];
    if (s->nbytes() > rec.size)
      return; // left unpatched: the fallback below reloads
    auto *ctx = new StorageRef{file, rec.data, rec.size};
    s->set_data_ptr_noswap(at::DataPtr(const_cast<char *>(rec.data), ctx,
                                       &releaseStorage,
                                       c10::Device(c10::DeviceType::CPU)));
    patched[header[1]] = true;
  });
  if (!ok) {
    why = "the module holds a custom class";
    return std::nullopt;
  }
  // A marker still in place means some tensor was not reached: do not guess.
  bool unpatched = false;
  storages.clear();
  seen.clear();
  forEachTensor(module._ivalue(), seen, [&](const at::Tensor &t) {
    if (!t.defined() || !t.has_storage())
      return;
    c10::StorageImpl *s = t.storage().unsafeGetStorageImpl();
    if (!storages.insert(s).second || s->nbytes() < 16 || !s->data())
      return;
    uint64_t nonceThere;
    std::memcpy(&nonceThere, s->data(), 8);
    if (nonceThere == nonce &&
        !(s->data() >= file->data && s->data() < file->data + file->size))
      unpatched = true;
  });
  if (unpatched) {
    why = "a tensor record was not reached from the module";
    return std::nullopt;
  }
  return module;
}
