//===- WeightQuantizerTest.cpp - vectorized weight quantization -----------===//
//
// kiln::WeightQuantizer::run (the vectorized kernel kiln-fold-fake-quant
// writes weights with) against the element-by-element reference
// (quantizeValue / fakeQuantValue): bit-identical bytes on random data with
// exact ties at .5, NaN, infinities and huge values, per tensor and per
// channel (long runs, one element per channel, short runs), every storage
// type, chained fake quants (embedding tables), any sub-range, and across
// the thread pool.
//
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/Kiln/Utils/QuantUtils.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/ThreadPool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

using kiln::QuantGrid;
using kiln::WeightQuantizer;

namespace {
struct Kind {
  const char *name;
  unsigned bits;
  int64_t qmin, qmax;
};

const Kind kKinds[] = {
    {"int4", 4, -8, 7},
    {"int4 narrow", 4, -7, 7},
    {"uint4", 4, 0, 15},
    {"int8", 8, -128, 127},
    {"int8 narrow", 8, -127, 127},
    {"uint8", 8, 0, 255},
    {"int16", 16, -32768, 32767},
    {"int16 narrow", 16, -32767, 32767},
};

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

/// Values that test the edges: NaN (both signs), infinities, huge values
/// (beyond int64 after the scale), +-2^63, the largest floats, denormals,
/// signed zeros.
std::vector<float> specialValues() {
  return {kNaN,
          -kNaN,
          kInf,
          -kInf,
          1e30f,
          -1e30f,
          9223372036854775808.0f,
          -9223372036854775808.0f,
          9.2233715e18f,
          -9.2233715e18f,
          std::numeric_limits<float>::max(),
          std::numeric_limits<float>::lowest(),
          std::numeric_limits<float>::denorm_min(),
          -std::numeric_limits<float>::denorm_min(),
          0.0f,
          -0.0f,
          4194304.5f,
          -4194304.5f,
          8388609.0f,
          -8388609.0f};
}

/// Random scales: half of them powers of two, so that x * (1 / scale) is
/// exact and ties at .5 really are ties.
float randomScale(std::mt19937 &rng) {
  std::uniform_real_distribution<float> u(0.001f, 0.2f);
  if (rng() % 2)
    return std::ldexp(1.0f, -static_cast<int>(rng() % 10));
  return u(rng);
}

int64_t randomZeroPoint(std::mt19937 &rng, const Kind &k) {
  switch (rng() % 4) {
  case 0:
    return k.qmin >= 0 ? (k.qmin + k.qmax + 1) / 2 : 0;
  case 1:
    return k.qmin; // the lowest code: a negative zero point for signed
  case 2:
    return k.qmax;
  default:
    return k.qmin + static_cast<int64_t>(rng() % (k.qmax - k.qmin + 1));
  }
}

QuantGrid randomGrid(std::mt19937 &rng, const Kind &k, int64_t channels,
                     int64_t inner) {
  QuantGrid g;
  g.qmin = k.qmin;
  g.qmax = k.qmax;
  g.inner = inner;
  for (int64_t c = 0; c < channels; ++c) {
    g.scales.push_back(randomScale(rng));
    g.zeroPoints.push_back(randomZeroPoint(rng, k));
  }
  return g;
}

/// Floats for element i of a tensor on grid g: mostly in range and beyond
/// it, a quarter exact ties (k + 0.5) * scale, some special values.
std::vector<float> randomData(std::mt19937 &rng, const QuantGrid &g,
                              int64_t count) {
  std::vector<float> specials = specialValues();
  std::vector<float> data(count);
  int64_t channels = g.scales.size();
  double span = static_cast<double>(g.qmax - g.qmin);
  std::uniform_real_distribution<double> u(-0.7 * span, 0.7 * span);
  for (int64_t i = 0; i < count; ++i) {
    int64_t c = channels == 1 ? 0 : (i / g.inner) % channels;
    float scale = g.scales[c];
    switch (rng() % 16) {
    case 0:
      data[i] = specials[rng() % specials.size()];
      break;
    case 1:
    case 2:
    case 3:
    case 4:
      data[i] = static_cast<float>((std::floor(u(rng)) + 0.5) * scale);
      break;
    default:
      data[i] = static_cast<float>(u(rng) * scale);
      break;
    }
  }
  return data;
}

void expectSameBytes(const WeightQuantizer &q, const std::vector<float> &data,
                     const std::string &what) {
  int64_t n = data.size();
  size_t bytes = n * q.bytesPerElement();
  std::vector<char> fast(bytes, 0x5a), reference(bytes, 0x3c);
  q.run(data.data(), fast.data(), 0, n);
  q.runReference(data.data(), reference.data(), 0, n);
  for (int64_t i = 0; i < n; ++i) {
    unsigned b = q.bytesPerElement();
    if (std::memcmp(&fast[i * b], &reference[i * b], b) != 0) {
      ADD_FAILURE() << what << ": element " << i << " (" << data[i]
                    << ") kernel byte 0x" << std::hex
                    << (static_cast<unsigned>(fast[i * b]) & 0xff)
                    << ", reference 0x"
                    << (static_cast<unsigned>(reference[i * b]) & 0xff);
      return;
    }
  }
}

TEST(WeightQuantizer, PerTensorMatchesReference) {
  std::mt19937 rng(1);
  for (const Kind &k : kKinds)
    for (int trial = 0; trial < 8; ++trial) {
      QuantGrid g = randomGrid(rng, k, 1, 1);
      std::vector<float> data = randomData(rng, g, 4099);
      expectSameBytes(WeightQuantizer(g, k.bits), data,
                      std::string(k.name) + " per tensor, zp " +
                          std::to_string(g.zeroPoints[0]));
    }
}

TEST(WeightQuantizer, PerChannelMatchesReference) {
  std::mt19937 rng(2);
  // (channels, inner): long runs (axis 0 of a linear weight), one element
  // per channel (last axis), short runs, and a period too long to expand.
  const std::pair<int64_t, int64_t> layouts[] = {
      {7, 300}, {16, 1}, {33, 3}, {5, 17}, {9000, 9}};
  for (const Kind &k : kKinds)
    for (auto [channels, inner] : layouts) {
      QuantGrid g = randomGrid(rng, k, channels, inner);
      int64_t count = std::min<int64_t>(channels * inner * 3 + 5, 200000);
      std::vector<float> data = randomData(rng, g, count);
      expectSameBytes(WeightQuantizer(g, k.bits), data,
                      std::string(k.name) + " per channel " +
                          std::to_string(channels) + "x" +
                          std::to_string(inner));
    }
}

TEST(WeightQuantizer, ReferenceIsPyTorchsFormula) {
  // For finite values inside int64 range the reference is the plain
  // formula clamp(int64(nearbyint(x * (1 / s))) + zp).
  std::mt19937 rng(3);
  for (const Kind &k : kKinds) {
    QuantGrid g = randomGrid(rng, k, 1, 1);
    for (float x : randomData(rng, g, 2000)) {
      float y = x * (1.0f / g.scales[0]);
      if (!(std::fabs(y) < 9.0e18f))
        continue;
      int64_t expected = std::clamp<int64_t>(
          static_cast<int64_t>(std::nearbyint(y)) + g.zeroPoints[0], k.qmin,
          k.qmax);
      EXPECT_EQ(
          kiln::quantizeValue(x, g.scales[0], g.zeroPoints[0], k.qmin, k.qmax),
          expected)
          << k.name << " x = " << x;
    }
  }
}

TEST(WeightQuantizer, NaNAndInfinityAsBefore) {
  // As quantizeValue always gave on x86 (the int64 conversion of NaN and
  // out-of-range values is INT64_MIN, then the zero point is added): qmin,
  // or qmax for a negative zero point.
  for (int64_t zp : {int64_t(0), int64_t(5), int64_t(-3)}) {
    QuantGrid g;
    g.scales = {0.5f};
    g.zeroPoints = {zp};
    g.qmin = -8;
    g.qmax = 7;
    WeightQuantizer q(g, 4);
    std::vector<float> data = {kNaN, kInf, -kInf, 1e30f, -1e30f, 2.5f, -2.5f};
    std::vector<char> out(data.size());
    q.run(data.data(), out.data(), 0, data.size());
    int8_t bad = zp < 0 ? 7 : -8;
    for (size_t i = 0; i < 5; ++i)
      EXPECT_EQ(static_cast<int8_t>(out[i]), bad)
          << "zp " << zp << " x " << data[i];
    // 2.5 / 0.5 = 5, -5: no tie; clamped after the zero point.
    EXPECT_EQ(static_cast<int8_t>(out[5]), std::clamp<int64_t>(5 + zp, -8, 7));
    EXPECT_EQ(static_cast<int8_t>(out[6]), std::clamp<int64_t>(-5 + zp, -8, 7));
  }
}

TEST(WeightQuantizer, TiesRoundHalfToEven) {
  QuantGrid g;
  g.scales = {0.25f};
  g.zeroPoints = {0};
  g.qmin = -128;
  g.qmax = 127;
  WeightQuantizer q(g, 8);
  std::vector<float> data = {0.125f, 0.375f, 0.625f, -0.125f, -0.375f, -0.625f};
  std::vector<char> out(data.size());
  q.run(data.data(), out.data(), 0, data.size());
  const int8_t expected[] = {0, 2, 2, 0, -2, -2};
  for (size_t i = 0; i < data.size(); ++i)
    EXPECT_EQ(static_cast<int8_t>(out[i]), expected[i]) << data[i];
}

TEST(WeightQuantizer, StorageBytes) {
  // 4-bit: one byte per element, sign-extended; 16-bit little-endian.
  QuantGrid g;
  g.scales = {1.0f};
  g.zeroPoints = {0};
  g.qmin = -8;
  g.qmax = 7;
  std::vector<float> data = {-3.0f, 7.0f, -8.0f};
  std::vector<char> out(3);
  WeightQuantizer(g, 4).run(data.data(), out.data(), 0, 3);
  EXPECT_EQ(static_cast<uint8_t>(out[0]), 0xFD);
  EXPECT_EQ(static_cast<uint8_t>(out[1]), 0x07);
  EXPECT_EQ(static_cast<uint8_t>(out[2]), 0xF8);
  g.qmin = -32768;
  g.qmax = 32767;
  std::vector<float> wide = {-2.0f, 258.0f};
  std::vector<char> out16(4);
  WeightQuantizer(g, 16).run(wide.data(), out16.data(), 0, 2);
  const uint8_t expected[] = {0xFE, 0xFF, 0x02, 0x01};
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(static_cast<uint8_t>(out16[i]), expected[i]) << i;
}

TEST(WeightQuantizer, WideRangesGoElementByElement) {
  // int32 storage (a range far beyond 2^22) takes the scalar path.
  std::mt19937 rng(4);
  Kind k{"int32", 32, INT32_MIN, INT32_MAX};
  QuantGrid g;
  g.scales = {1e-6f, 3e-5f};
  g.zeroPoints = {0, -100000};
  g.qmin = k.qmin;
  g.qmax = k.qmax;
  g.inner = 50;
  std::vector<float> data = randomData(rng, g, 1000);
  std::uniform_real_distribution<float> u(-5000.0f, 5000.0f);
  for (int i = 0; i < 200; ++i)
    data[rng() % data.size()] = u(rng);
  expectSameBytes(WeightQuantizer(g, 32), data, "int32");
}

TEST(WeightQuantizer, ChainedFakeQuantsMatchReference) {
  // An embedding table rewritten into its output's grid: per-row uint4 /
  // int8 fake quant, then the per-tensor int8 / int16 output grid.
  std::mt19937 rng(5);
  const Kind &row4 = kKinds[2], &row8 = kKinds[3], &out8 = kKinds[3],
             &out16 = kKinds[6];
  for (auto [row, out] : {std::pair{&row4, &out8}, std::pair{&row8, &out16},
                          std::pair{&row8, &out8}}) {
    int64_t rows = 37, cols = 129;
    QuantGrid perRow = randomGrid(rng, *row, rows, cols);
    QuantGrid p = randomGrid(rng, *out, 1, 1);
    // The output grid about as fine as the rows' grids.
    p.scales[0] = perRow.scales[0] * 0.37f;
    std::vector<float> data = randomData(rng, perRow, rows * cols);
    expectSameBytes(WeightQuantizer({perRow, p}, p, out->bits), data,
                    std::string(row->name) + " rows into " + out->name);
  }
}

TEST(WeightQuantizer, AnySubRangeAndAcrossThreads) {
  std::mt19937 rng(6);
  const Kind &k = kKinds[0];
  // Runs of 1000 do not divide the chunk size: chunks start mid-channel.
  int64_t count = 3 * WeightQuantizer::kChunkElements + 12345;
  QuantGrid g = randomGrid(rng, k, 64, 1000);
  std::vector<float> data = randomData(rng, g, count);
  WeightQuantizer q(g, k.bits);
  std::vector<char> whole(count), pieces(count, 0x11), threaded(count, 0x22),
      serial(count, 0x33);
  q.runReference(data.data(), whole.data(), 0, count);
  for (int64_t b = 0; b < count;) {
    int64_t e = std::min<int64_t>(count, b + 1 + rng() % 70000);
    q.run(data.data(), pieces.data(), b, e);
    b = e;
  }
  EXPECT_EQ(whole, pieces);
  mlir::MLIRContext threadedCtx;
  ASSERT_TRUE(threadedCtx.isMultithreadingEnabled());
  q.runParallel(&threadedCtx, data.data(), threaded.data(), count);
  EXPECT_EQ(whole, threaded);
  mlir::MLIRContext serialCtx(mlir::MLIRContext::Threading::DISABLED);
  q.runParallel(&serialCtx, data.data(), serial.data(), count);
  EXPECT_EQ(whole, serial);
}
} // namespace

namespace {
double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

/// Not a test: kernel throughput (bench/quantize/run.py runs it with
/// --gtest_also_run_disabled_tests). 64M elements of an int4 per-channel
/// weight (rows of 2048): the reference element by element, run() on one
/// thread, runParallel() on the context's pool.
TEST(WeightQuantizer, DISABLED_Throughput) {
  const int64_t rows = 32768, cols = 2048, count = rows * cols;
  std::mt19937 rng(8);
  QuantGrid g = randomGrid(rng, kKinds[0], rows, cols);
  std::vector<float> data(count);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (float &x : data)
    x = normal(rng);
  WeightQuantizer q(g, 4);
  std::vector<char> reference(count), single(count), parallel(count);
  // Touch the outputs first: page faults are not the kernel.
  std::memset(reference.data(), 1, count);
  std::memset(single.data(), 2, count);
  std::memset(parallel.data(), 3, count);
  auto t0 = std::chrono::steady_clock::now();
  q.runReference(data.data(), reference.data(), 0, count);
  double tRef = seconds(t0);
  t0 = std::chrono::steady_clock::now();
  q.run(data.data(), single.data(), 0, count);
  double tRun = seconds(t0);
  mlir::MLIRContext ctx;
  unsigned threads = ctx.getThreadPool().getMaxConcurrency();
  t0 = std::chrono::steady_clock::now();
  q.runParallel(&ctx, data.data(), parallel.data(), count);
  double tPar = seconds(t0);
  EXPECT_EQ(reference, single);
  EXPECT_EQ(reference, parallel);
  auto rate = [&](double t) { return count / t / 1e6; };
  std::printf(
      "kernel %lld elements int4 per channel: reference %.3fs (%.0f M/s), "
      "run %.3fs (%.0f M/s, %.1fx), runParallel on %u threads %.3fs "
      "(%.0f M/s, %.1fx reference, %.2fx run)\n",
      static_cast<long long>(count), tRef, rate(tRef), tRun, rate(tRun),
      tRef / tRun, threads, tPar, rate(tPar), tRef / tPar, tRun / tPar);
}
} // namespace
