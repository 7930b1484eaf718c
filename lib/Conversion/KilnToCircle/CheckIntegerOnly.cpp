//===- CheckIntegerOnly.cpp - kiln-check-integer-only ---------------------===//
//
// Finds the float compute of a lowered function: what an integer NPU could
// not run. Used by the pass (remarks or errors at the model's source lines)
// and by kiln-convert's summary.
//
//===----------------------------------------------------------------------===//
#include "kiln/Conversion/Passes.h"
#include "kiln/Dialect/Circle/IR/CircleOps.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"

namespace kiln {
#define GEN_PASS_DEF_CHECKINTEGERONLY
#include "kiln/Dialect/Circle/KilnToCirclePasses.h.inc"
} // namespace kiln

using namespace mlir;
namespace cir = kiln::circle;

static bool isFloatTensor(Type t) {
  auto shaped = dyn_cast<ShapedType>(t);
  return shaped && isa<FloatType>(shaped.getElementType());
}

SmallVector<Operation *> kiln::findFloatOps(func::FuncOp func) {
  SmallVector<Operation *> out;
  func.walk([&](Operation *op) {
    if (op == func || isa<func::ReturnOp, cir::ConstOp>(op))
      return;
    bool isFloat = llvm::any_of(op->getOperandTypes(), isFloatTensor) ||
                   llvm::any_of(op->getResultTypes(), isFloatTensor);
    if (!isFloat)
      return;
    // Quantizing a float model input and dequantizing a float model output
    // are the contract's edges, not compute.
    if (isa<cir::QuantizeOp>(op) && isa<BlockArgument>(op->getOperand(0)))
      return;
    if (isa<cir::DequantizeOp>(op) && !op->use_empty() &&
        llvm::all_of(op->getUsers(),
                     [](Operation *u) { return isa<func::ReturnOp>(u); }))
      return;
    out.push_back(op);
  });
  return out;
}

std::string kiln::sourceLine(Location loc) {
  if (auto f = dyn_cast<FileLineColLoc>(loc))
    return (f.getFilename().strref() + ":" + llvm::Twine(f.getLine())).str();
  if (auto n = dyn_cast<NameLoc>(loc))
    return sourceLine(n.getChildLoc());
  if (auto c = dyn_cast<CallSiteLoc>(loc))
    return sourceLine(c.getCallee());
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location l : fused.getLocations())
      if (std::string s = sourceLine(l); !s.empty())
        return s;
  return "";
}

namespace {
struct CheckIntegerOnlyPass
    : kiln::impl::CheckIntegerOnlyBase<CheckIntegerOnlyPass> {
  using CheckIntegerOnlyBase::CheckIntegerOnlyBase;

  void runOnOperation() override {
    SmallVector<Operation *> ops = kiln::findFloatOps(getOperation());
    numFloatOps += ops.size();
    for (Operation *op : ops) {
      Type t;
      for (Type candidate : op->getResultTypes())
        if (isFloatTensor(candidate))
          t = candidate;
      if (!t)
        for (Type candidate : op->getOperandTypes())
          if (isFloatTensor(candidate))
            t = candidate;
      if (fail)
        emitError(op->getLoc()) << "float compute in an integer-only export: '"
                                << op->getName() << "' on " << t;
      else
        emitRemark(op->getLoc())
            << "float op '" << op->getName() << "' on " << t;
    }
    if (fail && !ops.empty())
      signalPassFailure();
  }
};
} // namespace
