//===- CircleKernels.cpp - ATen kernels of the circle dialect -------------===//
//
// Circle ops follow TFLite semantics (the reference kernels of
// tensorflow/lite/kernels/internal/reference), computed in the float domain:
// a quantized operand is the float tensor of its dequantized values and a
// quantized result is fake-quantized with its type's parameters. Integer
// requantization details of real TFLite int8/int16 kernels (fixed-point
// multipliers) are therefore not modelled.
//
//===----------------------------------------------------------------------===//
#include "KernelUtil.h"

#include "kiln/Dialect/Circle/IR/CircleOps.h"

#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
namespace cir = kiln::circle;

namespace kiln::runtime {
namespace {

enum class Activation { None, Relu, ReluN1To1, Relu6, Tanh };

FailureOr<Activation> parseActivation(Operation *op, StringRef name) {
  auto act = llvm::StringSwitch<std::optional<Activation>>(name)
                 .Case("NONE", Activation::None)
                 .Case("RELU", Activation::Relu)
                 .Case("RELU_N1_TO_1", Activation::ReluN1To1)
                 .Case("RELU6", Activation::Relu6)
                 .Case("TANH", Activation::Tanh)
                 .Default(std::nullopt);
  if (!act)
    return op->emitError() << "kiln-run does not support fused activation '"
                           << name << "'";
  return *act;
}

at::Tensor activate(at::Tensor t, Activation act) {
  switch (act) {
  case Activation::None:
    return t;
  case Activation::Relu:
    return at::relu(t);
  case Activation::ReluN1To1:
    return at::clamp(t, -1, 1);
  case Activation::Relu6:
    return at::clamp(t, 0, 6);
  case Activation::Tanh:
    return at::tanh(t);
  }
  return t;
}

at::Tensor tflDiv(const at::Tensor &a, const at::Tensor &b) {
  // TFLite DIV on integers truncates (reference_ops::Div); floats divide.
  if (at::isIntegralType(a.scalar_type(), true) &&
      at::isIntegralType(b.scalar_type(), true))
    return at::div(a, b, "trunc");
  return at::div(a, b);
}

template <typename OpTy>
void addBinary(KernelTable &table,
               at::Tensor (*fn)(const at::Tensor &, const at::Tensor &)) {
  addKernel<OpTy>(table, [fn](OpTy op, Compiler &c) -> FailureOr<Exec> {
    FailureOr<Activation> act =
        parseActivation(op, op.getFusedActivationFunction());
    if (failed(act))
      return failure();
    Activation a = *act;
    return tensorKernel(op, c, [fn, a](Frame &f, const Slots &in) {
      return activate(fn(f.tensor(in[0]), f.tensor(in[1])), a);
    });
  });
}

/// A 0-d exponent is a Scalar exponent: TorchScript's x.pow(2) is
/// aten::pow.Tensor_Scalar, whose kernel special-cases 2, 3, 0.5, -1, ...
/// (x*x, sqrt, ...) where pow.Tensor_Tensor calls powf (1 ulp apart).
at::Tensor atPow(const at::Tensor &a, const at::Tensor &b) {
  if (b.dim() == 0 && b.numel() == 1 && a.dim() > 0)
    return at::pow(a, b.item());
  return at::pow(a, b);
}
at::Tensor atRsqrt(const at::Tensor &a) { return at::rsqrt(a); }
at::Tensor atNeg(const at::Tensor &a) { return at::neg(a); }
at::Tensor atLogistic(const at::Tensor &a) { return at::sigmoid(a); }

FailureOr<at::ScalarType> resultDType(Operation *op) {
  auto t = dyn_cast<TensorType>(op->getResult(0).getType());
  std::optional<at::ScalarType> s =
      t ? scalarTypeOf(t.getElementType()) : std::nullopt;
  if (!s)
    return op->emitError() << "result type " << op->getResult(0).getType()
                           << " is not supported by kiln-run";
  return *s;
}

int64_t normalizeAxis(int64_t axis, int64_t rank, const char *what) {
  auto pos = normalizeIndex(axis, rank);
  if (!pos)
    fail(llvm::Twine(what) + " " + llvm::Twine(axis) +
         " out of range for rank " + llvm::Twine(rank));
  return *pos;
}

/// TFLite STRIDED_SLICE (with ellipsis, new-axis and shrink masks, negative
/// strides and Circle's `offset`: end = begin + end).
at::Tensor stridedSlice(at::Tensor x, std::vector<int64_t> begin,
                        std::vector<int64_t> end, std::vector<int64_t> strides,
                        uint32_t beginMask, uint32_t endMask,
                        uint32_t ellipsisMask, uint32_t newAxisMask,
                        uint32_t shrinkMask, bool offset) {
  size_t n = begin.size();
  if (end.size() != n || strides.size() != n)
    fail("begin, end and strides must have the same length");
  auto bit = [](uint32_t mask, size_t i) { return (mask >> i) & 1u; };
  // Spec entries that consume an input dimension.
  int64_t consuming = 0;
  int64_t ellipsis = -1;
  for (size_t i = 0; i < n; ++i) {
    if (bit(ellipsisMask, i)) {
      if (ellipsis < 0)
        ellipsis = i;
    } else if (!bit(newAxisMask, i)) {
      ++consuming;
    }
  }
  int64_t rank = x.dim();
  if (consuming > rank)
    fail("strided_slice has more slice entries than the input has dimensions");
  int64_t outDim = 0;
  for (size_t i = 0; i < n; ++i) {
    if (static_cast<int64_t>(i) == ellipsis) {
      outDim += rank - consuming; // full dimensions
      continue;
    }
    if (bit(ellipsisMask, i))
      continue; // only the first ellipsis counts
    if (bit(newAxisMask, i)) {
      x = x.unsqueeze(outDim++);
      continue;
    }
    int64_t size = x.size(outDim);
    int64_t b = begin[i], e = offset ? begin[i] + end[i] : end[i],
            s = strides[i];
    if (bit(shrinkMask, i)) {
      int64_t idx = b < 0 ? b + size : b;
      if (idx < 0 || idx >= size)
        fail("strided_slice index " + llvm::Twine(b) +
             " out of range for size " + llvm::Twine(size));
      x = x.select(outDim, idx);
      continue;
    }
    if (s == 0)
      fail("strided_slice stride must be non-zero");
    if (s > 0) {
      b = bit(beginMask, i)
              ? 0
              : std::clamp<int64_t>(b < 0 ? b + size : b, 0, size);
      e = bit(endMask, i) ? size
                          : std::clamp<int64_t>(e < 0 ? e + size : e, 0, size);
      x = at::slice(x, outDim, b, std::max(b, e), s);
    } else {
      b = bit(beginMask, i)
              ? size - 1
              : std::clamp<int64_t>(b < 0 ? b + size : b, -1, size - 1);
      e = bit(endMask, i)
              ? -1
              : std::clamp<int64_t>(e < 0 ? e + size : e, -1, size - 1);
      int64_t count = b > e ? (b - e + (-s) - 1) / (-s) : 0;
      at::Tensor idx = at::arange(b, b - count * (-s), s, at::kLong);
      if (count == 0)
        idx = at::empty({0}, at::kLong);
      x = x.index_select(outDim, idx);
    }
    ++outDim;
  }
  return x;
}

/// TFLite GATHER: out = params.shape[:axis] + indices.shape[batch_dims:] +
/// params.shape[axis+1:], params.shape[:batch_dims] ==
/// indices.shape[:batch_dims].
at::Tensor gather(const at::Tensor &params, const at::Tensor &indices,
                  int64_t axis, int64_t batchDims) {
  axis = normalizeAxis(axis, params.dim(), "gather axis");
  if (batchDims < 0)
    batchDims += indices.dim();
  if (batchDims < 0 || batchDims > indices.dim() || batchDims > axis)
    fail("gather batch_dims " + llvm::Twine(batchDims) + " is out of range");
  at::Tensor idx = indices.to(at::kLong);
  std::vector<int64_t> outShape(params.sizes().begin(),
                                params.sizes().begin() + axis);
  for (int64_t i = batchDims; i < idx.dim(); ++i)
    outShape.push_back(idx.size(i));
  for (int64_t i = axis + 1; i < params.dim(); ++i)
    outShape.push_back(params.size(i));
  if (batchDims == 0)
    return params.index_select(axis, idx.reshape({-1})).reshape(outShape);
  int64_t batch = 1, mid = 1, rest = 1;
  for (int64_t i = 0; i < batchDims; ++i) {
    if (params.size(i) != idx.size(i))
      fail("gather batch dimensions of params and indices differ");
    batch *= params.size(i);
  }
  for (int64_t i = batchDims; i < axis; ++i)
    mid *= params.size(i);
  for (int64_t i = axis + 1; i < params.dim(); ++i)
    rest *= params.size(i);
  at::Tensor p = params.reshape({batch, mid, params.size(axis), rest});
  at::Tensor k = idx.reshape({batch, 1, -1, 1});
  int64_t count = k.size(2);
  at::Tensor out = at::gather(p, 2, k.expand({batch, mid, count, rest}));
  return out.reshape(outShape);
}

/// ROPE: x * cos + rotate(x) * sin. GPT_NEOX rotates halves
/// (rotate(x) = cat(-x[..., D/2:], x[..., :D/2])); GPT_J rotates
/// interleaved pairs (rotate(x)[2i] = -x[2i+1], rotate(x)[2i+1] = x[2i]).
at::Tensor rope(const at::Tensor &x, const at::Tensor &sin,
                const at::Tensor &cos, bool neox) {
  int64_t d = x.size(-1);
  if (d % 2)
    fail("rope needs an even last dimension, got " + llvm::Twine(d));
  at::Tensor rotated;
  if (neox) {
    at::Tensor x1 = x.slice(-1, 0, d / 2), x2 = x.slice(-1, d / 2, d);
    rotated = at::cat({at::neg(x2), x1}, -1);
  } else {
    std::vector<int64_t> pairs(x.sizes().begin(), x.sizes().end());
    pairs.back() = d / 2;
    pairs.push_back(2);
    at::Tensor p = x.reshape(pairs);
    at::Tensor even = p.select(-1, 0), odd = p.select(-1, 1);
    rotated = at::stack({at::neg(odd), even}, -1).reshape(x.sizes());
  }
  return x * cos + rotated * sin;
}

} // namespace

void addCircleKernels(KernelTable &table) {
  addKernel<cir::ConstOp>(
      table, [](cir::ConstOp op, Compiler &c) -> FailureOr<Exec> {
        // Weights only integer kernels read: no float copy.
        if (!op->use_empty() &&
            llvm::all_of(op->getUses(), [&](OpOperand &use) {
              return readsOnlyIntegerStorage(use, c.options());
            })) {
          ResultInfo out = c.result(op.getResult());
          return Exec(
              [slot = out.slot](Frame &f) { f.slots[slot] = RValue::none(); });
        }
        FailureOr<at::Tensor> t =
            materializeConstant(op, op.getValue(), op.getType());
        if (failed(t))
          return failure();
        ResultInfo out = c.result(op.getResult());
        try {
          out.checkShape(*t);
        } catch (const EvalError &e) {
          return op->emitError() << e.what();
        }
        at::Tensor tensor = *t;
        return Exec([slot = out.slot, tensor](Frame &f) {
          f.slots[slot] = RValue::tensor(tensor);
        });
      });

  addBinary<cir::AddOp>(table, atAdd);
  addBinary<cir::SubOp>(table, atSub);
  addBinary<cir::MulOp>(table, atMul);
  addBinary<cir::DivOp>(table, tflDiv);
  addKernel<cir::PowOp>(
      table, [](cir::PowOp op, Compiler &c) -> FailureOr<Exec> {
        return tensorKernel(op, c, [](Frame &f, const Slots &in) {
          return atPow(f.tensor(in[0]), f.tensor(in[1]));
        });
      });
  addUnary<cir::RsqrtOp>(table, atRsqrt);
  addUnary<cir::NegOp>(table, atNeg);
  addUnary<cir::LogisticOp>(table, atLogistic);

  // QUANTIZE / DEQUANTIZE / CAST convert to the result element type; a
  // quantized result type is applied by ResultInfo::finish, so QUANTIZE is
  // quantization or requantization and DEQUANTIZE reads the float values.
  auto convert = [](Operation *op, Compiler &c) -> FailureOr<Exec> {
    FailureOr<at::ScalarType> dtype = resultDType(op);
    if (failed(dtype))
      return failure();
    at::ScalarType s = *dtype;
    return unaryKernel(op, c, [s](const at::Tensor &x) {
      return x.scalar_type() == s ? x : x.to(s);
    });
  };
  table[cir::QuantizeOp::getOperationName()] = convert;
  table[cir::DequantizeOp::getOperationName()] = convert;
  table[cir::CastOp::getOperationName()] = convert;

  addKernel<cir::FullyConnectedOp>(
      table, [](cir::FullyConnectedOp op, Compiler &c) -> FailureOr<Exec> {
        FailureOr<Activation> act =
            parseActivation(op, op.getFusedActivationFunction());
        if (failed(act))
          return failure();
        if (op.getWeightsFormat() != "DEFAULT")
          return op.emitError()
                 << "kiln-run supports weights_format DEFAULT only";
        bool bias = static_cast<bool>(op.getBias()), keep = op.getKeepNumDims();
        bool onednn = c.options().onednnGemm;
        Activation a = *act;
        return tensorKernel(
            op, c, [bias, keep, a, onednn](Frame &f, const Slots &in) {
              const at::Tensor &x = f.tensor(in[0]);
              at::Tensor y = linear(x, f.tensor(in[1]),
                                    bias ? &f.tensor(in[2]) : nullptr, onednn);
              if (!keep && y.dim() != 2)
                y = y.reshape({-1, y.size(-1)}); // [batch, num_units]
              return activate(y, a);
            });
      });
  addKernel<cir::BatchMatMulOp>(
      table, [](cir::BatchMatMulOp op, Compiler &c) -> FailureOr<Exec> {
        bool adjX = op.getAdjX(), adjY = op.getAdjY(),
             onednn = c.options().onednnGemm;
        return tensorKernel(
            op, c, [adjX, adjY, onednn](Frame &f, const Slots &in) {
              const at::Tensor &a = f.tensor(in[0]);
              const at::Tensor &b = f.tensor(in[1]);
              if (a.dim() < 2 || b.dim() < 2)
                fail("batch_matmul operands must have rank >= 2");
              return matmul(a, b, adjX, adjY, onednn);
            });
      });
  addKernel<cir::SoftmaxOp>(
      table, [](cir::SoftmaxOp op, Compiler &c) -> FailureOr<Exec> {
        double beta = op.getBeta().convertToDouble();
        return unaryKernel(op, c, [beta](const at::Tensor &x) {
          return at::softmax(beta == 1.0 ? x : x * beta, -1);
        });
      });
  addKernel<cir::MeanOp>(
      table, [](cir::MeanOp op, Compiler &c) -> FailureOr<Exec> {
        IntListOperand axes = intListOperand(op.getAxis(), c);
        bool keep = op.getKeepDims();
        return tensorKernel(op, c, [axes, keep](Frame &f, const Slots &in) {
          return at::mean(f.tensor(in[0]), axes.get(f), keep);
        });
      });
  addKernel<cir::ReshapeOp>(
      table, [](cir::ReshapeOp op, Compiler &c) -> FailureOr<Exec> {
        IntListOperand shape = intListOperand(op.getShape(), c);
        return tensorKernel(op, c, [shape](Frame &f, const Slots &in) {
          return f.tensor(in[0]).reshape(shape.get(f));
        });
      });
  addKernel<cir::TransposeOp>(
      table, [](cir::TransposeOp op, Compiler &c) -> FailureOr<Exec> {
        IntListOperand perm = intListOperand(op.getPerm(), c);
        return tensorKernel(op, c, [perm](Frame &f, const Slots &in) {
          return f.tensor(in[0]).permute(perm.get(f));
        });
      });
  addKernel<cir::StridedSliceOp>(
      table, [](cir::StridedSliceOp op, Compiler &c) -> FailureOr<Exec> {
        IntListOperand b = intListOperand(op.getBegin(), c),
                       e = intListOperand(op.getEnd(), c),
                       s = intListOperand(op.getStrides(), c);
        uint32_t bm = op.getBeginMask(), em = op.getEndMask(),
                 elm = op.getEllipsisMask(), nm = op.getNewAxisMask(),
                 sm = op.getShrinkAxisMask();
        bool offset = op.getOffset();
        return tensorKernel(op, c, [=](Frame &f, const Slots &in) {
          return stridedSlice(f.tensor(in[0]), b.get(f), e.get(f), s.get(f), bm,
                              em, elm, nm, sm, offset);
        });
      });
  addKernel<cir::SliceOp>(
      table, [](cir::SliceOp op, Compiler &c) -> FailureOr<Exec> {
        IntListOperand b = intListOperand(op.getBegin(), c),
                       s = intListOperand(op.getSize(), c);
        return tensorKernel(op, c, [b, s](Frame &f, const Slots &in) {
          at::Tensor x = f.tensor(in[0]);
          std::vector<int64_t> begin = b.get(f), size = s.get(f);
          if (static_cast<int64_t>(begin.size()) != x.dim() ||
              static_cast<int64_t>(size.size()) != x.dim())
            fail("slice begin and size need one entry per input dimension");
          for (int64_t d = 0; d < x.dim(); ++d) {
            int64_t len = size[d] == -1 ? x.size(d) - begin[d] : size[d];
            if (begin[d] < 0 || len < 0 || begin[d] + len > x.size(d))
              fail("slice [" + llvm::Twine(begin[d]) + ", +" +
                   llvm::Twine(size[d]) + ") out of range for dimension " +
                   llvm::Twine(d) + " of size " + llvm::Twine(x.size(d)));
            x = x.slice(d, begin[d], begin[d] + len);
          }
          return x;
        });
      });
  addKernel<cir::ConcatenationOp>(
      table, [](cir::ConcatenationOp op, Compiler &c) -> FailureOr<Exec> {
        FailureOr<Activation> act =
            parseActivation(op, op.getFusedActivationFunction());
        if (failed(act))
          return failure();
        int64_t axis = static_cast<int32_t>(op.getAxis());
        Activation a = *act;
        return tensorKernel(op, c, [axis, a](Frame &f, const Slots &in) {
          std::vector<at::Tensor> ts;
          for (uint32_t s : in)
            ts.push_back(f.tensor(s));
          return activate(at::cat(ts, axis), a);
        });
      });
  addKernel<cir::GatherOp>(
      table, [](cir::GatherOp op, Compiler &c) -> FailureOr<Exec> {
        int64_t axis = static_cast<int32_t>(op.getAxis());
        int64_t batchDims = static_cast<int32_t>(op.getBatchDims());
        return tensorKernel(
            op, c, [axis, batchDims](Frame &f, const Slots &in) {
              return gather(f.tensor(in[0]), f.tensor(in[1]), axis, batchDims);
            });
      });
  addKernel<cir::SelectV2Op>(
      table, [](cir::SelectV2Op op, Compiler &c) -> FailureOr<Exec> {
        return tensorKernel(op, c, [](Frame &f, const Slots &in) {
          const at::Tensor &cond = f.tensor(in[0]);
          return at::where(cond.scalar_type() == at::kBool ? cond
                                                           : cond.to(at::kBool),
                           f.tensor(in[1]), f.tensor(in[2]));
        });
      });
  addKernel<cir::BroadcastToOp>(
      table, [](cir::BroadcastToOp op, Compiler &c) -> FailureOr<Exec> {
        IntListOperand shape = intListOperand(op.getShape(), c);
        return tensorKernel(op, c, [shape](Frame &f, const Slots &in) {
          return f.tensor(in[0]).expand(shape.get(f));
        });
      });
  addKernel<cir::RmsNormOp>(
      table, [](cir::RmsNormOp op, Compiler &c) -> FailureOr<Exec> {
        double eps = op.getEpsilon().convertToDouble();
        return tensorKernel(op, c, [eps](Frame &f, const Slots &in) {
          const at::Tensor &x = f.tensor(in[0]);
          at::Tensor variance = x.pow(2).mean(-1, /*keepdim=*/true);
          return x * at::rsqrt(variance + eps) * f.tensor(in[1]);
        });
      });
  addKernel<cir::RopeOp>(
      table, [](cir::RopeOp op, Compiler &c) -> FailureOr<Exec> {
        bool neox = op.getMode() == "GPT_NEOX";
        if (!neox && op.getMode() != "GPT_J")
          return op.emitError() << "unknown rope mode '" << op.getMode() << "'";
        return tensorKernel(op, c, [neox](Frame &f, const Slots &in) {
          return rope(f.tensor(in[0]), f.tensor(in[1]), f.tensor(in[2]), neox);
        });
      });
}

} // namespace kiln::runtime
