//===- ArchiveCheckTest.cpp - the TorchScript archive checker -------------===//
//
// Archives built here byte by byte (stored zip entries, hand-written protocol
// 2 pickles): what the checker accepts, and the error or warning for each
// kind of damage.
//
//===----------------------------------------------------------------------===//
#include "kiln/Import/TorchScript/ArchiveCheck.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <utility>
#include <vector>

using namespace kiln::torchscript;

namespace {

void put(std::string &s, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; ++i)
    s += char((v >> (8 * i)) & 0xFF);
}

uint32_t crcOf(const std::string &data) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef *>(data.data()),
            static_cast<uInt>(data.size())));
}

/// A stored (uncompressed) zip of `entries`, with their CRC-32s; `badCrc`
/// names an entry whose recorded CRC is wrong.
std::string zip(const std::vector<std::pair<std::string, std::string>> &entries,
                const std::string &badCrc = "") {
  std::string out, central;
  for (const auto &[name, data] : entries) {
    uint64_t local = out.size();
    uint32_t crc = crcOf(data) ^ (name == badCrc ? 1u : 0u);
    put(out, 0x04034b50, 4);
    put(out, 20, 2);
    put(out, 0, 2);
    put(out, 0, 2);
    put(out, 0, 4);
    put(out, crc, 4);
    put(out, data.size(), 4);
    put(out, data.size(), 4);
    put(out, name.size(), 2);
    put(out, 0, 2);
    out += name;
    out += data;
    put(central, 0x02014b50, 4);
    put(central, 20, 2);
    put(central, 20, 2);
    put(central, 0, 2);
    put(central, 0, 2);
    put(central, 0, 4);
    put(central, crc, 4);
    put(central, data.size(), 4);
    put(central, data.size(), 4);
    put(central, name.size(), 2);
    put(central, 0, 2);
    put(central, 0, 2);
    put(central, 0, 2);
    put(central, 0, 2);
    put(central, 0, 4);
    put(central, local, 4);
    central += name;
  }
  uint64_t cdOffset = out.size();
  out += central;
  put(out, 0x06054b50, 4);
  put(out, 0, 2);
  put(out, 0, 2);
  put(out, entries.size(), 2);
  put(out, entries.size(), 2);
  put(out, central.size(), 4);
  put(out, cdOffset, 4);
  put(out, 0, 2);
  return out;
}

ArchiveCheckResult check(const std::string &bytes) {
  return checkTorchScriptArchive(llvm::ArrayRef<uint8_t>(
      reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size()));
}

/// BININT1 v.
std::string K(int v) { return std::string{'K', char(v)}; }

std::string str(const std::string &s) {
  std::string out = "X";
  put(out, s.size(), 4);
  return out + s;
}

/// data.pkl: _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 4),
/// 0, (sizes), (strides), False, OrderedDict()).
std::string tensorPickle(int sizes0, int sizes1, int stride0) {
  std::string p = "\x80\x02";
  p += "ctorch._utils\n_rebuild_tensor_v2\n(";
  p += "(" + str("storage") + "ctorch\nFloatStorage\n" + str("0") + str("cpu") +
       K(4) + "tQ";
  p += K(0);
  p += "(" + K(sizes0) + K(sizes1) + "t";
  p += "(" + K(stride0) + K(1) + "t";
  p += "\x89"
       "ccollections\nOrderedDict\n)R"
       "tR.";
  return p;
}

TEST(ArchiveCheck, NotAZip) {
  EXPECT_EQ(check("").error, "not a zip archive: only 0 bytes");
  EXPECT_EQ(check(std::string(100, 'x')).error,
            "not a zip archive: no end of central directory record");
}

TEST(ArchiveCheck, TensorWithinItsRecord) {
  std::string a = zip({{"m/data.pkl", tensorPickle(2, 2, 2)},
                       {"m/data/0", std::string(16, '\0')},
                       {"m/constants.pkl", "\x80\x02)."}});
  ArchiveCheckResult r = check(a);
  EXPECT_EQ(r.error, "");
  EXPECT_TRUE(r.warnings.empty());
}

TEST(ArchiveCheck, RecordShorterThanItsStorage) {
  std::string a = zip({{"m/data.pkl", tensorPickle(2, 2, 2)},
                       {"m/data/0", std::string(12, '\0')}});
  EXPECT_NE(
      check(a).error.find("tensor record 'm/data/0' holds 12 bytes, but its "
                          "storage has 4 elements of 4 bytes"),
      std::string::npos)
      << check(a).error;
}

TEST(ArchiveCheck, ViewPastItsStorage) {
  // 2x2 with row stride 3 reads element 4: past a 4-element record.
  std::string a = zip({{"m/data.pkl", tensorPickle(2, 2, 3)},
                       {"m/data/0", std::string(16, '\0')}});
  EXPECT_NE(check(a).error.find(
                "a tensor reads past the end of its record 'm/data/0'"),
            std::string::npos)
      << check(a).error;
  // An empty view reads nothing.
  std::string empty = zip({{"m/data.pkl", tensorPickle(0, 2, 100)},
                           {"m/data/0", std::string(16, '\0')}});
  EXPECT_EQ(check(empty).error, "");
}

TEST(ArchiveCheck, MissingRecord) {
  std::string a = zip({{"m/data.pkl", tensorPickle(2, 2, 2)}});
  EXPECT_NE(check(a).error.find("a storage whose record 'm/data/0' is missing"),
            std::string::npos);
}

TEST(ArchiveCheck, PickleDamage) {
  auto errorOf = [](const std::string &pickle) {
    return check(zip({{"m/data.pkl", pickle}})).error;
  };
  EXPECT_NE(errorOf("\x80\x02t.").find("pickle TUPLE/LIST without a mark"),
            std::string::npos);
  EXPECT_NE(errorOf("\x80\x02h\x05.").find("memo index 5 was never stored"),
            std::string::npos);
  EXPECT_NE(errorOf("\x80\x02X\xff\xff\xff\x7f").find("past the end"),
            std::string::npos);
  EXPECT_NE(errorOf("\x80\x02)").find("pickle without STOP"),
            std::string::npos);
  EXPECT_NE(errorOf("\x80\x02))\x2e").find("STOP with 2 values"),
            std::string::npos);
  EXPECT_NE(errorOf("\x80\x02\xff.").find("unsupported pickle opcode 0xff"),
            std::string::npos);
  // Nesting beyond the limit (LibTorch destroys values recursively).
  std::string deep = "\x80\x02";
  for (int i = 0; i < 2000; ++i)
    deep += "]";
  for (int i = 0; i < 1999; ++i)
    deep += "a";
  deep += ".";
  EXPECT_NE(errorOf(deep).find("nested too deeply"), std::string::npos);
}

TEST(ArchiveCheck, DamagedDebugPickleIsAWarning) {
  // FORMAT_WITH_STRING_TABLE, table ('', 'f.py'), one range whose file
  // index (7) is outside the table.
  std::string debug = "\x80\x02(" + str("FORMAT_WITH_STRING_TABLE") + "(" +
                      str("") + str("f.py") + "t(" + K(0) +
                      "ctorch.jit._pickle\nbuild_intlist\n(]tR" + K(7) + K(0) +
                      "\x87" + K(0) + K(0) + "\x87" + K(0) + "\x87" + "tt.";
  std::string a = zip(
      {{"m/data.pkl", "\x80\x02)."}, {"m/code/__torch__.py.debug_pkl", debug}});
  ArchiveCheckResult r = check(a);
  EXPECT_EQ(r.error, "");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(
      r.warnings[0].find("a source's file index is outside the string table"),
      std::string::npos)
      << r.warnings[0];
  EXPECT_EQ(r.renameOffsets.size(), 2u);
  for (uint64_t at : r.renameOffsets)
    EXPECT_EQ(a[at], 'l'); // the last character of "...debug_pkl"
}

TEST(ArchiveCheck, RecordWithAWrongCrc) {
  // A record whose bytes do not match the CRC-32 the directory records (a
  // flipped bit in a weight): an error naming it; in a debug pickle: a
  // warning, and the entry is dropped.
  std::string a =
      zip({{"m/data.pkl", "\x80\x02)."}, {"m/data/0", std::string(16, 'w')}},
          "m/data/0");
  ArchiveCheckResult r = check(a);
  EXPECT_NE(r.error.find("entry 'm/data/0' (offset "), std::string::npos)
      << r.error;
  EXPECT_NE(r.error.find(") is damaged: its CRC-32 is "), std::string::npos)
      << r.error;
  std::string d = zip(
      {{"m/data.pkl", "\x80\x02)."}, {"m/code/x.py.debug_pkl", "\x80\x02)."}},
      "m/code/x.py.debug_pkl");
  r = check(d);
  EXPECT_EQ(r.error, "");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("'m/code/x.py.debug_pkl' (its CRC-32 is "),
            std::string::npos)
      << r.warnings[0];
  EXPECT_EQ(r.renameOffsets.size(), 2u);
}

TEST(ArchiveCheck, ZipDamage) {
  std::string a = zip({{"m/data.pkl", "\x80\x02)."}});
  std::string moved = a;
  moved[moved.size() - 6] = char(0x7F); // central directory offset
  EXPECT_NE(check(moved).error.find("lies outside the archive"),
            std::string::npos);
  std::string count = a;
  count[count.size() - 12] = char(0x50); // entries on this disk
  count[count.size() - 14] = char(0x50);
  EXPECT_NE(check(count).error.find("claims 80 entries"), std::string::npos)
      << check(count).error;
}

} // namespace
