//===- KernelUtil.h - Helpers for writing kernel builders -------*- C++ -*-===//
#ifndef KILN_LIB_RUNTIME_KERNELUTIL_H
#define KILN_LIB_RUNTIME_KERNELUTIL_H

#include "Interpreter.h"

#include "mlir/IR/Matchers.h"

namespace kiln::runtime {

using Slots = llvm::SmallVector<uint32_t, 4>;

/// A kernel with tensor operands and one tensor result: `fn(frame, operand
/// slots)` returns the raw ATen result, which is then finished (fake quant
/// for a quantized result type, shape check).
template <typename Fn>
Exec tensorKernel(mlir::Operation *op, Compiler &c, Fn fn) {
  Slots in = c.slots(op->getOperands());
  ResultInfo out = c.result(op->getResult(0));
  return [in, out, fn](Frame &f) {
    f.slots[out.slot] = RValue::tensor(out.finish(fn(f, in)));
  };
}

/// Same for ops with exactly one tensor operand: `fn(x)`.
template <typename Fn>
Exec unaryKernel(mlir::Operation *op, Compiler &c, Fn fn) {
  return tensorKernel(
      op, c, [fn](Frame &f, const Slots &in) { return fn(f.tensor(in[0])); });
}

/// Adds a builder for an op class: table["dialect.op"] = builder(OpTy, c).
template <typename OpTy, typename Fn>
void addKernel(KernelTable &table, Fn builder) {
  table[OpTy::getOperationName()] =
      [builder](mlir::Operation *op, Compiler &c) -> mlir::FailureOr<Exec> {
    return builder(mlir::cast<OpTy>(op), c);
  };
}

/// table[OpTy] = fn(x) over ATen tensors.
template <typename OpTy>
void addUnary(KernelTable &table, at::Tensor (*fn)(const at::Tensor &)) {
  addKernel<OpTy>(table, [fn](OpTy op, Compiler &c) -> mlir::FailureOr<Exec> {
    return unaryKernel(op, c, fn);
  });
}

/// The ATen arithmetic both dialects' elementwise kernels call (as function
/// pointers: ATen's own functions are overloaded).
inline at::Tensor atAdd(const at::Tensor &a, const at::Tensor &b) {
  return at::add(a, b);
}
inline at::Tensor atSub(const at::Tensor &a, const at::Tensor &b) {
  return at::sub(a, b);
}
inline at::Tensor atMul(const at::Tensor &a, const at::Tensor &b) {
  return at::mul(a, b);
}
inline at::Tensor atDiv(const at::Tensor &a, const at::Tensor &b) {
  return at::div(a, b);
}

/// An integer-list operand (shape, permutation, axes, bounds): decoded once
/// when it is a constant, read from the tensor at run time otherwise.
struct IntListOperand {
  std::optional<std::vector<int64_t>> fixed;
  uint32_t slot = 0;

  std::vector<int64_t> get(const Frame &f) const {
    if (fixed)
      return *fixed;
    at::Tensor t = f.tensor(slot).to(at::kLong).contiguous();
    const int64_t *p = t.data_ptr<int64_t>();
    return std::vector<int64_t>(p, p + t.numel());
  }
};

inline IntListOperand intListOperand(mlir::Value v, Compiler &c) {
  IntListOperand out;
  out.slot = c.slot(v);
  mlir::Attribute attr;
  if (mlir::matchPattern(v, mlir::m_Constant(&attr)))
    if (auto dense = llvm::dyn_cast<mlir::DenseIntElementsAttr>(attr)) {
      std::vector<int64_t> values;
      for (const llvm::APInt &i : dense.getValues<llvm::APInt>())
        values.push_back(i.getSExtValue());
      out.fixed = std::move(values);
    }
  return out;
}

inline std::optional<int64_t> normalizeIndex(int64_t i, int64_t size) {
  if (i < 0)
    i += size;
  if (i < 0 || i >= size)
    return std::nullopt;
  return i;
}

} // namespace kiln::runtime

#endif
