//===- IntegerRmsNorm.cpp - RMSNorm on TFLite's integer kernels -----------===//
//
// TFLite has no RMS_NORM. A model that fake-quantizes an RMSNorm's input and
// output only (TICO's rms_norm) gives no ranges for x^2, its mean or the
// rsqrt, and one int16 grid cannot hold mean(x^2) over the range its input
// allows: (32768 s_x)^2 down to eps spans 2^20 and more. This lowering keeps
// it integer without guessing a range:
//
//   s_k = x . x over the last axis      BATCH_MATMUL [T,1,N] x [T,N,1]: the
//                                       int64 accumulator holds the sum
//                                       exactly; tier k writes it on its own
//                                       grid (range N*M_k, M_k = M_0 / R^k,
//                                       M_0 = (32768 s_x)^2)
//   r_k = rsqrt(s_k + N eps)            ADD (where eps is half a step of the
//                                       grid or more), RSQRT
//   u_k = x * r_k                       MUL; |u| <= 1 since x_i^2 <= s
//   u   = the u_k of the finest tier whose sum did not saturate
//                                       (SUB 32767 - s_k, CAST to bool,
//                                       SELECT_V2)
//   y   = u * (sqrt(N) gamma)           MUL into the model's output grid
//
// In the tier it chooses the sum is at least 32767/R steps: its relative
// error is below R/65534 (half that for r). R = 4 (the default) costs 7 ops
// per tier and log_4(M_0 / (4 eps)) tiers; below that the rounding of u
// (1/32767 times sqrt(N) max|gamma|) dominates. Measured in LiteRT on rows
// over every tier (test/e2e/litert/integer-rms-norm.mlir): at most 3 output
// steps, against 1 for the float form. u's grid is the smallest that cannot
// clip an output the model's grid holds: |u_i| <= 32767 s_y / (|gamma_i|
// sqrt(N)).
//
//===----------------------------------------------------------------------===//
#include "RmsNorm.h"
#include "kiln/Dialect/Circle/IR/CircleOps.h"
#include "kiln/Dialect/Kiln/Utils/QuantUtils.h"

#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/TypeUtilities.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace kiln;
namespace kc = kiln::circle;

namespace {
quant::QuantizedType quantOf(Value v) {
  return dyn_cast<quant::QuantizedType>(getElementTypeOrSelf(v.getType()));
}

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

Value stripDequantize(Value v) {
  if (auto d = v.getDefiningOp<DequantizeOp>())
    return d.getInput();
  return v;
}

bool isSplatConstant(Value v, double value) {
  DenseElementsAttr dense;
  if (!matchPattern(v, m_Constant(&dense)))
    return false;
  return dense && dense.isSplat() && isa<FloatType>(dense.getElementType()) &&
         dense.getSplatValue<APFloat>().convertToDouble() == value;
}

/// int16, symmetric, per tensor: what TFLite's int16 kernels take.
quant::UniformQuantizedType int16Of(Value v) {
  auto q = dyn_cast_or_null<quant::UniformQuantizedType>(quantOf(v));
  if (!q || q.getStorageTypeIntegralWidth() != 16 || !q.isSigned() ||
      q.getZeroPoint() != 0)
    return {};
  return q;
}

/// The float values of a constant (float data, or integers on a per-tensor
/// or per-axis grid); empty if unreadable.
std::vector<double> constantValues(ConstantOp c) {
  ElementsAttr attr = cast<ElementsAttr>(c.getValue());
  auto q = quantOf(c.getResult());
  std::vector<double> out;
  if (!q) {
    if (auto dense = dyn_cast<DenseFPElementsAttr>(attr)) {
      for (const APFloat &v : dense.getValues<APFloat>())
        out.push_back(v.convertToDouble());
    } else if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
      AsmResourceBlob *blob = resource.getRawHandle().getBlob();
      if (!blob || !resource.getElementType().isF32())
        return {};
      ArrayRef<char> data = blob->getData();
      int64_t n = cast<ShapedType>(attr.getType()).getNumElements();
      if (static_cast<int64_t>(data.size()) != 4 * n)
        return {};
      for (int64_t i = 0; i < n; ++i) {
        float f;
        std::memcpy(&f, data.data() + 4 * i, 4);
        out.push_back(f);
      }
    }
    return out;
  }
  std::optional<std::vector<int64_t>> stored = readStoredIntegers(attr, q);
  if (!stored)
    return {};
  auto shape = cast<ShapedType>(attr.getType()).getShape();
  for (size_t i = 0; i < stored->size(); ++i) {
    double scale = 0;
    int64_t zp = 0;
    if (auto pt = dyn_cast<quant::UniformQuantizedType>(q)) {
      scale = pt.getScale();
      zp = pt.getZeroPoint();
    } else if (auto pa = dyn_cast<quant::UniformQuantizedPerAxisType>(q)) {
      if (shape.size() != 1)
        return {};
      scale = pa.getScales()[i];
      zp = pa.getZeroPoints()[i];
    } else {
      return {};
    }
    out.push_back(((*stored)[i] - zp) * scale);
  }
  return out;
}

struct Norm {
  QuantizeOp requant;        // the output quantize, replaced
  Value x;                   // int16 input
  std::vector<double> gamma; // empty: no weight
  ConstantOp gammaOp;        // the weight constant, if any
  double eps;
};

/// requant(gamma * normalize(x)) or requant(normalize(x)).
std::optional<Norm> matchNorm(QuantizeOp requant) {
  auto out = requant.getInput().getDefiningOp<MulOp>();
  if (!out || !out->hasOneUse() || !int16Of(requant.getResult()))
    return std::nullopt;
  auto make = [&](MulOp normalized, ConstantOp gammaOp) -> std::optional<Norm> {
    std::optional<float> eps;
    Value x = matchRmsNormalized(normalized, eps);
    if (!x || !eps || *eps <= 0)
      return std::nullopt;
    x = stripDequantize(x);
    if (!int16Of(x) || shapeOf(x) != shapeOf(requant.getResult()))
      return std::nullopt;
    Norm n{requant, x, {}, gammaOp, *eps};
    if (gammaOp) {
      n.gamma = constantValues(gammaOp);
      auto gshape = shapeOf(gammaOp.getResult());
      if (gshape.size() != 1 || gshape[0] != shapeOf(x).back() ||
          static_cast<int64_t>(n.gamma.size()) != gshape[0])
        return std::nullopt;
    }
    return n;
  };
  if (std::optional<Norm> n = make(out, {}))
    return n;
  for (auto [w, inner] : {std::pair(out.getLhs(), out.getRhs()),
                          std::pair(out.getRhs(), out.getLhs())}) {
    auto m1 = inner.getDefiningOp<MulOp>();
    auto gamma = stripDequantize(w).getDefiningOp<ConstantOp>();
    if (m1 && gamma)
      if (std::optional<Norm> n = make(m1, gamma))
        return n;
  }
  return std::nullopt;
}

struct Builder {
  IRRewriter &rw;
  Location loc;
  MLIRContext *ctx;

  quant::UniformQuantizedType i16(double scale) {
    return quant::UniformQuantizedType::get(
        quant::QuantizationFlags::Signed, IntegerType::get(ctx, 16),
        Float32Type::get(ctx), scale, 0, -32768, 32767);
  }
  Type tensor(ArrayRef<int64_t> shape, Type element) {
    return RankedTensorType::get(shape, element);
  }
  Value constI16(ArrayRef<int64_t> shape, double scale,
                 ArrayRef<int16_t> stored) {
    auto storage = RankedTensorType::get(shape, IntegerType::get(ctx, 16));
    return rw.create<kc::ConstOp>(loc, tensor(shape, i16(scale)),
                                  DenseElementsAttr::get(storage, stored));
  }
  Value reshape(Value v, ArrayRef<int64_t> shape) {
    auto st = RankedTensorType::get({static_cast<int64_t>(shape.size())},
                                    rw.getI32Type());
    SmallVector<int32_t> ints(shape.begin(), shape.end());
    Value s =
        rw.create<kc::ConstOp>(loc, st, DenseIntElementsAttr::get(st, ints));
    auto t = tensor(shape, getElementTypeOrSelf(v.getType()));
    return rw.create<kc::ReshapeOp>(loc, t, v, s);
  }
  template <typename Op> Value binary(Type type, Value a, Value b) {
    return rw.create<Op>(loc, type, a, b, rw.getStringAttr("NONE"));
  }
};

bool lowerNorm(IRRewriter &rw, Norm n, double ratio) {
  QuantizeOp requant = n.requant;
  rw.setInsertionPoint(requant);
  Builder b{rw, requant.getLoc(), rw.getContext()};
  auto xShape = shapeOf(n.x);
  int64_t cols = xShape.back(), rows = 1;
  for (int64_t d : xShape.drop_back())
    rows *= d;
  double sx = int16Of(n.x).getScale(),
         sy = int16Of(requant.getResult()).getScale();
  double rootN = std::sqrt(static_cast<double>(cols)),
         N = static_cast<double>(cols);

  // Tiers: M_0 = the largest mean of squares x's grid holds.
  std::vector<double> tiers{std::pow(32768.0 * sx, 2)};
  while (tiers.back() > ratio * n.eps && tiers.size() < 48)
    tiers.push_back(tiers.back() / ratio);

  // Every tier must hold its elements (|x_i| <= sqrt(N M_k), or x's own
  // range) on the grid
  // its sum can take without overflowing (see below): true for N up to
  // about 2^14.
  for (double m : tiers) {
    double sumScale = N * m / 32767, fine = sx;
    while (N * std::pow(32767.0 * fine, 2) / sumScale >= std::ldexp(1.0, 30))
      fine /= 2;
    if (fine < sx && 32767.0 * fine < std::sqrt(N * m))
      return false;
  }

  // The weight times sqrt(N): an int16 grid (the model's own integers when
  // the weight is int16 per tensor already).
  double gmin = 1, gmax = 1;
  Value gammaConst;
  {
    std::vector<double> g =
        n.gamma.empty() ? std::vector<double>{1.0} : n.gamma;
    gmin = gmax = std::abs(g[0]);
    for (double v : g) {
      gmin = std::min(gmin, std::abs(v));
      gmax = std::max(gmax, std::abs(v));
    }
    SmallVector<int64_t> shape;
    if (!n.gamma.empty())
      shape.push_back(cols);
    double scale;
    std::vector<int16_t> stored;
    auto q = n.gammaOp ? dyn_cast_or_null<quant::UniformQuantizedType>(
                             quantOf(n.gammaOp.getResult()))
                       : quant::UniformQuantizedType();
    if (q && q.getStorageTypeIntegralWidth() == 16 && q.isSigned() &&
        q.getZeroPoint() == 0) {
      scale = q.getScale() * rootN;
      for (double v : g)
        stored.push_back(static_cast<int16_t>(std::lround(v / q.getScale())));
    } else {
      scale = gmax > 0 ? gmax * rootN / 32767 : 1.0;
      for (double v : g)
        stored.push_back(static_cast<int16_t>(
            std::clamp<long>(std::lround(v * rootN / scale), -32767, 32767)));
    }
    gammaConst = b.constI16(shape, scale, stored);
  }
  // u's grid: |u| <= 1, and no larger than an output the model's grid holds.
  double uBound = 1.0;
  if (gmin > 0)
    uBound = std::min(1.0, 32767.0 * sy / (gmin * rootN));
  auto uType = b.i16(uBound / 32767);

  Value lhs = b.reshape(n.x, {rows, 1, cols});
  Value rhs = b.reshape(n.x, {rows, cols, 1});
  SmallVector<int64_t> rowShape{rows, 1, 1}, uShape{rows, 1, cols};
  Value epsN = b.constI16({}, N * n.eps / 32767, {32767});
  Value u;
  for (size_t k = 0; k < tiers.size(); ++k) {
    double m = tiers[k];
    double low = k + 1 == tiers.size() ? 0.0 : m / ratio * (1 - 1.0 / 1024);
    auto sumType = b.i16(N * m / 32767);
    // TFLite's int16 BATCH_MATMUL accumulates in int64 but requantizes into
    // int32 before it saturates: a fine tier would wrap on a large row. Such
    // a tier reads x on a grid 2^j finer, where QUANTIZE clips what the tier
    // cannot hold anyway (an element above sqrt(N M_k) makes the sum
    // saturate), so the scaled sum stays below 2^30.
    Value lhsK = lhs, rhsK = rhs;
    int j = 0;
    while (N * std::pow(32767.0 * sx / std::ldexp(1.0, j), 2) /
               sumType.getScale() >=
           std::ldexp(1.0, 30))
      ++j;
    if (j > 0) {
      auto fine = b.i16(sx / std::ldexp(1.0, j));
      lhsK = b.rw.create<kc::QuantizeOp>(b.loc, b.tensor({rows, 1, cols}, fine),
                                         lhs);
      rhsK = b.reshape(lhsK, {rows, cols, 1});
    }
    Value sum = b.rw.create<kc::BatchMatMulOp>(
        b.loc, b.tensor(rowShape, sumType), lhsK, rhsK, b.rw.getBoolAttr(false),
        b.rw.getBoolAttr(false), b.rw.getBoolAttr(false));
    // eps where it is at least half a step of this tier's grid; RSQRT of 0
    // (a coarse tier on a small row, never chosen) gives its largest value.
    double plusScale = N * (m + n.eps) / 32767;
    Value plus = sum;
    if (N * n.eps >= sumType.getScale() / 2)
      plus =
          b.binary<kc::AddOp>(b.tensor(rowShape, b.i16(plusScale)), sum, epsN);
    double rMax = 1 / std::sqrt(N * (low + n.eps));
    Value r = b.rw.create<kc::RsqrtOp>(
        b.loc, b.tensor(rowShape, b.i16(rMax / 32767)), plus);
    Value uk = b.binary<kc::MulOp>(b.tensor(uShape, uType), lhs, r);
    if (k == 0) {
      u = uk;
      continue;
    }
    // The tier holds this row's sum unless it saturated at 32767.
    Value full = b.constI16({}, N * m / 32767, {32767});
    Value room = b.binary<kc::SubOp>(b.tensor(rowShape, sumType), full, sum);
    Value fits = b.rw.create<kc::CastOp>(
        b.loc, b.tensor(rowShape, b.rw.getI1Type()), room);
    u = b.rw.create<kc::SelectV2Op>(b.loc, b.tensor(uShape, uType), fits, uk,
                                    u);
  }
  Value y = b.binary<kc::MulOp>(b.tensor(uShape, quantOf(requant.getResult())),
                                u, gammaConst);
  rw.replaceOp(requant, b.reshape(y, xShape));
  return true;
}
} // namespace

Value kiln::matchRmsNormalized(MulOp m1, std::optional<float> &eps) {
  for (auto [x, r] : {std::pair(m1.getLhs(), m1.getRhs()),
                      std::pair(m1.getRhs(), m1.getLhs())}) {
    auto rsqrt = r.getDefiningOp<RsqrtOp>();
    auto add = rsqrt ? rsqrt.getInput().getDefiningOp<AddOp>() : AddOp();
    if (!add)
      continue;
    for (auto [m, e] : {std::pair(add.getLhs(), add.getRhs()),
                        std::pair(add.getRhs(), add.getLhs())}) {
      auto mean = m.getDefiningOp<MeanOp>();
      auto epsConst = e.getDefiningOp<ConstantOp>();
      if (!mean || !epsConst || !mean.getKeepDims() ||
          mean.getDims().size() != 1)
        continue;
      int64_t rank = shapeOf(mean.getInput()).size();
      if (normalizeDim(mean.getDims()[0], rank) != rank - 1)
        continue;
      auto dense = dyn_cast<DenseElementsAttr>(epsConst.getValue());
      if (!dense || !dense.isSplat())
        continue;
      // eps as a float, or as an integer on its quantized grid (a model
      // that fake-quantizes mean(x^2) + eps).
      std::optional<float> epsValue;
      if (isa<FloatType>(dense.getElementType())) {
        epsValue = dense.getSplatValue<APFloat>().convertToFloat();
      } else if (auto q = dyn_cast_or_null<quant::UniformQuantizedType>(
                     quantOf(epsConst.getResult()))) {
        int64_t stored = dense.getSplatValue<APInt>().getSExtValue();
        if (!q.isSigned())
          stored = dense.getSplatValue<APInt>().getZExtValue();
        epsValue =
            static_cast<float>((stored - q.getZeroPoint()) * q.getScale());
      }
      if (!epsValue)
        continue;
      Value squared = mean.getInput();
      Value base;
      if (auto pow = squared.getDefiningOp<PowOp>()) {
        if (isSplatConstant(pow.getRhs(), 2.0))
          base = pow.getLhs();
      } else if (auto sq = squared.getDefiningOp<MulOp>()) {
        if (stripDequantize(sq.getLhs()) == stripDequantize(sq.getRhs()))
          base = sq.getLhs();
      }
      if (!base || stripDequantize(base) != stripDequantize(x))
        continue;
      eps = *epsValue;
      return x;
    }
  }
  return {};
}

unsigned kiln::lowerRmsNormsToIntegerTflite(IRRewriter &rw, func::FuncOp func,
                                            double tierRatio) {
  SmallVector<Norm> norms;
  func.walk([&](QuantizeOp q) {
    // Only norms that compute in float: a quantized chain is integer already.
    if (std::optional<Norm> n = matchNorm(q); n && !quantOf(q.getInput()))
      norms.push_back(*n);
  });
  unsigned lowered = 0;
  for (const Norm &n : norms)
    lowered += lowerNorm(rw, n, tierRatio);
  return lowered;
}
