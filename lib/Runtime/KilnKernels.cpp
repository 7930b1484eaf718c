//===- KilnKernels.cpp - ATen kernels of the kiln dialect -----------------===//
//
// kiln ops are ATen ops: each kernel is the ATen function of the same name,
// so the result dtype follows PyTorch's type promotion. A quantized result
// type additionally fake-quantizes the result (ResultInfo::finish).
//
//===----------------------------------------------------------------------===//
#include "KernelUtil.h"

#include "kiln/Dialect/Kiln/IR/KilnOps.h"

#include <limits>

using namespace mlir;

namespace kiln::runtime {
namespace {

FailureOr<Exec> constantKernel(Operation *op, ElementsAttr value, Compiler &c) {
  FailureOr<at::Tensor> t =
      materializeConstant(op, value, op->getResult(0).getType());
  if (failed(t))
    return failure();
  ResultInfo out = c.result(op->getResult(0));
  try {
    out.checkShape(*t);
  } catch (const EvalError &e) {
    return op->emitError() << e.what();
  }
  at::Tensor tensor = *t;
  return Exec([slot = out.slot, tensor](Frame &f) {
    f.slots[slot] = RValue::tensor(tensor);
  });
}

/// The element type of a result as an ATen dtype; for casts.
FailureOr<at::ScalarType> resultDType(Operation *op) {
  auto t = dyn_cast<TensorType>(op->getResult(0).getType());
  std::optional<at::ScalarType> s =
      t ? scalarTypeOf(t.getElementType()) : std::nullopt;
  if (!s)
    return op->emitError() << "result type " << op->getResult(0).getType()
                           << " is not supported by kiln-run";
  return *s;
}

template <typename OpTy>
void addBinary(KernelTable &table,
               at::Tensor (*fn)(const at::Tensor &, const at::Tensor &)) {
  addKernel<OpTy>(table, [fn](OpTy op, Compiler &c) -> FailureOr<Exec> {
    return tensorKernel(op, c, [fn](Frame &f, const Slots &in) {
      return fn(f.tensor(in[0]), f.tensor(in[1]));
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
at::Tensor atNeg(const at::Tensor &a) { return at::neg(a); }
at::Tensor atRsqrt(const at::Tensor &a) { return at::rsqrt(a); }
at::Tensor atSilu(const at::Tensor &a) { return at::silu(a); }
at::Tensor atSigmoid(const at::Tensor &a) { return at::sigmoid(a); }

at::Tensor asBool(const at::Tensor &t) {
  return t.scalar_type() == at::kBool ? t : t.to(at::kBool);
}

std::vector<int64_t> readInts(const Frame &f, const Slots &in, size_t from) {
  std::vector<int64_t> out;
  out.reserve(in.size() - from);
  for (size_t i = from; i < in.size(); ++i)
    out.push_back(f.integer(in[i]));
  return out;
}

} // namespace

void addKilnKernels(KernelTable &table) {
  //===--- Non-tensor values ----------------------------------------------===//
  addKernel<ConstantOp>(table, [](ConstantOp op, Compiler &c) {
    return constantKernel(op, op.getValue(), c);
  });
  addKernel<NoneOp>(table, [](NoneOp op, Compiler &c) -> FailureOr<Exec> {
    uint32_t out = c.slot(op.getResult());
    return Exec([out](Frame &f) { f.slots[out] = RValue::none(); });
  });
  // Some and unchecked_cast change the static type only.
  auto forward = [](Operation *op, Compiler &c) -> FailureOr<Exec> {
    uint32_t in = c.slot(op->getOperand(0)), out = c.slot(op->getResult(0));
    bool toOptional = isa<kiln::OptionalType>(op->getResult(0).getType());
    return Exec([in, out, toOptional](Frame &f) {
      if (!toOptional && f.slots[in].kind == RValue::Kind::None)
        fail("the value is None");
      f.slots[out] = f.slots[in];
    });
  };
  table[SomeOp::getOperationName()] = forward;
  table[UncheckedCastOp::getOperationName()] = forward;
  addKernel<IsNoneOp>(table, [](IsNoneOp op, Compiler &c) -> FailureOr<Exec> {
    uint32_t in = c.slot(op.getValue()), out = c.slot(op.getResult());
    return Exec([in, out](Frame &f) {
      f.slots[out] = RValue::integer(f.slots[in].kind == RValue::Kind::None);
    });
  });
  auto makeSeq = [](Operation *op, Compiler &c) -> FailureOr<Exec> {
    Slots in = c.slots(op->getOperands());
    uint32_t out = c.slot(op->getResult(0));
    return Exec([in, out](Frame &f) {
      std::vector<RValue> elements;
      elements.reserve(in.size());
      for (uint32_t s : in)
        elements.push_back(f.slots[s]);
      f.slots[out] = RValue::sequence(std::move(elements));
    });
  };
  table[TupleOp::getOperationName()] = makeSeq;
  table[ListOp::getOperationName()] = makeSeq;
  addKernel<TupleGetOp>(
      table, [](TupleGetOp op, Compiler &c) -> FailureOr<Exec> {
        uint32_t in = c.slot(op.getTuple()), out = c.slot(op.getResult());
        size_t index = op.getIndex();
        return Exec([in, out, index](Frame &f) {
          const auto &seq = f.sequence(in);
          if (index >= seq.size())
            fail("tuple index out of range");
          f.slots[out] = seq[index];
        });
      });
  addKernel<ListGetOp>(table, [](ListGetOp op, Compiler &c) -> FailureOr<Exec> {
    uint32_t in = c.slot(op.getList()), idx = c.slot(op.getIndex()),
             out = c.slot(op.getResult());
    return Exec([in, idx, out](Frame &f) {
      const auto &seq = f.sequence(in);
      int64_t i = f.integer(idx);
      auto pos = normalizeIndex(i, seq.size());
      if (!pos)
        fail("list index " + llvm::Twine(i) + " out of range for a list of " +
             llvm::Twine(seq.size()));
      f.slots[out] = seq[*pos];
    });
  });
  addKernel<ListAppendOp>(
      table, [](ListAppendOp op, Compiler &c) -> FailureOr<Exec> {
        uint32_t list = c.slot(op.getList()), value = c.slot(op.getValue()),
                 out = c.slot(op.getResult());
        return Exec([list, value, out](Frame &f) {
          std::vector<RValue> elements = f.sequence(list);
          elements.push_back(f.slots[value]);
          f.slots[out] = RValue::sequence(std::move(elements));
        });
      });
  addKernel<ShapeOp>(table, [](ShapeOp op, Compiler &c) -> FailureOr<Exec> {
    uint32_t in = c.slot(op.getInput()), out = c.slot(op.getResult());
    return Exec([in, out](Frame &f) {
      std::vector<RValue> dims;
      for (int64_t d : f.tensor(in).sizes())
        dims.push_back(RValue::integer(d));
      f.slots[out] = RValue::sequence(std::move(dims));
    });
  });
  addKernel<SizeOp>(table, [](SizeOp op, Compiler &c) -> FailureOr<Exec> {
    uint32_t in = c.slot(op.getInput()), dim = c.slot(op.getDim()),
             out = c.slot(op.getResult());
    return Exec([in, dim, out](Frame &f) {
      const at::Tensor &t = f.tensor(in);
      int64_t d = f.integer(dim);
      auto pos = normalizeIndex(d, t.dim());
      if (!pos)
        fail("dimension " + llvm::Twine(d) + " out of range for rank " +
             llvm::Twine(t.dim()));
      f.slots[out] = RValue::integer(t.size(*pos));
    });
  });
  addKernel<RankOp>(table, [](RankOp op, Compiler &c) -> FailureOr<Exec> {
    uint32_t in = c.slot(op.getInput()), out = c.slot(op.getResult());
    return Exec([in, out](Frame &f) {
      f.slots[out] = RValue::integer(f.tensor(in).dim());
    });
  });
  addKernel<FromScalarOp>(
      table, [](FromScalarOp op, Compiler &c) -> FailureOr<Exec> {
        FailureOr<at::ScalarType> dtype = resultDType(op);
        if (failed(dtype))
          return failure();
        uint32_t in = c.slot(op.getScalar());
        ResultInfo out = c.result(op.getResult());
        at::ScalarType s = *dtype;
        return Exec([in, out, s](Frame &f) {
          const RValue &v = f.slots[in];
          at::Scalar scalar = v.kind == RValue::Kind::Float
                                  ? at::Scalar(v.f)
                                  : at::Scalar(f.integer(in));
          f.slots[out.slot] =
              RValue::tensor(out.finish(at::scalar_tensor(scalar, s)));
        });
      });

  addKernel<CausalMaskOp>(
      table, [](CausalMaskOp op, Compiler &c) -> FailureOr<Exec> {
        FailureOr<at::ScalarType> dtype = resultDType(op);
        if (failed(dtype))
          return failure();
        uint32_t l = c.slot(op.getQueries()), s = c.slot(op.getKeys());
        ResultInfo out = c.result(op.getResult());
        at::ScalarType st = *dtype;
        return Exec([l, s, out, st](Frame &f) {
          at::Tensor keep =
              at::ones({f.integer(l), f.integer(s)}, at::kBool).tril();
          at::Tensor mask =
              at::zeros(keep.sizes(), st)
                  .masked_fill(keep.logical_not(),
                               -std::numeric_limits<double>::infinity());
          f.slots[out.slot] = RValue::tensor(out.finish(mask));
        });
      });

  //===--- Elementwise ----------------------------------------------------===//
  addBinary<AddOp>(table, atAdd);
  addBinary<SubOp>(table, atSub);
  addBinary<MulOp>(table, atMul);
  addBinary<DivOp>(table, atDiv);
  addBinary<PowOp>(table, atPow);
  addKernel<WhereOp>(table, [](WhereOp op, Compiler &c) -> FailureOr<Exec> {
    return tensorKernel(op, c, [](Frame &f, const Slots &in) {
      return at::where(asBool(f.tensor(in[0])), f.tensor(in[1]),
                       f.tensor(in[2]));
    });
  });
  addUnary<NegOp>(table, atNeg);
  addUnary<RsqrtOp>(table, atRsqrt);
  addUnary<SiluOp>(table, atSilu);
  addUnary<SigmoidOp>(table, atSigmoid);
  addKernel<CastOp>(table, [](CastOp op, Compiler &c) -> FailureOr<Exec> {
    FailureOr<at::ScalarType> dtype = resultDType(op);
    if (failed(dtype))
      return failure();
    at::ScalarType s = *dtype;
    return unaryKernel(op, c, [s](const at::Tensor &x) { return x.to(s); });
  });

  //===--- Contractions and reductions ------------------------------------===//
  addKernel<LinearOp>(table, [](LinearOp op, Compiler &c) -> FailureOr<Exec> {
    bool bias = static_cast<bool>(op.getBias());
    bool onednn = c.options().onednnGemm;
    return tensorKernel(op, c, [bias, onednn](Frame &f, const Slots &in) {
      return linear(f.tensor(in[0]), f.tensor(in[1]),
                    bias ? &f.tensor(in[2]) : nullptr, onednn);
    });
  });
  addKernel<MatmulOp>(table, [](MatmulOp op, Compiler &c) -> FailureOr<Exec> {
    bool adjX = op.getAdjX(), adjY = op.getAdjY(),
         onednn = c.options().onednnGemm;
    return tensorKernel(op, c, [adjX, adjY, onednn](Frame &f, const Slots &in) {
      return matmul(f.tensor(in[0]), f.tensor(in[1]), adjX, adjY, onednn);
    });
  });
  addKernel<MeanOp>(table, [](MeanOp op, Compiler &c) -> FailureOr<Exec> {
    std::vector<int64_t> dims(op.getDims().begin(), op.getDims().end());
    bool keep = op.getKeepDims();
    return unaryKernel(op, c, [dims, keep](const at::Tensor &x) {
      return at::mean(x, dims, keep);
    });
  });
  addKernel<SoftmaxOp>(table, [](SoftmaxOp op, Compiler &c) -> FailureOr<Exec> {
    int64_t dim = op.getDim();
    return unaryKernel(
        op, c, [dim](const at::Tensor &x) { return at::softmax(x, dim); });
  });
  addKernel<EmbeddingOp>(
      table, [](EmbeddingOp op, Compiler &c) -> FailureOr<Exec> {
        return tensorKernel(op, c, [](Frame &f, const Slots &in) {
          return at::embedding(f.tensor(in[0]), f.tensor(in[1]));
        });
      });

  //===--- Data movement --------------------------------------------------===//
  addKernel<ReshapeOp>(table, [](ReshapeOp op, Compiler &c) -> FailureOr<Exec> {
    return tensorKernel(op, c, [](Frame &f, const Slots &in) {
      return f.tensor(in[0]).reshape(readInts(f, in, 1));
    });
  });
  addKernel<TransposeOp>(
      table, [](TransposeOp op, Compiler &c) -> FailureOr<Exec> {
        int64_t d0 = op.getDim0(), d1 = op.getDim1();
        return unaryKernel(op, c, [d0, d1](const at::Tensor &x) {
          return x.transpose(d0, d1);
        });
      });
  addKernel<PermuteOp>(table, [](PermuteOp op, Compiler &c) -> FailureOr<Exec> {
    std::vector<int64_t> perm(op.getPermutation().begin(),
                              op.getPermutation().end());
    return unaryKernel(op, c,
                       [perm](const at::Tensor &x) { return x.permute(perm); });
  });
  addKernel<UnsqueezeOp>(
      table, [](UnsqueezeOp op, Compiler &c) -> FailureOr<Exec> {
        int64_t d = op.getDim();
        return unaryKernel(op, c,
                           [d](const at::Tensor &x) { return x.unsqueeze(d); });
      });
  addKernel<SqueezeOp>(table, [](SqueezeOp op, Compiler &c) -> FailureOr<Exec> {
    int64_t d = op.getDim();
    return unaryKernel(op, c,
                       [d](const at::Tensor &x) { return x.squeeze(d); });
  });
  addKernel<ExpandOp>(table, [](ExpandOp op, Compiler &c) -> FailureOr<Exec> {
    return tensorKernel(op, c, [](Frame &f, const Slots &in) {
      return f.tensor(in[0]).expand(readInts(f, in, 1));
    });
  });
  addKernel<RepeatInterleaveOp>(
      table, [](RepeatInterleaveOp op, Compiler &c) -> FailureOr<Exec> {
        int64_t repeats = op.getRepeats(), dim = op.getDim();
        return unaryKernel(op, c, [repeats, dim](const at::Tensor &x) {
          return at::repeat_interleave(x, repeats, dim);
        });
      });
  addKernel<SliceOp>(table, [](SliceOp op, Compiler &c) -> FailureOr<Exec> {
    int64_t dim = op.getDim();
    return tensorKernel(op, c, [dim](Frame &f, const Slots &in) {
      int64_t step = f.integer(in[3]);
      if (step < 1)
        fail("slice step must be positive, got " + llvm::Twine(step));
      // ATen clamps start/end the way Python slicing does.
      return at::slice(f.tensor(in[0]), dim, f.integer(in[1]), f.integer(in[2]),
                       step);
    });
  });
  addKernel<SelectOp>(table, [](SelectOp op, Compiler &c) -> FailureOr<Exec> {
    int64_t dim = op.getDim();
    return tensorKernel(op, c, [dim](Frame &f, const Slots &in) {
      return f.tensor(in[0]).select(dim, f.integer(in[1]));
    });
  });
  addKernel<CatOp>(table, [](CatOp op, Compiler &c) -> FailureOr<Exec> {
    int64_t dim = op.getDim();
    return tensorKernel(op, c, [dim](Frame &f, const Slots &in) {
      std::vector<at::Tensor> ts;
      ts.reserve(in.size());
      for (uint32_t s : in)
        ts.push_back(f.tensor(s));
      return at::cat(ts, dim);
    });
  });

  //===--- Quantization ---------------------------------------------------===//
  // quantize: the result type's fake quant (ResultInfo::finish) is the
  // quantization or requantization; dequantize reads the float values.
  auto convert = [](Operation *op, Compiler &c) -> FailureOr<Exec> {
    FailureOr<at::ScalarType> dtype = resultDType(op);
    if (failed(dtype))
      return failure();
    at::ScalarType s = *dtype;
    return unaryKernel(op, c, [s](const at::Tensor &x) {
      return x.scalar_type() == s ? x : x.to(s);
    });
  };
  table[QuantizeOp::getOperationName()] = convert;
  table[DequantizeOp::getOperationName()] = convert;
  addKernel<FakeQuantOp>(
      table, [](FakeQuantOp op, Compiler &c) -> FailureOr<Exec> {
        auto p = std::make_shared<QuantParams>();
        p->scale = op.getScale().convertToDouble();
        p->zeroPoint = op.getZeroPoint();
        p->qmin = op.getQmin();
        p->qmax = op.getQmax();
        return unaryKernel(op, c,
                           [p](const at::Tensor &x) { return p->apply(x); });
      });
  addKernel<FakeQuantPerAxisOp>(
      table, [](FakeQuantPerAxisOp op, Compiler &c) -> FailureOr<Exec> {
        auto p = std::make_shared<QuantParams>();
        p->perAxis = true;
        p->qmin = op.getQmin();
        p->qmax = op.getQmax();
        std::vector<float> s(op.getScales().begin(), op.getScales().end());
        std::vector<int32_t> z(op.getZeroPoints().begin(),
                               op.getZeroPoints().end());
        p->scales = at::tensor(s, at::kFloat);
        p->zeroPoints = at::tensor(z, at::kInt);
        p->prepare();
        int64_t axis = op.getAxis();
        return unaryKernel(op, c, [p, axis](const at::Tensor &x) {
          auto pos = normalizeIndex(axis, x.dim());
          if (!pos)
            fail("axis " + llvm::Twine(axis) + " out of range for rank " +
                 llvm::Twine(x.dim()));
          return p->apply(x, *pos);
        });
      });
}

} // namespace kiln::runtime
