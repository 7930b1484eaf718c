//===- FoldFakeQuant.cpp - kiln-fold-fake-quant ---------------------------===//
//
// Four steps over the function, in program order:
//  A. fake quants become quantized constants (weights) or kiln.quantize ops;
//     data movement keeps its input's per-tensor quantized type;
//  B. a kiln.quantize whose producer is a compute op that only feeds equal
//     quantize ops is absorbed: the producer's result takes the type;
//  C. ops are made consistent: a quantized op gets its float constant operands
//     quantized (bias to int32/int64), a float op gets dequantized operands;
//  D. users outside the kiln tensor ops (func.return, scf.yield, tuples) read
//     float through kiln.dequantize.
//
// Weights: A and C create each integer constant with its blob allocated but
// not yet written; the end of the pass writes every blob of the function
// with WeightQuantizer (vectorized), chunk by chunk across the thread pool.
// A blob is made once per pass run: a function folding the same float data
// with the same parameters (prefill and decode share their weights) takes
// the same constant and helps write its chunks. The float data is read
// once, in place (a resource blob over LibTorch's storage); the float
// constant leaves the IR as soon as its integer constant replaces it.
// KILN_FOLD_FAKE_QUANT_SCALAR=1 in the environment restores the previous
// element-by-element path (bench/quantize compares the two).
//
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/Kiln/IR/KilnOps.h"
#include "kiln/Dialect/Kiln/Transforms/Passes.h"
#include "kiln/Dialect/Kiln/Utils/MappedMemory.h"
#include "kiln/Dialect/Kiln/Utils/QuantUtils.h"

#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Threading.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>

namespace kiln {
#define GEN_PASS_DEF_FOLDFAKEQUANT
#include "kiln/Dialect/Kiln/KilnPasses.h.inc"
} // namespace kiln

using namespace mlir;
using namespace kiln;

namespace {
quant::QuantizedType quantOf(Value v) {
  return dyn_cast<quant::QuantizedType>(getElementTypeOrSelf(v.getType()));
}

/// `into` now computes the value a fake quant (or a quantize made from one)
/// stood for: its location joins into's, so the exported tensor still names
/// the fake-quant point (kiln-parity matches PyTorch's tensors through it).
/// The FusedLoc carries the metadata "kiln.fake_quant": its first location
/// is the op's own (what --split layers reads), the others folded points.
void keepLoc(Operation *into, Location from) {
  if (!into || into->getLoc() == from)
    return;
  MLIRContext *ctx = into->getContext();
  auto tag = StringAttr::get(ctx, "kiln.fake_quant");
  SmallVector<Location> locs{into->getLoc()};
  if (auto fused = dyn_cast<FusedLoc>(into->getLoc());
      fused && fused.getMetadata() == tag)
    locs.assign(fused.getLocations().begin(), fused.getLocations().end());
  if (llvm::is_contained(locs, from))
    return;
  locs.push_back(from);
  into->setLoc(FusedLoc::get(ctx, locs, tag));
}
void keepLoc(Value into, Location from) { keepLoc(into.getDefiningOp(), from); }

bool isFloatTensor(Value v) {
  auto t = dyn_cast<TensorType>(v.getType());
  return t && isa<FloatType>(t.getElementType());
}

Type withElementType(Type type, Type element) {
  return cast<TensorType>(type).clone(element);
}

/// Ops that only move data: their output has the input's quantization.
bool isMovement(Operation *op) {
  return isa<ReshapeOp, TransposeOp, PermuteOp, UnsqueezeOp, SqueezeOp, SliceOp,
             SelectOp, ExpandOp, RepeatInterleaveOp, CatOp>(op);
}

/// Kiln ops that compute (their result may take a quantized type).
bool isCompute(Operation *op) {
  return isa<ShapeInferenceOpInterface>(op) && !isMovement(op) &&
         !isa<QuantizeOp, DequantizeOp, FakeQuantOp, FakeQuantPerAxisOp>(op);
}

/// Operands that are parameters rather than data (kept float).
bool isParameterOperand(Operation *op, unsigned index) {
  return isa<PowOp>(op) && index == 1;
}

/// Calls `fn(index, value)` for each element of a float32 constant.
LogicalResult forEachFloat(ElementsAttr attr,
                           llvm::function_ref<void(int64_t, float)> fn) {
  if (!attr.getElementType().isF32())
    return failure();
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return failure();
    ArrayRef<char> data = blob->getData();
    const float *values = reinterpret_cast<const float *>(data.data());
    int64_t n = attr.getNumElements();
    if (static_cast<int64_t>(data.size()) < n * 4)
      return failure();
    for (int64_t i = 0; i < n; ++i)
      fn(i, values[i]);
    return success();
  }
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    int64_t i = 0;
    for (float v : dense.getValues<float>())
      fn(i++, v);
    return success();
  }
  return failure();
}

/// An integer constant holding `values` as `storage` elements: dense for
/// small tensors, a resource blob (one element per byte for 4-bit types,
/// little-endian otherwise) for weights.
ElementsAttr makeIntegerAttr(ShapedType shape, IntegerType storage,
                             ArrayRef<int64_t> values, StringRef blobName) {
  auto type = RankedTensorType::get(shape.getShape(), storage);
  if (values.size() <= 64) {
    SmallVector<APInt> ints;
    for (int64_t v : values)
      ints.push_back(APInt(storage.getWidth(), v, storage.isSignless()));
    return DenseElementsAttr::get(type, ints);
  }
  unsigned bytes = std::max(1u, storage.getWidth() / 8);
  AsmResourceBlob blob =
      HeapAsmResourceBlob::allocate(values.size() * bytes, /*align=*/16);
  MutableArrayRef<char> out = blob.getMutableData();
  for (auto [i, v] : llvm::enumerate(values))
    for (unsigned b = 0; b < bytes; ++b)
      out[i * bytes + b] =
          static_cast<char>((static_cast<uint64_t>(v) >> (8 * b)) & 0xff);
  return DenseResourceElementsAttr::get(type, blobName, std::move(blob));
}

std::string blobNameFor(ElementsAttr attr) {
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr))
    return (resource.getRawHandle().getKey() + ".q").str();
  return "kiln.q";
}

/// The float32 elements of a constant, in place: a resource blob or dense
/// data (or one splat value).
struct FloatSource {
  const float *data = nullptr;
  float splat = 0;
};

std::optional<FloatSource> getFloatSource(ElementsAttr attr) {
  if (!attr.getElementType().isF32())
    return std::nullopt;
  int64_t n = attr.getNumElements();
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt;
    ArrayRef<char> data = blob->getData();
    if (static_cast<int64_t>(data.size()) < n * 4)
      return std::nullopt;
    return FloatSource{reinterpret_cast<const float *>(data.data())};
  }
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (dense.isSplat())
      return FloatSource{nullptr, dense.getSplatValue<float>()};
    ArrayRef<char> raw = dense.getRawData();
    if (static_cast<int64_t>(raw.size()) != n * 4)
      return std::nullopt;
    return FloatSource{reinterpret_cast<const float *>(raw.data())};
  }
  return std::nullopt;
}

/// One integer blob to write: its attribute exists (the IR uses it at
/// once), its bytes are written chunk by chunk by whichever threads need
/// it; complete when every chunk is done.
struct WeightJob {
  explicit WeightJob(WeightQuantizer q) : quantizer(std::move(q)) {}
  WeightQuantizer quantizer;
  const float *src = nullptr;
  std::vector<float> splat; // the elements of a splat constant (rare)
  char *dst = nullptr;
  int64_t count = 0, numChunks = 0;
  std::atomic<int64_t> next{0}, done{0};
  ElementsAttr result;

  bool complete() const {
    return done.load(std::memory_order_acquire) == numChunks;
  }
  /// Writes chunks until none is left to claim.
  void work() {
    constexpr int64_t chunk = WeightQuantizer::kChunkElements;
    for (int64_t k;
         (k = next.fetch_add(1, std::memory_order_relaxed)) < numChunks;) {
      int64_t begin = k * chunk;
      int64_t end = std::min(count, begin + chunk);
      quantizer.run(src, dst, begin, end);
      // Float weights the importer left in the .pt file's mapping are not
      // needed in memory any more (MappedMemory.h; others are untouched).
      if (src && splat.empty())
        kiln::doneReading(
            ArrayRef<char>(reinterpret_cast<const char *>(src + begin),
                           static_cast<size_t>(end - begin) * sizeof(float)));
      done.fetch_add(1, std::memory_order_release);
    }
  }
};

/// The blobs of one pass run, shared by the copies of the pass that run
/// on the module's functions (set up in initialize(), before the copies
/// are made). Keyed by the float attribute and the quantization.
struct SharedWeights {
  using Key = std::tuple<const void *, const void *, const void *>;
  std::mutex mutex;
  llvm::DenseMap<Key, WeightJob *> byKey;
  std::vector<std::unique_ptr<WeightJob>> jobs;
};

struct FoldFakeQuantPass : kiln::impl::FoldFakeQuantBase<FoldFakeQuantPass> {
  using FoldFakeQuantBase::FoldFakeQuantBase;
  FoldFakeQuantPass() = default;
  FoldFakeQuantPass(const FoldFakeQuantPass &other)
      : FoldFakeQuantBase(other), shared(other.shared), scalar(other.scalar) {}

  /// Blobs shared by every function of this run.
  std::shared_ptr<SharedWeights> shared;
  /// The previous element-by-element path (KILN_FOLD_FAKE_QUANT_SCALAR).
  bool scalar = false;
  /// This function's blobs still to write.
  SmallVector<WeightJob *> pending;
  Statistic numWeightsShared{
      this, "num-weights-shared",
      "Integer weights another function had made already (one blob for both)"};

  LogicalResult initialize(MLIRContext *) override {
    shared = std::make_shared<SharedWeights>();
    const char *env = std::getenv("KILN_FOLD_FAKE_QUANT_SCALAR");
    scalar = env && *env && StringRef(env) != "0";
    return success();
  }

  void runOnOperation() override {
    if (!shared)
      shared = std::make_shared<SharedWeights>();
    pending.clear();
    if (failed(runSteps()))
      return signalPassFailure();
    writePendingWeights();
  }

  LogicalResult runSteps() {
    func::FuncOp func = getOperation();
    SmallVector<Operation *> ops;
    func.walk<WalkOrder::PreOrder>([&](Operation *op) { ops.push_back(op); });

    // 0. A float input that the model fake-quantizes is taken quantized by
    //    every user (the residual too), as an integer NPU receives it.
    if (integerOnly) {
      hoistFakeQuantsToInputs(func);
      consumeInputsQuantized(func);
      if (failed(requantizeEmbeddingTables(func)))
        return failure();
    }
    ops.clear();
    func.walk<WalkOrder::PreOrder>([&](Operation *op) { ops.push_back(op); });
    // A.
    for (Operation *op : ops) {
      if (auto fq = dyn_cast<FakeQuantOp>(op)) {
        if (failed(foldFakeQuant(fq)))
          return failure();
      } else if (auto fq = dyn_cast<FakeQuantPerAxisOp>(op)) {
        if (failed(foldFakeQuant(fq)))
          return failure();
      } else if (isMovement(op)) {
        propagateThroughMovement(op);
      } else if (auto neg = dyn_cast<NegOp>(op)) {
        propagateThroughNeg(neg);
      }
    }
    // B. (constant scales after integer products and concatenations of
    //    differently quantized inputs first)
    SmallVector<Operation *> scalings;
    func.walk([&](Operation *op) {
      if (isa<MulOp, DivOp>(op))
        scalings.push_back(op);
    });
    for (Operation *op : scalings)
      foldScaleIntoProduct(op);
    SmallVector<CatOp> cats;
    func.walk([&](CatOp cat) { cats.push_back(cat); });
    for (CatOp cat : cats)
      requantizeIntoCat(cat);
    SmallVector<Operation *> adds;
    func.walk([&](Operation *op) {
      if (isa<AddOp, SubOp>(op))
        adds.push_back(op);
    });
    if (integerOnly)
      for (Operation *op : adds)
        deriveSumQuantization(op);
    SmallVector<QuantizeOp> quantizes;
    func.walk([&](QuantizeOp q) { quantizes.push_back(q); });
    llvm::DenseSet<Operation *> erased;
    for (QuantizeOp q : quantizes)
      if (!erased.contains(q))
        absorbIntoProducer(q, erased);
    // Quantizes of moved float inputs (a head's slice of the past cache)
    // move onto the input: the movement then runs on integers.
    quantizes.clear();
    func.walk([&](QuantizeOp q) { quantizes.push_back(q); });
    for (QuantizeOp q : quantizes)
      hoistQuantizeToInput(q);
    // C.
    SmallVector<Operation *> current;
    func.walk<WalkOrder::PreOrder>(
        [&](Operation *op) { current.push_back(op); });
    for (Operation *op : current)
      if (failed(makeConsistent(op)))
        return failure();
    // Float constants whose quantized copies replaced them.
    func.walk([](ConstantOp cst) {
      if (cst->use_empty())
        cst->erase();
    });
    // D.
    func.walk([&](Operation *op) {
      if (isa<ShapeInferenceOpInterface, SizeOp, ShapeOp, RankOp>(op))
        return;
      for (OpOperand &use : op->getOpOperands())
        if (quantOf(use.get()))
          dequantizeOperand(use);
    });
    return success();
  }

  /// Writes this function's pending blobs: every worker takes chunks of
  /// the largest unfinished blob first; then waits for chunks another
  /// function's threads are writing.
  void writePendingWeights() {
    if (pending.empty())
      return;
    llvm::stable_sort(pending, [](WeightJob *a, WeightJob *b) {
      return a->count > b->count;
    });
    MLIRContext *ctx = &getContext();
    size_t workers = ctx->isMultithreadingEnabled()
                         ? ctx->getThreadPool().getMaxConcurrency()
                         : 1;
    mlir::parallelFor(ctx, 0, workers, [&](size_t) {
      for (WeightJob *job : pending)
        job->work();
    });
    for (WeightJob *job : pending)
      while (!job->complete())
        std::this_thread::yield();
    pending.clear();
  }

  /// The integer constant holding `floatAttr` quantized by `quantizer`:
  /// dense for small tensors (written now), else a resource blob named
  /// `name` made once per pass run per `key` and written at the end of the
  /// pass.
  FailureOr<ElementsAttr> quantizedWeight(ElementsAttr floatAttr,
                                          ShapedType shape, IntegerType storage,
                                          WeightQuantizer quantizer,
                                          SharedWeights::Key key,
                                          StringRef name) {
    std::optional<FloatSource> source = getFloatSource(floatAttr);
    if (!source)
      return failure();
    int64_t n = shape.getNumElements();
    auto type = RankedTensorType::get(shape.getShape(), storage);
    if (n <= 64) {
      SmallVector<APInt> ints;
      for (int64_t i = 0; i < n; ++i) {
        float x = source->data ? source->data[i] : source->splat;
        ints.push_back(APInt(storage.getWidth(), quantizer.referenceValue(x, i),
                             storage.isSignless()));
      }
      return ElementsAttr(DenseElementsAttr::get(type, ints));
    }
    std::lock_guard<std::mutex> lock(shared->mutex);
    WeightJob *&slot = shared->byKey[key];
    if (slot && slot->src == source->data && source->data) {
      ++numWeightsShared;
      if (!slot->complete())
        pending.push_back(slot);
      return slot->result;
    }
    auto job = std::make_unique<WeightJob>(std::move(quantizer));
    if (source->data) {
      job->src = source->data;
    } else {
      job->splat.assign(n, source->splat);
      job->src = job->splat.data();
    }
    job->count = n;
    job->numChunks = (n + WeightQuantizer::kChunkElements - 1) /
                     WeightQuantizer::kChunkElements;
    AsmResourceBlob blob = HeapAsmResourceBlob::allocate(
        n * job->quantizer.bytesPerElement(), /*align=*/16);
    job->dst = blob.getMutableData().data();
    job->result = DenseResourceElementsAttr::get(type, name, std::move(blob));
    slot = job.get();
    pending.push_back(slot);
    shared->jobs.push_back(std::move(job));
    return slot->result;
  }

  //===--- A
  //---------------------------------------------------------------===//

  template <typename FQ> LogicalResult foldFakeQuant(FQ fq) {
    std::string error;
    quant::QuantizedType qtype = getType(fq, error);
    if (!qtype)
      return fq.emitOpError() << error;
    Value input = fq.getInput();
    OpBuilder b(fq);
    if (auto cst = input.template getDefiningOp<ConstantOp>()) {
      if (isFloatTensor(cst.getResult())) {
        FailureOr<Value> q = quantizeConstant(b, cst, qtype, fq.getLoc());
        if (failed(q))
          return fq.emitOpError(
              "cannot read the float data of the constant it quantizes");
        fq.getResult().replaceAllUsesWith(*q);
        fq.erase();
        if (cst->use_empty())
          cst.erase();
        ++numWeights;
        return success();
      }
    }
    Type resultType = withElementType(input.getType(), qtype);
    Value replacement = input;
    if (input.getType() != resultType)
      replacement = b.create<QuantizeOp>(fq.getLoc(), resultType, input);
    else
      keepLoc(input, fq.getLoc());
    fq.getResult().replaceAllUsesWith(replacement);
    fq.erase();
    return success();
  }

  quant::QuantizedType getType(FakeQuantOp fq, std::string &error) {
    return getPerTensorType(&getContext(), fq.getScale().convertToDouble(),
                            fq.getZeroPoint(), fq.getQmin(), fq.getQmax(),
                            error);
  }

  quant::QuantizedType getType(FakeQuantPerAxisOp fq, std::string &error) {
    auto ranked = dyn_cast<RankedTensorType>(fq.getInput().getType());
    if (!ranked) {
      error = "per-axis quantization needs a ranked input (fix shapes first)";
      return {};
    }
    auto axis = normalizeDim(fq.getAxis(), ranked.getRank());
    return getPerAxisType(&getContext(), fq.getScales(), fq.getZeroPoints(),
                          static_cast<int32_t>(*axis), fq.getQmin(),
                          fq.getQmax(), error);
  }

  /// Integer weights: q = clamp(round(w / s) + zp) per element (per channel
  /// along the type's axis).
  FailureOr<Value> quantizeConstant(OpBuilder &b, ConstantOp cst,
                                    quant::QuantizedType qtype, Location loc) {
    auto shaped = cast<ShapedType>(cst.getType());
    if (!shaped.hasStaticShape())
      return failure();
    if (scalar)
      return quantizeConstantScalar(b, cst, qtype);
    FailureOr<ElementsAttr> attr =
        quantizedWeight(cst.getValue(), shaped, getStorageElementType(qtype),
                        WeightQuantizer(getQuantGrid(qtype, shaped.getShape()),
                                        qtype.getStorageTypeIntegralWidth()),
                        {cst.getValue().getAsOpaquePointer(),
                         qtype.getAsOpaquePointer(), nullptr},
                        blobNameFor(cst.getValue()));
    if (failed(attr))
      return failure();
    return b
        .create<ConstantOp>(cst.getLoc(), withElementType(shaped, qtype), *attr)
        .getResult();
  }

  /// The previous path, element by element through a vector of int64.
  FailureOr<Value> quantizeConstantScalar(OpBuilder &b, ConstantOp cst,
                                          quant::QuantizedType qtype) {
    auto shaped = cast<ShapedType>(cst.getType());
    std::vector<int64_t> values(shaped.getNumElements());
    LogicalResult read = failure();
    if (auto perTensor = dyn_cast<quant::UniformQuantizedType>(qtype)) {
      float scale = perTensor.getScale();
      int64_t zp = perTensor.getZeroPoint();
      read = forEachFloat(cst.getValue(), [&](int64_t i, float v) {
        values[i] = quantizeValue(v, scale, zp, qtype.getStorageTypeMin(),
                                  qtype.getStorageTypeMax());
      });
    } else {
      auto perAxis = cast<quant::UniformQuantizedPerAxisType>(qtype);
      int64_t axis = perAxis.getQuantizedDimension();
      int64_t inner = 1;
      for (int64_t d = axis + 1; d < shaped.getRank(); ++d)
        inner *= shaped.getDimSize(d);
      int64_t channels = shaped.getDimSize(axis);
      auto scales = perAxis.getScales();
      auto zps = perAxis.getZeroPoints();
      read = forEachFloat(cst.getValue(), [&](int64_t i, float v) {
        int64_t c = (i / inner) % channels;
        values[i] =
            quantizeValue(v, static_cast<float>(scales[c]), zps[c],
                          qtype.getStorageTypeMin(), qtype.getStorageTypeMax());
      });
    }
    if (failed(read))
      return failure();
    ElementsAttr attr = makeIntegerAttr(shaped, getStorageElementType(qtype),
                                        values, blobNameFor(cst.getValue()));
    return b
        .create<ConstantOp>(cst.getLoc(), withElementType(shaped, qtype), attr)
        .getResult();
  }

  void propagateThroughMovement(Operation *op) {
    auto first = dyn_cast_or_null<quant::UniformQuantizedType>(
        quantOf(op->getOperand(0)));
    if (!first)
      return;
    if (auto cat = dyn_cast<CatOp>(op))
      for (Value v : cat.getInputs())
        if (quantOf(v) != first)
          return;
    Value result = op->getResult(0);
    result.setType(withElementType(result.getType(), first));
  }

  /// -x of a per-tensor quantized x (scale s, zero point z) is exactly on
  /// the grid (s, qmin + qmax - z), storage q' = qmin + qmax - q; a
  /// symmetric x (z = 0, signed) stays on its own grid (a symmetric
  /// quantizer never writes the most negative code). The lowering negates
  /// the integers.
  void propagateThroughNeg(NegOp neg) {
    auto q =
        dyn_cast_or_null<quant::UniformQuantizedType>(quantOf(neg.getInput()));
    if (!q || quantOf(neg.getResult()))
      return;
    quant::UniformQuantizedType r = q;
    if (q.getZeroPoint() != 0 || !q.isSigned())
      r = quant::UniformQuantizedType::get(
          q.getFlags(), q.getStorageType(), q.getExpressedType(), q.getScale(),
          q.getStorageTypeMin() + q.getStorageTypeMax() - q.getZeroPoint(),
          q.getStorageTypeMin(), q.getStorageTypeMax());
    Value v = neg.getResult();
    v.setType(withElementType(v.getType(), r));
    ++numNegations;
  }

  //===--- B
  //---------------------------------------------------------------===//

  /// p = matmul(a, b) * c (or linear(x, W) * c, or a division by 1/c), c a
  /// positive scalar constant, p fake-quantized to Q (scale s, zero point z):
  /// the product is written in Q' = (s / c, z), the grid Q has for p / c, so
  /// its integers are those of fq_Q(p) exactly; the multiply becomes an integer
  /// multiply by the constant 1 at scale c (Q' x c -> Q has multiplier 1: the
  /// hardware's free requantization).
  void foldScaleIntoProduct(Operation *mul) {
    Value scaled = mul->getResult(0);
    if (quantOf(scaled) || scaled.use_empty())
      return;
    bool isDiv = isa<DivOp>(mul);
    Value product = mul->getOperand(0), constant = mul->getOperand(1);
    auto splat = [](Value v) -> std::optional<double> {
      auto cst = v.getDefiningOp<ConstantOp>();
      if (!cst || !isFloatTensor(v))
        return std::nullopt;
      auto dense = dyn_cast<DenseFPElementsAttr>(cst.getValue());
      if (!dense || !dense.isSplat())
        return std::nullopt;
      return dense.getSplatValue<APFloat>().convertToDouble();
    };
    std::optional<double> c = splat(constant);
    if (!c && !isDiv) {
      std::swap(product, constant);
      c = splat(constant);
    }
    if (c && isDiv)
      c = 1.0 / *c;
    if (!c || !(*c > 0) || !std::isfinite(*c))
      return;
    Operation *producer = product.getDefiningOp();
    if (!producer || !isa<MatmulOp, LinearOp>(producer) ||
        !product.hasOneUse() || quantOf(product) || !isFloatTensor(product))
      return;
    // Both factors already integer (a linear's bias is quantized later).
    if (!quantOf(producer->getOperand(0)) || !quantOf(producer->getOperand(1)))
      return;
    QuantizeOp q0 = soleQuantizeUser(scaled);
    auto target =
        q0 ? dyn_cast<quant::UniformQuantizedType>(quantOf(q0.getResult()))
           : quant::UniformQuantizedType();
    if (!target)
      return;
    auto onProductGrid = quant::UniformQuantizedType::get(
        target.getFlags(), target.getStorageType(), target.getExpressedType(),
        target.getScale() / *c, target.getZeroPoint(),
        target.getStorageTypeMin(), target.getStorageTypeMax());
    auto one = quant::UniformQuantizedType::get(
        target.isSigned() ? quant::QuantizationFlags::Signed : 0,
        target.getStorageType(), target.getExpressedType(), *c, 0,
        target.getStorageTypeMin(), target.getStorageTypeMax());
    OpBuilder b(mul);
    auto cstType = cast<ShapedType>(constant.getType());
    ElementsAttr attr = makeIntegerAttr(
        cstType, cast<IntegerType>(target.getStorageType()),
        std::vector<int64_t>(cstType.getNumElements(), 1), "kiln.one");
    Value oneCst = b.create<ConstantOp>(constant.getLoc(),
                                        withElementType(cstType, one), attr);
    if (isDiv) {
      auto m =
          b.create<MulOp>(mul->getLoc(), scaled.getType(), product, oneCst);
      scaled.replaceAllUsesWith(m.getResult());
      mul->erase();
      scaled = m.getResult();
    } else {
      mul->setOperand(mul->getOperand(0) == constant ? 0 : 1, oneCst);
    }
    product.setType(withElementType(product.getType(), onProductGrid));
    scaled.setType(q0.getResult().getType());
    for (Operation *user : llvm::make_early_inc_range(scaled.getUsers())) {
      keepLoc(scaled, user->getLoc());
      user->getResult(0).replaceAllUsesWith(scaled);
      user->erase();
    }
    if (auto def = constant.getDefiningOp(); def && def->use_empty())
      def->erase();
    ++numScalesFolded;
  }

  //===--- 0
  //---------------------------------------------------------------===//

  /// embedding(fake_quant_per_axis(W, axis 0), ids) whose result is fake
  /// quantized per tensor (P) is a gather of rows of a per-row table that
  /// TFLite and integer hardware cannot give one output scale. Fake quant is
  /// elementwise and commutes with the gather, so the table is rewritten
  /// once into P's grid: T = fq_P(fq_axis(W)), exact, gathered in integers.
  LogicalResult requantizeEmbeddingTables(func::FuncOp func) {
    SmallVector<EmbeddingOp> embeddings;
    func.walk([&](EmbeddingOp e) { embeddings.push_back(e); });
    for (EmbeddingOp e : embeddings) {
      auto table = e.getWeight().getDefiningOp<FakeQuantPerAxisOp>();
      if (!table || !table->hasOneUse() || table.getAxis() != 0)
        continue;
      auto cst = table.getInput().getDefiningOp<ConstantOp>();
      auto shaped = cst ? dyn_cast<RankedTensorType>(cst.getType()) : nullptr;
      if (!shaped || shaped.getRank() != 2 || !shaped.hasStaticShape() ||
          !shaped.getElementType().isF32())
        continue;
      FakeQuantOp out;
      bool allSame = !e.getResult().use_empty();
      for (Operation *user : e.getResult().getUsers()) {
        auto fq = dyn_cast<FakeQuantOp>(user);
        allSame &= fq && (!out || sameFakeQuant(out, fq));
        if (fq && !out)
          out = fq;
      }
      if (!allSame || !out)
        continue;
      ArrayRef<double> scales = table.getScales();
      ArrayRef<int64_t> zps = table.getZeroPoints();
      int64_t cols = shaped.getDimSize(1), n = shaped.getNumElements();
      if (static_cast<int64_t>(scales.size()) != shaped.getDimSize(0))
        continue;
      if (!scalar) {
        FailureOr<bool> done = griddedTable(e, table, out, cst);
        if (failed(done))
          return failure();
        if (*done)
          continue;
      }
      AsmResourceBlob blob =
          HeapAsmResourceBlob::allocate(n * sizeof(float), 16);
      MutableArrayRef<char> bytes = blob.getMutableData();
      float p = static_cast<float>(out.getScale().convertToDouble());
      int64_t pz = out.getZeroPoint(), pmin = out.getQmin(),
              pmax = out.getQmax();
      int64_t qmin = table.getQmin(), qmax = table.getQmax();
      LogicalResult read =
          forEachFloat(cst.getValue(), [&](int64_t i, float w) {
            int64_t r = i / cols;
            float v = fakeQuantValue(w, static_cast<float>(scales[r]), zps[r],
                                     qmin, qmax);
            float t = fakeQuantValue(v, p, pz, pmin, pmax);
            std::memcpy(bytes.data() + i * sizeof(float), &t, sizeof(float));
          });
      if (failed(read))
        return cst.emitError(
            "kiln-fold-fake-quant: cannot read the embedding table");
      std::string name = blobNameFor(cst.getValue());
      if (StringRef(name).ends_with(".q"))
        name = name.substr(0, name.size() - 2);
      auto attr = DenseResourceElementsAttr::get(shaped, name + ".gridded",
                                                 std::move(blob));
      OpBuilder b(e);
      Value gridded = b.create<ConstantOp>(cst.getLoc(), shaped, attr);
      Value fq = b.create<FakeQuantOp>(
          table.getLoc(), shaped, gridded, out.getScaleAttr(),
          out.getZeroPointAttr(), out.getQminAttr(), out.getQmaxAttr());
      e->setOperand(0, fq);
      table->erase();
      if (cst->use_empty())
        cst->erase();
      ++numGriddedTables;
    }
    return success();
  }

  /// The integers of T = fq_P(fq_axis(W)) in P's grid, made in one pass
  /// over W (no float copy of the table): the constant the fold of
  /// fake_quant_P(T) gives. False when P matches no quantized type (the
  /// float path then leaves the diagnostic to step A).
  FailureOr<bool> griddedTable(EmbeddingOp e, FakeQuantPerAxisOp table,
                               FakeQuantOp out, ConstantOp cst) {
    std::string error;
    quant::UniformQuantizedType pType = getPerTensorType(
        &getContext(), out.getScale().convertToDouble(), out.getZeroPoint(),
        out.getQmin(), out.getQmax(), error);
    if (!pType)
      return false;
    auto shaped = cast<RankedTensorType>(cst.getType());
    QuantGrid rows;
    for (double scale : table.getScales())
      rows.scales.push_back(static_cast<float>(scale));
    rows.zeroPoints.assign(table.getZeroPoints().begin(),
                           table.getZeroPoints().end());
    rows.qmin = table.getQmin();
    rows.qmax = table.getQmax();
    rows.inner = shaped.getDimSize(1);
    QuantGrid grid = getQuantGrid(pType, shaped.getShape());
    std::string name = blobNameFor(cst.getValue());
    if (StringRef(name).ends_with(".q"))
      name = name.substr(0, name.size() - 2);
    FailureOr<ElementsAttr> attr =
        quantizedWeight(cst.getValue(), shaped, getStorageElementType(pType),
                        WeightQuantizer({rows, grid}, grid,
                                        pType.getStorageTypeIntegralWidth()),
                        {cst.getValue().getAsOpaquePointer(),
                         table->getAttrDictionary().getAsOpaquePointer(),
                         out->getAttrDictionary().getAsOpaquePointer()},
                        name + ".gridded.q");
    if (failed(attr)) {
      cst.emitError("kiln-fold-fake-quant: cannot read the embedding table");
      return failure();
    }
    OpBuilder b(e);
    Value gridded = b.create<ConstantOp>(cst.getLoc(),
                                         withElementType(shaped, pType), *attr);
    e->setOperand(0, gridded);
    table->erase();
    if (cst->use_empty())
      cst->erase();
    ++numGriddedTables;
    ++numWeights;
    return true;
  }

  /// fake_quant(move(arg)) -> move(fake_quant(arg)) for a float function
  /// argument and data movement (a slice of the attention mask for one
  /// head or one key range): fake quant is elementwise, so this is exact,
  /// and the input is quantized at the edge instead of moved in float.
  void hoistFakeQuantsToInputs(func::FuncOp func) {
    SmallVector<FakeQuantOp> fqs;
    func.walk([&](FakeQuantOp fq) { fqs.push_back(fq); });
    for (FakeQuantOp fq : fqs) {
      if (!movedFromArgument(fq.getInput()) ||
          isa<BlockArgument>(fq.getInput()))
        continue;
      while (Operation *move = fq.getInput().getDefiningOp()) {
        if (!move->hasOneUse())
          break;
        Value data = move->getOperand(0);
        OpBuilder b(move);
        auto hoisted = b.create<FakeQuantOp>(
            fq.getLoc(), data.getType(), data, fq.getScaleAttr(),
            fq.getZeroPointAttr(), fq.getQminAttr(), fq.getQmaxAttr());
        move->setOperand(0, hoisted.getResult());
        keepLoc(move, fq.getLoc());
        fq.getResult().replaceAllUsesWith(move->getResult(0));
        fq->erase();
        fq = hoisted;
        ++numHoisted;
      }
    }
  }

  static bool sameFakeQuant(FakeQuantOp a, FakeQuantOp b) {
    return a.getScale() == b.getScale() &&
           a.getZeroPoint() == b.getZeroPoint() && a.getQmin() == b.getQmin() &&
           a.getQmax() == b.getQmax();
  }

  void consumeInputsQuantized(func::FuncOp func) {
    if (func.empty())
      return;
    Block &entry = func.front();
    for (BlockArgument arg : entry.getArguments()) {
      if (!isFloatTensor(arg))
        continue;
      FakeQuantOp first;
      bool others = false, differently = false;
      for (Operation *user : arg.getUsers()) {
        if (auto fq = dyn_cast<FakeQuantOp>(user)) {
          differently |= first && !sameFakeQuant(first, fq);
          if (fq->getBlock() == &entry &&
              (!first || fq->isBeforeInBlock(first)))
            first = fq;
        } else {
          others = true;
        }
      }
      // Quantized twice, differently: no single integer form to take.
      if (!first || !others || differently)
        continue;
      first->moveBefore(&entry, entry.begin());
      Value q = first.getResult();
      for (OpOperand &use : llvm::make_early_inc_range(arg.getUses())) {
        Operation *user = use.getOwner();
        if (user == first)
          continue;
        if (auto fq = dyn_cast<FakeQuantOp>(user)) {
          keepLoc(first.getOperation(), fq.getLoc());
          fq.getResult().replaceAllUsesWith(q);
          fq->erase();
          continue;
        }
        use.set(q);
      }
      ++numInputsQuantized;
    }
  }

  /// An add/sub of two symmetric 16-bit quantized tensors whose result the
  /// model left unquantized (TICO's first residual add) gets a derived
  /// scale, s_a + s_b, which holds every sum without clipping; the add then
  /// runs in integers at a cost of at most half a step of that scale.
  /// (8-bit sums keep their float result: one 8-bit step is too coarse.)
  void deriveSumQuantization(Operation *op) {
    Value result = op->getResult(0);
    if (quantOf(result) || !isFloatTensor(result))
      return;
    auto a = dyn_cast_or_null<quant::UniformQuantizedType>(
        quantOf(op->getOperand(0)));
    auto b = dyn_cast_or_null<quant::UniformQuantizedType>(
        quantOf(op->getOperand(1)));
    if (!a || !b || a.getZeroPoint() != 0 || b.getZeroPoint() != 0 ||
        a.getStorageType() != b.getStorageType() ||
        a.getStorageTypeIntegralWidth() < 16 || !a.isSigned())
      return;
    auto sum = quant::UniformQuantizedType::get(
        a.getFlags(), a.getStorageType(), a.getExpressedType(),
        a.getScale() + b.getScale(), 0, a.getStorageTypeMin(),
        a.getStorageTypeMax());
    result.setType(withElementType(result.getType(), sum));
    ++numDerivedSums;
  }

  //===--- B
  //---------------------------------------------------------------===//

  /// cat(x1, x2, ...) of quantized inputs with different parameters (or
  /// float function arguments) that only feeds quantizes to one type Q is
  /// cat(requantize(xi, Q)...) in Q: per element the same rounding as
  /// quantizing the float concatenation.
  void requantizeIntoCat(CatOp cat) {
    Value result = cat.getResult();
    if (quantOf(result) || result.use_empty())
      return;
    QuantizeOp q0 = soleQuantizeUser(result);
    auto target =
        q0 ? dyn_cast<quant::UniformQuantizedType>(quantOf(q0.getResult()))
           : quant::UniformQuantizedType();
    if (!target)
      return;
    // Inputs are quantized, or float model inputs (a cache passed in):
    // those are quantized at the edge, as the contract allows.
    for (Value v : cat.getInputs())
      if (!isa_and_nonnull<quant::UniformQuantizedType>(quantOf(v)) &&
          !movedFromArgument(v))
        return;
    OpBuilder b(cat);
    for (OpOperand &operand : cat->getOpOperands()) {
      Value v = operand.get();
      if (quantOf(v) == target)
        continue;
      operand.set(b.create<QuantizeOp>(
          cat.getLoc(), withElementType(v.getType(), target), v));
    }
    result.setType(withElementType(result.getType(), target));
    for (Operation *user : llvm::make_early_inc_range(result.getUsers())) {
      keepLoc(cat.getOperation(), user->getLoc());
      user->getResult(0).replaceAllUsesWith(result);
      user->erase();
    }
    ++numRequantizedCats;
  }

  /// One of v's users when every user is a quantize to the same type, else
  /// null.
  static QuantizeOp soleQuantizeUser(Value v) {
    QuantizeOp q0;
    for (Operation *user : v.getUsers()) {
      auto q = dyn_cast<QuantizeOp>(user);
      if (!q || (q0 && q.getType() != q0.getType()))
        return {};
      q0 = q;
    }
    return q0;
  }

  /// A float function argument, possibly moved (sliced, reshaped, ...).
  static bool movedFromArgument(Value v) {
    while (Operation *def = v.getDefiningOp()) {
      if (!isMovement(def) || isa<CatOp>(def))
        return false;
      v = def->getOperand(0);
    }
    return isFloatTensor(v);
  }

  /// quantize(move(x)) -> move(quantize(x)) while x is moved float data of
  /// a function argument: exact (quantization is elementwise).
  void hoistQuantizeToInput(QuantizeOp q) {
    auto qtype = dyn_cast<quant::UniformQuantizedType>(quantOf(q.getResult()));
    if (!qtype || !movedFromArgument(q.getInput()))
      return;
    while (Operation *move = q.getInput().getDefiningOp()) {
      if (!move->hasOneUse())
        return;
      Value data = move->getOperand(0);
      OpBuilder b(move);
      auto hoisted = b.create<QuantizeOp>(
          q.getLoc(), withElementType(data.getType(), qtype), data);
      move->setOperand(0, hoisted.getResult());
      Value r = move->getResult(0);
      r.setType(withElementType(r.getType(), qtype));
      keepLoc(move, q.getLoc());
      q.getResult().replaceAllUsesWith(r);
      q->erase();
      q = hoisted;
      ++numHoisted;
    }
  }

  void absorbIntoProducer(QuantizeOp q, llvm::DenseSet<Operation *> &erased) {
    Value x = q.getInput();
    Operation *producer = x.getDefiningOp();
    if (!producer || !isCompute(producer) || quantOf(x))
      return;
    for (Operation *user : x.getUsers()) {
      auto other = dyn_cast<QuantizeOp>(user);
      if (!other || other.getType() != q.getType())
        return;
    }
    // A float non-constant operand means the op computes in float.
    for (auto [i, operand] : llvm::enumerate(producer->getOperands()))
      if (isFloatTensor(operand) && !isParameterOperand(producer, i) &&
          !operand.getDefiningOp<ConstantOp>())
        return;
    x.setType(q.getType());
    for (Operation *user : llvm::make_early_inc_range(x.getUsers())) {
      keepLoc(producer, user->getLoc());
      user->getResult(0).replaceAllUsesWith(x);
      erased.insert(user);
      user->erase();
    }
    ++numAbsorbed;
  }

  //===--- C
  //---------------------------------------------------------------===//

  LogicalResult makeConsistent(Operation *op) {
    if (isa<QuantizeOp>(op)) {
      ++numQuantize;
      return success();
    }
    if (!isCompute(op) && !isMovement(op))
      return success();
    auto resultQuant = quantOf(op->getResult(0));
    for (OpOperand &operand : op->getOpOperands()) {
      Value v = operand.get();
      if (!resultQuant) {
        if (quantOf(v))
          dequantizeOperand(operand);
        continue;
      }
      if (!isFloatTensor(v) ||
          isParameterOperand(op, operand.getOperandNumber()))
        continue;
      auto cst = v.getDefiningOp<ConstantOp>();
      if (!cst)
        return op->emitOpError("has a quantized result but a float operand");
      if (failed(quantizeOperandConstant(op, operand, cst, resultQuant)))
        return failure();
    }
    return success();
  }

  void dequantizeOperand(OpOperand &operand) {
    Value v = operand.get();
    OpBuilder b(operand.getOwner());
    Type floatType =
        withElementType(v.getType(), quantOf(v).getExpressedType());
    operand.set(b.create<DequantizeOp>(v.getLoc(), floatType, v));
    ++numDequantize;
  }

  LogicalResult quantizeOperandConstant(Operation *op, OpOperand &operand,
                                        ConstantOp cst,
                                        quant::QuantizedType resultQuant) {
    OpBuilder b(op);
    if (auto linear = dyn_cast<LinearOp>(op))
      if (operand.get() == linear.getBias())
        return quantizeBias(b, linear, operand, cst);
    // Per-tensor, from the constant's own range, in the result's storage.
    float lo = 0, hi = 0;
    if (failed(forEachFloat(cst.getValue(), [&](int64_t, float v) {
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        })))
      return op->emitOpError("cannot read a float constant operand");
    int64_t qmin = resultQuant.getStorageTypeMin();
    int64_t qmax = resultQuant.getStorageTypeMax();
    double scale;
    int64_t zp = 0;
    if (resultQuant.isSigned()) {
      double absMax = std::max(std::fabs(lo), std::fabs(hi));
      scale = absMax > 0 ? absMax / qmax : 1.0;
    } else {
      scale = hi > lo ? (double(hi) - lo) / (qmax - qmin) : 1.0;
      zp = std::clamp<int64_t>(qmin - std::llround(lo / scale), qmin, qmax);
    }
    std::string error;
    quant::QuantizedType qtype =
        getPerTensorType(&getContext(), scale, zp, qmin, qmax, error);
    if (!qtype)
      return op->emitOpError() << error;
    FailureOr<Value> q = quantizeConstant(b, cst, qtype, cst.getLoc());
    if (failed(q))
      return op->emitOpError("cannot quantize a constant operand");
    operand.set(*q);
    return success();
  }

  /// Bias scale = input scale x weight scale (per output channel), zero
  /// point 0; int32 storage for 8-bit activations, int64 for 16-bit. MLIR 19
  /// quant types stop at 32 bits, so an int64 bias is a plain i64 constant
  /// whose scales are in the `kiln.quant_scales` attribute.
  LogicalResult quantizeBias(OpBuilder &b, LinearOp linear, OpOperand &operand,
                             ConstantOp cst) {
    auto in = dyn_cast_or_null<quant::UniformQuantizedType>(
        quantOf(linear.getInput()));
    auto w = quantOf(linear.getWeight());
    if (!in || !w)
      return linear.emitOpError(
          "bias of a quantized linear needs quantized input and weight");
    SmallVector<double> scales;
    if (auto wt = dyn_cast<quant::UniformQuantizedType>(w))
      scales.push_back(in.getScale() * wt.getScale());
    else
      for (double s : cast<quant::UniformQuantizedPerAxisType>(w).getScales())
        scales.push_back(in.getScale() * s);
    auto shaped = cast<ShapedType>(cst.getType());
    std::vector<int64_t> values(shaped.getNumElements());
    if (failed(forEachFloat(cst.getValue(), [&](int64_t i, float v) {
          double s = scales.size() == 1 ? scales[0] : scales[i % scales.size()];
          values[i] = std::llround(v / s);
        })))
      return linear.emitOpError("cannot read the bias");
    bool wide = in.getStorageTypeIntegralWidth() > 8;
    if (!wide) {
      std::string error;
      quant::QuantizedType qtype =
          scales.size() == 1
              ? quant::QuantizedType(getPerTensorType(
                    &getContext(), scales[0], 0, INT32_MIN, INT32_MAX, error))
              : quant::QuantizedType(
                    getPerAxisType(&getContext(), scales,
                                   SmallVector<int64_t>(scales.size(), 0), 0,
                                   INT32_MIN, INT32_MAX, error));
      if (!qtype)
        return linear.emitOpError() << error;
      for (int64_t &v : values)
        v = std::clamp<int64_t>(v, INT32_MIN, INT32_MAX);
      ElementsAttr attr = makeIntegerAttr(shaped, getStorageElementType(qtype),
                                          values, blobNameFor(cst.getValue()));
      operand.set(b.create<ConstantOp>(cst.getLoc(),
                                       withElementType(shaped, qtype), attr));
      return success();
    }
    IntegerType i64 = b.getI64Type();
    ElementsAttr attr =
        makeIntegerAttr(shaped, i64, values, blobNameFor(cst.getValue()));
    auto bias =
        b.create<ConstantOp>(cst.getLoc(), withElementType(shaped, i64), attr);
    bias->setAttr("kiln.quant_scales", b.getDenseF64ArrayAttr(scales));
    operand.set(bias);
    return success();
  }
};
} // namespace
