//===- ExportAdapter.cpp - kiln-export-adapter ----------------------------===//
//
// Binds the unified model's control inputs and cache, fixes static argument
// types, lets kiln-infer-shapes fold the rest, and flattens the results into
// the prefill or decode contract.
//
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/Kiln/IR/KilnDialect.h"
#include "kiln/Dialect/Kiln/IR/KilnOps.h"
#include "kiln/Dialect/Kiln/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln {
#define GEN_PASS_DEF_EXPORTADAPTER
#include "kiln/Dialect/Kiln/KilnPasses.h.inc"
} // namespace kiln

using namespace mlir;
using namespace kiln;

namespace {
/// An argument name without TorchScript's ".N" suffix.
std::string argName(func::FuncOp f, unsigned i) {
  auto name =
      f.getArgAttrOfType<StringAttr>(i, kiln::KilnDialect::getNameAttrName());
  if (!name)
    return "";
  StringRef n = name.getValue();
  auto dot = n.rfind('.');
  if (dot != StringRef::npos &&
      llvm::all_of(n.drop_front(dot + 1), llvm::isDigit))
    n = n.take_front(dot);
  return n.str();
}

/// The i-th (0-based) kiln.linear's weight type, when ranked.
RankedTensorType linearWeight(func::FuncOp f, unsigned index) {
  unsigned seen = 0;
  RankedTensorType found;
  f.walk([&](LinearOp l) {
    if (seen++ == index)
      found = dyn_cast<RankedTensorType>(l.getWeight().getType());
  });
  return found;
}

/// Marks the transposes key-layout=bhds adds (and those they become as they
/// move): only those move.
constexpr StringLiteral kKeyLayoutMark = "kiln.key_layout";

/// The two dims a transpose swaps, in order, when its input is ranked.
std::optional<std::pair<int64_t, int64_t>> swapped(TransposeOp t) {
  auto type = dyn_cast<RankedTensorType>(t.getInput().getType());
  if (!type)
    return std::nullopt;
  int64_t r = type.getRank();
  int64_t a = t.getDim0() < 0 ? t.getDim0() + r : t.getDim0();
  int64_t b = t.getDim1() < 0 ? t.getDim1() + r : t.getDim1();
  if (a < 0 || b < 0 || a >= r || b >= r || a == b)
    return std::nullopt;
  return std::pair{std::min(a, b), std::max(a, b)};
}

/// op(transpose(x)) -> transpose(op(x)) for ops that commute with a
/// transpose (fake quant, repeat_interleave, slice, cat with every operand
/// taking the transpose), and transpose(transpose(x)) -> x.
struct SinkTranspose : public RewritePattern {
  SinkTranspose(MLIRContext *ctx)
      : RewritePattern(MatchAnyOpTypeTag(), /*benefit=*/1, ctx) {}

  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rewriter) const override {
    if (auto outer = dyn_cast<TransposeOp>(op)) {
      auto inner = outer.getInput().getDefiningOp<TransposeOp>();
      if (!inner || !swapped(inner) || swapped(inner) != swapped(outer) ||
          !(inner->hasAttr(kKeyLayoutMark) || outer->hasAttr(kKeyLayoutMark)) ||
          inner.getInput().getType() != outer.getType())
        return failure();
      rewriter.replaceOp(outer, inner.getInput());
      return success();
    }
    if (!isa<FakeQuantOp, FakeQuantPerAxisOp, RepeatInterleaveOp, SliceOp,
             CatOp>(op) ||
        op->getNumResults() != 1 || op->getNumOperands() == 0)
      return failure();
    // A marked transpose: the first operand (any operand of a cat).
    TransposeOp first;
    for (Value v :
         isa<CatOp>(op) ? op->getOperands() : op->getOperands().take_front())
      if (auto t = v.getDefiningOp<TransposeOp>();
          t && t->hasAttr(kKeyLayoutMark)) {
        first = t;
        break;
      }
    std::optional<std::pair<int64_t, int64_t>> dims;
    if (first)
      dims = swapped(first);
    if (!dims)
      return failure();
    auto resultType = dyn_cast<RankedTensorType>(op->getResult(0).getType());
    if (!resultType)
      return failure();
    auto swap = [&](int64_t d) {
      int64_t r = resultType.getRank();
      if (d < 0)
        d += r;
      return d == dims->first    ? dims->second
             : d == dims->second ? dims->first
                                 : d;
    };
    auto swapType = [&](Type t) -> Type {
      auto rt = cast<RankedTensorType>(t);
      SmallVector<int64_t> shape(rt.getShape());
      std::swap(shape[dims->first], shape[dims->second]);
      return RankedTensorType::get(shape, rt.getElementType());
    };
    // `sinking`: the transpose that moves on (marked); else one that stays
    // on another cat operand.
    auto transpose = [&](Value v, bool sinking) -> Value {
      if (auto t = v.getDefiningOp<TransposeOp>(); t && swapped(t) == dims)
        return t.getInput();
      auto t = rewriter.create<TransposeOp>(
          op->getLoc(), swapType(v.getType()), v,
          rewriter.getI64IntegerAttr(dims->first),
          rewriter.getI64IntegerAttr(dims->second));
      if (sinking)
        t->setAttr(kKeyLayoutMark, rewriter.getUnitAttr());
      return t;
    };
    SmallVector<Value> operands(op->getOperands());
    if (auto cat = dyn_cast<CatOp>(op)) {
      for (Value &v : operands)
        if (!isa<RankedTensorType>(v.getType()))
          return failure();
      for (Value &v : operands)
        v = transpose(v, /*sinking=*/false);
    } else {
      operands[0] = first.getInput();
    }
    Operation *moved = rewriter.clone(*op);
    moved->setOperands(operands);
    moved->getResult(0).setType(swapType(resultType));
    for (StringRef attr : {"dim", "axis"})
      if (auto d = moved->getAttrOfType<IntegerAttr>(attr))
        moved->setAttr(attr, rewriter.getI64IntegerAttr(swap(d.getInt())));
    rewriter.replaceOp(op, transpose(moved->getResult(0), /*sinking=*/true));
    return success();
  }
};

struct ExportAdapterPass : kiln::impl::ExportAdapterBase<ExportAdapterPass> {
  using ExportAdapterBase::ExportAdapterBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto source = module.lookupSymbol<func::FuncOp>(function);
    if (!source) {
      emitError(module.getLoc(), "kiln-export-adapter: no function '")
          << function << "'";
      return signalPassFailure();
    }
    if (failed(checkOptions(source)))
      return signalPassFailure();
    // One TorchScript method (recorded by the importer; else one function):
    // a module already specialised to one mode.
    if (auto methods =
            module->getAttrOfType<ArrayAttr>("kiln.torchscript_methods"))
      singleMethod = methods.size() == 1;
    else
      singleMethod =
          llvm::count_if(module.getOps<func::FuncOp>(), [](func::FuncOp fn) {
            return !fn->hasAttr(kiln::KilnDialect::getVariantAttrName());
          }) == 1;
    func::FuncOp f = source;
    std::string name =
        outputName.empty() ? mode.getValue() : outputName.getValue();
    if (keepSource) {
      f = source.clone();
      module.insert(std::next(Block::iterator(source)), f);
    }
    if (name != f.getName() && module.lookupSymbol(name)) {
      emitError(f.getLoc(), "kiln-export-adapter: a function '")
          << name << "' already exists";
      return signalPassFailure();
    }
    f.setName(name);
    if (!variant.empty())
      f->setAttr(kiln::KilnDialect::getVariantAttrName(),
                 StringAttr::get(&getContext(), variant));
    if (failed(bindArguments(f)) || failed(foldAndInfer(f)) ||
        failed(flattenResults(f)) || failed(foldAndInfer(f)) ||
        failed(sinkKeyTransposes(f)) || failed(checkStatic(f)))
      return signalPassFailure();
  }

  /// decode and append take the past keys and values as arguments.
  bool isDecode() const { return mode == "decode" || mode == "append"; }
  /// Tokens of this call: S (prefill), Q (append) or 1 (decode).
  int64_t tokens() const {
    return mode == "decode" ? 1 : static_cast<int64_t>(seqLen);
  }
  bool singleMethod = false;

  LogicalResult checkOptions(func::FuncOp f) {
    if (mode != "prefill" && mode != "decode" && mode != "append")
      return emitError(f.getLoc(), "kiln-export-adapter: mode must be "
                                   "prefill, decode or append, got '")
             << mode << "'";
    if (keyLayout != "bhsd" && keyLayout != "bhds")
      return emitError(f.getLoc(), "kiln-export-adapter: key-layout must be "
                                   "bhsd or bhds, got '")
             << keyLayout << "'";
    if (cacheOut != "auto" && cacheOut != "delta" && cacheOut != "full")
      return emitError(f.getLoc(), "kiln-export-adapter: cache-out must be "
                                   "auto, delta or full, got '")
             << cacheOut << "'";
    if (batch < 1)
      return emitError(f.getLoc(),
                       "kiln-export-adapter: batch must be positive");
    if (mode == "prefill" && seqLen < 1)
      return emitError(f.getLoc(),
                       "kiln-export-adapter: prefill needs seq-len >= 1");
    if (mode == "append" && seqLen < 1)
      return emitError(f.getLoc(),
                       "kiln-export-adapter: append needs seq-len >= 1 (the "
                       "number of new tokens)");
    if (isDecode() && cacheLen < 1)
      return emitError(f.getLoc(), "kiln-export-adapter: ")
             << mode << " needs cache-len >= 1 (the number of past positions)";
    return success();
  }

  //===--- arguments
  //-------------------------------------------------------===//

  LogicalResult modelDims(func::FuncOp f, int64_t &hidden, int64_t &dim,
                          int64_t &kvHeads) {
    hidden = hiddenSize;
    if (!hidden)
      if (auto w = linearWeight(f, 0))
        hidden = w.getDimSize(1);
    dim = headDim;
    if (!dim)
      f.walk([&](ReshapeOp r) {
        if (dim || r.getSizes().size() != 4)
          return;
        if (auto d = getConstantI64(r.getSizes()[3]); d && *d > 0)
          dim = *d;
      });
    kvHeads = numKvHeads;
    if (!kvHeads && dim)
      if (auto w = linearWeight(f, 1); w && !w.isDynamicDim(0))
        kvHeads = w.getDimSize(0) / dim;
    if (hidden <= 0 || ShapedType::isDynamic(hidden))
      return emitError(f.getLoc(),
                       "kiln-export-adapter: cannot read the hidden size "
                       "from the model; pass hidden-size=");
    if (dim <= 0)
      return emitError(f.getLoc(),
                       "kiln-export-adapter: cannot read head_dim from the "
                       "model's head split; pass head-dim=");
    if (kvHeads <= 0)
      return emitError(f.getLoc(),
                       "kiln-export-adapter: cannot read the number of KV "
                       "heads from the model; pass num-kv-heads=");
    return success();
  }

  LogicalResult bindArguments(func::FuncOp f) {
    MLIRContext *ctx = &getContext();
    // Every argument needs a role before the model's dimensions matter.
    for (unsigned i = 0, e = f.getNumArguments(); i < e; ++i) {
      std::string n = argName(f, i);
      FailureOr<std::string> role = roleOf(n);
      if (failed(role))
        return failure();
      if (role->empty() &&
          !(n == "input" && isa<TensorType>(f.getArgumentTypes()[i]))) {
        return noRole(f, i);
      }
    }
    int64_t hidden, dim, kvHeads;
    if (failed(modelDims(f, hidden, dim, kvHeads)))
      return failure();
    int64_t s = tokens();
    int64_t past = isDecode() ? cacheLen.getValue() : 0;
    Type f32 = Float32Type::get(ctx);
    auto tensor = [&](ArrayRef<int64_t> shape, Type elt) {
      return RankedTensorType::get(shape, elt);
    };

    Block &entry = f.front();
    OpBuilder b = OpBuilder::atBlockBegin(&entry);
    Location loc = f.getLoc();
    unsigned numOld = entry.getNumArguments();
    SmallVector<Type> newTypes;
    SmallVector<StringAttr> newNames;
    auto addArg = [&](StringRef name, Type type) -> Value {
      newTypes.push_back(type);
      newNames.push_back(StringAttr::get(ctx, name));
      return entry.addArgument(type, loc);
    };
    // Replacement of an old argument by a new static one, cast back to the
    // imported type for users that are not kiln ops.
    auto replaceWith = [&](BlockArgument old, Value v) -> LogicalResult {
      if (auto ranked = dyn_cast<RankedTensorType>(old.getType()))
        if (ranked.hasStaticShape() && ranked != v.getType())
          return emitError(f.getLoc(), "kiln-export-adapter: argument '")
                 << argName(f, old.getArgNumber()) << "' has the fixed type "
                 << old.getType() << ", which contradicts " << v.getType()
                 << " from the options";
      if (v.getType() != old.getType())
        v = b.create<tensor::CastOp>(loc, old.getType(), v);
      old.replaceAllUsesWith(v);
      return success();
    };

    bool sawPast = false;
    std::optional<std::pair<BlockArgument, unsigned>> deferredMask;
    // The unified (scripted, HF-signature) model: its mask is [B,1,S,T].
    bool unified = false;
    for (unsigned i = 0; i < numOld; ++i) {
      FailureOr<std::string> role = roleOf(argName(f, i));
      unified |= succeeded(role) && *role == "past_key_value";
    }
    for (unsigned i = 0; i < numOld; ++i) {
      BlockArgument old = entry.getArgument(i);
      std::string n = argName(f, i);
      Type t = old.getType();
      FailureOr<std::string> roleOr = roleOf(n);
      if (failed(roleOr))
        return failure();
      std::string role = *roleOr;
      LogicalResult ok = success();
      if (role == "hidden_states") {
        ok = replaceWith(
            old, addArg("hidden_states", tensor({batch, s, hidden}, f32)));
      } else if (role == "input_ids" ||
                 (n == "input" && isa<TensorType>(t) &&
                  getElementTypeOrSelf(t).isInteger(64))) {
        ok = replaceWith(
            old,
            addArg("input_ids",
                   tensor({batch, s}, getElementTypeOrSelf(t).isInteger(64) ||
                                              !isa<TensorType>(t)
                                          ? b.getI64Type()
                                          : getElementTypeOrSelf(t))));
      } else if (role == "attention_mask" && unified) {
        ok = replaceWith(old, addArg("attention_mask",
                                     tensor({batch, 1, s, s + past}, f32)));
      } else if (role == "attention_mask") {
        // A traced module's mask has the rank of the scores it is added to
        // ([B,1,S,T] batched, [B,S,T] per head): bound after the rest.
        deferredMask = {old, static_cast<unsigned>(newTypes.size())};
        continue;
      } else if (role == "cos" || role == "sin") {
        ok = replaceWith(old, addArg(role, tensor({batch, s, dim}, f32)));
      } else if (role == "position_embeddings" && isa<TupleType>(t)) {
        auto tt = cast<TupleType>(t);
        Value cos = addArg("cos", tensor({batch, s, dim}, f32));
        Value sin = addArg("sin", tensor({batch, s, dim}, f32));
        SmallVector<Value> elems;
        // A named array: a braced ValueRange would point into a temporary
        // initializer list that dies before the loop body runs.
        Value cosSin[] = {cos, sin};
        for (auto [v, et] : llvm::zip(cosSin, tt.getTypes()))
          elems.push_back(
              v.getType() == et
                  ? v
                  : b.create<tensor::CastOp>(loc, et, v).getResult());
        old.replaceAllUsesWith(b.create<TupleOp>(loc, tt, elems));
      } else if (role == "past_key" || role == "past_value") {
        // Traced modules take the cache as tensors: past_key, past_value,
        // past_key0, past_value0, ... (TorchScript's de-duplicated names).
        if (!isDecode())
          return emitError(f.getLoc(), "kiln-export-adapter: the model takes '")
                 << n
                 << "' and cannot run in prefill mode; use mode=decode or "
                    "append";
        sawPast = true;
        sawCacheTensors = true;
        std::string newName = role;
        if (numCacheTensors(f) > 2) {
          unsigned layer = cacheTensorIndex++ / 2;
          newName = role + "." + std::to_string(layer);
        }
        ok = replaceWith(old, pastTensor(b, loc, addArg, newName, role, kvHeads,
                                         past, dim, f32));
      } else if (role == "past_key_value") {
        sawPast = true;
        if (!isDecode()) {
          old.replaceAllUsesWith(b.create<NoneOp>(loc, t));
        } else {
          FailureOr<Value> cache =
              bindCache(b, loc, t, addArg, kvHeads, past, dim, f32);
          if (failed(cache))
            return emitError(f.getLoc(), "kiln-export-adapter: cannot bind '")
                   << n << "' of type " << t << " to cache tensors";
          old.replaceAllUsesWith(*cache);
        }
      } else if (role == "use_cache" && t.isInteger(1)) {
        old.replaceAllUsesWith(
            b.create<arith::ConstantIntOp>(loc, returnKv ? 1 : 0, 1));
      } else if (role == "output_attentions" && t.isInteger(1)) {
        old.replaceAllUsesWith(
            b.create<arith::ConstantIntOp>(loc, outputAttentions ? 1 : 0, 1));
      } else {
        return noRole(f, i);
      }
      if (failed(ok))
        return failure();
    }
    if (isDecode() && !sawPast)
      return emitError(f.getLoc(),
                       "kiln-export-adapter: the model has no cache "
                       "argument (past_key_value) and cannot run in ")
             << mode << " mode";
    if (deferredMask) {
      // Erase every other old argument, infer shapes, and read the rank of
      // the scores the mask is added to.
      BlockArgument old = deferredMask->first;
      for (int64_t i = numOld - 1; i >= 0; --i)
        if (entry.getArgument(i) != old)
          entry.eraseArgument(i);
      f.setType(FunctionType::get(ctx, entry.getArgumentTypes(),
                                  f.getFunctionType().getResults()));
      if (failed(foldAndInfer(f)))
        return failure();
      int64_t rank = maskRank(old);
      SmallVector<int64_t> shape;
      if (rank == 3)
        shape = {batch, s, s + past};
      else if (rank == 2)
        shape = {s, s + past};
      else
        shape = {batch, 1, s, s + past};
      unsigned pos = deferredMask->second;
      auto type = tensor(shape, f32);
      newTypes.insert(newTypes.begin() + pos, type);
      newNames.insert(newNames.begin() + pos,
                      StringAttr::get(ctx, "attention_mask"));
      // Old argument 0 is the mask; new arguments follow it.
      Value mask = entry.insertArgument(1 + pos, type, loc);
      b.setInsertionPointToStart(&entry);
      if (failed(replaceWith(old, mask)))
        return failure();
      numOld = 1;
    }
    entry.eraseArguments(0, numOld);
    f.setType(
        FunctionType::get(ctx, newTypes, f.getFunctionType().getResults()));
    for (auto [i, name] : llvm::enumerate(newNames))
      f.setArgAttrs(i, b.getDictionaryAttr(b.getNamedAttr(
                           kiln::KilnDialect::getNameAttrName(), name)));
    return success();
  }

  /// One line: the argument without a role and every argument's name.
  static LogicalResult noRole(func::FuncOp f, unsigned i) {
    SmallVector<std::string> names;
    for (unsigned j = 0, e = f.getNumArguments(); j < e; ++j)
      names.push_back("'" + argName(f, j) + "'");
    std::string n = argName(f, i);
    return emitError(f.getLoc(), "kiln-export-adapter: argument ")
           << i << " '" << n << "' has no known role (the function takes "
           << llvm::join(names, ", ") << "); name it with input-roles=" << n
           << "=ROLE, ROLE one of " << llvm::join(knownRoles(), ", ");
  }

  unsigned cacheTensorIndex = 0;
  bool sawCacheTensors = false;

  static ArrayRef<std::string> knownRoles() {
    static const std::string roles[] = {"hidden_states",
                                        "input_ids",
                                        "attention_mask",
                                        "cos",
                                        "sin",
                                        "position_embeddings",
                                        "past_key",
                                        "past_value",
                                        "past_key_value",
                                        "use_cache",
                                        "output_attentions"};
    return roles;
  }

  /// past_key, past_key0, past_key_0, past_key.0 (and past_value...).
  static std::optional<std::string> cacheRole(StringRef n) {
    for (StringRef prefix : {"past_key", "past_value"}) {
      StringRef rest = n;
      if (!rest.consume_front(prefix))
        continue;
      if (rest.starts_with("_") || rest.starts_with("."))
        rest = rest.drop_front();
      if (llvm::all_of(rest, llvm::isDigit))
        return prefix.str();
    }
    return std::nullopt;
  }

  /// The role of an argument: from input-roles, else from its name.
  FailureOr<std::string> roleOf(StringRef n) {
    SmallVector<StringRef> given;
    StringRef(inputRoles).split(given, ',', -1, /*KeepEmpty=*/false);
    for (StringRef r : given) {
      auto [name, role] = r.trim().split('=');
      if (name != n)
        continue;
      if (!llvm::is_contained(knownRoles(), role.str())) {
        emitError(getOperation().getLoc(),
                  "kiln-export-adapter: unknown role '")
            << role << "' for argument '" << n
            << "' (roles: " << llvm::join(knownRoles(), ", ") << ")";
        return failure();
      }
      return role.str();
    }
    static const std::pair<StringRef, StringRef> aliases[] = {
        {"hidden_states", "hidden_states"},
        {"h", "hidden_states"},
        {"hidden", "hidden_states"},
        {"x", "hidden_states"},
        {"inputs_embeds", "hidden_states"},
        {"input_ids", "input_ids"},
        {"ids", "input_ids"},
        {"tokens", "input_ids"},
        {"attention_mask", "attention_mask"},
        {"mask", "attention_mask"},
        {"attn_mask", "attention_mask"},
        {"causal_mask", "attention_mask"},
        {"cos", "cos"},
        {"sin", "sin"},
        {"position_embeddings", "position_embeddings"},
        {"past_key_value", "past_key_value"},
        {"past_key_values", "past_key_value"},
        {"use_cache", "use_cache"},
        {"output_attentions", "output_attentions"}};
    for (auto [alias, role] : aliases)
      if (n == alias)
        return role.str();
    if (auto cache = cacheRole(n))
      return *cache;
    return std::string();
  }

  unsigned numCacheTensors(func::FuncOp f) {
    unsigned count = 0;
    for (unsigned i = 0; i < f.getNumArguments(); ++i) {
      FailureOr<std::string> role = roleOf(argName(f, i));
      count +=
          succeeded(role) && (*role == "past_key" || *role == "past_value");
    }
    return count;
  }

  /// Rank of the tensor the mask is added to (through fake quant, casts and
  /// movement ops), 4 when unknown.
  static int64_t maskRank(Value mask) {
    SmallVector<Value> work{mask};
    llvm::DenseSet<Value> seen;
    while (!work.empty()) {
      Value v = work.pop_back_val();
      if (!seen.insert(v).second)
        continue;
      for (Operation *user : v.getUsers()) {
        if (isa<AddOp, WhereOp>(user)) {
          for (Value other : user->getOperands())
            if (other != v)
              if (auto t = dyn_cast<RankedTensorType>(other.getType());
                  t && t.getRank() >= 2)
                return t.getRank();
        }
        if (user->getNumResults() == 1 &&
            isa<TensorType>(user->getResult(0).getType()))
          work.push_back(user->getResult(0));
      }
    }
    return 4;
  }

  /// Optional[Tuple[k, v]] (one layer) or Optional[List[Tuple[k, v]]] (a
  /// whole model: one pair per layer) from new cache arguments.
  template <typename AddArg>
  FailureOr<Value> bindCache(OpBuilder &b, Location loc, Type optionalType,
                             AddArg &addArg, int64_t kvHeads, int64_t past,
                             int64_t dim, Type f32) {
    auto opt = dyn_cast<OptionalType>(optionalType);
    if (!opt)
      return failure();
    auto pair = [&](TupleType tt, StringRef suffix) -> FailureOr<Value> {
      if (tt.size() != 2)
        return failure();
      SmallVector<Value> kv;
      static constexpr StringLiteral names[] = {"past_key", "past_value"};
      for (auto [name, et] : llvm::zip(names, tt.getTypes())) {
        Value v = pastTensor(b, loc, addArg, (StringRef(name) + suffix).str(),
                             name, kvHeads, past, dim, f32);
        kv.push_back(v.getType() == et
                         ? v
                         : b.create<tensor::CastOp>(loc, et, v).getResult());
      }
      return b.create<TupleOp>(loc, tt, kv).getResult();
    };
    Value inner;
    if (auto tt = dyn_cast<TupleType>(opt.getElementType())) {
      auto p = pair(tt, "");
      if (failed(p))
        return failure();
      inner = *p;
    } else if (auto list = dyn_cast<ListType>(opt.getElementType())) {
      auto tt = dyn_cast<TupleType>(list.getElementType());
      int64_t layers = numLayers();
      if (!tt || layers < 1)
        return failure();
      SmallVector<Value> pairs;
      for (int64_t l = 0; l < layers; ++l) {
        auto p = pair(tt, ("." + std::to_string(l)));
        if (failed(p))
          return failure();
        pairs.push_back(*p);
      }
      inner = b.create<ListOp>(loc, list, pairs);
    } else {
      return failure();
    }
    return b.create<SomeOp>(loc, opt, inner).getResult();
  }

  /// A past key or value argument [B,H_kv,L,head_dim]; with key-layout=bhds
  /// a key is [B,H_kv,head_dim,L], transposed back for the model (the
  /// transposes sink into Q*K^T: sinkKeyTransposes).
  template <typename AddArg>
  Value pastTensor(OpBuilder &b, Location loc, AddArg &addArg,
                   const std::string &name, StringRef role, int64_t kvHeads,
                   int64_t past, int64_t dim, Type f32) {
    bool transposed = keyLayout == "bhds" && role == "past_key";
    Value v = addArg(
        name, RankedTensorType::get({batch, kvHeads, transposed ? dim : past,
                                     transposed ? past : dim},
                                    f32));
    if (!transposed)
      return v;
    auto t = b.create<TransposeOp>(
        loc, RankedTensorType::get({batch, kvHeads, past, dim}, f32), v,
        b.getI64IntegerAttr(2), b.getI64IntegerAttr(3));
    t->setAttr(kKeyLayoutMark, b.getUnitAttr());
    return t;
  }

  /// Decoder layers in a whole model: one head split of keys per layer.
  int64_t numLayers() {
    int64_t softmaxes = 0;
    getOperation().walk([&](SoftmaxOp) { ++softmaxes; });
    return softmaxes;
  }

  //===--- results
  //---------------------------------------------------------===//

  LogicalResult flattenResults(func::FuncOp f) {
    auto ret = cast<func::ReturnOp>(f.front().getTerminator());
    SmallVector<Value> leaves;
    for (Value v : ret.getOperands())
      if (failed(flatten(v, leaves)))
        return ret.emitError("kiln-export-adapter: cannot flatten the result ")
               << v.getType() << " into tensors (a branch did not fold?)";
    if (leaves.empty())
      return ret.emitError(
          "kiln-export-adapter: the function returns no tensor");

    // leaves = [hidden, (k, v)*, attn?]
    size_t numKv = (leaves.size() - 1) - (outputAttentions ? 1 : 0);
    if (!returnKv && numKv)
      return emitError(ret.getLoc(), "kiln-export-adapter: the model returns ")
             << leaves.size() << " tensors (hidden and " << numKv
             << " K/V cache tensors) but return-kv is false; keep the cache "
                "outputs (kiln-convert: drop --return-kv=false)";
    if (numKv % 2)
      return emitError(ret.getLoc(), "kiln-export-adapter: the model returns ")
             << leaves.size()
             << " tensors; expected the hidden state, K/V pairs and (with "
                "output-attentions) the attention weights";
    OpBuilder b(ret);
    // Decode results: a unified model returns past ++ new (kept to this
    // step's entries by default); a single-mode traced module returns what
    // its contract says (TICO: this step's entries, HF: the full cache).
    bool sliceCache =
        cacheOut == "delta" ||
        (cacheOut == "auto" && !(sawCacheTensors && singleMethod));
    if (cacheOut == "full")
      sliceCache = false;
    SmallVector<Value> results{leaves[0]};
    SmallVector<std::string> names{hasInput("input_ids", f) ? "logits"
                                                            : "hidden"};
    int64_t layers = numKv / 2;
    for (int64_t l = 0; l < layers; ++l) {
      for (int kv = 0; kv < 2; ++kv) {
        Value v = leaves[1 + 2 * l + kv];
        if (isDecode() && sliceCache)
          v = newEntries(b, v);
        if (keyLayout == "bhds" && kv == 0)
          v = swapLastTwo(b, v);
        std::string base = isDecode() ? (kv ? "new_value" : "new_key")
                                      : (kv ? "value" : "key");
        names.push_back(layers > 1 ? base + "." + std::to_string(l) : base);
        results.push_back(v);
      }
    }
    if (outputAttentions) {
      results.push_back(leaves.back());
      names.push_back("attn_weights");
    }
    b.create<func::ReturnOp>(ret.getLoc(), results);
    ret.erase();
    SmallVector<Type> types;
    for (Value v : results)
      types.push_back(v.getType());
    f.setType(FunctionType::get(f.getContext(), f.getFunctionType().getInputs(),
                                types));
    for (auto [i, name] : llvm::enumerate(names))
      f.setResultAttrs(
          i, b.getDictionaryAttr(b.getNamedAttr(
                 kiln::KilnDialect::getNameAttrName(), b.getStringAttr(name))));
    numOutputs = results.size();
    return success();
  }

  static bool hasInput(StringRef name, func::FuncOp f) {
    for (unsigned i = 0; i < f.getNumArguments(); ++i)
      if (auto n = f.getArgAttrOfType<StringAttr>(
              i, kiln::KilnDialect::getNameAttrName());
          n && n.getValue() == name)
        return true;
    return false;
  }

  static LogicalResult flatten(Value v, SmallVectorImpl<Value> &leaves) {
    if (auto cast = v.getDefiningOp<tensor::CastOp>())
      return flatten(cast.getSource(), leaves);
    if (isa<TensorType>(v.getType())) {
      leaves.push_back(v);
      return success();
    }
    if (v.getDefiningOp<NoneOp>())
      return success();
    if (auto some = v.getDefiningOp<SomeOp>())
      return flatten(some.getValue(), leaves);
    if (auto tuple = v.getDefiningOp<TupleOp>()) {
      for (Value e : tuple.getElements())
        if (failed(flatten(e, leaves)))
          return failure();
      return success();
    }
    if (auto list = v.getDefiningOp<ListOp>()) {
      for (Value e : list.getElements())
        if (failed(flatten(e, leaves)))
          return failure();
      return success();
    }
    return failure();
  }

  /// The returned cache is past ++ new along the sequence axis: keep the new
  /// entries only (the slice folds into the value written to the cache).
  Value newEntries(OpBuilder &b, Value full) {
    int64_t s = tokens();
    Location loc = full.getLoc();
    auto c = [&](int64_t v) {
      return b.create<arith::ConstantIntOp>(loc, v, 64);
    };
    Type type = full.getType();
    if (auto t = dyn_cast<RankedTensorType>(type)) {
      SmallVector<int64_t> shape(t.getShape());
      shape[2] = s;
      type = RankedTensorType::get(shape, t.getElementType());
    }
    return b.create<SliceOp>(loc, type, full, b.getI64IntegerAttr(2),
                             c(cacheLen), c(cacheLen + s), c(1));
  }

  static Value swapLastTwo(OpBuilder &b, Value v) {
    auto t = cast<RankedTensorType>(v.getType());
    SmallVector<int64_t> shape(t.getShape());
    std::swap(shape[shape.size() - 2], shape[shape.size() - 1]);
    auto tr = b.create<TransposeOp>(
        v.getLoc(), RankedTensorType::get(shape, t.getElementType()), v,
        b.getI64IntegerAttr(t.getRank() - 2),
        b.getI64IntegerAttr(t.getRank() - 1));
    tr->setAttr(kKeyLayoutMark, b.getUnitAttr());
    return tr;
  }

  /// key-layout=bhds: the transposes of the key arguments and results move
  /// through the cache's concatenation, fake quant, head repetition and
  /// slices until they meet the model's own K^T before Q*K^T and cancel,
  /// so attention reads the cache as stored.
  LogicalResult sinkKeyTransposes(func::FuncOp f) {
    if (keyLayout != "bhds")
      return success();
    RewritePatternSet patterns(&getContext());
    patterns.add<SinkTranspose>(&getContext());
    if (failed(applyPatternsAndFoldGreedily(f, std::move(patterns))))
      return emitError(f.getLoc(), "kiln-export-adapter: moving the key "
                                   "transposes did not converge");
    f.walk([](TransposeOp t) { t->removeAttr(kKeyLayoutMark); });
    return foldAndInfer(f);
  }

  //===--- folding and checks
  //----------------------------------------------===//

  LogicalResult foldAndInfer(func::FuncOp f) {
    OpPassManager pm(func::FuncOp::getOperationName());
    pm.addPass(createInferShapes());
    return runPipeline(pm, f);
  }

  LogicalResult checkStatic(func::FuncOp f) {
    LogicalResult result = success();
    f.walk([&](Operation *op) {
      if (isa<scf::IfOp, scf::WhileOp, scf::ForOp>(op)) {
        op->emitError("kiln-export-adapter: control flow did not fold away");
        result = failure();
        return;
      }
      for (Value v : op->getResults())
        if (auto t = dyn_cast<TensorType>(v.getType());
            t && !(t.hasRank() && t.hasStaticShape())) {
          op->emitError("kiln-export-adapter: result type ")
              << v.getType() << " is still dynamic after fixing the shapes";
          result = failure();
        }
    });
    return result;
  }
};
} // namespace
