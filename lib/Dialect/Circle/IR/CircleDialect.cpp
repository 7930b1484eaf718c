//===- CircleDialect.cpp - circle dialect registration and verifiers -----===//
#include "kiln/Dialect/Circle/IR/CircleDialect.h"
#include "kiln/Dialect/Circle/IR/CircleOps.h"

#include "kiln/Dialect/Common/ConstantFormat.h"
#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace kiln::circle;

#include "kiln/Dialect/Circle/CircleDialect.cpp.inc"

void CircleDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "kiln/Dialect/Circle/CircleOps.cpp.inc"
      >();
}

static bool isActivation(StringRef name) {
  return llvm::StringSwitch<bool>(name)
      .Cases("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT", true)
      .Default(false);
}

static LogicalResult verifyActivation(Operation *op, StringRef name) {
  if (!isActivation(name))
    return op->emitOpError("unknown fused_activation_function '")
           << name << "'";
  return success();
}

/// Ranks of two ranked tensors must be equal, e.g. elementwise input/output.
static LogicalResult verifySameShapeIfRanked(Operation *op, Value a, Value b) {
  auto ta = dyn_cast<RankedTensorType>(a.getType());
  auto tb = dyn_cast<RankedTensorType>(b.getType());
  if (ta && tb && failed(verifyCompatibleShape(ta.getShape(), tb.getShape())))
    return op->emitOpError("input and output shapes differ");
  return success();
}

LogicalResult ConstOp::verify() {
  auto attrType = cast<ShapedType>(getValue().getType());
  auto type = getType();
  if (type.hasRank() && attrType.hasRank() &&
      type.getShape() != attrType.getShape())
    return emitOpError("value shape differs from result shape");
  Type elt = type.getElementType(), attrElt = attrType.getElementType();
  if (elt == attrElt)
    return success();
  if (auto q = dyn_cast<quant::QuantizedType>(elt))
    if (auto i = dyn_cast<IntegerType>(attrElt))
      if (i.getWidth() == q.getStorageTypeIntegralWidth())
        return success();
  return emitOpError("value element type ")
         << attrElt << " does not store " << elt;
}

OpFoldResult ConstOp::fold(FoldAdaptor) { return getValue(); }

ParseResult ConstOp::parse(OpAsmParser &parser, OperationState &result) {
  return kiln::parseConstantOp(parser, result);
}

void ConstOp::print(OpAsmPrinter &p) {
  kiln::printConstantOp(p, *this, getValue());
}

#define CIRCLE_BINARY_VERIFY(OP)                                               \
  LogicalResult OP::verify() {                                                 \
    return verifyActivation(*this, getFusedActivationFunction());              \
  }
CIRCLE_BINARY_VERIFY(AddOp)
CIRCLE_BINARY_VERIFY(SubOp)
CIRCLE_BINARY_VERIFY(MulOp)
CIRCLE_BINARY_VERIFY(DivOp)
#undef CIRCLE_BINARY_VERIFY

#define CIRCLE_UNARY_VERIFY(OP)                                                \
  LogicalResult OP::verify() {                                                 \
    return verifySameShapeIfRanked(*this, getInput(), getOutput());            \
  }
CIRCLE_UNARY_VERIFY(RsqrtOp)
CIRCLE_UNARY_VERIFY(NegOp)
CIRCLE_UNARY_VERIFY(LogisticOp)
CIRCLE_UNARY_VERIFY(QuantizeOp)
CIRCLE_UNARY_VERIFY(DequantizeOp)
CIRCLE_UNARY_VERIFY(CastOp)
#undef CIRCLE_UNARY_VERIFY

LogicalResult SoftmaxOp::verify() {
  return verifySameShapeIfRanked(*this, getInput(), getOutput());
}

LogicalResult FullyConnectedOp::verify() {
  if (failed(verifyActivation(*this, getFusedActivationFunction())))
    return failure();
  if (getWeightsFormat() != "DEFAULT" &&
      getWeightsFormat() != "SHUFFLED4x16INT8")
    return emitOpError("unknown weights_format '") << getWeightsFormat() << "'";
  auto filter = dyn_cast<RankedTensorType>(getFilter().getType());
  if (filter && filter.getRank() != 2)
    return emitOpError("filter must be [output_depth, input_depth]");
  auto input = dyn_cast<RankedTensorType>(getInput().getType());
  if (filter && input && input.getRank() >= 1 &&
      !input.isDynamicDim(input.getRank() - 1) && !filter.isDynamicDim(1) &&
      input.getDimSize(input.getRank() - 1) != filter.getDimSize(1))
    return emitOpError("input depth ")
           << input.getDimSize(input.getRank() - 1) << " differs from filter "
           << filter.getDimSize(1);
  return success();
}

LogicalResult BatchMatMulOp::verify() {
  auto x = dyn_cast<RankedTensorType>(getX().getType());
  auto y = dyn_cast<RankedTensorType>(getY().getType());
  if (!x || !y)
    return success();
  if (x.getRank() < 2 || y.getRank() < 2)
    return emitOpError("operands must have rank >= 2");
  int64_t kx = x.getDimSize(x.getRank() - (getAdjX() ? 2 : 1));
  int64_t ky = y.getDimSize(y.getRank() - (getAdjY() ? 1 : 2));
  if (!ShapedType::isDynamic(kx) && !ShapedType::isDynamic(ky) && kx != ky)
    return emitOpError("contracting dimensions differ: ") << kx << " vs " << ky;
  return success();
}

LogicalResult ReshapeOp::verify() {
  auto in = dyn_cast<RankedTensorType>(getInput().getType());
  auto out = dyn_cast<RankedTensorType>(getOutput().getType());
  if (in && out && in.hasStaticShape() && out.hasStaticShape() &&
      in.getNumElements() != out.getNumElements())
    return emitOpError("element count changes from ")
           << in.getNumElements() << " to " << out.getNumElements();
  return success();
}

LogicalResult ConcatenationOp::verify() {
  if (getValues().empty())
    return emitOpError("needs at least one input");
  return verifyActivation(*this, getFusedActivationFunction());
}

LogicalResult RmsNormOp::verify() {
  if (getEpsilon().convertToFloat() < 0)
    return emitOpError("epsilon must be non-negative");
  return verifySameShapeIfRanked(*this, getInput(), getOutput());
}

LogicalResult RopeOp::verify() {
  if (getMode() != "GPT_NEOX" && getMode() != "GPT_J")
    return emitOpError("mode must be GPT_NEOX or GPT_J, got '")
           << getMode() << "'";
  return verifySameShapeIfRanked(*this, getInput(), getOutput());
}

#define GET_OP_CLASSES
#include "kiln/Dialect/Circle/CircleOps.cpp.inc"
