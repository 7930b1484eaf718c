//===- CircleWriterTest.cpp - 4-bit packing, alignment, versions, layout --===//
//
// Expected values come from the file format and TFLite's versioning rules
// (worked out by hand below), not from the writer.
//
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/Circle/IR/CircleDialect.h"
#include "kiln/Export/Circle/Format.h"
#include "kiln/Export/Circle/OpVersion.h"
#include "kiln/Export/Circle/Reader.h"
#include "kiln/Export/Circle/Writer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/QuantOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Regex.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace kiln::circle;
using namespace mlir;

namespace {

// Codes of the Circle/TFLite schemas.
constexpr int32_t kAdd = 0, kFullyConnected = 9, kSoftmax = 25, kGather = 36,
                  kTranspose = 39, kDequantize = 6, kQuantize = 114,
                  kBatchMatMul = 126, kBroadcastTo = 130, kRmsNorm = -6,
                  kRope = -7, kReshape = 22;
constexpr int8_t kFloat32 = 0, kInt32 = 2, kUInt8 = 3, kInt16 = 7, kInt8 = 9,
                 kInt4 = 17, kInt64 = 4;

TensorSignature tensor(int8_t type, std::vector<int64_t> shape = {1, 4},
                       size_t scales = 0, int32_t dim = 0, float scale = 0) {
  TensorSignature t;
  t.type = type;
  t.shape = std::move(shape);
  t.quantized = scales > 0;
  t.numScales = scales;
  t.quantizedDimension = dim;
  t.scale = scale;
  return t;
}

TEST(CircleFormat, PackInt4LowNibbleFirst) {
  // 1, -2, 3, 7, -8 as 4-bit: 0x1, 0xE, 0x3, 0x7, 0x8 -> 0xE1, 0x73, 0x08.
  std::vector<uint8_t> values = {0x01, 0xFE, 0x03, 0x07, 0xF8};
  EXPECT_EQ(packInt4(values), (std::vector<uint8_t>{0xE1, 0x73, 0x08}));
  // Even count: no padding nibble.
  EXPECT_EQ(packInt4({0x0F, 0x00, 0x05, 0x0A}),
            (std::vector<uint8_t>{0x0F, 0xA5}));
  EXPECT_TRUE(packInt4({}).empty());
  EXPECT_EQ(getPackedInt4Size(5), 3u);
  EXPECT_EQ(getPackedInt4Size(4), 2u);
}

TEST(CircleFormat, UnpackInt4SignExtends) {
  std::vector<uint8_t> packed = {0xE1, 0x73, 0x08};
  EXPECT_EQ(unpackInt4(packed, 5, /*isSigned=*/true),
            (std::vector<uint8_t>{0x01, 0xFE, 0x03, 0x07, 0xF8}));
  EXPECT_EQ(unpackInt4(packed, 5, /*isSigned=*/false),
            (std::vector<uint8_t>{0x01, 0x0E, 0x03, 0x07, 0x08}));
  // Round trip of every 4-bit value, odd count.
  std::vector<uint8_t> all;
  for (int v = -8; v < 8; ++v)
    all.push_back(static_cast<uint8_t>(v));
  all.push_back(0x05);
  EXPECT_EQ(unpackInt4(packInt4(all), all.size(), true), all);
}

TEST(CircleFormat, Alignment) {
  EXPECT_EQ(kBufferAlignment, 16u);
  EXPECT_EQ(alignBufferOffset(0), 0u);
  EXPECT_EQ(alignBufferOffset(1), 16u);
  EXPECT_EQ(alignBufferOffset(16), 16u);
  EXPECT_EQ(alignBufferOffset(17), 32u);
  EXPECT_EQ(alignBufferOffset((uint64_t(1) << 32) + 3),
            (uint64_t(1) << 32) + 16);
}

TEST(CircleFormat, IdentifiersAndVersions) {
  EXPECT_EQ(getFileIdentifier(Flavor::Circle), "CIR0");
  EXPECT_EQ(getFileIdentifier(Flavor::TFLite), "TFL3");
  EXPECT_EQ(getModelVersion(Flavor::Circle), 0u);
  EXPECT_EQ(getModelVersion(Flavor::TFLite), 3u);
  EXPECT_EQ(getFlavorFromIdentifier("TFL3"), Flavor::TFLite);
  EXPECT_FALSE(getFlavorFromIdentifier("TFL2").has_value());
}

TEST(CircleFormat, DeprecatedBuiltinCode) {
  EXPECT_EQ(getDeprecatedBuiltinCode(kFullyConnected), 9);
  EXPECT_EQ(getDeprecatedBuiltinCode(kBatchMatMul), 126);
  EXPECT_EQ(getDeprecatedBuiltinCode(127), 127);
  EXPECT_EQ(getDeprecatedBuiltinCode(kBroadcastTo), 127);
  // Circle-only codes are written as themselves (ONE reads this byte).
  EXPECT_EQ(getDeprecatedBuiltinCode(kRmsNorm), -6);
  EXPECT_EQ(getDeprecatedBuiltinCode(kRope), -7);
  EXPECT_EQ(getEffectiveBuiltinCode(127, kBroadcastTo), kBroadcastTo);
  EXPECT_EQ(getEffectiveBuiltinCode(-6, -6), kRmsNorm);
}

TEST(CircleOpVersion, FullyConnected) {
  OptionsSignature none;
  OptionsSignature keep;
  keep.keepNumDims = true;
  auto f32 = tensor(kFloat32), i8 = tensor(kInt8, {1, 4}, 1),
       i16 = tensor(kInt16, {1, 4}, 1), absent = TensorSignature::none();
  auto w8 = tensor(kInt8, {6, 4}, 1), w8c = tensor(kInt8, {6, 4}, 6),
       w4 = tensor(kInt4, {6, 4}, 1), b32 = tensor(kInt32, {6}, 6);
  EXPECT_EQ(getOperatorVersion(kFullyConnected,
                               {f32, tensor(kFloat32, {6, 4}), absent}, {f32},
                               none),
            1);
  EXPECT_EQ(getOperatorVersion(kFullyConnected,
                               {f32, tensor(kFloat32, {6, 4}), absent}, {f32},
                               keep),
            5);
  EXPECT_EQ(getOperatorVersion(kFullyConnected, {i8, w8, b32}, {i8}, none), 4);
  EXPECT_EQ(getOperatorVersion(kFullyConnected, {i8, w4, b32}, {i8}, none), 10);
  // Hybrid: per-tensor 3, asymmetric inputs 9, per-channel 12.
  EXPECT_EQ(getOperatorVersion(kFullyConnected, {f32, w8, absent}, {f32}, none),
            3);
  OptionsSignature asym;
  asym.asymmetricQuantizeInputs = true;
  EXPECT_EQ(getOperatorVersion(kFullyConnected, {f32, w8, absent}, {f32}, asym),
            9);
  EXPECT_EQ(
      getOperatorVersion(kFullyConnected, {f32, w8c, absent}, {f32}, none), 12);
  // int16 x int8: no specific version unless keep_num_dims.
  EXPECT_EQ(getOperatorVersion(kFullyConnected, {i16, w8c, tensor(kInt64, {6})},
                               {i16}, none),
            1);
  EXPECT_EQ(getOperatorVersion(kFullyConnected, {i16, w8c, tensor(kInt64, {6})},
                               {i16}, keep),
            5);
  // A literal two-input operator (no -1): 6.
  EXPECT_EQ(getOperatorVersion(kFullyConnected, {f32, tensor(kFloat32, {6, 4})},
                               {f32}, none),
            6);
}

TEST(CircleOpVersion, ElementwiseAndOthers) {
  OptionsSignature none;
  OptionsSignature generalInt16;
  generalInt16.potScaleInt16 = false;
  auto q16 = tensor(kInt16, {1, 4}, 1), q8 = tensor(kInt8, {1, 4}, 1);
  EXPECT_EQ(getOperatorVersion(kAdd, {q16, q16}, {q16}, generalInt16), 3);
  EXPECT_EQ(getOperatorVersion(kAdd, {q16, q16}, {q16}, none), 1);
  EXPECT_EQ(getOperatorVersion(kAdd, {tensor(kInt16), tensor(kInt16)},
                               {tensor(kInt16)}, none),
            5);
  EXPECT_EQ(getOperatorVersion(kAdd, {q8, q8}, {q8}, none), 2);
  EXPECT_EQ(getOperatorVersion(kSoftmax, {q16}, {q16}, none), 3);
  EXPECT_EQ(getOperatorVersion(kSoftmax, {q8}, {q8}, none), 2);
  EXPECT_EQ(getOperatorVersion(kBatchMatMul, {q16, q16}, {q16}, none), 3);
  EXPECT_EQ(
      getOperatorVersion(kTranspose,
                         {tensor(kInt16, {1, 2, 3, 4}, 1), tensor(kInt32, {4})},
                         {q16}, none),
      5);
  EXPECT_EQ(getOperatorVersion(
                kTranspose,
                {tensor(kFloat32, {1, 1, 2, 3, 4}), tensor(kInt32, {5})},
                {tensor(kFloat32)}, none),
            4);
  EXPECT_EQ(getOperatorVersion(
                kGather, {tensor(kUInt8, {10, 4}, 1), tensor(kInt32, {2})},
                {tensor(kUInt8)}, none),
            1);
  EXPECT_EQ(getOperatorVersion(kGather,
                               {tensor(kInt8, {10, 4}, 1), tensor(kInt32, {2})},
                               {q8}, none),
            2);
  EXPECT_EQ(getOperatorVersion(kGather,
                               {tensor(kInt4, {10, 4}, 1), tensor(kInt32, {2})},
                               {q8}, none),
            7);
  // DEQUANTIZE: int8 per-channel along its quantized dimension: 5.
  EXPECT_EQ(getOperatorVersion(kDequantize, {tensor(kInt8, {2, 3}, 3, 1)},
                               {tensor(kFloat32)}, none),
            5);
  EXPECT_EQ(getOperatorVersion(kDequantize, {tensor(kInt8, {2, 3}, 1)},
                               {tensor(kFloat32)}, none),
            2);
  EXPECT_EQ(getOperatorVersion(kDequantize, {tensor(kInt4, {8}, 1)},
                               {tensor(kFloat32)}, none),
            6);
  EXPECT_EQ(getOperatorVersion(kQuantize, {tensor(kFloat32)}, {q16}, none), 2);
  EXPECT_EQ(getOperatorVersion(kQuantize, {tensor(kFloat32)}, {q8}, none), 1);
  EXPECT_EQ(getOperatorVersion(kBroadcastTo,
                               {tensor(kFloat32), tensor(kInt32, {2})},
                               {tensor(kFloat32)}, none),
            2);
  EXPECT_EQ(
      getOperatorVersion(kReshape, {q16, tensor(kInt32, {2})}, {q16}, none), 1);
  EXPECT_EQ(getOperatorVersion(kRmsNorm, {q16, q16}, {q16}, none), 1);
}

/// Parses circle-dialect MLIR and writes it.
class CircleWriterTest : public ::testing::Test {
protected:
  CircleWriterTest() {
    registry
        .insert<func::FuncDialect, quant::QuantizationDialect, CircleDialect>();
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  OwningOpRef<ModuleOp> parse(llvm::StringRef text) {
    return parseSourceString<ModuleOp>(text, &context);
  }

  std::string write(ModuleOp module, const WriterOptions &options) {
    std::string bytes;
    llvm::raw_string_ostream os(bytes);
    EXPECT_TRUE(succeeded(writeCircle(module, os, options)));
    return os.str();
  }

  std::string dump(llvm::StringRef bytes) {
    std::string text;
    llvm::raw_string_ostream os(text);
    EXPECT_TRUE(
        succeeded(dumpCircle(bytes, os, &context, UnknownLoc::get(&context))));
    return os.str();
  }

  DialectRegistry registry;
  MLIRContext context;
};

// 64 float32 weights (256 bytes) and a 5-element int4 constant.
constexpr const char *kModel = R"mlir(
func.func @main(%x: tensor<64xf32>) -> (tensor<64xf32>, tensor<5xf32>) {
  %w = circle.const dense<2.5> : tensor<64xf32>
  %y = circle.mul %x, %w : (tensor<64xf32>, tensor<64xf32>) -> tensor<64xf32>
  %q = circle.const dense<[1, -2, 3, 7, -8]> : tensor<5xi4> as tensor<5x!quant.uniform<i4:f32, 0.5>>
  %d = circle.dequantize %q : (tensor<5x!quant.uniform<i4:f32, 0.5>>) -> tensor<5xf32>
  return %y, %d : tensor<64xf32>, tensor<5xf32>
}
)mlir";

/// (offset, size, external) of each non-empty buffer, from the dump.
std::vector<std::tuple<uint64_t, uint64_t, bool>>
buffersOf(llvm::StringRef text) {
  std::vector<std::tuple<uint64_t, uint64_t, bool>> result;
  llvm::Regex line(
      "buffer #[0-9]+ (inline|external) ([0-9]+) bytes at offset ([0-9]+)");
  llvm::SmallVector<llvm::StringRef> lines;
  text.split(lines, '\n');
  for (llvm::StringRef l : lines) {
    llvm::SmallVector<llvm::StringRef> m;
    if (!line.match(l, &m))
      continue;
    uint64_t size = 0, offset = 0;
    m[2].getAsInteger(10, size);
    m[3].getAsInteger(10, offset);
    result.emplace_back(offset, size, m[1] == "external");
  }
  return result;
}

TEST_F(CircleWriterTest, InlineDataIsAlignedAndPacked) {
  auto module = parse(kModel);
  ASSERT_TRUE(module);
  std::string bytes = write(*module, {});
  ASSERT_GE(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(4, 4), "CIR0");
  auto buffers = buffersOf(dump(bytes));
  ASSERT_GE(buffers.size(), 2u);
  // The weights: 64 x 2.5f, 16-aligned in the file.
  auto [offset, size, external] = buffers[0];
  EXPECT_FALSE(external);
  EXPECT_EQ(size, 256u);
  EXPECT_EQ(offset % 16, 0u);
  float first;
  std::memcpy(&first, bytes.data() + offset, 4);
  EXPECT_EQ(first, 2.5f);
  // The int4 constant: 3 packed bytes.
  auto [offset4, size4, external4] = buffers[1];
  EXPECT_EQ(size4, 3u);
  EXPECT_EQ(offset4 % 16, 0u);
  EXPECT_EQ(static_cast<uint8_t>(bytes[offset4]), 0xE1);
  EXPECT_EQ(static_cast<uint8_t>(bytes[offset4 + 1]), 0x73);
  EXPECT_EQ(static_cast<uint8_t>(bytes[offset4 + 2]), 0x08);
}

TEST_F(CircleWriterTest, ExternalBuffersFollowTheFlatBuffer) {
  auto module = parse(kModel);
  ASSERT_TRUE(module);
  // Automatic switch: constant data above the threshold.
  WriterOptions options;
  options.externalBufferThreshold = 100;
  std::string bytes = write(*module, options);
  auto buffers = buffersOf(dump(bytes));
  ASSERT_GE(buffers.size(), 3u);
  auto [offset, size, external] = buffers[0];
  auto [offset4, size4, external4] = buffers[1];
  EXPECT_TRUE(external);
  EXPECT_TRUE(external4);
  EXPECT_EQ(offset % 16, 0u);
  EXPECT_EQ(offset4 % 16, 0u);
  EXPECT_GE(offset4, offset + size);
  // The file ends with the last buffer's data.
  EXPECT_EQ(bytes.size(), offset4 + size4);
  float first;
  std::memcpy(&first, bytes.data() + offset, 4);
  EXPECT_EQ(first, 2.5f);
  EXPECT_EQ(static_cast<uint8_t>(bytes[offset4]), 0xE1);
  // Metadata stays inline, before the out-of-line data.
  auto [metaOffset, metaSize, metaExternal] = buffers[2];
  EXPECT_FALSE(metaExternal);
  EXPECT_LT(metaOffset, offset);

  // Below the threshold: inline. Forced: the same bytes as the automatic case.
  EXPECT_FALSE(std::get<2>(buffersOf(dump(write(*module, {})))[0]));
  WriterOptions forced;
  forced.forceExternalBuffers = true;
  EXPECT_EQ(write(*module, forced), bytes);
}

TEST_F(CircleWriterTest, StatsCountStoredBytes) {
  // Two signatures share the float weights (the same attribute) and an int4
  // constant written twice with the same values: each buffer counts once;
  // 15 int4 values take 8 bytes.
  auto module = parse(R"mlir(
func.func @a(%x: tensor<64xf32>) -> tensor<64xf32> {
  %w = circle.const dense<2.5> : tensor<64xf32>
  %y = circle.mul %x, %w : (tensor<64xf32>, tensor<64xf32>) -> tensor<64xf32>
  return %y : tensor<64xf32>
}
func.func @b(%x: tensor<64xf32>) -> (tensor<64xf32>, tensor<3x5xf32>) {
  %w = circle.const dense<2.5> : tensor<64xf32>
  %y = circle.mul %x, %w : (tensor<64xf32>, tensor<64xf32>) -> tensor<64xf32>
  %q = circle.const dense<[[1, -2, 3, 7, -8], [0, 1, 2, 3, 4], [5, 6, 7, -1, -2]]> : tensor<3x5xi4> as tensor<3x5x!quant.uniform<i4:f32, 0.5>>
  %d = circle.dequantize %q : (tensor<3x5x!quant.uniform<i4:f32, 0.5>>) -> tensor<3x5xf32>
  %q2 = circle.const dense<[[1, -2, 3, 7, -8], [0, 1, 2, 3, 4], [5, 6, 7, -1, -2]]> : tensor<3x5xi4> as tensor<3x5x!quant.uniform<i4:f32, 0.5>>
  %d2 = circle.dequantize %q2 : (tensor<3x5x!quant.uniform<i4:f32, 0.5>>) -> tensor<3x5xf32>
  %s = circle.add %d, %d2 : (tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<3x5xf32>
  return %y, %s : tensor<64xf32>, tensor<3x5xf32>
}
)mlir");
  ASSERT_TRUE(module);
  for (Flavor flavor : {Flavor::Circle, Flavor::TFLite}) {
    WriterStats stats;
    WriterOptions options;
    options.flavor = flavor;
    options.stats = &stats;
    std::string bytes = write(*module, options);
    EXPECT_EQ(stats.constantBytes,
              (std::map<std::string, uint64_t>{{"f32", 256}, {"int4", 8}}));
    EXPECT_EQ(stats.totalConstantBytes(), 264u);
    EXPECT_EQ(stats.constantBuffers, 2u);
    EXPECT_EQ(stats.constantTensors, 4u);
    EXPECT_EQ(stats.fileBytes, bytes.size());
    EXPECT_GT(stats.metadataBytes, 0u); // kiln.version
  }
}

TEST_F(CircleWriterTest, DeterministicAndRoundTrips) {
  auto module = parse(kModel);
  ASSERT_TRUE(module);
  for (Flavor flavor : {Flavor::Circle, Flavor::TFLite})
    for (bool external : {false, true}) {
      WriterOptions options;
      options.flavor = flavor;
      options.forceExternalBuffers = external;
      std::string bytes = write(*module, options);
      EXPECT_EQ(write(*module, options), bytes);
      OwningOpRef<ModuleOp> read =
          readCircle(bytes, &context, UnknownLoc::get(&context));
      ASSERT_TRUE(read);
      EXPECT_EQ(getModuleFlavor(*read), flavor);
      EXPECT_EQ(write(*read, options), bytes);
    }
}

TEST_F(CircleWriterTest, FailedWriteLeavesNoFile) {
  auto module = parse(R"mlir(
func.func @f(%x: tensor<1x8xf32>) -> tensor<1x8xf32> {
  %g = circle.const dense<1.0> : tensor<8xf32>
  %n = circle.rms_norm %x, %g : (tensor<1x8xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  return %n : tensor<1x8xf32>
}
)mlir");
  ASSERT_TRUE(module);
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("kiln-writer-test", dir));
  llvm::SmallString<128> path(dir);
  llvm::sys::path::append(path, "model.tflite");

  // The circle flavor writes the file.
  WriterOptions circle;
  ASSERT_TRUE(succeeded(writeCircleFile(*module, path, circle)));
  auto original = llvm::MemoryBuffer::getFile(path);
  ASSERT_TRUE(bool(original));
  std::string before = (*original)->getBuffer().str();

  // The tflite flavor refuses RMS_NORM: the existing file is untouched and no
  // temporary file is left.
  WriterOptions tflite;
  tflite.flavor = Flavor::TFLite;
  std::string diagnostics;
  {
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
      diagnostics += d.str();
      return success();
    });
    EXPECT_TRUE(failed(writeCircleFile(*module, path, tflite)));
  }
  EXPECT_NE(diagnostics.find("Circle-only"), std::string::npos);
  auto after = llvm::MemoryBuffer::getFile(path);
  ASSERT_TRUE(bool(after));
  EXPECT_EQ((*after)->getBuffer().str(), before);
  std::error_code ec;
  int entries = 0;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec))
    ++entries;
  EXPECT_EQ(entries, 1);
  llvm::sys::fs::remove_directories(dir);
}

} // namespace

// Two signatures reading one per-channel weight store its 256 scales and
// zero points once: the second signature adds less than the 12 bytes per
// channel a copy would.
TEST_F(CircleWriterTest, PerAxisQuantizationIsStoredOnce) {
  std::string scales;
  for (int i = 0; i < 256; ++i)
    scales += (i ? ", " : "") + std::to_string(0.001 * (i + 1));
  std::string type = "tensor<256x4x!quant.uniform<i8:f32:0, {" + scales + "}>>";
  auto fn = [&](const std::string &name) {
    return "func.func @" + name +
           "() -> tensor<256x4xf32> {\n"
           "  %w = circle.const dense<1> : tensor<256x4xi8> as " +
           type +
           "\n"
           "  %d = circle.dequantize %w : (" +
           type +
           ") -> tensor<256x4xf32>\n"
           "  return %d : tensor<256x4xf32>\n}\n";
  };
  auto one = parse(fn("a"));
  auto two = parse(fn("a") + fn("b"));
  ASSERT_TRUE(one && two);
  std::string oneBytes = write(*one, {}), twoBytes = write(*two, {});
  EXPECT_GT(twoBytes.size(), oneBytes.size());
  EXPECT_LT(twoBytes.size() - oneBytes.size(), 256u * 12);
  // Both signatures read the parameters back.
  std::string text = dump(twoBytes);
  size_t first = text.find("(256 in all)");
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(text.find("(256 in all)", text.find("subgraph #1")),
            std::string::npos);
}
