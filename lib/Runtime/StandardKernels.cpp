//===- StandardKernels.cpp - arith, scf, tensor and func ops --------------===//
//
// arith ops compute on scalars (i1/iN/index as int64 sign-extended to their
// width, i1 as 0/1; floats as double, rounded to f32/f16 when that is their
// type). arith.constant may also be a dense tensor.
//
//===----------------------------------------------------------------------===//
#include "KernelUtil.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <limits>

using namespace mlir;

namespace kiln::runtime {
namespace {

unsigned widthOf(Type t) {
  if (t.isIndex())
    return 64;
  if (auto i = dyn_cast<IntegerType>(t))
    return i.getWidth();
  return 64;
}

int64_t normalize(int64_t v, unsigned width) {
  if (width >= 64)
    return v;
  if (width == 1)
    return v & 1;
  uint64_t shift = 64 - width;
  return static_cast<int64_t>(static_cast<uint64_t>(v) << shift) >> shift;
}

uint64_t asUnsigned(int64_t v, unsigned width) {
  if (width >= 64)
    return static_cast<uint64_t>(v);
  return static_cast<uint64_t>(v) & ((uint64_t(1) << width) - 1);
}

/// Rounds a double to the precision of float type `t`.
double roundTo(double v, Type t) {
  if (t.isF32())
    return static_cast<double>(static_cast<float>(v));
  if (t.isF16())
    return static_cast<double>(
        static_cast<float>(c10::Half(static_cast<float>(v))));
  if (t.isBF16())
    return static_cast<double>(
        static_cast<float>(c10::BFloat16(static_cast<float>(v))));
  return v;
}

template <typename OpTy, typename F> void intBinary(KernelTable &table, F fn) {
  addKernel<OpTy>(table, [fn](OpTy op, Compiler &c) -> FailureOr<Exec> {
    if (!op.getType().isIntOrIndex())
      return op.emitError() << "kiln-run evaluates arith ops on scalars only";
    unsigned w = widthOf(op.getType());
    uint32_t a = c.slot(op.getLhs()), b = c.slot(op.getRhs()),
             out = c.slot(op.getResult());
    return Exec([=](Frame &f) {
      f.slots[out] =
          RValue::integer(normalize(fn(f.integer(a), f.integer(b), w), w));
    });
  });
}

template <typename OpTy, typename F>
void floatBinary(KernelTable &table, F fn) {
  addKernel<OpTy>(table, [fn](OpTy op, Compiler &c) -> FailureOr<Exec> {
    Type t = op.getType();
    if (!isa<FloatType>(t))
      return op.emitError() << "kiln-run evaluates arith ops on scalars only";
    uint32_t a = c.slot(op.getLhs()), b = c.slot(op.getRhs()),
             out = c.slot(op.getResult());
    return Exec([=](Frame &f) {
      f.slots[out] = RValue::real(roundTo(fn(f.real(a), f.real(b)), t));
    });
  });
}

int64_t checkedDivisor(int64_t b) {
  if (b == 0)
    fail("integer division by zero");
  return b;
}

int64_t floorDiv(int64_t a, int64_t b) {
  checkedDivisor(b);
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    --q;
  return q;
}

int64_t ceilDiv(int64_t a, int64_t b) {
  checkedDivisor(b);
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) == (b < 0)))
    ++q;
  return q;
}

bool comparePredicate(arith::CmpIPredicate p, int64_t a, int64_t b,
                      unsigned w) {
  uint64_t ua = asUnsigned(a, w), ub = asUnsigned(b, w);
  switch (p) {
  case arith::CmpIPredicate::eq:
    return a == b;
  case arith::CmpIPredicate::ne:
    return a != b;
  case arith::CmpIPredicate::slt:
    return a < b;
  case arith::CmpIPredicate::sle:
    return a <= b;
  case arith::CmpIPredicate::sgt:
    return a > b;
  case arith::CmpIPredicate::sge:
    return a >= b;
  case arith::CmpIPredicate::ult:
    return ua < ub;
  case arith::CmpIPredicate::ule:
    return ua <= ub;
  case arith::CmpIPredicate::ugt:
    return ua > ub;
  case arith::CmpIPredicate::uge:
    return ua >= ub;
  }
  return false;
}

bool compareFloat(arith::CmpFPredicate p, double a, double b) {
  bool unordered = std::isnan(a) || std::isnan(b);
  using P = arith::CmpFPredicate;
  switch (p) {
  case P::AlwaysFalse:
    return false;
  case P::AlwaysTrue:
    return true;
  case P::OEQ:
    return !unordered && a == b;
  case P::OGT:
    return !unordered && a > b;
  case P::OGE:
    return !unordered && a >= b;
  case P::OLT:
    return !unordered && a < b;
  case P::OLE:
    return !unordered && a <= b;
  case P::ONE:
    return !unordered && a != b;
  case P::ORD:
    return !unordered;
  case P::UEQ:
    return unordered || a == b;
  case P::UGT:
    return unordered || a > b;
  case P::UGE:
    return unordered || a >= b;
  case P::ULT:
    return unordered || a < b;
  case P::ULE:
    return unordered || a <= b;
  case P::UNE:
    return unordered || a != b;
  case P::UNO:
    return unordered;
  }
  return false;
}

/// A scalar conversion op: `fn(frame, in)` returns the result value.
template <typename OpTy, typename F> void conversion(KernelTable &table, F fn) {
  addKernel<OpTy>(table, [fn](OpTy op, Compiler &c) -> FailureOr<Exec> {
    if (isa<ShapedType>(op.getType()))
      return op.emitError() << "kiln-run evaluates arith ops on scalars only";
    Type from = op.getIn().getType(), to = op.getType();
    uint32_t in = c.slot(op.getIn()), out = c.slot(op.getResult());
    return Exec([=](Frame &f) { f.slots[out] = fn(f, in, from, to); });
  });
}

int64_t toInt(double v) {
  if (!std::isfinite(v) || v >= 9.2233720368547758e18 ||
      v < -9.2233720368547758e18)
    fail("float to integer conversion out of range");
  return static_cast<int64_t>(v); // truncation toward zero
}

} // namespace

void addStandardKernels(KernelTable &table) {
  //===--- arith ----------------------------------------------------------===//
  addKernel<arith::ConstantOp>(
      table, [](arith::ConstantOp op, Compiler &c) -> FailureOr<Exec> {
        uint32_t out = c.slot(op.getResult());
        Attribute value = op.getValue();
        RValue v;
        if (auto i = dyn_cast<IntegerAttr>(value)) {
          unsigned w = widthOf(i.getType());
          v = RValue::integer(normalize(w == 1 ? i.getValue().getZExtValue()
                                               : i.getValue().getSExtValue(),
                                        w));
        } else if (auto fl = dyn_cast<FloatAttr>(value)) {
          v = RValue::real(fl.getValueAsDouble());
        } else if (auto e = dyn_cast<ElementsAttr>(value)) {
          FailureOr<at::Tensor> t = materializeConstant(op, e, op.getType());
          if (failed(t))
            return failure();
          v = RValue::tensor(*t);
        } else {
          return op.emitError()
                 << "kiln-run cannot evaluate constant " << value;
        }
        return Exec([out, v](Frame &f) { f.slots[out] = v; });
      });

  intBinary<arith::AddIOp>(table, [](int64_t a, int64_t b, unsigned) {
    return static_cast<int64_t>(static_cast<uint64_t>(a) +
                                static_cast<uint64_t>(b));
  });
  intBinary<arith::SubIOp>(table, [](int64_t a, int64_t b, unsigned) {
    return static_cast<int64_t>(static_cast<uint64_t>(a) -
                                static_cast<uint64_t>(b));
  });
  intBinary<arith::MulIOp>(table, [](int64_t a, int64_t b, unsigned) {
    return static_cast<int64_t>(static_cast<uint64_t>(a) *
                                static_cast<uint64_t>(b));
  });
  intBinary<arith::DivSIOp>(table, [](int64_t a, int64_t b, unsigned) {
    if (a == std::numeric_limits<int64_t>::min() && b == -1)
      fail("integer division overflow");
    return a / checkedDivisor(b);
  });
  intBinary<arith::DivUIOp>(table, [](int64_t a, int64_t b, unsigned w) {
    uint64_t ub = asUnsigned(b, w);
    if (!ub)
      fail("integer division by zero");
    return static_cast<int64_t>(asUnsigned(a, w) / ub);
  });
  intBinary<arith::RemSIOp>(table, [](int64_t a, int64_t b, unsigned) {
    if (b == -1)
      return int64_t(0);
    return a % checkedDivisor(b);
  });
  intBinary<arith::RemUIOp>(table, [](int64_t a, int64_t b, unsigned w) {
    uint64_t ub = asUnsigned(b, w);
    if (!ub)
      fail("integer division by zero");
    return static_cast<int64_t>(asUnsigned(a, w) % ub);
  });
  intBinary<arith::FloorDivSIOp>(table, [](int64_t a, int64_t b, unsigned) {
    if (a == std::numeric_limits<int64_t>::min() && b == -1)
      fail("integer division overflow");
    return floorDiv(a, b);
  });
  intBinary<arith::CeilDivSIOp>(table, [](int64_t a, int64_t b, unsigned) {
    if (a == std::numeric_limits<int64_t>::min() && b == -1)
      fail("integer division overflow");
    return ceilDiv(a, b);
  });
  intBinary<arith::MaxSIOp>(
      table, [](int64_t a, int64_t b, unsigned) { return std::max(a, b); });
  intBinary<arith::MinSIOp>(
      table, [](int64_t a, int64_t b, unsigned) { return std::min(a, b); });
  intBinary<arith::MaxUIOp>(table, [](int64_t a, int64_t b, unsigned w) {
    return asUnsigned(a, w) >= asUnsigned(b, w) ? a : b;
  });
  intBinary<arith::MinUIOp>(table, [](int64_t a, int64_t b, unsigned w) {
    return asUnsigned(a, w) <= asUnsigned(b, w) ? a : b;
  });
  intBinary<arith::AndIOp>(
      table, [](int64_t a, int64_t b, unsigned) { return a & b; });
  intBinary<arith::OrIOp>(table,
                          [](int64_t a, int64_t b, unsigned) { return a | b; });
  intBinary<arith::XOrIOp>(
      table, [](int64_t a, int64_t b, unsigned) { return a ^ b; });
  intBinary<arith::ShLIOp>(table, [](int64_t a, int64_t b, unsigned w) {
    if (b < 0 || static_cast<uint64_t>(b) >= w)
      fail("shift amount out of range");
    return static_cast<int64_t>(static_cast<uint64_t>(a) << b);
  });
  intBinary<arith::ShRSIOp>(table, [](int64_t a, int64_t b, unsigned w) {
    if (b < 0 || static_cast<uint64_t>(b) >= w)
      fail("shift amount out of range");
    return a >> b;
  });
  intBinary<arith::ShRUIOp>(table, [](int64_t a, int64_t b, unsigned w) {
    if (b < 0 || static_cast<uint64_t>(b) >= w)
      fail("shift amount out of range");
    return static_cast<int64_t>(asUnsigned(a, w) >> b);
  });

  floatBinary<arith::AddFOp>(table, [](double a, double b) { return a + b; });
  floatBinary<arith::SubFOp>(table, [](double a, double b) { return a - b; });
  floatBinary<arith::MulFOp>(table, [](double a, double b) { return a * b; });
  floatBinary<arith::DivFOp>(table, [](double a, double b) { return a / b; });
  floatBinary<arith::RemFOp>(
      table, [](double a, double b) { return std::fmod(a, b); });
  floatBinary<arith::MaximumFOp>(table, [](double a, double b) {
    return std::isnan(a) || std::isnan(b) ? std::nan("") : std::max(a, b);
  });
  floatBinary<arith::MinimumFOp>(table, [](double a, double b) {
    return std::isnan(a) || std::isnan(b) ? std::nan("") : std::min(a, b);
  });
  addKernel<arith::NegFOp>(
      table, [](arith::NegFOp op, Compiler &c) -> FailureOr<Exec> {
        if (!isa<FloatType>(op.getType()))
          return op.emitError()
                 << "kiln-run evaluates arith ops on scalars only";
        uint32_t in = c.slot(op.getOperand()), out = c.slot(op.getResult());
        return Exec(
            [=](Frame &f) { f.slots[out] = RValue::real(-f.real(in)); });
      });

  addKernel<arith::CmpIOp>(
      table, [](arith::CmpIOp op, Compiler &c) -> FailureOr<Exec> {
        if (!op.getLhs().getType().isIntOrIndex())
          return op.emitError()
                 << "kiln-run evaluates arith ops on scalars only";
        unsigned w = widthOf(op.getLhs().getType());
        arith::CmpIPredicate p = op.getPredicate();
        uint32_t a = c.slot(op.getLhs()), b = c.slot(op.getRhs()),
                 out = c.slot(op.getResult());
        return Exec([=](Frame &f) {
          f.slots[out] = RValue::integer(
              comparePredicate(p, f.integer(a), f.integer(b), w));
        });
      });
  addKernel<arith::CmpFOp>(
      table, [](arith::CmpFOp op, Compiler &c) -> FailureOr<Exec> {
        if (!isa<FloatType>(op.getLhs().getType()))
          return op.emitError()
                 << "kiln-run evaluates arith ops on scalars only";
        arith::CmpFPredicate p = op.getPredicate();
        uint32_t a = c.slot(op.getLhs()), b = c.slot(op.getRhs()),
                 out = c.slot(op.getResult());
        return Exec([=](Frame &f) {
          f.slots[out] = RValue::integer(compareFloat(p, f.real(a), f.real(b)));
        });
      });
  addKernel<arith::SelectOp>(
      table, [](arith::SelectOp op, Compiler &c) -> FailureOr<Exec> {
        if (isa<ShapedType>(op.getCondition().getType()))
          return op.emitError() << "kiln-run supports arith.select with a "
                                   "scalar condition only";
        uint32_t cond = c.slot(op.getCondition()),
                 a = c.slot(op.getTrueValue()), b = c.slot(op.getFalseValue()),
                 out = c.slot(op.getResult());
        return Exec(
            [=](Frame &f) { f.slots[out] = f.slots[f.integer(cond) ? a : b]; });
      });

  conversion<arith::SIToFPOp>(table, [](Frame &f, uint32_t in, Type, Type to) {
    return RValue::real(roundTo(static_cast<double>(f.integer(in)), to));
  });
  conversion<arith::UIToFPOp>(
      table, [](Frame &f, uint32_t in, Type from, Type to) {
        return RValue::real(roundTo(
            static_cast<double>(asUnsigned(f.integer(in), widthOf(from))), to));
      });
  conversion<arith::FPToSIOp>(table, [](Frame &f, uint32_t in, Type, Type to) {
    return RValue::integer(normalize(toInt(f.real(in)), widthOf(to)));
  });
  conversion<arith::ExtSIOp>(table, [](Frame &f, uint32_t in, Type from, Type) {
    int64_t v = f.integer(in);
    return RValue::integer(widthOf(from) == 1 ? -v : v);
  });
  conversion<arith::ExtUIOp>(table, [](Frame &f, uint32_t in, Type from, Type) {
    return RValue::integer(
        static_cast<int64_t>(asUnsigned(f.integer(in), widthOf(from))));
  });
  conversion<arith::TruncIOp>(table, [](Frame &f, uint32_t in, Type, Type to) {
    return RValue::integer(normalize(f.integer(in), widthOf(to)));
  });
  conversion<arith::IndexCastOp>(
      table, [](Frame &f, uint32_t in, Type from, Type to) {
        int64_t v = f.integer(in);
        if (widthOf(from) == 1)
          v = -v;
        return RValue::integer(normalize(v, widthOf(to)));
      });
  conversion<arith::IndexCastUIOp>(
      table, [](Frame &f, uint32_t in, Type from, Type to) {
        return RValue::integer(normalize(
            static_cast<int64_t>(asUnsigned(f.integer(in), widthOf(from))),
            widthOf(to)));
      });
  conversion<arith::ExtFOp>(table, [](Frame &f, uint32_t in, Type, Type to) {
    return RValue::real(f.real(in));
  });
  conversion<arith::TruncFOp>(table, [](Frame &f, uint32_t in, Type, Type to) {
    return RValue::real(roundTo(f.real(in), to));
  });

  //===--- scf ------------------------------------------------------------===//
  addKernel<scf::IfOp>(table, [](scf::IfOp op, Compiler &c) -> FailureOr<Exec> {
    uint32_t cond = c.slot(op.getCondition());
    Slots results = c.slots(op.getResults());
    auto thenBlock = std::make_shared<Block>();
    auto elseBlock = std::make_shared<Block>();
    FailureOr<Block> t = c.compileBlock(op.getThenRegion().front());
    if (failed(t))
      return failure();
    *thenBlock = std::move(*t);
    if (!op.getElseRegion().empty()) {
      FailureOr<Block> e = c.compileBlock(op.getElseRegion().front());
      if (failed(e))
        return failure();
      *elseBlock = std::move(*e);
    }
    return Exec([=](Frame &f) {
      const Block &b = f.integer(cond) ? *thenBlock : *elseBlock;
      runBlock(b, f);
      for (size_t i = 0; i < results.size(); ++i)
        f.slots[results[i]] = f.slots[b.yields[i]];
      for (uint32_t s : b.ownedYields)
        f.slots[s] = RValue();
    });
  });
  addKernel<scf::ForOp>(
      table, [](scf::ForOp op, Compiler &c) -> FailureOr<Exec> {
        uint32_t lb = c.slot(op.getLowerBound()),
                 ub = c.slot(op.getUpperBound()), step = c.slot(op.getStep());
        Slots inits = c.slots(op.getInitArgs());
        Slots results = c.slots(op.getResults());
        auto body = std::make_shared<Block>();
        FailureOr<Block> b = c.compileBlock(*op.getBody());
        if (failed(b))
          return failure();
        *body = std::move(*b);
        return Exec([=](Frame &f) {
          int64_t lo = f.integer(lb), hi = f.integer(ub), st = f.integer(step);
          if (st <= 0)
            fail("scf.for step must be positive");
          std::vector<RValue> carried;
          for (uint32_t s : inits)
            carried.push_back(f.slots[s]);
          for (int64_t iv = lo; iv < hi; iv += st) {
            f.slots[body->args[0]] = RValue::integer(iv);
            for (size_t i = 0; i < carried.size(); ++i)
              f.slots[body->args[i + 1]] = std::move(carried[i]);
            runBlock(*body, f);
            for (size_t i = 0; i < carried.size(); ++i)
              carried[i] = f.slots[body->yields[i]];
            for (uint32_t s : body->ownedYields)
              f.slots[s] = RValue();
          }
          for (size_t i = 0; i < results.size(); ++i)
            f.slots[results[i]] = std::move(carried[i]);
        });
      });

  //===--- tensor / func --------------------------------------------------===//
  addKernel<tensor::CastOp>(
      table, [](tensor::CastOp op, Compiler &c) -> FailureOr<Exec> {
        uint32_t in = c.slot(op.getSource());
        ResultInfo out = c.result(op.getResult());
        return Exec([in, out](Frame &f) {
          out.checkShape(f.tensor(in));
          f.slots[out.slot] = f.slots[in];
        });
      });
  addKernel<func::CallOp>(
      table, [](func::CallOp op, Compiler &c) -> FailureOr<Exec> {
        Function *callee = c.getFunction(op.getCallee(), op.getLoc());
        if (!callee)
          return failure();
        Slots in = c.slots(op.getOperands());
        Slots out = c.slots(op.getResults());
        return Exec([callee, in, out](Frame &f) {
          std::vector<RValue> args;
          args.reserve(in.size());
          for (uint32_t s : in)
            args.push_back(f.slots[s]);
          std::vector<RValue> results = callFunction(*callee, args);
          for (size_t i = 0; i < out.size(); ++i)
            f.slots[out[i]] = std::move(results[i]);
        });
      });
}

} // namespace kiln::runtime
