//===- PerRowTables.cpp - integer forms of per-row tables for TFLite ------===//
//
// kiln_torch quantizes the embedding table and lm_head per row (per output
// channel) in uint8 with a zero point per row. TFLite has no kernel for
// either (FULLY_CONNECTED takes signed symmetric weights, DEQUANTIZE no
// per-channel uint8, and a per-row table has no one output scale), so the
// tflite flavor used to store both dequantized in f32, 4 bytes an element.
// Exact integer forms instead:
//
//   embedding(T, ids) -> P   with T per row (scale s_r, zero point z_r) and
//                            a per-tensor quantized result P (scale p):
//       the table is stored in P's grid, T'[r][j] = fq_P((T[r][j] - z_r) s_r)
//       computed as PyTorch's fake quant does. Fake quant commutes with the
//       gather, so GATHER(T', ids) is the model's value, in integers. It
//       takes P's storage (2 bytes an element for int16 activations, 1 for
//       int8).
//
//   linear(x, W) -> Y        with W uint8 per channel (s_c, z_c), x and Y
//                            per-tensor quantized:
//       d = q - z_c lies in [-255, 255]; split it d = a + b with a, b in
//       [-127, 127] and compute
//           FULLY_CONNECTED(CONCATENATION(x, x), [a | b]) with scales s_c:
//       the kernel accumulates sum_k x_k (a_ck + b_ck) = sum_k x_k d_ck
//       exactly and requantizes once, as an int8 per-channel kernel with the
//       zero point folded in would. 2 bytes an element (two int8 halves).
//       (Writing W = (q - 128) s_c + (128 - z_c) s_c and adding a SUM(x)
//       term would take 1 byte, but the partial results then need scales
//       the model does not give: clipped or coarser than Y.) A channel with
//       |d| = 255 (q = 255 at z = 0, or 0 at 255) cannot be split into two
//       symmetric int8 halves: that linear keeps the f32 weights, with a
//       warning.
//
//===----------------------------------------------------------------------===//
#include "PerRowTables.h"

#include "kiln/Dialect/Circle/IR/CircleOps.h"
#include "kiln/Dialect/Kiln/IR/KilnOps.h"
#include "kiln/Dialect/Kiln/Utils/QuantUtils.h"

#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/TypeUtilities.h"

#include <cstring>
#include <optional>

using namespace mlir;
namespace kc = kiln::circle;

namespace {
/// `values` as T in the form of `like`: a resource blob named after its
/// blob with `suffix` (weights), or a dense attribute (small literals).
template <typename T>
ElementsAttr makeData(ShapedType type, ElementsAttr like, StringRef suffix,
                      ArrayRef<int64_t> values) {
  std::vector<T> stored(values.begin(), values.end());
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(like))
    return DenseResourceElementsAttr::get(
        type, (resource.getRawHandle().getKey() + suffix).str(),
        HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<T>(stored)));
  return DenseElementsAttr::get(type, ArrayRef<T>(stored));
}

/// The per-row (axis 0) quantized constant of rank 2 behind `v`, if any.
struct PerRowConstant {
  kiln::ConstantOp op;
  quant::UniformQuantizedPerAxisType type;
  ElementsAttr attr;
  int64_t rows, cols;
};
std::optional<PerRowConstant> getPerRowConstant(Value v) {
  auto cst = v.getDefiningOp<kiln::ConstantOp>();
  auto shaped = cst ? dyn_cast<RankedTensorType>(cst.getType()) : nullptr;
  if (!shaped || shaped.getRank() != 2 || !shaped.hasStaticShape())
    return std::nullopt;
  auto q =
      dyn_cast<quant::UniformQuantizedPerAxisType>(shaped.getElementType());
  if (!q || q.getQuantizedDimension() != 0 ||
      static_cast<int64_t>(q.getScales().size()) != shaped.getDimSize(0))
    return std::nullopt;
  return PerRowConstant{cst, q, cst.getValue(), shaped.getDimSize(0),
                        shaped.getDimSize(1)};
}

/// embedding(T per row, ids) -> P per tensor: GATHER from T in P's grid.
bool gridEmbedding(IRRewriter &rw, kiln::EmbeddingOp e) {
  std::optional<PerRowConstant> table = getPerRowConstant(e.getWeight());
  auto result = dyn_cast<RankedTensorType>(e.getResult().getType());
  auto p = result
               ? dyn_cast<quant::UniformQuantizedType>(result.getElementType())
               : nullptr;
  if (!table || !p || p.getStorageTypeIntegralWidth() > 16)
    return false;
  std::optional<std::vector<int64_t>> q =
      kiln::readStoredIntegers(table->attr, table->type);
  if (!q)
    return false;
  ArrayRef<double> scales = table->type.getScales();
  ArrayRef<int64_t> zps = table->type.getZeroPoints();
  float pScale = static_cast<float>(p.getScale());
  std::vector<int64_t> gridded(q->size());
  for (int64_t i = 0, e = q->size(); i < e; ++i) {
    int64_t r = i / table->cols;
    // PyTorch's value of the per-row fake quant, then the output's.
    float v =
        static_cast<float>((*q)[i] - zps[r]) * static_cast<float>(scales[r]);
    gridded[i] =
        kiln::quantizeValue(v, pScale, p.getZeroPoint(), p.getStorageTypeMin(),
                            p.getStorageTypeMax());
  }
  auto storageType = RankedTensorType::get({table->rows, table->cols},
                                           kiln::getStorageElementType(p));
  ElementsAttr data =
      p.getStorageTypeIntegralWidth() == 16
          ? makeData<int16_t>(storageType, table->attr, ".gridded", gridded)
      : p.isSigned()
          ? makeData<int8_t>(storageType, table->attr, ".gridded", gridded)
          : makeData<uint8_t>(storageType, table->attr, ".gridded", gridded);
  OpBuilder::InsertionGuard guard(rw);
  rw.setInsertionPoint(table->op);
  auto cst = rw.create<kc::ConstOp>(
      table->op.getLoc(), RankedTensorType::get({table->rows, table->cols}, p),
      data);
  e->setOperand(0, cst.getResult());
  if (table->op->use_empty())
    rw.eraseOp(table->op);
  return true;
}

/// linear(x, W uint8 per channel) -> FULLY_CONNECTED([x, x], [a | b]).
bool splitUnsignedLinear(IRRewriter &rw, kiln::LinearOp l) {
  std::optional<PerRowConstant> w = getPerRowConstant(l.getWeight());
  auto inType = dyn_cast<RankedTensorType>(l.getInput().getType());
  auto outType = dyn_cast<RankedTensorType>(l.getResult().getType());
  if (!w || w->type.isSigned() || w->type.getStorageTypeIntegralWidth() != 8 ||
      !inType || !outType || inType.getRank() < 1 ||
      !isa<quant::UniformQuantizedType>(inType.getElementType()) ||
      !isa<quant::UniformQuantizedType>(outType.getElementType()) ||
      inType.getShape().back() != w->cols)
    return false;
  std::optional<std::vector<int64_t>> q =
      kiln::readStoredIntegers(w->attr, w->type);
  if (!q)
    return false;
  ArrayRef<int64_t> zps = w->type.getZeroPoints();
  int64_t rows = w->rows, cols = w->cols;
  std::vector<int64_t> halves(rows * 2 * cols);
  for (int64_t c = 0; c < rows; ++c)
    for (int64_t k = 0; k < cols; ++k) {
      int64_t d = (*q)[c * cols + k] - zps[c];
      if (d < -254 || d > 254) {
        l.emitWarning("linear with uint8 weights '")
            << kiln::getLocName(w->op.getLoc()) << "': channel " << c
            << " holds q - zero_point = " << d
            << ", which two symmetric int8 halves cannot hold; TFLite computes "
               "it "
               "from f32 weights";
        return false;
      }
      int64_t a = d / 2; // toward zero: |a|, |d - a| <= 127
      halves[c * 2 * cols + k] = a;
      halves[c * 2 * cols + cols + k] = d - a;
    }
  MLIRContext *ctx = rw.getContext();
  auto i8 = IntegerType::get(ctx, 8);
  SmallVector<int64_t> zeros(rows, 0);
  auto wq = quant::UniformQuantizedPerAxisType::get(
      quant::QuantizationFlags::Signed, i8, w->type.getExpressedType(),
      w->type.getScales(), zeros, 0, -127, 127);
  auto storageType = RankedTensorType::get({rows, 2 * cols}, i8);
  ElementsAttr data = makeData<int8_t>(storageType, w->attr, ".halves", halves);

  OpBuilder::InsertionGuard guard(rw);
  rw.setInsertionPoint(w->op);
  Value weight = rw.create<kc::ConstOp>(
      w->op.getLoc(), RankedTensorType::get({rows, 2 * cols}, wq), data);
  rw.setInsertionPoint(l);
  SmallVector<int64_t> doubled(inType.getShape());
  doubled.back() *= 2;
  Value x = l.getInput();
  Value xx =
      rw.create<kc::ConcatenationOp>(
            l.getLoc(), TypeRange{inType.clone(doubled)}, ValueRange{x, x},
            ArrayRef<NamedAttribute>{rw.getNamedAttr(
                "axis", rw.getI32IntegerAttr(inType.getRank() - 1))})
          ->getResult(0);
  SmallVector<Value> operands{xx, weight};
  if (l.getBias())
    operands.push_back(l.getBias());
  Operation *fc = rw.create<kc::FullyConnectedOp>(
      l.getLoc(), TypeRange{outType}, operands,
      ArrayRef<NamedAttribute>{
          rw.getNamedAttr("keep_num_dims", rw.getBoolAttr(true))});
  kiln::ConstantOp old = w->op;
  rw.replaceOp(l, fc->getResults());
  if (old->use_empty())
    rw.eraseOp(old);
  return true;
}
} // namespace

unsigned kiln::lowerPerRowTablesForTflite(IRRewriter &rw, func::FuncOp func) {
  SmallVector<Operation *> candidates;
  func.walk([&](Operation *op) {
    if (isa<EmbeddingOp, LinearOp>(op))
      candidates.push_back(op);
  });
  unsigned rewritten = 0;
  for (Operation *op : candidates) {
    if (auto e = dyn_cast<EmbeddingOp>(op))
      rewritten += gridEmbedding(rw, e);
    else
      rewritten += splitUnsignedLinear(rw, cast<LinearOp>(op));
  }
  return rewritten;
}
