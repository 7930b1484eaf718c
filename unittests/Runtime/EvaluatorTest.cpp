//===- EvaluatorTest.cpp - kiln::runtime::Evaluator through its public API ===//
//
// Expectations are computed here in plain C++ (loops, std::nearbyint), not
// with ATen: the evaluator's kernels are checked against an independent
// implementation. The lit tests in test/Runtime compare every op with torch.
//
//===----------------------------------------------------------------------===//
#include "kiln/Runtime/Evaluator.h"
#include "kiln/InitAll.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

using namespace mlir;
using namespace kiln::runtime;

namespace {

class EvaluatorTest : public ::testing::Test {
protected:
  EvaluatorTest() {
    DialectRegistry registry;
    kiln::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
    context.printOpOnDiagnostic(false);
  }

  ModuleOp parse(const std::string &text) {
    module = parseSourceString<ModuleOp>(text, &context);
    return *module;
  }

  /// Runs `function` and returns its results; records diagnostics.
  FailureOr<std::vector<HostValue>> run(const std::string &text,
                                        const std::string &function,
                                        std::vector<HostValue> args) {
    diagnostics.clear();
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
      std::string loc;
      llvm::raw_string_ostream os(loc);
      os << d.getLocation();
      diagnostics.push_back(loc + ": " + d.str());
      return success();
    });
    if (!parse(text))
      return failure();
    evaluator = Evaluator::create(*module, function);
    if (!evaluator)
      return failure();
    return evaluator->run(args);
  }

  bool diagnosed(const std::string &needle) const {
    for (const std::string &d : diagnostics)
      if (d.find(needle) != std::string::npos)
        return true;
    return false;
  }

  static std::vector<float> floats(const HostValue &v) {
    std::vector<float> out(v.tensor.numel());
    for (int64_t i = 0; i < v.tensor.numel(); ++i)
      out[i] = static_cast<float>(v.tensor.at(i));
    return out;
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  std::unique_ptr<Evaluator> evaluator;
  std::vector<std::string> diagnostics;
};

/// PyTorch's fake quantization written out: nearbyint(x * (1/scale)) + zp,
/// clamped, back to float (float32 arithmetic, round half to even).
float fakeQuant(float x, float scale, int64_t zp, int64_t qmin, int64_t qmax) {
  float inv = 1.0f / scale;
  int64_t q = static_cast<int64_t>(zp + std::nearbyint(x * inv));
  q = std::min(std::max(q, qmin), qmax);
  return static_cast<float>(static_cast<double>(q - zp) * scale);
}

TEST_F(EvaluatorTest, BroadcastingArithmetic) {
  auto result = run(R"mlir(
    func.func @f(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> tensor<2x3xf32> {
      %0 = kiln.mul %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
      %1 = kiln.sub %0, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
      return %1 : tensor<2x3xf32>
    })mlir",
                    "f",
                    {HostValue::of(HostTensor::f32({2, 3}, {1, 2, 3, 4, 5, 6})),
                     HostValue::of(HostTensor::f32({3}, {10, 20, 30}))});
  ASSERT_TRUE(succeeded(result));
  ASSERT_EQ(result->size(), 1u);
  const HostValue &out = (*result)[0];
  EXPECT_EQ(out.tensor.shape, (std::vector<int64_t>{2, 3}));
  std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {10, 20, 30};
  std::vector<float> got = floats(out);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(got[i], a[i] * b[i % 3] - a[i]) << i;
}

TEST_F(EvaluatorTest, FakeQuantMatchesTheFormula) {
  std::vector<float> x;
  for (int i = -40; i <= 40; ++i)
    x.push_back(0.0125f * i +
                (i % 3 == 0 ? 0.005f : 0.0f)); // exact ties every 3rd
  x.push_back(100.0f);                         // clamps
  int64_t n = x.size();
  auto result = run(R"mlir(
    func.func @f(%x: tensor<*xf32>) -> (tensor<*xf32>, tensor<*xf32>) {
      %0 = kiln.fake_quant %x scale(0.01) zero_point(3) range [-128, 127] : (tensor<*xf32>) -> tensor<*xf32>
      %1 = kiln.quantize %x : (tensor<*xf32>) -> tensor<*x!quant.uniform<i8:f32, 0.01:3>>
      %2 = kiln.dequantize %1 : (tensor<*x!quant.uniform<i8:f32, 0.01:3>>) -> tensor<*xf32>
      return %0, %2 : tensor<*xf32>, tensor<*xf32>
    })mlir",
                    "f", {HostValue::of(HostTensor::f32({n}, x))});
  ASSERT_TRUE(succeeded(result));
  std::vector<float> viaOp = floats((*result)[0]),
                     viaType = floats((*result)[1]);
  for (int64_t i = 0; i < n; ++i) {
    float want = fakeQuant(x[i], 0.01f, 3, -128, 127);
    EXPECT_EQ(viaOp[i], want) << "x = " << x[i];
    EXPECT_EQ(viaType[i], want) << "x = " << x[i];
  }
  EXPECT_EQ(viaOp.back(), (127 - 3) * 0.01f);
}

TEST_F(EvaluatorTest, QuantizedConstantIsDequantized) {
  auto result = run(R"mlir(
    func.func @f() -> tensor<2x2xf32> {
      %w = kiln.constant dense<[[1, -2], [127, -128]]> : tensor<2x2xi8> as tensor<2x2x!quant.uniform<i8:f32:0, {0.5, 0.25:1}>>
      %d = kiln.dequantize %w : (tensor<2x2x!quant.uniform<i8:f32:0, {0.5, 0.25:1}>>) -> tensor<2x2xf32>
      return %d : tensor<2x2xf32>
    })mlir",
                    "f", {});
  ASSERT_TRUE(succeeded(result));
  EXPECT_EQ(floats((*result)[0]),
            (std::vector<float>{0.5f, -1.0f, 126 * 0.25f, -129 * 0.25f}));
}

TEST_F(EvaluatorTest, OptionalTupleAndControlFlow) {
  const char *text = R"mlir(
    func.func @f(%x: tensor<2xf32>, %kv: !kiln.optional<tuple<tensor<2xf32>, tensor<2xf32>>>, %flag: i1) -> (tensor<2xf32>, i64) {
      %none = kiln.is_none %kv : !kiln.optional<tuple<tensor<2xf32>, tensor<2xf32>>>
      %r = scf.if %none -> (tensor<2xf32>) {
        scf.yield %x : tensor<2xf32>
      } else {
        %t = kiln.unchecked_cast %kv : !kiln.optional<tuple<tensor<2xf32>, tensor<2xf32>>> -> tuple<tensor<2xf32>, tensor<2xf32>>
        %v = kiln.tuple_get %t[1] : tuple<tensor<2xf32>, tensor<2xf32>> -> tensor<2xf32>
        %s = kiln.add %x, %v : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
        scf.yield %s : tensor<2xf32>
      }
      %c7 = arith.constant 7 : i64
      %c2 = arith.constant -2 : i64
      %q = arith.floordivsi %c7, %c2 : i64
      %one = arith.constant 1 : i64
      %sel = arith.select %flag, %q, %one : i64
      return %r, %sel : tensor<2xf32>, i64
    })mlir";
  HostValue x = HostValue::of(HostTensor::f32({2}, {1, 2}));
  auto absent = run(text, "f", {x, HostValue::none(), HostValue::ofInt(1)});
  ASSERT_TRUE(succeeded(absent));
  EXPECT_EQ(floats((*absent)[0]), (std::vector<float>{1, 2}));
  EXPECT_EQ((*absent)[1].kind, HostValue::Kind::Int);
  EXPECT_EQ((*absent)[1].i, -4); // floor(7 / -2)
  HostValue kv =
      HostValue::sequence({HostValue::of(HostTensor::f32({2}, {0, 0})),
                           HostValue::of(HostTensor::f32({2}, {10, 20}))});
  auto present = run(text, "f", {x, kv, HostValue::ofInt(0)});
  ASSERT_TRUE(succeeded(present));
  EXPECT_EQ(floats((*present)[0]), (std::vector<float>{11, 22}));
  EXPECT_EQ((*present)[1].i, 1);
}

TEST_F(EvaluatorTest, CircleRopeNeox) {
  // x = [1, 2, 3, 4]: rotate_half(x) = [-3, -4, 1, 2].
  auto result =
      run(R"mlir(
    func.func @f(%x: tensor<1x4xf32>, %s: tensor<1x4xf32>, %c: tensor<1x4xf32>) -> tensor<1x4xf32> {
      %0 = circle.rope %x, %s, %c : (tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
      return %0 : tensor<1x4xf32>
    })mlir",
          "f",
          {HostValue::of(HostTensor::f32({1, 4}, {1, 2, 3, 4})),
           HostValue::of(HostTensor::f32({1, 4}, {0.5f, 0.25f, 2, 1})),
           HostValue::of(HostTensor::f32({1, 4}, {1, 2, 0, 3}))});
  ASSERT_TRUE(succeeded(result));
  EXPECT_EQ(floats((*result)[0]),
            (std::vector<float>{1 * 1 + -3 * 0.5f, 2 * 2 + -4 * 0.25f,
                                3 * 0 + 1 * 2, 4 * 3 + 2 * 1}));
}

TEST_F(EvaluatorTest, RepeatedCallsAgree) {
  const char *text = R"mlir(
    func.func @f(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
      %w = kiln.constant dense<[[0.3, -0.7, 1.1], [2.0, 0.5, -1.5]]> : tensor<2x3xf32>
      %wq = kiln.fake_quant_per_axis %w axis(0) scales[0.01, 0.02] zero_points[0, 0] range [-128, 127] : (tensor<2x3xf32>) -> tensor<2x3xf32>
      %y = kiln.linear %x, %wq : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
      return %y : tensor<2x2xf32>
    })mlir";
  std::vector<float> x = {1, 2, 3, -1, 0.5f, 4};
  auto first = run(text, "f", {HostValue::of(HostTensor::f32({2, 3}, x))});
  ASSERT_TRUE(succeeded(first));
  auto second = evaluator->run({HostValue::of(HostTensor::f32({2, 3}, x))});
  ASSERT_TRUE(succeeded(second));
  EXPECT_EQ(floats((*first)[0]), floats((*second)[0]));
  // w quantized per row: 0.3 -> 30 * 0.01, ...; y = x w^T.
  float w[2][3] = {{fakeQuant(0.3f, 0.01f, 0, -128, 127),
                    fakeQuant(-0.7f, 0.01f, 0, -128, 127),
                    fakeQuant(1.1f, 0.01f, 0, -128, 127)},
                   {fakeQuant(2.0f, 0.02f, 0, -128, 127),
                    fakeQuant(0.5f, 0.02f, 0, -128, 127),
                    fakeQuant(-1.5f, 0.02f, 0, -128, 127)}};
  std::vector<float> got = floats((*first)[0]);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 2; ++c) {
      float want = 0;
      for (int k = 0; k < 3; ++k)
        want += x[r * 3 + k] * w[c][k];
      EXPECT_NEAR(got[r * 2 + c], want, 1e-5) << r << "," << c;
    }
}

TEST_F(EvaluatorTest, NoKernelIsADiagnosticAtTheOp) {
  auto result = run(R"mlir(
    func.func @f() -> tensor<2xf32> {
      %0 = tensor.empty() : tensor<2xf32>
      return %0 : tensor<2xf32>
    })mlir",
                    "f", {});
  EXPECT_TRUE(failed(result));
  EXPECT_EQ(evaluator, nullptr);
  EXPECT_TRUE(diagnosed(":3:12): kiln-run has no kernel for 'tensor.empty'"))
      << (diagnostics.empty() ? "" : diagnostics[0]);
}

TEST_F(EvaluatorTest, ArgumentErrorsNameTheArgument) {
  const char *text = R"mlir(
    func.func @f(%x: tensor<2x2xf32> {kiln.name = "hidden"}) -> tensor<2x2xf32> {
      return %x : tensor<2x2xf32>
    })mlir";
  auto wrongDtype =
      run(text, "f", {HostValue::of(HostTensor::i64({2, 2}, {1, 2, 3, 4}))});
  EXPECT_TRUE(failed(wrongDtype));
  EXPECT_TRUE(diagnosed("argument 'hidden': dtype mismatch"));
  auto wrongShape =
      run(text, "f", {HostValue::of(HostTensor::f32({4}, {1, 2, 3, 4}))});
  EXPECT_TRUE(failed(wrongShape));
  EXPECT_TRUE(
      diagnosed("argument 'hidden': shape [4] does not match tensor<2x2xf32>"));
  auto wrongCount = run(text, "f", {});
  EXPECT_TRUE(failed(wrongCount));
  EXPECT_TRUE(diagnosed("@f takes 1 arguments, got 0"));
}

TEST_F(EvaluatorTest, KernelFailureIsReportedAtTheOp) {
  auto result = run(R"mlir(
    func.func @f(%x: tensor<*xf32>) -> tensor<*xf32> {
      %c5 = arith.constant 5 : i64
      %0 = kiln.reshape %x(%c5) : (tensor<*xf32>) -> tensor<*xf32>
      return %0 : tensor<*xf32>
    })mlir",
                    "f", {HostValue::of(HostTensor::f32({4}, {1, 2, 3, 4}))});
  EXPECT_TRUE(failed(result));
  EXPECT_TRUE(
      diagnosed(":4:12): 'kiln.reshape' failed: shape '[5]' is invalid"))
      << (diagnostics.empty() ? "" : diagnostics[0]);
}

TEST_F(EvaluatorTest, UnknownFunction) {
  EXPECT_TRUE(failed(run("func.func @f() { return }", "g", {})));
  EXPECT_TRUE(diagnosed("no function named 'g'"));
}

TEST(RuntimeKernels, EveryKilnAndCircleOpHasOne) {
  MLIRContext ctx;
  DialectRegistry registry;
  kiln::registerAllDialects(registry);
  ctx.appendDialectRegistry(registry);
  ctx.loadAllAvailableDialects();
  int checked = 0;
  for (RegisteredOperationName op : ctx.getRegisteredOperations()) {
    StringRef ns = op.getDialectNamespace();
    if (ns != "kiln" && ns != "circle")
      continue;
    EXPECT_TRUE(hasKernel(op.getStringRef()))
        << op.getStringRef().str() << " has no kernel";
    ++checked;
  }
  EXPECT_GE(checked, 70);
  for (const char *op :
       {"scf.if", "scf.for", "scf.yield", "func.call", "func.return",
        "tensor.cast", "arith.constant", "arith.addi", "arith.floordivsi",
        "arith.cmpi", "arith.select", "arith.sitofp"})
    EXPECT_TRUE(hasKernel(op)) << op;
  EXPECT_FALSE(hasKernel("tensor.empty"));
}

TEST(RuntimeMetrics, HandComputed) {
  HostTensor actual = HostTensor::f32({3}, {1, 2, 3});
  HostTensor expected = HostTensor::f32({3}, {1, 2, 4});
  std::string error;
  auto m = computeMetrics(actual, expected, error);
  ASSERT_TRUE(succeeded(m)) << error;
  EXPECT_DOUBLE_EQ(m->maxAbs, 1.0);
  EXPECT_DOUBLE_EQ(m->meanAbs, 1.0 / 3);
  EXPECT_DOUBLE_EQ(m->peir, 1.0 / 3); // range of expected: 4 - 1
  EXPECT_NEAR(m->cosine, (1 + 4 + 12) / (std::sqrt(14.0) * std::sqrt(21.0)),
              1e-12);
  EXPECT_EQ(m->numel, 3);

  auto same = computeMetrics(expected, expected, error);
  ASSERT_TRUE(succeeded(same));
  EXPECT_EQ(same->maxAbs, 0);
  EXPECT_EQ(same->cosine, 1);

  // A cache output larger along one dimension: its last entries compare.
  HostTensor cache = HostTensor::f32({1, 3}, {9, 9, 4});
  HostTensor last = HostTensor::f32({1, 1}, {4});
  auto tail = computeMetrics(cache, last, error);
  ASSERT_TRUE(succeeded(tail));
  EXPECT_EQ(tail->maxAbs, 0);

  // ... or the other way round (a decode contract's new entries against a
  // full cache): [2, 4] against the last two of [1, 2, 4].
  auto head = computeMetrics(HostTensor::f32({2}, {2, 4}), expected, error);
  ASSERT_TRUE(succeeded(head));
  EXPECT_EQ(head->maxAbs, 0);

  EXPECT_TRUE(
      failed(computeMetrics(HostTensor::f32({2, 3}, {1, 2, 3, 4, 5, 6}),
                            HostTensor::f32({3, 1}, {1, 2, 3}), error)));
  EXPECT_NE(error.find("cannot be compared"), std::string::npos) << error;
}

TEST(RuntimeDTypes, NamesAndSizes) {
  EXPECT_EQ(dtypeName(DType::F32), "float32");
  EXPECT_EQ(dtypeName(DType::I64), "int64");
  EXPECT_EQ(parseDType("int32"), DType::I32);
  EXPECT_FALSE(parseDType("complex64").has_value());
  EXPECT_EQ(dtypeSize(DType::BF16), 2u);
  MLIRContext ctx;
  EXPECT_EQ(dtypeOf(FloatType::getF32(&ctx)), DType::F32);
  EXPECT_EQ(dtypeOf(IntegerType::get(&ctx, 1)), DType::Bool);
  EXPECT_EQ(dtypeOf(IntegerType::get(&ctx, 8, IntegerType::Unsigned)),
            DType::U8);
  EXPECT_FALSE(
      dtypeOf(IntegerType::get(&ctx, 16, IntegerType::Unsigned)).has_value());
}

} // namespace
