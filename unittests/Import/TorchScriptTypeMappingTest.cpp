//===- TorchScriptTypeMappingTest.cpp - importer type/value mapping -------===//
//
// The TorchScript importer's mapping rules, through the LibTorch-free
// TypeMapping.h: TorchScript types to kiln types, the join used for scf.if
// results, coercion of branch values, input-shape hints, and zero-copy
// weight blobs.
//
//===----------------------------------------------------------------------===//
#include "kiln/Import/TorchScript/TypeMapping.h"
#include "kiln/InitAll.h"

#include "kiln/Dialect/Kiln/IR/KilnOps.h"
#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <memory>

using namespace mlir;
using namespace kiln::torchscript;

namespace {
class TorchScriptMappingTest : public ::testing::Test {
protected:
  TorchScriptMappingTest() {
    kiln::registerAllDialects(registry);
    context = std::make_unique<MLIRContext>(registry);
    context->loadAllAvailableDialects();
  }
  Type parse(llvm::StringRef text) {
    return mlir::parseType(text, context.get());
  }
  std::string str(Type t) {
    std::string s;
    llvm::raw_string_ostream os(s);
    t.print(os);
    return s;
  }
  std::string convert(llvm::StringRef ts) {
    std::string error;
    auto t = convertTypeString(ts, *context, error);
    return failed(t) ? "error: " + error : str(*t);
  }
  DialectRegistry registry;
  std::unique_ptr<MLIRContext> context;
};
} // namespace

TEST_F(TorchScriptMappingTest, ConvertsTorchScriptTypes) {
  EXPECT_EQ(convert("Tensor"), "tensor<*xf32>");
  EXPECT_EQ(convert("int"), "i64");
  EXPECT_EQ(convert("float"), "f64");
  EXPECT_EQ(convert("bool"), "i1");
  EXPECT_EQ(convert("NoneType"), "!kiln.none");
  EXPECT_EQ(convert("int[]"), "!kiln.list<i64>");
  EXPECT_EQ(convert("Tensor?"), "!kiln.optional<tensor<*xf32>>");
  EXPECT_EQ(convert("(Tensor, Tensor)?"),
            "!kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>>");
  EXPECT_EQ(convert("(Tensor, Tensor)[]?"),
            "!kiln.optional<!kiln.list<tuple<tensor<*xf32>, tensor<*xf32>>>>");
  EXPECT_EQ(convert("(Tensor, (Tensor, Tensor)?, Tensor?)"),
            "tuple<tensor<*xf32>, !kiln.optional<tuple<tensor<*xf32>, "
            "tensor<*xf32>>>, !kiln.optional<tensor<*xf32>>>");
}

TEST_F(TorchScriptMappingTest, RejectsTypesWithoutValues) {
  EXPECT_EQ(convert("str"),
            "error: TorchScript type 'str' has no kiln value type");
  EXPECT_EQ(convert("Device"),
            "error: TorchScript type 'Device' has no kiln value type");
  EXPECT_EQ(
      convert("Dict(str, Tensor)"),
      "error: TorchScript type 'Dict[str, Tensor]' has no kiln value type");
  EXPECT_EQ(convert("(int, str)"),
            "error: TorchScript type 'str' has no kiln value type");
  EXPECT_EQ(convert("not a type ("),
            "error: cannot parse TorchScript type 'not a type ('");
}

TEST_F(TorchScriptMappingTest, ConvertsScalarTypes) {
  auto name = [&](llvm::StringRef n) {
    auto t = convertScalarTypeName(n, *context);
    return failed(t) ? std::string("none") : str(*t);
  };
  EXPECT_EQ(name("Float"), "f32");
  EXPECT_EQ(name("Double"), "f64");
  EXPECT_EQ(name("Half"), "f16");
  EXPECT_EQ(name("BFloat16"), "bf16");
  EXPECT_EQ(name("Long"), "i64");
  EXPECT_EQ(name("Int"), "i32");
  EXPECT_EQ(name("Short"), "i16");
  EXPECT_EQ(name("Char"), "i8");
  EXPECT_EQ(name("Byte"), "ui8");
  EXPECT_EQ(name("Bool"), "i1");
  EXPECT_EQ(name("QInt8"), "none");
  EXPECT_EQ(name("ComplexFloat"), "none");
  EXPECT_EQ(name("Nonsense"), "none");
}

TEST_F(TorchScriptMappingTest, JoinsBranchTypes) {
  auto join = [&](llvm::StringRef a, llvm::StringRef b) {
    Type t = joinTypes(parse(a), parse(b));
    return t ? str(t) : std::string("null");
  };
  EXPECT_EQ(join("tensor<*xf32>", "tensor<*xf32>"), "tensor<*xf32>");
  EXPECT_EQ(join("tensor<1x4x16xf32>", "tensor<1x4x17xf32>"),
            "tensor<1x4x?xf32>");
  EXPECT_EQ(join("tensor<1x4xf32>", "tensor<4xf32>"), "tensor<*xf32>");
  EXPECT_EQ(join("tensor<4xf32>", "tensor<4xi64>"), "null");
  EXPECT_EQ(join("tuple<tensor<*xf32>, tensor<*xf32>>", "!kiln.none"),
            "!kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>>");
  EXPECT_EQ(join("!kiln.none", "!kiln.optional<tensor<*xf32>>"),
            "!kiln.optional<tensor<*xf32>>");
  EXPECT_EQ(join("!kiln.optional<tensor<2xf32>>", "tensor<3xf32>"),
            "!kiln.optional<tensor<?xf32>>");
  EXPECT_EQ(join("tuple<tensor<2xf32>, i64>", "tuple<tensor<3xf32>, i64>"),
            "tuple<tensor<?xf32>, i64>");
  EXPECT_EQ(join("tuple<i64>", "tuple<i64, i64>"), "null");
  EXPECT_EQ(join("i64", "f64"), "null");
  EXPECT_EQ(join("!kiln.list<i64>", "!kiln.list<i64>"), "!kiln.list<i64>");
  EXPECT_EQ(join("!kiln.none", "!kiln.none"), "!kiln.none");
}

TEST_F(TorchScriptMappingTest, CoercesBranchValues) {
  OpBuilder b(context.get());
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());
  Type t2 = parse("tensor<2xf32>");
  auto fn = b.create<func::FuncOp>(loc, "f", b.getFunctionType({t2}, {}));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToEnd(entry);
  Value x = entry->getArgument(0);

  auto some = coerceValue(b, loc, x, parse("!kiln.optional<tensor<*xf32>>"));
  ASSERT_TRUE(succeeded(some));
  auto someOp = some->getDefiningOp<kiln::SomeOp>();
  ASSERT_TRUE(someOp);
  EXPECT_TRUE(someOp.getValue().getDefiningOp<tensor::CastOp>());

  Value none = b.create<kiln::NoneOp>(loc, parse("!kiln.none"));
  auto empty =
      coerceValue(b, loc, none, parse("!kiln.optional<tensor<*xf32>>"));
  ASSERT_TRUE(succeeded(empty));
  EXPECT_EQ(str(empty->getType()), "!kiln.optional<tensor<*xf32>>");
  EXPECT_TRUE(empty->getDefiningOp<kiln::NoneOp>());

  Type tupleType = parse("tuple<tensor<2xf32>, tensor<2xf32>>");
  Value tuple = b.create<kiln::TupleOp>(loc, tupleType, ValueRange{x, x});
  auto widened =
      coerceValue(b, loc, tuple, parse("tuple<tensor<?xf32>, tensor<*xf32>>"));
  ASSERT_TRUE(succeeded(widened));
  EXPECT_EQ(str(widened->getType()), "tuple<tensor<?xf32>, tensor<*xf32>>");

  EXPECT_TRUE(failed(coerceValue(b, loc, x, parse("tensor<3xf32>"))));
  EXPECT_TRUE(failed(coerceValue(b, loc, x, parse("tensor<2xi64>"))));
  EXPECT_TRUE(failed(coerceValue(b, loc, x, parse("i64"))));
  EXPECT_EQ(*coerceValue(b, loc, x, t2), x);
}

TEST_F(TorchScriptMappingTest, ParsesInputShapeHints) {
  std::string error;
  auto h = parseInputShapeHint("hidden_states=1x16x64xf32", *context, error);
  ASSERT_TRUE(succeeded(h)) << error;
  EXPECT_EQ(h->name, "hidden_states");
  EXPECT_TRUE(h->path.empty());
  EXPECT_EQ(str(h->type), "tensor<1x16x64xf32>");

  auto p =
      parseInputShapeHint("past_key_value.1=1x2x?x16xf32", *context, error);
  ASSERT_TRUE(succeeded(p)) << error;
  EXPECT_EQ(p->name, "past_key_value");
  ASSERT_EQ(p->path.size(), 1u);
  EXPECT_EQ(p->path[0], 1u);
  EXPECT_EQ(str(p->type), "tensor<1x2x?x16xf32>");

  auto ids = parseInputShapeHint("input_ids=1x16xi64", *context, error);
  ASSERT_TRUE(succeeded(ids));
  EXPECT_EQ(str(ids->type), "tensor<1x16xi64>");

  EXPECT_TRUE(failed(parseInputShapeHint("hidden_states", *context, error)));
  EXPECT_NE(error.find("is not of the form name=1x16x64xf32"),
            std::string::npos);
  EXPECT_TRUE(failed(parseInputShapeHint("x=1x16", *context, error)));
  EXPECT_NE(error.find("is not a shape"), std::string::npos);
  EXPECT_TRUE(failed(parseInputShapeHint("x.a=1xf32", *context, error)));
  EXPECT_NE(error.find("is not a tuple element index"), std::string::npos);
}

TEST_F(TorchScriptMappingTest, AppliesShapeHints) {
  auto hint = cast<TensorType>(parse("tensor<1x2x8x16xf32>"));
  auto apply = [&](llvm::StringRef type, llvm::ArrayRef<unsigned> path) {
    auto t = applyShapeHint(parse(type), path, hint);
    return failed(t) ? std::string("failure") : str(*t);
  };
  EXPECT_EQ(apply("tensor<*xf32>", {}), "tensor<1x2x8x16xf32>");
  EXPECT_EQ(apply("!kiln.optional<tuple<tensor<*xf32>, tensor<*xf32>>>", {1}),
            "!kiln.optional<tuple<tensor<*xf32>, tensor<1x2x8x16xf32>>>");
  EXPECT_EQ(apply("tuple<tensor<*xf32>, tensor<*xf32>>", {2}), "failure");
  EXPECT_EQ(apply("tuple<tensor<*xf32>, tensor<*xf32>>", {}), "failure");
  EXPECT_EQ(apply("i1", {}), "failure");
}

TEST_F(TorchScriptMappingTest, WeightsAreBorrowedNotCopied) {
  bool released = false;
  TensorImportForTest imported = importTensorForTest(
      *context, "Float", {4, 8}, "model.layers.0.mlp.up_proj.weight",
      /*transposed=*/false, [&] { released = true; });
  ASSERT_TRUE(imported.attr);
  auto resource = dyn_cast<DenseResourceElementsAttr>(imported.attr);
  ASSERT_TRUE(resource);
  EXPECT_EQ(str(resource.getType()), "tensor<4x8xf32>");
  EXPECT_EQ(resource.getRawHandle().getKey(),
            "model.layers.0.mlp.up_proj.weight");
  AsmResourceBlob *blob = resource.getRawHandle().getBlob();
  ASSERT_TRUE(blob);
  // The blob is the tensor's own memory.
  EXPECT_EQ(static_cast<const void *>(blob->getData().data()),
            imported.tensorData);
  EXPECT_EQ(blob->getData().size(), 4u * 8u * sizeof(float));
  auto values = reinterpret_cast<const float *>(blob->getData().data());
  EXPECT_EQ(values[0], 0.0f);
  EXPECT_EQ(values[31], 31.0f);
  EXPECT_FALSE(released);
  // The tensor stays alive until the context drops the blob.
  context.reset();
  EXPECT_TRUE(released);
}

TEST_F(TorchScriptMappingTest, NonContiguousTensorsAreMadeContiguous) {
  TensorImportForTest imported =
      importTensorForTest(*context, "Float", {2, 3}, "w", /*transposed=*/true);
  auto resource = dyn_cast_or_null<DenseResourceElementsAttr>(imported.attr);
  ASSERT_TRUE(resource);
  EXPECT_EQ(str(resource.getType()), "tensor<3x2xf32>");
  auto values = reinterpret_cast<const float *>(
      resource.getRawHandle().getBlob()->getData().data());
  // arange(6).reshape(2, 3).t() = [[0, 3], [1, 4], [2, 5]]
  std::vector<float> got(values, values + 6);
  EXPECT_EQ(got, (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_NE(static_cast<const void *>(values), imported.tensorData);
}

TEST_F(TorchScriptMappingTest, IntegerAndBoolTensors) {
  TensorImportForTest ints =
      importTensorForTest(*context, "Int", {3}, "zero_points", false);
  ASSERT_TRUE(ints.attr);
  EXPECT_EQ(str(ints.attr.getType()), "tensor<3xi32>");
  // Bool tensors are small masks; their byte layout is not MLIR's i1
  // layout, so they are dense copies.
  TensorImportForTest bools =
      importTensorForTest(*context, "Bool", {4}, "mask", false);
  auto dense = dyn_cast_or_null<DenseElementsAttr>(bools.attr);
  ASSERT_TRUE(dense);
  std::vector<bool> got(dense.getValues<bool>().begin(),
                        dense.getValues<bool>().end());
  EXPECT_EQ(got, (std::vector<bool>{false, true, false, true}));
}
