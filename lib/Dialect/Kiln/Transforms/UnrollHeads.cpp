//===- UnrollHeads.cpp - kiln-unroll-heads
//---------------------------------===//
//
// perHead(v, axes, idx) is one head's slice of a batched attention tensor v:
// v with its head axes `axes` (one axis, as in [B, n, S, D] or [B, S, n, D],
// or two for the grouped [B, kv, G, S, D] form of Hugging Face's repeat_kv)
// fixed at `idx` and dropped. It is built by one rule per producer op and
// memoised. Head merges ([B, S, n, D] -> [B, S, n*D] views) and
// attention-shaped results are the roots; the batched ops die after.
//
// The rules are per op and know nothing of a model's source: a transpose or
// permute moves the head axis (and costs nothing when the other axes keep
// their order), a view splitting [B, S, n*D] into [B, S, n, D] is a feature
// slice of the projection, a view [B, kv, G, S, D] -> [B, kv*G, S, D] maps
// head h to kv head h / G and group member h % G (which an expand from 1
// broadcasts), slice / select / cat / unsqueeze on a head axis pick heads,
// anything else along other axes is repeated per head.
//
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/Kiln/IR/KilnOps.h"
#include "kiln/Dialect/Kiln/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"

#include <map>

namespace kiln {
#define GEN_PASS_DEF_UNROLLHEADS
#include "kiln/Dialect/Kiln/KilnPasses.h.inc"
} // namespace kiln

using namespace mlir;
using namespace kiln;

namespace {

/// Head axes of a value (ascending) and the head picked on each.
struct Heads {
  SmallVector<int64_t, 2> axes;
  SmallVector<int64_t, 2> idx;

  bool contains(int64_t d) const { return llvm::is_contained(axes, d); }
  std::optional<size_t> position(int64_t d) const {
    for (size_t i = 0; i < axes.size(); ++i)
      if (axes[i] == d)
        return i;
    return std::nullopt;
  }
  /// Number of head axes before dim d.
  int64_t before(int64_t d) const {
    return llvm::count_if(axes, [&](int64_t a) { return a < d; });
  }
  /// Dim d of the batched value in the per-head value (d not a head axis).
  int64_t map(int64_t d) const { return d - before(d); }

  /// The same heads on a value with a dim inserted at d (a select's input).
  Heads withDimInserted(int64_t d) const {
    Heads r = *this;
    for (int64_t &a : r.axes)
      if (a >= d)
        ++a;
    return r;
  }
  /// The same heads on a value without dim d (an unsqueeze's input).
  Heads withDimRemoved(int64_t d) const {
    Heads r;
    for (size_t i = 0; i < axes.size(); ++i) {
      if (axes[i] == d)
        continue;
      r.axes.push_back(axes[i] > d ? axes[i] - 1 : axes[i]);
      r.idx.push_back(idx[i]);
    }
    return r;
  }
  void sort() {
    SmallVector<std::pair<int64_t, int64_t>> pairs;
    for (size_t i = 0; i < axes.size(); ++i)
      pairs.push_back({axes[i], idx[i]});
    llvm::sort(pairs);
    for (size_t i = 0; i < pairs.size(); ++i)
      std::tie(axes[i], idx[i]) = pairs[i];
  }
};

Heads oneHead(int64_t axis, int64_t h) {
  Heads r;
  r.axes.push_back(axis);
  r.idx.push_back(h);
  return r;
}

SmallVector<int64_t> dropAxes(ArrayRef<int64_t> shape, const Heads &heads) {
  SmallVector<int64_t> out;
  for (int64_t i = 0; i < (int64_t)shape.size(); ++i)
    if (!heads.contains(i))
      out.push_back(shape[i]);
  return out;
}

bool swapsLastTwo(TransposeOp t) {
  auto in = dyn_cast<RankedTensorType>(t.getInput().getType());
  if (!in || in.getRank() < 2)
    return false;
  int64_t r = in.getRank();
  auto d0 = normalizeDim(t.getDim0(), r), d1 = normalizeDim(t.getDim1(), r);
  return d0 && d1 && std::min(*d0, *d1) == r - 2 && std::max(*d0, *d1) == r - 1;
}

/// Ops a batched attention block has and a per-head one has not.
bool isBatchedMarker(Operation *op) {
  return isa<TransposeOp, PermuteOp, RepeatInterleaveOp, ExpandOp>(op);
}

/// Whether v is computed (in its block) from a batched-attention marker.
bool dependsOnBatched(Value v) {
  SmallVector<Value> work{v};
  llvm::DenseSet<Operation *> seen;
  while (!work.empty()) {
    Operation *op = work.pop_back_val().getDefiningOp();
    if (!op || !seen.insert(op).second)
      continue;
    if (isBatchedMarker(op))
      return true;
    for (Value operand : op->getOperands())
      work.push_back(operand);
  }
  return false;
}

/// Whether a reshape in -> out merges dims (a, a+1) of `in` into dim a of
/// `out`, every other dim unchanged.
bool mergesAt(RankedTensorType in, RankedTensorType out, int64_t a) {
  if (!in || !out || in.getRank() != out.getRank() + 1 || a < 0 ||
      a >= out.getRank())
    return false;
  return in.getShape().take_front(a) == out.getShape().take_front(a) &&
         in.getDimSize(a) * in.getDimSize(a + 1) == out.getDimSize(a) &&
         in.getShape().drop_front(a + 2) == out.getShape().drop_front(a + 1);
}

class Unroller {
public:
  Unroller(func::FuncOp func) : func(func), builder(func.getContext()) {}

  /// v with its head axes fixed at the given heads and dropped.
  FailureOr<Value> perHead(Value v, Heads heads) {
    if (heads.axes.empty())
      return v;
    auto t = getStaticTensorType(v);
    if (!t)
      return fail(v, "is not a statically shaped tensor");
    for (size_t i = 0; i < heads.axes.size(); ++i) {
      if (heads.axes[i] >= t.getRank())
        return fail(v, "has no head axis " + Twine(heads.axes[i]));
      int64_t n = t.getDimSize(heads.axes[i]);
      if (n == 1)
        heads.idx[i] =
            0; // broadcast over heads: every head reads the same slice
      else if (heads.idx[i] < 0 || heads.idx[i] >= n)
        return fail(v, "has fewer heads than asked for");
    }
    std::vector<int64_t> key(heads.axes.begin(), heads.axes.end());
    key.push_back(-1);
    key.insert(key.end(), heads.idx.begin(), heads.idx.end());
    auto memoKey = std::make_pair(v.getAsOpaquePointer(), key);
    if (auto it = memo.find(memoKey); it != memo.end())
      return it->second;
    FailureOr<Value> result = build(v, t, heads);
    if (succeeded(result))
      memo[memoKey] = *result;
    return result;
  }

  FailureOr<Value> perHead(Value v, int64_t axis, int64_t h) {
    return perHead(v, oneHead(axis, h));
  }

  /// The reason the first perHead failed, with its op.
  std::string reason;
  Operation *failedAt = nullptr;
  int64_t numHeadOps = 0;

private:
  FailureOr<Value> fail(Value v, const Twine &why) {
    if (reason.empty()) {
      failedAt = v.getDefiningOp();
      std::string name = failedAt ? failedAt->getName().getStringRef().str()
                                  : "function argument";
      reason = "'" + name + "' result " + why.str();
    }
    return mlir::failure();
  }

  Location headLoc(Location loc, const Heads &heads) {
    std::string name = getLocName(loc);
    std::string suffix = ".head";
    for (size_t i = 0; i < heads.idx.size(); ++i)
      suffix += (i ? "_" : "") + std::to_string(heads.idx[i]);
    return NameLoc::get(
        builder.getStringAttr((name.empty() ? "attention" : name) + suffix),
        loc);
  }

  /// Per-head ops go after the batched op they replace (or at the start for
  /// an argument), after the ones made there before: heads in order.
  void insertAfterDefinition(Value v) {
    anchor = v.getDefiningOp();
    if (auto it = lastAt.find(anchor); it != lastAt.end())
      builder.setInsertionPointAfter(it->second);
    else if (anchor)
      builder.setInsertionPointAfter(anchor);
    else
      builder.setInsertionPointToStart(&func.front());
  }
  Value created(Operation *op) {
    ++numHeadOps;
    madeOps.insert(op);
    lastAt[anchor] = op;
    return op->getResult(0);
  }

  Value i64(Location loc, int64_t v) {
    return builder.create<arith::ConstantIntOp>(loc, v, 64);
  }

  RankedTensorType typeOf(ArrayRef<int64_t> shape, RankedTensorType like) {
    return RankedTensorType::get(shape, like.getElementType());
  }

  template <typename OpT, typename... Args>
  Value create(Location loc, const Heads &heads, Type type, Args &&...args) {
    return created(builder.create<OpT>(headLoc(loc, heads), type,
                                       std::forward<Args>(args)...));
  }

  Value reshapeTo(Location loc, const Heads &heads, Value v,
                  RankedTensorType type) {
    SmallVector<Value> sizes;
    for (int64_t d : type.getShape())
      sizes.push_back(i64(loc, d));
    return create<ReshapeOp>(loc, heads, type, v, sizes);
  }

  /// Picks the heads of v by selecting on each head axis (highest first).
  Value selectHeads(Location loc, Value v, RankedTensorType t,
                    const Heads &heads) {
    SmallVector<int64_t> shape(t.getShape());
    for (int64_t i = heads.axes.size() - 1; i >= 0; --i) {
      shape.erase(shape.begin() + heads.axes[i]);
      v = create<SelectOp>(loc, heads, typeOf(shape, t), v,
                           builder.getI64IntegerAttr(heads.axes[i]),
                           i64(loc, heads.idx[i]));
    }
    return v;
  }

  /// An operand of an elementwise op or matmul producing a rank-`rank`
  /// result: aligned to the result's trailing dims (broadcasting).
  FailureOr<Value> operandForHead(Value operand, int64_t rank,
                                  const Heads &heads) {
    auto t = dyn_cast<RankedTensorType>(operand.getType());
    if (!t)
      return fail(operand, "has no rank");
    int64_t k = t.getRank(), offset = rank - k;
    if (offset == 0)
      return perHead(operand, heads);
    Heads own;
    for (size_t i = 0; i < heads.axes.size(); ++i)
      if (heads.axes[i] >= offset) {
        own.axes.push_back(heads.axes[i] - offset);
        own.idx.push_back(heads.idx[i]);
      }
    // Covers no head axis, or only leading size-1 ones: broadcasts unchanged.
    bool leadingOnes = true;
    for (size_t i = 0; i < own.axes.size(); ++i)
      leadingOnes &=
          own.axes[i] == (int64_t)i && t.getDimSize(own.axes[i]) == 1;
    if (leadingOnes && k <= rank - (int64_t)heads.axes.size())
      return operand;
    return perHead(operand, own);
  }

  FailureOr<Value> build(Value v, RankedTensorType t, const Heads &heads) {
    auto headType = typeOf(dropAxes(t.getShape(), heads), t);
    int64_t rank = t.getRank();
    Operation *def = v.getDefiningOp();
    // A function argument (a cache, a mask): read the heads directly.
    if (!def) {
      insertAfterDefinition(v);
      return selectHeads(func.getLoc(), v, t, heads);
    }
    Location loc = def->getLoc();

    if (auto u = dyn_cast<UnsqueezeOp>(def)) {
      int64_t d = *normalizeDim(u.getDim(), rank);
      if (heads.contains(d)) // size 1: the value before the unsqueeze
        return perHead(u.getInput(), heads.withDimRemoved(d));
      auto in = perHead(u.getInput(), heads.withDimRemoved(d));
      if (failed(in))
        return mlir::failure();
      insertAfterDefinition(v);
      return create<UnsqueezeOp>(loc, heads, headType, *in,
                                 builder.getI64IntegerAttr(heads.map(d)));
    }

    if (auto sq = dyn_cast<SqueezeOp>(def)) {
      auto inType = getStaticTensorType(sq.getInput());
      if (!inType)
        return fail(v, "squeezes a dynamic shape");
      int64_t d = *normalizeDim(sq.getDim(), inType.getRank());
      Heads inHeads = heads.withDimInserted(d);
      auto in = perHead(sq.getInput(), inHeads);
      if (failed(in))
        return mlir::failure();
      if (inType.getDimSize(d) != 1)
        return *in; // squeeze of a dim that is not 1 is the identity
      insertAfterDefinition(v);
      return create<SqueezeOp>(loc, heads, headType, *in,
                               builder.getI64IntegerAttr(inHeads.map(d)));
    }

    if (auto e = dyn_cast<ExpandOp>(def)) {
      auto inType = getStaticTensorType(e.getInput());
      if (!inType || inType.getRank() != rank)
        return fail(v, "expands to a different rank");
      Heads inHeads = heads;
      for (size_t i = 0; i < heads.axes.size(); ++i)
        if (inType.getDimSize(heads.axes[i]) == 1)
          inHeads.idx[i] = 0; // broadcast: every head reads the one there is
      auto in = perHead(e.getInput(), inHeads);
      if (failed(in))
        return mlir::failure();
      if (cast<RankedTensorType>(in->getType()).getShape() ==
          headType.getShape())
        return *in;
      insertAfterDefinition(v);
      SmallVector<Value> sizes;
      for (int64_t d : headType.getShape())
        sizes.push_back(i64(loc, d));
      return create<ExpandOp>(loc, heads, headType, *in, sizes);
    }

    if (auto r = dyn_cast<ReshapeOp>(def))
      return buildReshape(v, r, t, headType, heads);

    if (isa<TransposeOp, PermuteOp>(def)) {
      auto inType = getStaticTensorType(def->getOperand(0));
      if (!inType)
        return fail(v, "permutes a dynamic shape");
      SmallVector<int64_t> perm; // result dim i is input dim perm[i]
      if (auto tr = dyn_cast<TransposeOp>(def)) {
        for (int64_t i = 0; i < rank; ++i)
          perm.push_back(i);
        std::swap(perm[*normalizeDim(tr.getDim0(), rank)],
                  perm[*normalizeDim(tr.getDim1(), rank)]);
      } else {
        for (int64_t p : cast<PermuteOp>(def).getPermutation())
          perm.push_back(*normalizeDim(p, rank));
      }
      Heads inHeads;
      for (size_t i = 0; i < heads.axes.size(); ++i) {
        inHeads.axes.push_back(perm[heads.axes[i]]);
        inHeads.idx.push_back(heads.idx[i]);
      }
      inHeads.sort();
      auto in = perHead(def->getOperand(0), inHeads);
      if (failed(in))
        return mlir::failure();
      // The other axes in their new order, as per-head dims of the input.
      SmallVector<int64_t> headPerm;
      for (int64_t i = 0; i < rank; ++i)
        if (!heads.contains(i))
          headPerm.push_back(inHeads.map(perm[i]));
      if (llvm::is_sorted(headPerm))
        return *in; // moves only head axes: nothing to do per head
      insertAfterDefinition(v);
      // Moving only unit dims (a [1,D] row to a [D,1] column): a view.
      {
        auto inShape = cast<RankedTensorType>(in->getType()).getShape();
        SmallVector<int64_t> before, after;
        for (int64_t i = 0; i < (int64_t)headPerm.size(); ++i) {
          if (inShape[i] != 1)
            before.push_back(i);
          if (inShape[headPerm[i]] != 1)
            after.push_back(headPerm[i]);
        }
        if (before == after)
          return reshapeTo(loc, heads, *in, headType);
      }
      SmallVector<int64_t> moved;
      for (int64_t i = 0; i < (int64_t)headPerm.size(); ++i)
        if (headPerm[i] != i)
          moved.push_back(i);
      if (moved.size() == 2 && headPerm[moved[0]] == moved[1])
        return create<TransposeOp>(loc, heads, headType, *in,
                                   builder.getI64IntegerAttr(moved[0]),
                                   builder.getI64IntegerAttr(moved[1]));
      return create<PermuteOp>(loc, heads, headType, *in,
                               builder.getDenseI64ArrayAttr(headPerm));
    }

    if (auto rep = dyn_cast<RepeatInterleaveOp>(def)) {
      int64_t d = *normalizeDim(rep.getDim(), rank);
      if (auto pos = heads.position(d)) {
        Heads inHeads = heads;
        inHeads.idx[*pos] /= rep.getRepeats();
        return perHead(rep.getInput(), inHeads);
      }
      auto in = perHead(rep.getInput(), heads);
      if (failed(in))
        return mlir::failure();
      insertAfterDefinition(v);
      return create<RepeatInterleaveOp>(
          loc, heads, headType, *in,
          builder.getI64IntegerAttr(rep.getRepeats()),
          builder.getI64IntegerAttr(heads.map(d)));
    }

    if (auto fq = dyn_cast<FakeQuantOp>(def)) {
      auto in = perHead(fq.getInput(), heads);
      if (failed(in))
        return mlir::failure();
      insertAfterDefinition(v);
      return create<FakeQuantOp>(loc, heads, headType, *in, fq.getScaleAttr(),
                                 fq.getZeroPointAttr(), fq.getQminAttr(),
                                 fq.getQmaxAttr());
    }
    if (auto fq = dyn_cast<FakeQuantPerAxisOp>(def)) {
      int64_t axis = *normalizeDim(fq.getAxis(), rank);
      auto in = perHead(fq.getInput(), heads);
      if (failed(in))
        return mlir::failure();
      insertAfterDefinition(v);
      if (auto pos = heads.position(axis)) {
        // Quantized per head: this head's scale, per tensor.
        int64_t h = t.getDimSize(axis) == 1 ? 0 : heads.idx[*pos];
        return create<FakeQuantOp>(
            loc, heads, headType, *in,
            builder.getF64FloatAttr(fq.getScales()[h]),
            builder.getI64IntegerAttr(fq.getZeroPoints()[h]), fq.getQminAttr(),
            fq.getQmaxAttr());
      }
      return create<FakeQuantPerAxisOp>(
          loc, heads, headType, *in, builder.getI64IntegerAttr(heads.map(axis)),
          fq.getScalesAttr(), fq.getZeroPointsAttr(), fq.getQminAttr(),
          fq.getQmaxAttr());
    }

    if (auto mm = dyn_cast<MatmulOp>(def)) {
      for (int64_t a : heads.axes)
        if (a >= rank - 2)
          return fail(v, "multiplies along a head axis");
      bool adjX = mm.getAdjX(), adjY = mm.getAdjY();
      Value lhsSource = mm.getLhs(), rhsSource = mm.getRhs();
      // A transpose of the last two axes becomes the adjoint flag.
      if (auto tr = lhsSource.getDefiningOp<TransposeOp>();
          tr && swapsLastTwo(tr)) {
        lhsSource = tr.getInput();
        adjX = !adjX;
      }
      if (auto tr = rhsSource.getDefiningOp<TransposeOp>();
          tr && swapsLastTwo(tr)) {
        rhsSource = tr.getInput();
        adjY = !adjY;
      }
      auto lhs = operandForHead(lhsSource, rank, heads);
      if (failed(lhs))
        return mlir::failure();
      auto rhs = operandForHead(rhsSource, rank, heads);
      if (failed(rhs))
        return mlir::failure();
      insertAfterDefinition(v);
      return created(builder.create<MatmulOp>(
          headLoc(loc, heads), headType, *lhs, *rhs, builder.getBoolAttr(adjX),
          builder.getBoolAttr(adjY)));
    }

    if (isa<AddOp, SubOp, MulOp, DivOp, PowOp, WhereOp, NegOp, RsqrtOp, SiluOp,
            SigmoidOp, CastOp>(def)) {
      SmallVector<Value> operands;
      for (Value operand : def->getOperands()) {
        auto o = operandForHead(operand, rank, heads);
        if (failed(o))
          return mlir::failure();
        operands.push_back(*o);
      }
      insertAfterDefinition(v);
      return created(builder.create(headLoc(loc, heads),
                                    def->getName().getIdentifier(), operands,
                                    TypeRange{headType}, def->getAttrs()));
    }

    if (auto sm = dyn_cast<SoftmaxOp>(def)) {
      int64_t d = *normalizeDim(sm.getDim(), rank);
      if (heads.contains(d))
        return fail(v, "normalizes over the head axis");
      auto in = perHead(sm.getInput(), heads);
      if (failed(in))
        return mlir::failure();
      insertAfterDefinition(v);
      return create<SoftmaxOp>(loc, heads, headType, *in,
                               builder.getI64IntegerAttr(heads.map(d)));
    }

    if (auto mean = dyn_cast<MeanOp>(def)) {
      auto inType = getStaticTensorType(mean.getInput());
      if (!inType)
        return fail(v, "reduces a dynamic shape");
      int64_t inRank = inType.getRank();
      llvm::SmallDenseSet<int64_t> reduced;
      for (int64_t d : mean.getDims())
        reduced.insert(*normalizeDim(d, inRank));
      SmallVector<int64_t> kept; // result dim i is input dim kept[i]
      for (int64_t i = 0; i < inRank; ++i)
        if (mean.getKeepDims() || !reduced.contains(i))
          kept.push_back(i);
      Heads inHeads = heads;
      for (int64_t &a : inHeads.axes) {
        a = kept[a];
        if (reduced.contains(a))
          return fail(v, "reduces over the head axis");
      }
      auto in = perHead(mean.getInput(), inHeads);
      if (failed(in))
        return mlir::failure();
      SmallVector<int64_t> dims;
      for (int64_t d : reduced)
        dims.push_back(inHeads.map(d));
      llvm::sort(dims);
      insertAfterDefinition(v);
      return create<MeanOp>(loc, heads, headType, *in,
                            builder.getDenseI64ArrayAttr(dims),
                            mean.getKeepDimsAttr());
    }

    if (auto sl = dyn_cast<SliceOp>(def)) {
      int64_t d = *normalizeDim(sl.getDim(), rank);
      auto inType = getStaticTensorType(sl.getInput());
      auto start = getConstantI64(sl.getStart()),
           end = getConstantI64(sl.getEnd()),
           step = getConstantI64(sl.getStep());
      int64_t size = inType ? inType.getDimSize(d) : -1;
      int64_t first = start ? std::clamp<int64_t>(
                                  *start < 0 ? *start + size : *start, 0, size)
                            : -1;
      if (auto pos = heads.position(d)) {
        // Slicing heads: head i of the result is head first + i * step.
        if (!inType || !start || !step)
          return fail(v, "slices the head axis by non-constant bounds");
        Heads inHeads = heads;
        inHeads.idx[*pos] = first + heads.idx[*pos] * *step;
        return perHead(sl.getInput(), inHeads);
      }
      auto in = perHead(sl.getInput(), heads);
      if (failed(in))
        return mlir::failure();
      if (inType && first == 0 && step == 1 && end && *end >= size)
        return *in; // the whole axis
      insertAfterDefinition(v);
      return create<SliceOp>(loc, heads, headType, *in,
                             builder.getI64IntegerAttr(heads.map(d)),
                             sl.getStart(), sl.getEnd(), sl.getStep());
    }

    if (auto sel = dyn_cast<SelectOp>(def)) {
      auto inType = getStaticTensorType(sel.getInput());
      if (!inType)
        return fail(v, "selects from a dynamic shape");
      int64_t d = *normalizeDim(sel.getDim(), inType.getRank());
      Heads inHeads = heads.withDimInserted(d);
      auto in = perHead(sel.getInput(), inHeads);
      if (failed(in))
        return mlir::failure();
      insertAfterDefinition(v);
      return create<SelectOp>(loc, heads, headType, *in,
                              builder.getI64IntegerAttr(inHeads.map(d)),
                              sel.getIndex());
    }

    if (auto cat = dyn_cast<CatOp>(def)) {
      int64_t d = *normalizeDim(cat.getDim(), rank);
      if (auto pos = heads.position(d)) {
        // Heads concatenated (a stack of per-head results): the input with h.
        int64_t h = heads.idx[*pos];
        for (Value in : cat.getInputs()) {
          auto inType = getStaticTensorType(in);
          if (!inType)
            return fail(v, "concatenates dynamic shapes");
          int64_t n = inType.getDimSize(d);
          if (h < n) {
            Heads inHeads = heads;
            inHeads.idx[*pos] = h;
            return perHead(in, inHeads);
          }
          h -= n;
        }
        return fail(v, "has fewer heads than asked for");
      }
      SmallVector<Value> inputs;
      for (Value in : cat.getInputs()) {
        auto o = perHead(in, heads);
        if (failed(o))
          return mlir::failure();
        inputs.push_back(*o);
      }
      insertAfterDefinition(v);
      return create<CatOp>(loc, heads, headType, inputs,
                           builder.getI64IntegerAttr(heads.map(d)));
    }

    // Made some other way with one head only: read it.
    if (llvm::all_of(heads.axes,
                     [&](int64_t a) { return t.getDimSize(a) == 1; })) {
      insertAfterDefinition(v);
      return selectHeads(loc, v, t, heads);
    }
    return fail(v, "has no per-head form");
  }

  FailureOr<Value> buildReshape(Value v, ReshapeOp r, RankedTensorType out,
                                RankedTensorType headType, const Heads &heads) {
    auto in = getStaticTensorType(r.getInput());
    if (!in)
      return fail(v, "is a view of a dynamic shape");
    Location loc = r.getLoc();
    ArrayRef<int64_t> is = in.getShape(), os = out.getShape();
    if (is == os)
      return perHead(r.getInput(), heads);
    if (heads.axes.size() == 1) {
      int64_t a = heads.axes[0], h = heads.idx[0];
      // Head split [.., n*X, ..] -> [.., n, X, ..]: head h is the feature
      // slice [h*X, (h+1)*X) of the input (q/k/v projections).
      if (mergesAt(out, in, a)) {
        int64_t x = os[a + 1];
        if (os[a] == 1)
          return r.getInput();
        insertAfterDefinition(v);
        return create<SliceOp>(loc, heads, headType, r.getInput(),
                               builder.getI64IntegerAttr(a), i64(loc, h * x),
                               i64(loc, (h + 1) * x), i64(loc, 1));
      }
      // Grouped heads [.., kv, G, ..] -> [.., kv*G, ..] (repeat_kv): head h
      // is member h % G of kv head h / G.
      if (mergesAt(in, out, a)) {
        Heads inHeads;
        inHeads.axes = {a, a + 1};
        inHeads.idx = {h / is[a + 1], h % is[a + 1]};
        return perHead(r.getInput(), inHeads);
      }
    }
    // The inverse: grouped view [.., kv*G, ..] -> [.., kv, G, ..].
    if (heads.axes.size() == 2 && heads.axes[1] == heads.axes[0] + 1) {
      int64_t a = heads.axes[0];
      if (mergesAt(out, in, a))
        return perHead(r.getInput(),
                       oneHead(a, heads.idx[0] * os[a + 1] + heads.idx[1]));
    }
    // A view of the axes after the heads only: the same view per head.
    int64_t last = heads.axes.back();
    if ((int64_t)is.size() > last &&
        is.take_front(last + 1) == os.take_front(last + 1)) {
      auto part = perHead(r.getInput(), heads);
      if (failed(part))
        return mlir::failure();
      insertAfterDefinition(v);
      return reshapeTo(loc, heads, *part, headType);
    }
    return fail(v, "is a view across the head axis that has no per-head form");
  }

  func::FuncOp func;
  OpBuilder builder;
  std::map<std::pair<void *, std::vector<int64_t>>, Value> memo;
  Operation *anchor = nullptr;
  llvm::DenseMap<Operation *, Operation *> lastAt;

public:
  OpBuilder &getBuilder() { return builder; }
  /// Per-head ops this unroller made (a transpose among them is one head's,
  /// not a batched marker left behind).
  llvm::DenseSet<Operation *> madeOps;
};

/// matmul(transpose(a, -2, -1), ...) -> matmul(a, ...) {adj_x}, and the same
/// for the right operand: a per-head chain written with k.transpose(-2, -1)
/// needs no transpose.
void foldTransposesIntoMatmuls(func::FuncOp func) {
  func.walk([](MatmulOp mm) {
    if (auto tr = mm.getLhs().getDefiningOp<TransposeOp>();
        tr && swapsLastTwo(tr)) {
      mm.getLhsMutable().assign(tr.getInput());
      mm.setAdjX(!mm.getAdjX());
    }
    if (auto tr = mm.getRhs().getDefiningOp<TransposeOp>();
        tr && swapsLastTwo(tr)) {
      mm.getRhsMutable().assign(tr.getInput());
      mm.setAdjY(!mm.getAdjY());
    }
  });
}

struct UnrollHeadsPass : kiln::impl::UnrollHeadsBase<UnrollHeadsPass> {
  using UnrollHeadsBase::UnrollHeadsBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    Unroller unroller(func);
    OpBuilder &b = unroller.getBuilder();

    // Roots 1: head merges, views [.., n, D] -> [.., n*D] of the last two
    // axes of a batched attention result (transpose(1, 2) + view in
    // Hugging Face and kiln_torch, a stack of heads elsewhere).
    SmallVector<std::pair<ReshapeOp, int64_t>> merges;
    func.walk([&](ReshapeOp r) {
      auto in = getStaticTensorType(r.getInput());
      auto out = getStaticTensorType(r.getResult());
      if (out && out.getRank() >= 2 && mergesAt(in, out, out.getRank() - 1) &&
          dependsOnBatched(r.getInput()))
        merges.push_back({r, out.getRank() - 1});
    });
    for (auto [merge, a] : merges) {
      Value batched = merge.getInput();
      int64_t heads = getStaticTensorType(batched).getDimSize(a);
      SmallVector<Value> parts;
      for (int64_t h = 0; h < heads; ++h) {
        auto part = unroller.perHead(batched, a, h);
        if (failed(part))
          return report(merge, unroller);
        parts.push_back(*part);
      }
      b.setInsertionPoint(merge);
      Value merged = parts.size() == 1
                         ? parts.front()
                         : b.create<CatOp>(merge.getLoc(), merge.getType(),
                                           parts, b.getI64IntegerAttr(a));
      merge.getResult().replaceAllUsesWith(merged);
      ++numMerges;
    }

    // Roots 2: attention-shaped results [B, H, S, D] (keys, values,
    // attention weights) computed by batched ops are re-stacked from their
    // heads.
    auto ret = cast<func::ReturnOp>(func.front().getTerminator());
    for (OpOperand &operand : ret->getOpOperands()) {
      auto t = getStaticTensorType(operand.get());
      if (!t || t.getRank() != 4 || !operand.get().getDefiningOp() ||
          !dependsOnBatched(operand.get()))
        continue;
      SmallVector<Value> heads;
      for (int64_t h = 0; h < t.getDimSize(1); ++h) {
        auto part = unroller.perHead(operand.get(), 1, h);
        if (failed(part))
          return report(ret, unroller);
        b.setInsertionPoint(ret);
        SmallVector<int64_t> shape(t.getShape());
        shape[1] = 1;
        SmallVector<Value> sizes;
        for (int64_t d : shape)
          sizes.push_back(b.create<arith::ConstantIntOp>(ret.getLoc(), d, 64));
        heads.push_back(b.create<ReshapeOp>(
            part->getLoc(), RankedTensorType::get(shape, t.getElementType()),
            *part, sizes));
      }
      b.setInsertionPoint(ret);
      operand.set(heads.size() == 1
                      ? heads.front()
                      : b.create<CatOp>(operand.get().getLoc(), t, heads,
                                        b.getI64IntegerAttr(1)));
    }
    numHeadOps = unroller.numHeadOps;

    // Per-head chains already there (or just made) need no transpose for K^T.
    foldTransposesIntoMatmuls(func);

    // The batched ops are dead now.
    RewritePatternSet patterns(&getContext());
    if (failed(applyPatternsAndFoldGreedily(func, std::move(patterns))))
      return signalPassFailure();
    bool left = false;
    func.walk([&](Operation *op) {
      if (isBatchedMarker(op) &&
          !(isa<TransposeOp>(op) && unroller.madeOps.contains(op))) {
        op->emitError("kiln-unroll-heads: '")
            << op->getName()
            << "' remains after unrolling (not part of an attention block it "
               "understands)";
        left = true;
      }
    });
    if (left)
      signalPassFailure();
  }

  void report(Operation *root, Unroller &unroller) {
    InFlightDiagnostic diag =
        root->emitError("kiln-unroll-heads: cannot unroll attention: ")
        << unroller.reason;
    if (unroller.failedAt)
      diag.attachNote(unroller.failedAt->getLoc()) << "at this op";
    signalPassFailure();
  }
};
} // namespace
