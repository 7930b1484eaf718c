//===- DeadCode.cpp - The one dead-code cleanup ---------------------------===//
#include "kiln/Dialect/Kiln/Utils/DeadCode.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/RegionUtils.h"

bool kiln::eraseDeadCode(mlir::Operation *root) {
  mlir::IRRewriter rewriter(root->getContext());
  return mlir::succeeded(mlir::runRegionDCE(rewriter, root->getRegions()));
}
