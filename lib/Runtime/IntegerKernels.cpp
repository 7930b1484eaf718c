//===- IntegerKernels.cpp - TFLite's integer kernels for circle ops -------===//
//
// Quantized circle ops computed the way TFLite's builtin kernels compute
// them: operands as integers, accumulators in int32/int64, rescaling with
// the fixed-point multipliers of FixedPoint.h derived from the float32 scales
// stored in the file, TFLite's rounding and activation clamps. kiln-run's
// frames keep quantized tensors as their dequantized float values
// ((q - zero_point) * scale in float32); these kernels recover the integers,
// compute, and store the result the same way, so they mix freely with the
// float-domain kernels of CircleKernels.cpp (which remain for float ops and
// with --quantized-kernels=float).
//
// Checked bit for bit against LiteRT with kiln-run --against-litert.
//
//===----------------------------------------------------------------------===//
#include "FixedPointTensor.h"
#include "KernelUtil.h"

#include "kiln/Dialect/Circle/IR/CircleOps.h"

#include "mlir/Dialect/Quant/QuantTypes.h"

using namespace mlir;
namespace cir = kiln::circle;

namespace kiln::runtime {
namespace {

namespace fp = fixedpoint;

/// A scale as TFLite reads it: the file stores float32.
double f32(double s) { return static_cast<double>(static_cast<float>(s)); }

/// Per-tensor quantization of a value, as stored in the file.
struct Q {
  double scale = 1;
  int64_t zp = 0, qmin = 0, qmax = 0;
  unsigned width = 8;
};

std::optional<Q> perTensor(Type type) {
  auto p = quantParamsOf(getElementTypeOrSelf(type));
  if (!p || p->perAxis)
    return std::nullopt;
  return Q{f32(p->scale), p->zeroPoint, p->qmin, p->qmax, p->storageWidth};
}

/// The integers behind a frame's dequantized values.
at::Tensor storage(const at::Tensor &x, const Q &q) {
  return (at::round(x.to(at::kDouble) / q.scale) + q.zp).to(at::kLong);
}

/// Integers back to the frame's representation.
at::Tensor values(const at::Tensor &s, const Q &q) {
  return (s - q.zp).to(at::kFloat) * static_cast<float>(q.scale);
}

/// TFLite's CalculateActivationRangeQuantized.
std::optional<std::pair<int64_t, int64_t>> activationRange(StringRef act,
                                                           const Q &q) {
  auto quantize = [&](float v) {
    return q.zp +
           static_cast<int64_t>(std::round(v / static_cast<float>(q.scale)));
  };
  if (act == "NONE")
    return std::make_pair(q.qmin, q.qmax);
  if (act == "RELU")
    return std::make_pair(std::max(q.qmin, quantize(0)), q.qmax);
  if (act == "RELU6")
    return std::make_pair(std::max(q.qmin, quantize(0)),
                          std::min(q.qmax, quantize(6)));
  if (act == "RELU_N1_TO_1")
    return std::make_pair(std::max(q.qmin, quantize(-1)),
                          std::min(q.qmax, quantize(1)));
  return std::nullopt;
}

/// One result: integers clamped to [lo, hi], stored as values.
Exec finishInteger(Operation *op, Compiler &c,
                   std::function<at::Tensor(Frame &, const Slots &)> fn, Q out,
                   int64_t lo, int64_t hi) {
  Slots in = c.slots(op->getOperands());
  ResultInfo info = c.result(op->getResult(0));
  return [in, info, fn, out, lo, hi](Frame &f) {
    at::Tensor r = values(at::clamp(fn(f, in), lo, hi), out);
    info.checkShape(r);
    f.slots[info.slot] = RValue::tensor(std::move(r));
  };
}

/// A result computed from the zero-point-free integers of operands 0 and 1.
Exec integerBinary(Operation *op, Compiler &c, Q qa, Q qb, Q qo, int64_t lo,
                   int64_t hi,
                   std::function<at::Tensor(at::Tensor, at::Tensor)> fn) {
  return finishInteger(
      op, c,
      [=](Frame &f, const Slots &in) {
        return fn(storage(f.tensor(in[0]), qa) - qa.zp,
                  storage(f.tensor(in[1]), qb) - qb.zp);
      },
      qo, lo, hi);
}

/// The integers of a constant operand, decoded once; null if not constant.
std::optional<at::Tensor> constantStorage(Value v) {
  auto cst = v.getDefiningOp<cir::ConstOp>();
  if (!cst)
    return std::nullopt;
  FailureOr<at::Tensor> t =
      materializeConstant(cst, cst.getValue(), cst.getType());
  if (failed(t))
    return std::nullopt;
  auto p = quantParamsOf(getElementTypeOrSelf(cst.getType()));
  if (!p)
    return std::nullopt;
  if (!p->perAxis)
    return storage(
        *t, Q{f32(p->scale), p->zeroPoint, p->qmin, p->qmax, p->storageWidth});
  // Per axis, in float32: (q - zp) * s is within one float32 rounding of
  // the integer, far from a tie for 16-bit and narrower storage.
  std::vector<int64_t> shape(t->dim(), 1);
  shape[p->axis] = p->scales.size(0);
  if (p->storageWidth > 16) // int32 biases: beyond float32's integers
    return (at::round(t->to(at::kDouble) /
                      p->scales.to(at::kDouble).view(shape)) +
            p->zeroPoints.to(at::kDouble).view(shape))
        .to(at::kLong);
  at::Tensor q = at::round(*t / p->scales.view(shape));
  q.add_(p->zeroPoints.to(at::kFloat).view(shape));
  return q.to(p->isSigned && p->storageWidth <= 8 ? at::kChar : at::kShort);
}

using IntegerBuilder =
    std::function<std::optional<FailureOr<Exec>>(Operation *, Compiler &)>;

//===----------------------------------------------------------------------===//
// MUL, ADD
//===----------------------------------------------------------------------===//

std::optional<FailureOr<Exec>> integerMul(Operation *o, Compiler &c) {
  auto op = cast<cir::MulOp>(o);
  auto a = perTensor(op.getLhs().getType()),
       b = perTensor(op.getRhs().getType()), out = perTensor(op.getType());
  if (!a || !b || !out)
    return std::nullopt;
  auto range = activationRange(op.getFusedActivationFunction(), *out);
  if (!range)
    return std::nullopt;
  // The real multiplier in float arithmetic (TFLite's Prepare multiplies
  // and divides the float scales before widening).
  float real = static_cast<float>(a->scale) * static_cast<float>(b->scale) /
               static_cast<float>(out->scale);
  fp::MultiplierTensor m =
      fp::toTensor({fp::quantizeMultiplier(static_cast<double>(real))});
  // 16-bit MUL rounds twice (TFLite's reference kernel), 8-bit MUL once
  // (measured against LiteRT with --against-litert).
  bool single = out->width == 8;
  Q qo = *out;
  return integerBinary(
      op, c, *a, *b, qo, range->first, range->second,
      [=](at::Tensor x, at::Tensor y) {
        return (single ? fp::multiplyByQuantizedMultiplierSingle(x * y, m)
                       : fp::multiplyByQuantizedMultiplier(x * y, m)) +
               qo.zp;
      });
}

std::optional<FailureOr<Exec>> integerAdd(Operation *o, Compiler &c) {
  auto op = cast<cir::AddOp>(o);
  auto a = perTensor(op.getLhs().getType()),
       b = perTensor(op.getRhs().getType()), out = perTensor(op.getType());
  if (!a || !b || !out || a->width != b->width || a->width != out->width)
    return std::nullopt;
  auto range = activationRange(op.getFusedActivationFunction(), *out);
  if (!range)
    return std::nullopt;
  // TFLite's general quantized ADD: both inputs brought to twice the larger
  // input scale with `leftShift` extra bits, summed, rescaled to the output.
  int leftShift = a->width == 16 ? 15 : 20;
  double twiceMax = 2 * std::max(a->scale, b->scale);
  fp::MultiplierTensor ma =
      fp::toTensor({fp::quantizeMultiplier(a->scale / twiceMax)});
  fp::MultiplierTensor mb =
      fp::toTensor({fp::quantizeMultiplier(b->scale / twiceMax)});
  fp::MultiplierTensor mo = fp::toTensor({fp::quantizeMultiplier(
      twiceMax / (static_cast<double>(int64_t(1) << leftShift) * out->scale))});
  Q qo = *out;
  return integerBinary(
      op, c, *a, *b, qo, range->first, range->second,
      [=](at::Tensor x, at::Tensor y) {
        at::Tensor sum = fp::multiplyByQuantizedMultiplier(
                             x * (int64_t(1) << leftShift), ma) +
                         fp::multiplyByQuantizedMultiplier(
                             y * (int64_t(1) << leftShift), mb);
        return fp::multiplyByQuantizedMultiplier(sum, mo) + qo.zp;
      });
}

//===----------------------------------------------------------------------===//
// FULLY_CONNECTED, BATCH_MATMUL
//===----------------------------------------------------------------------===//

/// Integer GEMM: the products are exact in double (|sum| < 2^53 for int16 x
/// int16 over fewer than 2^23 terms), so BLAS's double GEMM gives the exact
/// accumulators.
at::Tensor exactMatmul(const at::Tensor &a, const at::Tensor &b) {
  return at::matmul(a.to(at::kDouble), b.to(at::kDouble)).to(at::kLong);
}

/// x [.., K] times the integer weights w [N, K] transposed, exactly. The
/// weights stay in their narrow integer type (one byte per int8 weight: a
/// 1B-parameter model fits); at most `kRows` rows at a time are widened to
/// double for the GEMM.
at::Tensor exactLinear(const at::Tensor &x, const at::Tensor &w) {
  constexpr int64_t kRows = 1024;
  at::Tensor xd = x.to(at::kDouble);
  int64_t n = w.size(0);
  if (n <= kRows)
    return at::matmul(xd, w.to(at::kDouble).t()).to(at::kLong);
  std::vector<at::Tensor> parts;
  for (int64_t r = 0; r < n; r += kRows)
    parts.push_back(
        at::matmul(xd,
                   w.slice(0, r, std::min(n, r + kRows)).to(at::kDouble).t())
            .to(at::kLong));
  return at::cat(parts, -1);
}

/// Whether FULLY_CONNECTED `op` runs the integer kernel (which reads its
/// filter and bias from their constants, not from the frame).
bool integerFullyConnectedApplies(cir::FullyConnectedOp op) {
  auto in = perTensor(op.getInput().getType()), out = perTensor(op.getType());
  if (!in || !out || op.getWeightsFormat() != "DEFAULT" ||
      !activationRange(op.getFusedActivationFunction(), *out))
    return false;
  auto filterType = dyn_cast<RankedTensorType>(op.getFilter().getType());
  auto wp = quantParamsOf(getElementTypeOrSelf(op.getFilter().getType()));
  if (!filterType || filterType.getRank() != 2 || !wp ||
      (wp->perAxis &&
       (wp->axis != 0 || wp->scales.size(0) != filterType.getDimSize(0))) ||
      !op.getFilter().getDefiningOp<cir::ConstOp>())
    return false;
  Value bias = op.getBias();
  return !bias || (bias.getDefiningOp<cir::ConstOp>() &&
                   quantParamsOf(getElementTypeOrSelf(bias.getType())));
}

std::optional<FailureOr<Exec>> integerFullyConnected(Operation *o,
                                                     Compiler &c) {
  auto op = cast<cir::FullyConnectedOp>(o);
  if (!integerFullyConnectedApplies(op))
    return std::nullopt;
  auto in = perTensor(op.getInput().getType()), out = perTensor(op.getType());
  auto range = activationRange(op.getFusedActivationFunction(), *out);
  auto wp = quantParamsOf(getElementTypeOrSelf(op.getFilter().getType()));
  std::optional<at::Tensor> weights = constantStorage(op.getFilter());
  if (!weights)
    return std::nullopt;
  int64_t units = weights->size(0);
  // Per-channel multipliers input * filter[c] / output in double, applied
  // to the int64 accumulator with one rounding and the full Q31 mantissa:
  // (acc * M + 2^(30 - shift)) >> (31 - shift). (Measured against LiteRT:
  // rescaling in double, as TFLite 2.20's reference kernel does, and the
  // Q15-reduced multiplier each differ on some elements.) Per-tensor filters
  // multiply the two float32 scales in float first.
  std::vector<fp::Multiplier> ms;
  at::Tensor wzp;
  if (wp->perAxis) {
    if (wp->scales.size(0) != units)
      return std::nullopt;
    for (int64_t i = 0; i < units; ++i)
      ms.push_back(fp::quantizeMultiplier(
          in->scale * static_cast<double>(wp->scales[i].item<float>()) /
          out->scale));
    wzp = wp->zeroPoints.to(at::kLong).view({units, 1});
  } else {
    float product =
        static_cast<float>(in->scale) * static_cast<float>(wp->scale);
    ms.push_back(
        fp::quantizeMultiplier(static_cast<double>(product) / out->scale));
    wzp = at::full({}, wp->zeroPoint, at::kLong);
  }
  fp::MultiplierTensor m = fp::toTensor(ms);
  // [N, K] without the zero points, in the narrowest type that holds them.
  at::Tensor w = *weights - wzp;
  bool narrow = w.numel() == 0 || (w.min().item<int64_t>() >= -128 &&
                                   w.max().item<int64_t>() <= 127);
  w = w.to(narrow ? at::kChar : at::kInt).contiguous();
  std::optional<at::Tensor> bias;
  if (Value b = op.getBias()) {
    bias = constantStorage(b);
    if (!bias)
      return std::nullopt;
  }
  bool keep = op.getKeepNumDims();
  Q qi = *in, qo = *out;
  return finishInteger(
      op, c,
      [=](Frame &f, const Slots &slots) {
        at::Tensor x = storage(f.tensor(slots[0]), qi) - qi.zp;
        at::Tensor acc = exactLinear(x, w);
        if (bias)
          acc = acc + *bias;
        at::Tensor r = fp::multiplyByQuantizedMultiplierSingle(acc, m) + qo.zp;
        if (!keep && r.dim() != 2)
          r = r.reshape({-1, r.size(-1)});
        return r;
      },
      qo, range->first, range->second);
}

std::optional<FailureOr<Exec>> integerBatchMatMul(Operation *o, Compiler &c) {
  auto op = cast<cir::BatchMatMulOp>(o);
  auto a = perTensor(op.getX().getType()), b = perTensor(op.getY().getType()),
       out = perTensor(op.getType());
  if (!a || !b || !out)
    return std::nullopt;
  float product = static_cast<float>(a->scale) * static_cast<float>(b->scale);
  fp::MultiplierTensor m = fp::toTensor(
      {fp::quantizeMultiplier(static_cast<double>(product) / out->scale)});
  // 16-bit: TFLite's reference kernel (int64 accumulator, Q15-reduced
  // multiplier). 8-bit with a symmetric right operand: LiteRT.js hands the
  // op to XNNPack, which rescales the int32 accumulator in float32; other
  // 8-bit ones stay in TFLite's kernel (Q31 multiplier). Measured bit for
  // bit against LiteRT.
  float scale8 = static_cast<float>(a->scale) * static_cast<float>(b->scale) /
                 static_cast<float>(out->scale);
  bool adjX = op.getAdjX(), adjY = op.getAdjY(), wide = a->width == 16;
  bool xnnpack = !wide && b->width == 8 && b->zp == 0;
  Q qo = *out;
  return integerBinary(
      op, c, *a, *b, qo, qo.qmin, qo.qmax, [=](at::Tensor x, at::Tensor y) {
        if (adjX)
          x = x.transpose(-1, -2);
        if (adjY)
          y = y.transpose(-1, -2);
        at::Tensor acc = exactMatmul(x, y);
        if (xnnpack) // float32 rescale, round half to even
          return at::round(acc.to(at::kFloat) * scale8).to(at::kLong) + qo.zp;
        return (wide ? fp::multiplyByQuantizedMultiplier64(acc, m)
                     : fp::multiplyByQuantizedMultiplier(acc, m)) +
               qo.zp;
      });
}

//===----------------------------------------------------------------------===//
// QUANTIZE
//===----------------------------------------------------------------------===//

std::optional<FailureOr<Exec>> integerQuantize(Operation *o, Compiler &c) {
  auto op = cast<cir::QuantizeOp>(o);
  auto out = perTensor(op.getType());
  if (!out)
    return std::nullopt;
  Q qo = *out;
  if (auto in = perTensor(op.getInput().getType())) {
    // Requantization: x * (input scale / output scale). TFLite's kernel
    // uses a Q31 multiplier; LiteRT.js hands 8-bit requantization to
    // XNNPack, whose multiplier has 8 fraction bits: round(256 * ratio) in
    // float, rounding half up after the product (measured bit for bit).
    Q qi = *in;
    if (in->width == 8 && out->width == 8) {
      float ratio =
          static_cast<float>(in->scale) / static_cast<float>(out->scale);
      int64_t m8 = static_cast<int64_t>(std::nearbyint(256.0f * ratio));
      return finishInteger(
          op, c,
          [=](Frame &f, const Slots &slots) {
            at::Tensor x = storage(f.tensor(slots[0]), qi) - qi.zp;
            return at::div(x * m8 + 128, 256, "floor") + qo.zp;
          },
          qo, qo.qmin, qo.qmax);
    }
    fp::MultiplierTensor m =
        fp::toTensor({fp::quantizeMultiplier(in->scale / out->scale)});
    return finishInteger(
        op, c,
        [=](Frame &f, const Slots &slots) {
          at::Tensor x = storage(f.tensor(slots[0]), qi) - qi.zp;
          return fp::multiplyByQuantizedMultiplier(x, m) + qo.zp;
        },
        qo, qo.qmin, qo.qmax);
  }
  if (!getElementTypeOrSelf(op.getInput().getType()).isF32())
    return std::nullopt;
  // From float: x / scale in double, rounded half away from zero.
  return finishInteger(
      op, c,
      [=](Frame &f, const Slots &slots) {
        at::Tensor v = f.tensor(slots[0]).to(at::kDouble) / qo.scale;
        return fp::roundHalfAway(v) + qo.zp;
      },
      qo, qo.qmin, qo.qmax);
}

//===----------------------------------------------------------------------===//
// MEAN
//===----------------------------------------------------------------------===//

std::optional<FailureOr<Exec>> integerMean(Operation *o, Compiler &c) {
  auto op = cast<cir::MeanOp>(o);
  auto in = perTensor(op.getInput().getType()), out = perTensor(op.getType());
  auto inType = dyn_cast<RankedTensorType>(op.getInput().getType());
  if (!in || !out || !inType || !inType.hasStaticShape())
    return std::nullopt;
  IntListOperand axes = intListOperand(op.getAxis(), c);
  if (!axes.fixed)
    return std::nullopt;
  std::vector<int64_t> dims;
  int64_t count = 1;
  for (int64_t a : *axes.fixed) {
    int64_t d = a < 0 ? a + inType.getRank() : a;
    if (d < 0 || d >= inType.getRank() || llvm::is_contained(dims, d))
      return std::nullopt;
    dims.push_back(d);
    count *= inType.getDimSize(d);
  }
  if (count == 0)
    return std::nullopt;
  // TFLite folds 1/N into the input/output multiplier: (M << s) / N with s
  // = floor(log2 N) (at most 32 and 31 + shift), truncated.
  fp::Multiplier base = fp::quantizeMultiplier(in->scale / out->scale);
  int s = 63 - __builtin_clzll(static_cast<uint64_t>(count));
  s = std::min(s, 32);
  s = std::min(s, 31 + base.shift);
  fp::Multiplier folded;
  folded.mantissa =
      static_cast<int32_t>((static_cast<int64_t>(base.mantissa) << s) / count);
  folded.shift = base.shift - s;
  fp::MultiplierTensor m = fp::toTensor({folded});
  bool keep = op.getKeepDims();
  Q qi = *in, qo = *out;
  return finishInteger(
      op, c,
      [=](Frame &f, const Slots &slots) {
        at::Tensor x = storage(f.tensor(slots[0]), qi);
        at::Tensor sum = x.sum(dims, keep) - qi.zp * count;
        return fp::multiplyByQuantizedMultiplier(sum, m) + qo.zp;
      },
      qo, qo.qmin, qo.qmax);
}

//===----------------------------------------------------------------------===//
// 16-bit lookup tables: RSQRT, SOFTMAX, LOGISTIC
//===----------------------------------------------------------------------===//

/// TFLite's 513-entry int16 table of f over the input range, each entry
/// biased by half the interpolation error at its segment's midpoint; all
/// arithmetic in T (float for RSQRT, double for SOFTMAX's tables).
template <typename T, typename F>
at::Tensor lutInt16(T inScale, int inZp, T outScale, int outZp, F f) {
  auto clamp16 = [](T v) {
    return static_cast<int64_t>(std::min<T>(std::max<T>(v, -32768), 32767));
  };
  T inMin = inScale * static_cast<T>(-32768 - inZp);
  T inMax = inScale * static_cast<T>(32767 - inZp);
  T outMin = outScale * static_cast<T>(-32768 - outZp);
  T outMax = outScale * static_cast<T>(32767 - outZp);
  T step = (inMax - inMin) / static_cast<T>(512);
  T halfStep = step / static_cast<T>(2);
  T scaleInv = static_cast<T>(65536) / (outMax - outMin);
  std::vector<int64_t> lut(513);
  for (int i = 0; i < 512; ++i) {
    T val = f(inMin + static_cast<T>(i) * step);
    T valMid = f(inMin + static_cast<T>(i) * step + halfStep);
    T valNext = f(inMin + static_cast<T>(i + 1) * step);
    T sample = std::round(val * scaleInv);
    T interp =
        std::round((valNext * scaleInv + std::round(val * scaleInv)) / 2);
    T mid = std::round(valMid * scaleInv);
    T bias = std::round((interp - mid) / 2);
    lut[i] = clamp16(sample - bias);
  }
  lut[512] = clamp16(std::round(f(inMax) * scaleInv));
  return at::tensor(lut, at::kLong);
}

at::Tensor wrap16(const at::Tensor &v) {
  return at::remainder(v + 32768, 65536) - 32768;
}

/// Linear interpolation in a 513-entry table: 7 fraction bits of x.
at::Tensor lookup16(const at::Tensor &x, const at::Tensor &lut) {
  at::Tensor hi = at::div(x, 128, "floor");
  at::Tensor off = x - hi * 128;
  at::Tensor index = hi + 256;
  at::Tensor base = at::take(lut, index);
  at::Tensor slope = wrap16(at::take(lut, index + 1) - base);
  return wrap16(base + at::div(slope * off + 64, 128, "floor"));
}

bool isInt16Symmetric(const Q &q) { return q.width == 16 && q.zp == 0; }

std::optional<FailureOr<Exec>> integerRsqrt(Operation *o, Compiler &c) {
  auto op = cast<cir::RsqrtOp>(o);
  auto in = perTensor(op.getInput().getType()), out = perTensor(op.getType());
  if (!in || !out || !isInt16Symmetric(*in) || !isInt16Symmetric(*out))
    return std::nullopt;
  float outScale = static_cast<float>(out->scale);
  at::Tensor lut = lutInt16<float>(
      static_cast<float>(in->scale), 0, outScale, 0, [outScale](float v) {
        return v <= 0.0f ? 32767 * outScale : 1.0f / std::sqrt(v);
      });
  Q qi = *in, qo = *out;
  return finishInteger(
      op, c,
      [=](Frame &f, const Slots &slots) {
        at::Tensor x = storage(f.tensor(slots[0]), qi);
        if (x.numel() && x.min().item<int64_t>() < 0)
          fail("RSQRT is only defined for positive values (TFLite's int16 "
               "kernel refuses negative inputs)");
        return lookup16(x, lut);
      },
      qo, qo.qmin, qo.qmax);
}

/// Number of leading zeros of positive int32 values.
at::Tensor clz32(const at::Tensor &v) {
  at::Tensor bits = at::zeros_like(v);
  for (int k = 0; k < 32; ++k)
    bits = bits + v.ge(int64_t(1) << k).to(at::kLong);
  return 32 - bits;
}

std::optional<FailureOr<Exec>> integerSoftmax(Operation *o, Compiler &c) {
  auto op = cast<cir::SoftmaxOp>(o);
  auto in = perTensor(op.getInput().getType()), out = perTensor(op.getType());
  if (!in || !out || !isInt16Symmetric(*in) || !isInt16Symmetric(*out))
    return std::nullopt;
  const double range = 65535;
  static const at::Tensor expLut =
      lutInt16<double>(10.0 / range, 32767, 2.0 / range, 0,
                       [](double v) { return std::exp(v); });
  static const at::Tensor recipLut =
      lutInt16<double>(1.0 / range, -32768, 2.0 / range, 0,
                       [](double v) { return 1.0 / (1.0 + v); });
  float beta = static_cast<float>(op.getBeta().convertToDouble());
  float scaleBeta = static_cast<float>(in->scale) * beta;
  fp::MultiplierTensor m = fp::toTensor({fp::quantizeMultiplier(
      static_cast<double>(scaleBeta) / (10.0 / 65535.0))});
  Q qi = *in, qo = *out;
  return finishInteger(
      op, c,
      [=](Frame &f, const Slots &slots) {
        at::Tensor x = storage(f.tensor(slots[0]), qi);
        at::Tensor d = x - std::get<0>(x.max(-1, true));
        at::Tensor sd = fp::multiplyByQuantizedMultiplier(d, m);
        at::Tensor e = lookup16(at::clamp(sd + 32767, -32768, 32767), expLut);
        at::Tensor sum = e.sum(-1, true);
        at::Tensor hr = clz32(sum);
        at::Tensor shifted =
            at::div(sum * fp::pow2(hr - 1) + (1 << 13), 1 << 14, "floor");
        at::Tensor recip = lookup16(
            at::clamp(shifted - ((1 << 15) + (1 << 16)), -32768, 32767),
            recipLut);
        at::Tensor rs = 31 - hr;
        return at::div(e * recip + fp::pow2(rs - 1), fp::pow2(rs), "floor");
      },
      qo, 0, 32767);
}

std::optional<FailureOr<Exec>> integerLogistic(Operation *o, Compiler &c) {
  auto op = cast<cir::LogisticOp>(o);
  auto in = perTensor(op.getInput().getType()), out = perTensor(op.getType());
  if (!in || !out || !isInt16Symmetric(*in) || !isInt16Symmetric(*out) ||
      out->scale != 1.0 / 32768)
    return std::nullopt;
  // Input scale exactly 2^-12: TFLite runs gemmlowp's fixed-point logistic,
  // not modelled here.
  if (in->scale == 1.0 / 4096)
    return std::nullopt;
  // The input in units of 1/(3 * 4096): a multiplier in (2^14, 2^15] with
  // a left shift, truncated.
  double mult = in->scale * 4096.0 * 3.0;
  int shift = 0;
  while (mult <= 32767.0 / 2.0 && shift <= 30) {
    ++shift;
    mult *= 2.0;
  }
  int64_t multiplier = static_cast<int64_t>(mult);
  // sigmoid(i / 24) in Q0.16, i = 0..255, each node raised by half the
  // linear-interpolation error at its segment's midpoint (the correction
  // TFLite's tables carry); the last node is the Q0.16 maximum. This gives
  // TFLite's table (checked against LiteRT by litert-bit-exact.test).
  auto sigmoid = [](double i) { return 65536.0 / (1.0 + std::exp(-i / 24.0)); };
  std::vector<int64_t> table(256);
  for (int i = 0; i < 255; ++i) {
    double err = sigmoid(i + 0.5) - (sigmoid(i) + sigmoid(i + 1)) / 2;
    table[i] = std::min<int64_t>(
        65535, static_cast<int64_t>(std::round(sigmoid(i) + err / 2)));
  }
  table[255] = 65535;
  at::Tensor sig = at::tensor(table, at::kLong);
  int64_t round = shift > 0 ? int64_t(1) << (shift - 1) : 0;
  Q qi = *in, qo = *out;
  return finishInteger(
      op, c,
      [=](Frame &f, const Slots &slots) {
        at::Tensor x = storage(f.tensor(slots[0]), qi);
        at::Tensor v =
            at::div(x * multiplier + round, int64_t(1) << shift, "floor");
        at::Tensor a = v.abs();
        at::Tensor uh = at::div(a, 512, "floor");
        at::Tensor saturated = uh.ge(255);
        at::Tensor idx = at::clamp_max(uh, 254);
        at::Tensor ua = at::take(sig, idx), ub = at::take(sig, idx + 1);
        at::Tensor ut = a - uh * 512;
        at::Tensor res =
            at::where(saturated, at::full({}, int64_t(0x7FFF) << 10, at::kLong),
                      ua * 512 + ut * (ub - ua));
        res = at::where(v.ge(0), res + 512, (int64_t(1) << 25) - res + 511);
        return at::div(res, 1024, "floor");
      },
      qo, qo.qmin, qo.qmax);
}

} // namespace

bool readsOnlyIntegerStorage(OpOperand &use, const CompileOptions &options) {
  auto fc = dyn_cast<cir::FullyConnectedOp>(use.getOwner());
  return options.integerKernels && fc && use.getOperandNumber() != 0 &&
         integerFullyConnectedApplies(fc);
}

void addIntegerKernels(KernelTable &table) {
  auto wrap = [&table](StringRef name, IntegerBuilder integer) {
    KernelBuilder fallback = table.lookup(name);
    table[name] = [fallback, integer](Operation *op,
                                      Compiler &c) -> FailureOr<Exec> {
      if (c.options().integerKernels)
        if (std::optional<FailureOr<Exec>> r = integer(op, c))
          return *r;
      return fallback(op, c);
    };
  };
  wrap(cir::MulOp::getOperationName(), integerMul);
  wrap(cir::AddOp::getOperationName(), integerAdd);
  wrap(cir::FullyConnectedOp::getOperationName(), integerFullyConnected);
  wrap(cir::BatchMatMulOp::getOperationName(), integerBatchMatMul);
  wrap(cir::QuantizeOp::getOperationName(), integerQuantize);
  wrap(cir::MeanOp::getOperationName(), integerMean);
  wrap(cir::RsqrtOp::getOperationName(), integerRsqrt);
  wrap(cir::SoftmaxOp::getOperationName(), integerSoftmax);
  wrap(cir::LogisticOp::getOperationName(), integerLogistic);
}

} // namespace kiln::runtime
