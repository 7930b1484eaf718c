//===- ArchiveCheck.cpp - Checks a TorchScript archive before LibTorch ----===//
//
// See ArchiveCheck.h. Everything here is bounded by the file: each pickle
// opcode makes at most one value, nesting is limited, lengths are checked
// against the record before use, and deflated entries are inflated into a
// buffer of their declared size only when that size is plausible.
//
//===----------------------------------------------------------------------===//
#include "kiln/Import/TorchScript/ArchiveCheck.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <zlib.h>

#include <cstring>
#include <memory>

using namespace kiln::torchscript;
using llvm::ArrayRef;
using llvm::StringRef;

namespace {

uint64_t rd(const uint8_t *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; ++i)
    v |= uint64_t(p[i]) << (8 * i);
  return v;
}

struct Entry {
  std::string name;
  uint64_t dataOffset = 0, compressedSize = 0, size = 0;
  uint32_t crc = 0; // CRC-32 the central directory records
  uint16_t method = 0;
  uint64_t localNameEnd = 0,
           centralNameEnd = 0; // offsets of the last name byte
};

std::string hex(uint64_t v) {
  std::string s;
  llvm::raw_string_ostream(s) << "0x" << llvm::format_hex_no_prefix(v, 1);
  return s;
}

//===----------------------------------------------------------------------===//
// Zip
//===----------------------------------------------------------------------===//

class Zip {
public:
  explicit Zip(ArrayRef<uint8_t> bytes) : b(bytes) {}
  /// Fills entries or returns an error.
  std::string parse();
  std::vector<Entry> entries;
  llvm::StringMap<size_t> byName;

private:
  bool has(uint64_t off, uint64_t n) const {
    return off <= b.size() && n <= b.size() - off;
  }
  ArrayRef<uint8_t> b;
};

std::string Zip::parse() {
  if (b.size() < 22)
    return "not a zip archive: only " + std::to_string(b.size()) + " bytes";
  // End of central directory: the last signature whose comment ends at or
  // before the end of the file.
  int64_t eocd = -1;
  uint64_t lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
  for (int64_t p = int64_t(b.size()) - 22; p >= int64_t(lowest); --p)
    if (b[p] == 'P' && b[p + 1] == 'K' && b[p + 2] == 5 && b[p + 3] == 6 &&
        p + 22 + rd(&b[p + 20], 2) <= b.size()) {
      eocd = p;
      break;
    }
  if (eocd < 0)
    return "not a zip archive: no end of central directory record";
  const uint8_t *e = &b[eocd];
  if (rd(e + 4, 2) != 0 || rd(e + 6, 2) != 0)
    return "multi-disk zip archive (end of central directory at offset " +
           std::to_string(eocd) + ")";
  uint64_t count = rd(e + 10, 2), cdSize = rd(e + 12, 4),
           cdOffset = rd(e + 16, 4);
  uint64_t cdLimit = eocd;
  if (count == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF) {
    // zip64: the locator just before the EOCD points at the zip64 record.
    if (eocd < 20 || rd(&b[eocd - 20], 4) != 0x07064b50)
      return "zip64 archive without a zip64 locator (offset " +
             std::to_string(eocd - 20) + ")";
    uint64_t z = rd(&b[eocd - 20 + 8], 8);
    if (!has(z, 56) || z > uint64_t(eocd) - 20 || rd(&b[z], 4) != 0x06064b50)
      return "damaged zip64 end of central directory (offset " +
             std::to_string(z) + ")";
    count = rd(&b[z + 32], 8);
    cdSize = rd(&b[z + 40], 8);
    cdOffset = rd(&b[z + 48], 8);
    cdLimit = z;
  }
  if (cdOffset > cdLimit || cdSize > cdLimit - cdOffset)
    return "the central directory (offset " + std::to_string(cdOffset) + ", " +
           std::to_string(cdSize) + " bytes) lies outside the archive";
  if (count > cdSize / 46)
    return "the central directory claims " + std::to_string(count) +
           " entries in " + std::to_string(cdSize) + " bytes";
  uint64_t p = cdOffset, end = cdOffset + cdSize;
  for (uint64_t i = 0; i < count; ++i) {
    std::string at = "central directory entry " + std::to_string(i) +
                     " (offset " + std::to_string(p) + ")";
    if (p + 46 > end || rd(&b[p], 4) != 0x02014b50)
      return "damaged " + at;
    const uint8_t *c = &b[p];
    Entry entry;
    uint16_t flags = rd(c + 8, 2);
    entry.method = rd(c + 10, 2);
    entry.crc = static_cast<uint32_t>(rd(c + 16, 4));
    entry.compressedSize = rd(c + 20, 4);
    entry.size = rd(c + 24, 4);
    uint64_t nameLen = rd(c + 28, 2), extraLen = rd(c + 30, 2),
             commentLen = rd(c + 32, 2);
    uint64_t local = rd(c + 42, 4);
    if (p + 46 + nameLen + extraLen + commentLen > end)
      return "damaged " + at +
             ": its name or extra field runs past the directory";
    if (nameLen == 0)
      return "damaged " + at + ": an empty name";
    entry.name.assign(reinterpret_cast<const char *>(c + 46), nameLen);
    entry.centralNameEnd = p + 46 + nameLen - 1;
    if (flags & 1)
      return "entry '" + entry.name + "' is encrypted";
    // zip64 extra field: the 0xFFFFFFFF fields follow in order.
    const uint8_t *x = c + 46 + nameLen, *xe = x + extraLen;
    while (x + 4 <= xe) {
      uint64_t id = rd(x, 2), len = rd(x + 2, 2);
      if (x + 4 + len > xe)
        return "damaged extra field of entry '" + entry.name + "'";
      if (id == 1) {
        const uint8_t *f = x + 4, *fe = x + 4 + len;
        for (uint64_t *field : {&entry.size, &entry.compressedSize, &local})
          if (*field == 0xFFFFFFFF) {
            if (f + 8 > fe)
              return "damaged zip64 field of entry '" + entry.name + "'";
            *field = rd(f, 8);
            f += 8;
          }
      }
      x += 4 + len;
    }
    if (entry.method != 0 && entry.method != 8)
      return "entry '" + entry.name + "' uses compression method " +
             std::to_string(entry.method) +
             " (only stored and deflated entries are read)";
    if (entry.method == 0 && entry.compressedSize != entry.size)
      return "entry '" + entry.name + "' is stored, but its sizes differ (" +
             std::to_string(entry.compressedSize) + " and " +
             std::to_string(entry.size) + ")";
    // Deflate expands at most ~1032:1.
    if (entry.method == 8 && entry.size / 1032 > entry.compressedSize + 64)
      return "entry '" + entry.name + "' claims " + std::to_string(entry.size) +
             " bytes from " + std::to_string(entry.compressedSize) +
             " deflated bytes";
    // Local header.
    if (!has(local, 30) || rd(&b[local], 4) != 0x04034b50)
      return "entry '" + entry.name + "': no local header at offset " +
             std::to_string(local);
    uint64_t lNameLen = rd(&b[local + 26], 2),
             lExtraLen = rd(&b[local + 28], 2);
    if (lNameLen != nameLen || !has(local + 30, lNameLen + lExtraLen) ||
        std::memcmp(&b[local + 30], entry.name.data(), nameLen) != 0)
      return "entry '" + entry.name + "': its local header (offset " +
             std::to_string(local) + ") names another file";
    entry.localNameEnd = local + 30 + nameLen - 1;
    entry.dataOffset = local + 30 + lNameLen + lExtraLen;
    if (!has(entry.dataOffset, entry.compressedSize) ||
        entry.dataOffset + entry.compressedSize > cdOffset)
      return "entry '" + entry.name + "' (offset " +
             std::to_string(entry.dataOffset) + ", " +
             std::to_string(entry.compressedSize) + " bytes) runs past its end";
    if (!byName.try_emplace(entry.name, entries.size()).second)
      return "the archive holds '" + entry.name + "' twice";
    entries.push_back(std::move(entry));
    p += 46 + nameLen + extraLen + commentLen;
  }
  if (entries.empty())
    return "the zip archive is empty";
  return "";
}

//===----------------------------------------------------------------------===//
// Pickles
//===----------------------------------------------------------------------===//

struct PV;
using PVRef = std::shared_ptr<PV>;
struct PV {
  enum Kind {
    None,
    Bool,
    Int,
    Float,
    Str,
    Tuple,
    List,
    Dict,
    Global,
    Object,
    Storage,
    Tensor,
    Other
  };
  Kind kind;
  int64_t i = 0;
  std::string s;                    // Str; Global: "module name"
  std::vector<PVRef> items;         // Tuple, List, Dict (key, value, ...)
  uint64_t elemSize = 0, bytes = 0; // Storage
  unsigned depth = 0;
  explicit PV(Kind k) : kind(k) {}
};

constexpr unsigned kMaxDepth = 1000;

uint64_t storageElementSize(StringRef name) {
  return llvm::StringSwitch<uint64_t>(name)
      .Cases("torch FloatStorage", "torch IntStorage", "torch QInt32Storage", 4)
      .Cases("torch DoubleStorage", "torch LongStorage",
             "torch ComplexFloatStorage", 8)
      .Cases("torch HalfStorage", "torch BFloat16Storage", "torch ShortStorage",
             2)
      .Cases("torch CharStorage", "torch ByteStorage", "torch BoolStorage", 1)
      .Cases("torch QInt8Storage", "torch QUInt8Storage",
             "torch QUInt4x2Storage", 1)
      .Case("torch ComplexDoubleStorage", 16)
      .Default(0);
}

class Unpickler {
public:
  /// `records` resolves persistent ids (storages) to the byte size of
  /// `<dir>/<key>`; null when the pickle may hold none.
  Unpickler(ArrayRef<uint8_t> data, const Zip *zip, std::string tensorDir)
      : d(data), zip(zip), tensorDir(std::move(tensorDir)) {}
  /// The unpickled value, or null with `error` set.
  PVRef run();
  std::string error;

private:
  PVRef fail(const std::string &msg) {
    if (error.empty())
      error = msg + " at offset " + std::to_string(opStart);
    return nullptr;
  }
  bool need(uint64_t n) { return n <= d.size() - pos; }
  PVRef make(PV::Kind k) { return std::make_shared<PV>(k); }
  bool addChild(PV &parent, const PVRef &child) {
    parent.items.push_back(child);
    parent.depth = std::max(parent.depth, child->depth + 1);
    return parent.depth <= kMaxDepth;
  }
  /// Elements above the innermost mark, popped.
  bool popMark(std::vector<PVRef> &out) {
    if (marks.empty())
      return false;
    size_t m = marks.back();
    marks.pop_back();
    out.assign(stack.begin() + m, stack.end());
    stack.resize(m);
    return true;
  }
  size_t floor() const { return marks.empty() ? 0 : marks.back(); }
  PVRef pop() {
    PVRef v = stack.back();
    stack.pop_back();
    return v;
  }
  PVRef reduce(const PVRef &callable, const PVRef &args);
  PVRef persistent(const PVRef &pid);

  ArrayRef<uint8_t> d;
  const Zip *zip;
  std::string tensorDir;
  uint64_t pos = 0, opStart = 0;
  std::vector<PVRef> stack;
  std::vector<size_t> marks;
  std::vector<PVRef> memo;
};

bool isInts(const PVRef &v) {
  if (v->kind != PV::Tuple && v->kind != PV::List)
    return false;
  for (const PVRef &x : v->items)
    if (x->kind != PV::Int)
      return false;
  return true;
}

PVRef Unpickler::persistent(const PVRef &pid) {
  if (!zip)
    return fail("a persistent id (tensor storage) where none may be");
  auto &t = pid->items;
  if (pid->kind != PV::Tuple || t.size() != 5 || t[0]->kind != PV::Str ||
      t[0]->s != "storage" || t[1]->kind != PV::Global ||
      t[2]->kind != PV::Str || t[3]->kind != PV::Str || t[4]->kind != PV::Int)
    return fail(
        "a persistent id that is not ('storage', type, key, device, size)");
  uint64_t elemSize = storageElementSize(t[1]->s);
  if (!elemSize)
    return fail("a storage of unknown type '" + t[1]->s + "'");
  std::string name = tensorDir + t[2]->s;
  auto it = zip->byName.find(name);
  if (it == zip->byName.end())
    return fail("a storage whose record '" + name + "' is missing");
  const Entry &record = zip->entries[it->second];
  uint64_t needed;
  if (t[4]->i < 0 ||
      __builtin_mul_overflow(uint64_t(t[4]->i), elemSize, &needed) ||
      needed > record.size)
    return fail("tensor record '" + name + "' holds " +
                std::to_string(record.size) + " bytes, but its storage has " +
                std::to_string(t[4]->i) + " elements of " +
                std::to_string(elemSize) + " bytes");
  PVRef s = make(PV::Storage);
  s->elemSize = elemSize;
  s->bytes = record.size;
  s->s = name;
  return s;
}

PVRef Unpickler::reduce(const PVRef &callable, const PVRef &args) {
  StringRef fn = callable->s;
  auto &a = args->items;
  if (fn == "torch._utils _rebuild_tensor_v2" ||
      fn == "torch._utils _rebuild_qtensor") {
    if (a.size() < 4 || a[0]->kind != PV::Storage || a[1]->kind != PV::Int ||
        a[2]->kind != PV::Tuple || a[3]->kind != PV::Tuple || !isInts(a[2]) ||
        !isInts(a[3]) || a[2]->items.size() != a[3]->items.size())
      return fail(
          "a tensor that is not (storage, offset, sizes, strides, ...)");
    // The last element the view reads must lie inside the record.
    const PV &storage = *a[0];
    bool empty = false;
    uint64_t last = 0;
    bool overflow = a[1]->i < 0;
    if (!overflow)
      last = a[1]->i;
    for (size_t k = 0; k < a[2]->items.size(); ++k) {
      int64_t size = a[2]->items[k]->i, stride = a[3]->items[k]->i;
      if (size < 0 || stride < 0)
        return fail("a tensor with a negative size or stride in '" + storage.s +
                    "'");
      if (size == 0) {
        empty = true;
        continue;
      }
      uint64_t step;
      overflow |=
          __builtin_mul_overflow(uint64_t(size - 1), uint64_t(stride), &step) ||
          __builtin_add_overflow(last, step, &last);
    }
    uint64_t end;
    if (!empty && (overflow || __builtin_add_overflow(last, 1, &end) ||
                   __builtin_mul_overflow(end, storage.elemSize, &end) ||
                   end > storage.bytes))
      return fail("a tensor reads past the end of its record '" + storage.s +
                  "' (" + std::to_string(storage.bytes) + " bytes)");
    return make(PV::Tensor);
  }
  if (fn.starts_with("torch.jit._pickle build_")) {
    if (a.size() != 1 || a[0]->kind != PV::List)
      return fail("'" + fn.str() + "' of something other than a list");
    PV::Kind want = fn.ends_with("intlist")      ? PV::Int
                    : fn.ends_with("boollist")   ? PV::Bool
                    : fn.ends_with("tensorlist") ? PV::Tensor
                    : fn.ends_with("floatlist") || fn.ends_with("doublelist")
                        ? PV::Float
                        : PV::Other;
    if (want == PV::Other)
      return fail("unknown list builder '" + fn.str() + "'");
    for (const PVRef &x : a[0]->items)
      if (x->kind != want)
        return fail("'" + fn.str() + "' of a list with another element type");
    return a[0];
  }
  if (fn == "torch.jit._pickle restore_type_tag") {
    if (a.size() != 2 || a[1]->kind != PV::Str)
      return fail("'restore_type_tag' without (value, type)");
    return a[0];
  }
  if (fn == "collections OrderedDict") {
    if (!a.empty())
      return fail("'OrderedDict' with arguments");
    return make(PV::Dict);
  }
  PVRef r = make(PV::Other);
  if (!addChild(*r, args))
    return fail("pickle nested too deeply");
  return r;
}

PVRef Unpickler::run() {
  while (pos < d.size()) {
    opStart = pos;
    uint8_t op = d[pos++];
    auto readN = [&](unsigned n, uint64_t &v) {
      if (!need(n))
        return false;
      v = rd(&d[pos], n);
      pos += n;
      return true;
    };
    uint64_t v = 0;
    switch (op) {
    case 0x80: // PROTO
      if (!readN(1, v) || v < 2 || v > 5)
        return fail("bad pickle protocol");
      break;
    case 0x95: // FRAME
      if (!readN(8, v) || !need(v))
        return fail("a pickle frame past the end");
      break;
    case '.': // STOP
      if (stack.size() != 1 || !marks.empty())
        return fail("pickle STOP with " + std::to_string(stack.size()) +
                    " values on the stack");
      return stack.back();
    case '(':
      marks.push_back(stack.size());
      break;
    case ')':
      stack.push_back(make(PV::Tuple));
      break;
    case ']':
      stack.push_back(make(PV::List));
      break;
    case '}':
      stack.push_back(make(PV::Dict));
      break;
    case 't':
    case 'l': {
      std::vector<PVRef> items;
      if (!popMark(items))
        return fail("pickle TUPLE/LIST without a mark");
      PVRef t = make(op == 't' ? PV::Tuple : PV::List);
      for (PVRef &x : items)
        if (!addChild(*t, x))
          return fail("pickle nested too deeply");
      stack.push_back(t);
      break;
    }
    case 0x85:
    case 0x86:
    case 0x87: {
      size_t n = op - 0x84;
      if (stack.size() < floor() + n)
        return fail("pickle TUPLE" + std::to_string(n) +
                    " on too short a stack");
      PVRef t = make(PV::Tuple);
      for (size_t k = stack.size() - n; k < stack.size(); ++k)
        if (!addChild(*t, stack[k]))
          return fail("pickle nested too deeply");
      stack.resize(stack.size() - n);
      stack.push_back(t);
      break;
    }
    case 'a': // APPEND
      if (stack.size() < floor() + 2 ||
          stack[stack.size() - 2]->kind != PV::List)
        return fail("pickle APPEND without a list");
      {
        PVRef x = pop();
        if (!addChild(*stack.back(), x))
          return fail("pickle nested too deeply");
      }
      break;
    case 'e':   // APPENDS
    case 'u': { // SETITEMS
      if (marks.empty() || marks.back() < 1 ||
          marks.back() - 1 < (marks.size() > 1 ? marks[marks.size() - 2] : 0))
        return fail("pickle APPENDS/SETITEMS without a container");
      PVRef target = stack[marks.back() - 1];
      std::vector<PVRef> items;
      popMark(items);
      if (target->kind != (op == 'e' ? PV::List : PV::Dict))
        return fail(op == 'e'
                        ? "pickle APPENDS to something other than a list"
                        : "pickle SETITEMS on something other than a dict");
      if (op == 'u' && items.size() % 2)
        return fail("pickle SETITEMS with an odd number of values");
      for (PVRef &x : items)
        if (!addChild(*target, x))
          return fail("pickle nested too deeply");
      break;
    }
    case 's': // SETITEM
      if (stack.size() < floor() + 3 ||
          stack[stack.size() - 3]->kind != PV::Dict)
        return fail("pickle SETITEM without a dict");
      {
        PVRef value = pop(), key = pop();
        if (!addChild(*stack.back(), key) || !addChild(*stack.back(), value))
          return fail("pickle nested too deeply");
      }
      break;
    case 'q':
    case 'r':
      if (!readN(op == 'q' ? 1 : 4, v))
        return fail("truncated pickle");
      if (stack.size() <= floor() || v > memo.size())
        return fail("pickle memo index " + std::to_string(v) +
                    " out of sequence");
      if (v == memo.size())
        memo.push_back(stack.back());
      else
        memo[v] = stack.back();
      break;
    case 0x94: // MEMOIZE
      if (stack.size() <= floor())
        return fail("pickle MEMOIZE on an empty stack");
      memo.push_back(stack.back());
      break;
    case 'h':
    case 'j':
      if (!readN(op == 'h' ? 1 : 4, v))
        return fail("truncated pickle");
      if (v >= memo.size())
        return fail("pickle memo index " + std::to_string(v) +
                    " was never stored");
      stack.push_back(memo[v]);
      break;
    case 'N':
      stack.push_back(make(PV::None));
      break;
    case 0x88:
    case 0x89: {
      PVRef b = make(PV::Bool);
      b->i = op == 0x88;
      stack.push_back(b);
      break;
    }
    case 'K':
    case 'M':
    case 'J': {
      if (!readN(op == 'K' ? 1 : op == 'M' ? 2 : 4, v))
        return fail("truncated pickle");
      PVRef x = make(PV::Int);
      x->i = op == 'J' ? int64_t(int32_t(uint32_t(v))) : int64_t(v);
      stack.push_back(x);
      break;
    }
    case 0x8a: { // LONG1
      uint64_t n;
      if (!readN(1, n) || n > 8 || !readN(n, v))
        return fail("bad pickle LONG1");
      PVRef x = make(PV::Int);
      x->i = n == 0   ? 0
             : n == 8 ? int64_t(v)
                      : int64_t(v << (64 - 8 * n)) >> (64 - 8 * n);
      stack.push_back(x);
      break;
    }
    case 'G': {
      if (!need(8))
        return fail("truncated pickle");
      pos += 8;
      stack.push_back(make(PV::Float));
      break;
    }
    case 'X':
    case 0x8c:
    case 0x8d:
    case 'U':
    case 'T':
    case 'B':
    case 'C': {
      unsigned w = (op == 0x8c || op == 'U' || op == 'C') ? 1
                   : op == 0x8d                           ? 8
                                                          : 4;
      if (!readN(w, v) || !need(v))
        return fail("a pickle string of " + std::to_string(v) +
                    " bytes past the end");
      PVRef x = make(PV::Str);
      x->s.assign(reinterpret_cast<const char *>(&d[pos]), v);
      pos += v;
      stack.push_back(x);
      break;
    }
    case 'c': { // GLOBAL: "module\nname\n"
      std::string parts[2];
      for (std::string &part : parts) {
        while (pos < d.size() && d[pos] != '\n' && part.size() <= 512)
          part += char(d[pos++]);
        if (pos >= d.size() || d[pos] != '\n' || part.empty())
          return fail("a damaged pickle GLOBAL");
        ++pos;
        for (char ch : part)
          if (!(isalnum(uint8_t(ch)) || ch == '_' || ch == '.'))
            return fail("a pickle GLOBAL with a strange name");
      }
      PVRef g = make(PV::Global);
      g->s = parts[0] + " " + parts[1];
      stack.push_back(g);
      break;
    }
    case 0x81:  // NEWOBJ
    case 'R': { // REDUCE
      if (stack.size() < floor() + 2)
        return fail("pickle REDUCE/NEWOBJ on too short a stack");
      PVRef args = pop(), callable = pop();
      if (callable->kind != PV::Global || args->kind != PV::Tuple)
        return fail("pickle REDUCE/NEWOBJ of something other than a global and "
                    "a tuple");
      if (op == 0x81) {
        PVRef o = make(PV::Object);
        o->s = callable->s;
        stack.push_back(o);
        break;
      }
      PVRef r = reduce(callable, args);
      if (!r)
        return nullptr;
      stack.push_back(r);
      break;
    }
    case 'b': { // BUILD
      if (stack.size() < floor() + 2)
        return fail("pickle BUILD on too short a stack");
      PVRef state = pop();
      PV &target = *stack.back();
      if (target.kind != PV::Object && target.kind != PV::Other)
        return fail("pickle BUILD of something other than an object");
      if (!addChild(target, state))
        return fail("pickle nested too deeply");
      break;
    }
    case 'Q': { // BINPERSID
      if (stack.size() < floor() + 1)
        return fail("pickle BINPERSID on an empty stack");
      PVRef s = persistent(pop());
      if (!s)
        return nullptr;
      stack.push_back(s);
      break;
    }
    default:
      return fail("unsupported pickle opcode " + hex(op));
    }
  }
  opStart = pos;
  return fail("pickle without STOP");
}

/// The source-range table of a debug pickle (LibTorch's
/// source_range_serialization.cpp), checked so that resolving any range
/// stays inside its text.
std::string checkDebugStructure(const PVRef &top) {
  const PV *records = top.get();
  std::vector<uint64_t> table;
  bool withTable = false;
  if (top->kind == PV::Tuple && top->items.size() == 3 &&
      top->items[0]->kind == PV::Str &&
      top->items[0]->s == "FORMAT_WITH_STRING_TABLE") {
    withTable = true;
    const PV &t = *top->items[1];
    if (t.kind != PV::Tuple)
      return "the string table is not a tuple";
    for (const PVRef &s : t.items) {
      if (s->kind != PV::Str)
        return "the string table holds a non-string";
      table.push_back(s->s.size());
    }
    records = top->items[2].get();
  }
  if (records->kind != PV::Tuple)
    return "the source ranges are not a tuple";
  int64_t lastBytes = 0;
  for (const PVRef &r : records->items) {
    auto &e = r->items;
    if (r->kind != PV::Tuple || e.size() < 2 || e.size() > 3 ||
        e[0]->kind != PV::Int || (e.size() == 3 && e[2]->kind != PV::Int))
      return "a source range record is not (offset, range[, tag])";
    if (e[0]->i < lastBytes)
      return "source range offsets out of order";
    lastBytes = e[0]->i;
    const PV &range = *e[1];
    if (range.kind != PV::Tuple || range.items.size() != 3 ||
        range.items[1]->kind != PV::Int || range.items[2]->kind != PV::Int)
      return "a source range is not (source, start, end)";
    const PV &source = *range.items[0];
    if (source.kind != PV::Tuple || source.items.size() != 3 ||
        source.items[2]->kind != PV::Int || source.items[2]->i < 0 ||
        source.items[2]->i > (int64_t(1) << 30))
      return "a source is not (text, file, line)";
    uint64_t length = 0;
    if (withTable) {
      const PV &text = *source.items[0];
      if (text.kind != PV::List || source.items[1]->kind != PV::Int)
        return "a source's text is not a list of string indices";
      int64_t file = source.items[1]->i;
      if (file < 0 || uint64_t(file) >= table.size())
        return "a source's file index is outside the string table";
      for (const PVRef &k : text.items) {
        if (k->kind != PV::Int || k->i < 0 || uint64_t(k->i) >= table.size())
          return "a source's text index is outside the string table";
        length += table[k->i];
      }
    } else {
      if (source.items[0]->kind != PV::Str ||
          (source.items[1]->kind != PV::Str &&
           source.items[1]->kind != PV::None))
        return "a source is not (text, file, line)";
      length = source.items[0]->s.size();
    }
    // Ranges may lie past their text (traced sources keep an empty text):
    // LibTorch resolves lines with a bounded search; only their order and
    // size matter.
    (void)length;
    int64_t start = range.items[1]->i, end = range.items[2]->i;
    if (start < 0 || end < start || end > (int64_t(1) << 31))
      return "a source range [" + std::to_string(start) + ", " +
             std::to_string(end) + ")";
  }
  return "";
}

uint32_t crc32Of(ArrayRef<uint8_t> data) {
  return static_cast<uint32_t>(::crc32_z(0, data.data(), data.size()));
}

bool inflateEntry(ArrayRef<uint8_t> file, const Entry &e,
                  std::vector<uint8_t> &out) {
  out.assign(e.size, 0);
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
    return false;
  zs.next_in = const_cast<Bytef *>(file.data() + e.dataOffset);
  zs.avail_in =
      static_cast<uInt>(std::min<uint64_t>(e.compressedSize, UINT32_MAX));
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(std::min<uint64_t>(e.size, UINT32_MAX));
  int rc = inflate(&zs, Z_FINISH);
  bool ok = rc == Z_STREAM_END && zs.total_out == e.size;
  inflateEnd(&zs);
  return ok;
}

} // namespace

ArchiveCheckResult kiln::torchscript::checkTorchScriptArchive(
    ArrayRef<uint8_t> bytes,
    llvm::function_ref<void(uint64_t, uint64_t)> checked) {
  ArchiveCheckResult result;
  Zip zip(bytes);
  result.error = zip.parse();
  if (!result.error.empty())
    return result;
  for (const Entry &e : zip.entries)
    result.records.push_back(
        {e.name, e.dataOffset, e.compressedSize, e.size, e.crc, e.method});
  // LibTorch names every record after the first entry's directory.
  StringRef first = zip.entries.front().name;
  size_t slash = first.find('/');
  if (slash == StringRef::npos) {
    result.error =
        "entry '" + first.str() + "' is outside an archive directory";
    return result;
  }
  std::string prefix = first.take_front(slash + 1).str();
  result.prefix = prefix;

  auto contents = [&](const Entry &e,
                      std::vector<uint8_t> &storage) -> ArrayRef<uint8_t> {
    if (e.method == 0)
      return bytes.slice(e.dataOffset, e.size);
    if (!inflateEntry(bytes, e, storage))
      return {};
    return storage;
  };
  // Every record against the CRC-32 its directory entry records (LibTorch
  // reads records without checking it: a flipped bit in a weight would
  // convert to a wrong weight with exit code 0); deflated records after
  // inflating.
  llvm::DenseSet<const Entry *> droppedDebug;
  for (const Entry &e : zip.entries) {
    std::vector<uint8_t> storage;
    ArrayRef<uint8_t> data = contents(e, storage);
    std::string problem;
    if (e.method == 8 && e.size && data.empty()) {
      problem = "its deflated data is damaged";
    } else {
      uint32_t crc = crc32Of(data);
      if (checked)
        checked(e.dataOffset, e.compressedSize);
      if (crc == e.crc)
        continue;
      problem =
          "its CRC-32 is " + hex(crc) + ", the archive records " + hex(e.crc);
    }
    if (StringRef(e.name).ends_with(".debug_pkl")) {
      result.warnings.push_back("dropping the damaged debug information '" +
                                e.name + "' (" + problem +
                                "): locations in it are lost");
      result.renameOffsets.push_back(e.localNameEnd);
      result.renameOffsets.push_back(e.centralNameEnd);
      result.records[&e - zip.entries.data()].dropped = true;
      droppedDebug.insert(&e);
      continue;
    }
    result.error = "entry '" + e.name + "' (offset " +
                   std::to_string(e.dataOffset) + ") is damaged: " + problem;
    return result;
  }
  for (const Entry &e : zip.entries) {
    if (droppedDebug.contains(&e))
      continue;
    StringRef name = e.name;
    if (!name.starts_with(prefix))
      continue;
    StringRef rel = name.drop_front(prefix.size());
    bool debug = rel.ends_with(".debug_pkl");
    bool main = rel == "data.pkl" || rel == "constants.pkl";
    if (!debug && !main)
      continue;
    std::vector<uint8_t> storage;
    ArrayRef<uint8_t> data = contents(e, storage);
    std::string problem;
    {
      // (Damaged deflated data was refused, or dropped, with the CRCs above.)
      Unpickler u(data, debug ? nullptr : &zip,
                  prefix + (rel == "data.pkl" ? "data/" : "constants/"));
      PVRef top = u.run();
      if (!top)
        problem = u.error;
      else if (debug)
        problem = checkDebugStructure(top);
    }
    if (problem.empty())
      continue;
    if (!debug) {
      result.error = "entry '" + name.str() + "' is damaged: " + problem;
      return result;
    }
    result.warnings.push_back("dropping the damaged debug information '" +
                              name.str() + "' (" + problem +
                              "): locations in it are lost");
    result.renameOffsets.push_back(e.localNameEnd);
    result.renameOffsets.push_back(e.centralNameEnd);
    result.records[&e - zip.entries.data()].dropped = true;
  }
  return result;
}
