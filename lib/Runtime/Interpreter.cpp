//===- Interpreter.cpp - Compiling functions to kernel programs -----------===//
#include "Interpreter.h"

#include "kiln/Dialect/Kiln/IR/KilnTypes.h"

#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/APInt.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/raw_ostream.h"

#include <c10/util/Exception.h>

#include <cstring>

using namespace mlir;

namespace kiln::runtime {

//===----------------------------------------------------------------------===//
// Values and frames
//===----------------------------------------------------------------------===//

const char *RValue::kindName() const {
  switch (kind) {
  case Kind::Empty:
    return "an undefined value";
  case Kind::None:
    return "None";
  case Kind::Tensor:
    return "a tensor";
  case Kind::Int:
    return "an integer";
  case Kind::Float:
    return "a float";
  case Kind::Seq:
    return "a tuple/list";
  }
  return "?";
}

void fail(const llvm::Twine &message) { throw EvalError(message.str()); }

int reportErrors(llvm::StringRef tool, const std::function<int()> &body) {
  try {
    return body();
  } catch (const Reported &) {
  } catch (const c10::Error &e) {
    llvm::errs() << tool << ": error: " << e.what_without_backtrace() << "\n";
  } catch (const std::exception &e) {
    llvm::errs() << tool << ": error: " << e.what() << "\n";
  }
  return 1;
}

const at::Tensor &Frame::tensor(uint32_t slot) const {
  const RValue &v = slots[slot];
  if (v.kind != RValue::Kind::Tensor)
    fail(llvm::Twine("expected a tensor operand, got ") + v.kindName());
  return v.t;
}

int64_t Frame::integer(uint32_t slot) const {
  const RValue &v = slots[slot];
  if (v.kind != RValue::Kind::Int)
    fail(llvm::Twine("expected an integer operand, got ") + v.kindName());
  return v.i;
}

double Frame::real(uint32_t slot) const {
  const RValue &v = slots[slot];
  if (v.kind == RValue::Kind::Int)
    return static_cast<double>(v.i);
  if (v.kind != RValue::Kind::Float)
    fail(llvm::Twine("expected a float operand, got ") + v.kindName());
  return v.f;
}

const std::vector<RValue> &Frame::sequence(uint32_t slot) const {
  const RValue &v = slots[slot];
  if (v.kind != RValue::Kind::Seq)
    fail(llvm::Twine("expected a tuple or list operand, got ") + v.kindName());
  return *v.seq;
}

static std::string shapeString(llvm::ArrayRef<int64_t> shape);

static void report(Operation *op, llvm::StringRef message) {
  op->emitError() << "'" << op->getName() << "' failed: " << message;
}

static StepObserver &stepObserver() {
  static StepObserver observer;
  return observer;
}

void setStepObserver(StepObserver observer) {
  stepObserver() = std::move(observer);
}

void runBlock(const Block &block, Frame &frame) {
  const StepObserver &observer = stepObserver();
  for (const Step &step : block.steps) {
    try {
      step.exec(frame);
    } catch (const Reported &) {
      throw;
    } catch (const c10::Error &e) {
      report(step.op, e.what_without_backtrace());
      throw Reported();
    } catch (const std::exception &e) {
      report(step.op, e.what());
      throw Reported();
    }
    if (observer)
      observer(step, frame);
    for (uint32_t slot : step.release)
      frame.slots[slot] = RValue();
  }
}

std::vector<RValue> callFunction(const Function &fn,
                                 llvm::ArrayRef<RValue> args) {
  Frame frame;
  frame.slots.resize(fn.numSlots);
  if (args.size() != fn.body.args.size()) {
    func::FuncOp func = fn.func;
    emitError(func.getLoc()) << "called with " << args.size()
                             << " arguments, expects " << fn.body.args.size();
    throw Reported();
  }
  for (auto [slot, value] : llvm::zip(fn.body.args, args))
    frame.slots[slot] = value;
  runBlock(fn.body, frame);
  std::vector<RValue> results;
  results.reserve(fn.body.yields.size());
  for (uint32_t slot : fn.body.yields)
    results.push_back(frame.slots[slot]);
  return results;
}

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

std::optional<at::ScalarType> scalarTypeOf(Type type) {
  if (auto q = dyn_cast<quant::QuantizedType>(type))
    return scalarTypeOf(q.getExpressedType());
  if (type.isF32())
    return at::kFloat;
  if (type.isF64())
    return at::kDouble;
  if (type.isF16())
    return at::kHalf;
  if (type.isBF16())
    return at::kBFloat16;
  if (type.isIndex())
    return at::kLong;
  if (auto i = dyn_cast<IntegerType>(type)) {
    if (i.getWidth() == 1)
      return at::kBool;
    if (i.isUnsigned())
      return i.getWidth() == 8 ? std::optional<at::ScalarType>(at::kByte)
                               : std::nullopt;
    switch (i.getWidth()) {
    case 8:
      return at::kChar;
    case 16:
      return at::kShort;
    case 32:
      return at::kInt;
    case 64:
      return at::kLong;
    default:
      return std::nullopt;
    }
  }
  return std::nullopt;
}

at::ScalarType toScalarType(DType dtype) {
  switch (dtype) {
  case DType::Bool:
    return at::kBool;
  case DType::I8:
    return at::kChar;
  case DType::U8:
    return at::kByte;
  case DType::I16:
    return at::kShort;
  case DType::I32:
    return at::kInt;
  case DType::I64:
    return at::kLong;
  case DType::F16:
    return at::kHalf;
  case DType::BF16:
    return at::kBFloat16;
  case DType::F32:
    return at::kFloat;
  case DType::F64:
    return at::kDouble;
  }
  return at::kFloat;
}

std::optional<DType> toDType(at::ScalarType type) {
  switch (type) {
  case at::kBool:
    return DType::Bool;
  case at::kChar:
    return DType::I8;
  case at::kByte:
    return DType::U8;
  case at::kShort:
    return DType::I16;
  case at::kInt:
    return DType::I32;
  case at::kLong:
    return DType::I64;
  case at::kHalf:
    return DType::F16;
  case at::kBFloat16:
    return DType::BF16;
  case at::kFloat:
    return DType::F32;
  case at::kDouble:
    return DType::F64;
  default:
    return std::nullopt;
  }
}

std::optional<DType> dtypeOf(Type elementType) {
  if (auto s = scalarTypeOf(elementType))
    return toDType(*s);
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Quantized types
//===----------------------------------------------------------------------===//

std::shared_ptr<const QuantParams> quantParamsOf(Type elementType) {
  auto q = dyn_cast<quant::QuantizedType>(elementType);
  if (!q)
    return nullptr;
  auto p = std::make_shared<QuantParams>();
  p->qmin = q.getStorageTypeMin();
  p->qmax = q.getStorageTypeMax();
  p->isSigned = q.isSigned();
  p->storageWidth = q.getStorageTypeIntegralWidth();
  if (auto u = dyn_cast<quant::UniformQuantizedType>(q)) {
    p->scale = u.getScale();
    p->zeroPoint = u.getZeroPoint();
    return p;
  }
  if (auto a = dyn_cast<quant::UniformQuantizedPerAxisType>(q)) {
    p->perAxis = true;
    p->axis = a.getQuantizedDimension();
    std::vector<float> scales(a.getScales().begin(), a.getScales().end());
    std::vector<int32_t> zps(a.getZeroPoints().begin(),
                             a.getZeroPoints().end());
    p->scales = at::tensor(scales, at::kFloat);
    p->zeroPoints = at::tensor(zps, at::kInt);
    p->prepare();
    return p;
  }
  return nullptr; // other quantized types (calibrated, any) are not supported
}

void QuantParams::prepare() {
  if (!perAxis)
    return;
  invScales =
      at::reciprocal(scales); // float32 1.0f / scale, as ATen computes it
  zeroPointsF = zeroPoints.to(at::kFloat);
}

at::Tensor QuantParams::apply(const at::Tensor &t, int64_t axisOverride) const {
  at::Tensor x = t.scalar_type() == at::kFloat ? t : t.to(at::kFloat);
  // Integers above 2^24 are not exact in float32: use ATen's kernel there.
  bool wide = qmax - qmin > (int64_t(1) << 24);
  if (perAxis) {
    int64_t a = axisOverride >= 0 ? axisOverride : axis;
    if (a >= x.dim() || x.size(a) != scales.size(0))
      fail(llvm::Twine("per-axis quantization has ") +
           llvm::Twine(scales.size(0)) + " scales along axis " +
           llvm::Twine(a) + " of a tensor of shape " +
           shapeString(x.sizes().vec()));
    if (wide || !invScales.defined())
      return at::fake_quantize_per_channel_affine(x, scales, zeroPoints, a,
                                                  qmin, qmax);
    std::vector<int64_t> view(x.dim(), 1);
    view[a] = scales.size(0);
    at::Tensor zp = zeroPointsF.view(view);
    at::Tensor y = x * invScales.view(view);
    y.round_().add_(zp).clamp_(qmin, qmax).sub_(zp).mul_(scales.view(view));
    return y;
  }
  if (wide)
    return at::fake_quantize_per_tensor_affine(x, scale, zeroPoint, qmin, qmax);
  float s = static_cast<float>(scale);
  float inv = 1.0f / s;
  at::Tensor y = x * static_cast<double>(inv);
  y.round_()
      .add_(zeroPoint)
      .clamp_(qmin, qmax)
      .sub_(zeroPoint)
      .mul_(static_cast<double>(s));
  return y;
}

at::Tensor QuantParams::storage(const at::Tensor &values) const {
  double s = static_cast<float>(scale); // as dequantize multiplies
  return (at::round(values.to(at::kDouble) / s) + zeroPoint).to(at::kLong);
}

at::Tensor QuantParams::dequantize(const at::Tensor &storage) const {
  at::Tensor q = storage.to(at::kFloat);
  if (!perAxis)
    return (q - static_cast<float>(zeroPoint)) * static_cast<float>(scale);
  if (axis >= q.dim() || q.size(axis) != scales.size(0))
    fail("per-axis scales do not match the constant's quantized dimension");
  std::vector<int64_t> shape(q.dim(), 1);
  shape[axis] = scales.size(0);
  return (q - zeroPoints.to(at::kFloat).view(shape)) * scales.view(shape);
}

//===----------------------------------------------------------------------===//
// GEMM
//===----------------------------------------------------------------------===//

at::Tensor linear(const at::Tensor &x, const at::Tensor &w,
                  const at::Tensor *bias, bool onednn) {
  bool eligible = onednn && x.dim() >= 1 && w.dim() == 2 &&
                  x.scalar_type() == at::kFloat &&
                  w.scalar_type() == at::kFloat && x.numel() > 0 &&
                  (!bias || bias->scalar_type() == at::kFloat);
  if (!eligible)
    return bias ? at::linear(x, w, *bias) : at::linear(x, w);
  if (x.size(-1) != w.size(1))
    fail("linear: input features " + llvm::Twine(x.size(-1)) +
         " differ from weight in_features " + llvm::Twine(w.size(1)));
  at::Tensor x2 = x.reshape({-1, x.size(-1)}).contiguous();
  c10::optional<at::Tensor> b;
  if (bias)
    b = bias->contiguous();
  at::Tensor y =
      at::mkldnn_linear(x2.to_mkldnn(), w.contiguous(), b).to_dense();
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = w.size(0);
  return y.reshape(shape);
}

at::Tensor matmul(const at::Tensor &a, const at::Tensor &b, bool adjX,
                  bool adjY, bool onednn) {
  at::Tensor x = adjX ? a.transpose(-2, -1) : a;
  bool eligible = onednn && a.dim() >= 2 && b.dim() >= 2 &&
                  a.scalar_type() == at::kFloat &&
                  b.scalar_type() == at::kFloat;
  if (!eligible)
    return at::matmul(x, adjY ? b.transpose(-2, -1) : b);
  // As a linear: y[.., M, N] = x[.., M, K] w[.., N, K]^T with w = b^T.
  at::Tensor w = adjY ? b : b.transpose(-2, -1);
  if (x.size(-1) != w.size(-1))
    fail("matmul: contracting dimensions differ: " + llvm::Twine(x.size(-1)) +
         " vs " + llvm::Twine(w.size(-1)));
  if (w.dim() == 2)
    return linear(x, w, nullptr, true);
  std::vector<int64_t> batch = at::infer_size(x.sizes().slice(0, x.dim() - 2),
                                              w.sizes().slice(0, w.dim() - 2));
  int64_t r = batch.size(), m = x.size(-2), n = w.size(-2), k = x.size(-1);
  // Trailing batch dimensions along which w is broadcast (GQA groups) fold
  // into M: one [G*M, K] x [K, N] GEMM instead of G small ones.
  std::vector<int64_t> wBatch(r, 1);
  for (int64_t i = 0; i < w.dim() - 2; ++i)
    wBatch[r - (w.dim() - 2) + i] = w.size(i);
  int64_t split = r;
  while (split > 0 && wBatch[split - 1] == 1)
    --split;
  int64_t front = 1, back = 1;
  for (int64_t i = 0; i < r; ++i)
    (i < split ? front : back) *= batch[i];
  std::vector<int64_t> xShape = batch,
                       wShape(batch.begin(), batch.begin() + split);
  xShape.push_back(m);
  xShape.push_back(k);
  wShape.insert(wShape.end(), r - split, 1);
  wShape.push_back(n);
  wShape.push_back(k);
  at::Tensor xs = x.expand(xShape).reshape({front, back * m, k});
  at::Tensor ws = w.expand(wShape).reshape({front, n, k});
  std::vector<at::Tensor> outs;
  outs.reserve(front);
  for (int64_t i = 0; i < front; ++i)
    outs.push_back(
        at::mkldnn_linear(xs[i].contiguous().to_mkldnn(), ws[i].contiguous())
            .to_dense());
  std::vector<int64_t> shape = batch;
  shape.push_back(m);
  shape.push_back(n);
  return at::stack(outs).reshape(shape);
}

//===----------------------------------------------------------------------===//
// Results
//===----------------------------------------------------------------------===//

static std::string shapeString(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += ShapedType::isDynamic(shape[i]) ? "?" : std::to_string(shape[i]);
  }
  return s + "]";
}

void ResultInfo::checkShape(const at::Tensor &t) const {
  if (!ranked)
    return;
  bool ok = t.dim() == static_cast<int64_t>(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i)
    ok = ShapedType::isDynamic(shape[i]) || shape[i] == t.size(i);
  if (!ok)
    fail("result has shape " + shapeString(t.sizes().vec()) +
         " but its type says " + shapeString(shape));
}

at::Tensor ResultInfo::finish(at::Tensor t) const {
  if (quant)
    t = quant->apply(t);
  checkShape(t);
  return t;
}

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

/// Sign- or zero-extends `bits`-wide integers stored one per byte.
static at::Tensor extendSubByte(at::Tensor bytes, unsigned bits,
                                bool isSigned) {
  at::Tensor v = bytes.to(at::kShort);
  int64_t mask = (int64_t(1) << bits) - 1;
  v = at::bitwise_and(v, mask);
  if (isSigned)
    v = at::where(v >= (int64_t(1) << (bits - 1)), v - (mask + 1), v);
  return v;
}

FailureOr<at::Tensor> materializeConstant(Operation *op, ElementsAttr value,
                                          Type resultType) {
  auto attrType = cast<ShapedType>(value.getType());
  std::vector<int64_t> shape(attrType.getShape().begin(),
                             attrType.getShape().end());
  Type storageElt = attrType.getElementType();
  auto resultTensor = dyn_cast<TensorType>(resultType);
  Type resultElt = resultTensor ? resultTensor.getElementType() : storageElt;
  auto quant = quantParamsOf(resultElt);
  if (!quant && resultElt != storageElt)
    return op->emitError() << "constant of " << storageElt
                           << " values has result element type " << resultElt;

  // The dtype the stored bytes are read as.
  auto intType = dyn_cast<IntegerType>(storageElt);
  unsigned width = intType ? intType.getWidth() : 0;
  bool subByte = intType && width > 1 && width < 8;
  bool isSigned = quant ? quant->isSigned : !(intType && intType.isUnsigned());
  std::optional<at::ScalarType> dtype;
  if (subByte)
    dtype = at::kChar;
  else if (intType && width == 8)
    dtype = isSigned ? at::kChar : at::kByte;
  else if (intType && quant && !isSigned && width > 8)
    return op->emitError() << "unsigned " << width
                           << "-bit quantized storage is not supported";
  else
    dtype = scalarTypeOf(storageElt);
  if (!dtype)
    return op->emitError() << "constant element type " << storageElt
                           << " is not supported by kiln-run";
  int64_t numel = attrType.getNumElements();
  size_t eltBytes = c10::elementSize(*dtype);

  at::Tensor t;
  try {
    if (auto res = dyn_cast<DenseResourceElementsAttr>(value)) {
      AsmResourceBlob *blob = res.getRawHandle().getBlob();
      if (!blob)
        return op->emitError() << "resource '" << res.getRawHandle().getKey()
                               << "' has no data";
      ArrayRef<char> data = blob->getData();
      if (data.size() != numel * eltBytes)
        return op->emitError() << "resource '" << res.getRawHandle().getKey()
                               << "' has " << data.size() << " bytes but "
                               << attrType << " needs " << numel * eltBytes;
      // No copy: the blob lives as long as the context, and kernels never
      // write into their operands.
      t = at::from_blob(const_cast<char *>(data.data()), shape,
                        at::TensorOptions().dtype(*dtype));
    } else if (auto dense = dyn_cast<DenseIntOrFPElementsAttr>(value)) {
      if (width == 1) {
        std::vector<uint8_t> bits;
        bits.reserve(numel);
        for (bool b : dense.getValues<bool>())
          bits.push_back(b);
        t = at::tensor(bits, at::kByte).to(at::kBool).reshape(shape);
      } else if (subByte) {
        std::vector<int8_t> vals;
        vals.reserve(numel);
        for (const APInt &v : dense.getValues<APInt>())
          vals.push_back(static_cast<int8_t>(v.getZExtValue()));
        t = at::tensor(vals, at::kChar).reshape(shape);
      } else {
        ArrayRef<char> raw = dense.getRawData();
        if (dense.isSplat()) {
          at::Tensor one = at::from_blob(const_cast<char *>(raw.data()), {},
                                         at::TensorOptions().dtype(*dtype));
          t = one.expand(shape).contiguous();
        } else {
          if (raw.size() != numel * eltBytes)
            return op->emitError() << "unexpected dense attribute layout";
          t = at::from_blob(const_cast<char *>(raw.data()), shape,
                            at::TensorOptions().dtype(*dtype));
        }
      }
    } else {
      return op->emitError()
             << "constant attribute kind is not supported by kiln-run";
    }
    if (subByte)
      t = extendSubByte(t, width, isSigned);
    if (quant)
      t = quant->dequantize(t);
  } catch (const std::exception &e) {
    return op->emitError() << "cannot decode constant: " << e.what();
  }
  return t;
}

//===----------------------------------------------------------------------===//
// Compiler
//===----------------------------------------------------------------------===//

const KernelTable &kernelTable() {
  static const KernelTable table = [] {
    KernelTable t;
    addKilnKernels(t);
    addCircleKernels(t);
    addIntegerKernels(t);
    addStandardKernels(t);
    return t;
  }();
  return table;
}

uint32_t Compiler::slot(Value v) {
  auto [it, inserted] = slotMap->try_emplace(v, *numSlots);
  if (inserted)
    ++*numSlots;
  return it->second;
}

llvm::SmallVector<uint32_t, 4> Compiler::slots(ValueRange values) {
  llvm::SmallVector<uint32_t, 4> out;
  for (Value v : values)
    out.push_back(slot(v));
  return out;
}

ResultInfo Compiler::result(Value v) {
  ResultInfo info;
  info.slot = slot(v);
  if (auto t = dyn_cast<TensorType>(v.getType())) {
    info.dtype = scalarTypeOf(t.getElementType());
    info.quant = quantParamsOf(t.getElementType());
    if (auto r = dyn_cast<RankedTensorType>(t)) {
      info.ranked = true;
      info.shape.assign(r.getShape().begin(), r.getShape().end());
    }
  }
  return info;
}

FailureOr<Block> Compiler::compileBlock(mlir::Block &block) {
  Block out;
  for (BlockArgument arg : block.getArguments())
    out.args.push_back(slot(arg));

  // Last use, in this block, of each value defined in this block.
  llvm::DenseMap<Value, size_t> lastUse;
  Operation *terminator =
      block.mightHaveTerminator() ? block.getTerminator() : nullptr;
  size_t index = 0;
  for (Operation &op : block) {
    if (&op == terminator)
      break;
    for (Value r : op.getResults())
      lastUse[r] = index;
    op.walk([&](Operation *nested) {
      for (Value operand : nested->getOperands())
        if (operand.getParentBlock() == &block)
          lastUse[operand] = index;
    });
    ++index;
  }
  if (terminator) {
    // Values the terminator reads stay alive until they are copied out.
    for (Value operand : terminator->getOperands())
      lastUse.erase(operand);
  }

  std::vector<llvm::SmallVector<uint32_t, 2>> releases(index);
  for (auto [value, at] : lastUse)
    releases[at].push_back(slot(value));

  const KernelTable &table = kernelTable();
  index = 0;
  std::vector<Step> steps;
  std::vector<bool> folded;
  for (Operation &op : block) {
    if (&op == terminator)
      break;
    auto it = table.find(op.getName().getStringRef());
    if (it == table.end())
      return op.emitError()
             << "kiln-run has no kernel for '" << op.getName() << "'";
    FailureOr<Exec> exec = it->second(&op, *this);
    if (failed(exec))
      return failure();
    steps.push_back(Step{&op, std::move(*exec), std::move(releases[index]),
                         slots(op.getResults())});
    folded.push_back(tryFold(steps.back()));
    ++index;
  }

  // Folded steps whose results only feed other folded steps never run.
  llvm::DenseSet<Value> runtimeUses;
  for (auto [step, isFolded] : llvm::zip(steps, folded))
    if (!isFolded)
      step.op->walk([&](Operation *nested) {
        for (Value operand : nested->getOperands())
          runtimeUses.insert(operand);
      });
  if (terminator)
    for (Value operand : terminator->getOperands())
      runtimeUses.insert(operand);
  llvm::SmallVector<uint32_t, 2> pendingRelease;
  for (auto [step, isFolded] : llvm::zip(steps, folded)) {
    bool needed =
        !isFolded || llvm::any_of(step.op->getResults(), [&](Value r) {
          return runtimeUses.contains(r);
        });
    if (!needed) {
      pendingRelease.append(step.release.begin(), step.release.end());
      continue;
    }
    step.release.append(pendingRelease.begin(), pendingRelease.end());
    pendingRelease.clear();
    out.steps.push_back(std::move(step));
  }
  if (terminator) {
    StringRef name = terminator->getName().getStringRef();
    if (name != "func.return" && name != "scf.yield")
      return terminator->emitError()
             << "kiln-run has no kernel for '" << terminator->getName() << "'";
    for (Value operand : terminator->getOperands()) {
      out.yields.push_back(slot(operand));
      if (operand.getParentBlock() == &block)
        out.ownedYields.push_back(slot(operand));
    }
  }
  return out;
}

bool Compiler::tryFold(Step &step) {
  Operation *op = step.op;
  if (op->getNumRegions() != 0 || !isMemoryEffectFree(op))
    return false;
  for (Value operand : op->getOperands())
    if (!constants.count(operand))
      return false;
  Frame frame;
  frame.slots.resize(*numSlots);
  for (Value operand : op->getOperands())
    frame.slots[slot(operand)] = constants[operand];
  try {
    step.exec(frame);
  } catch (...) {
    return false; // not folded: the error is reported when the op runs
  }
  std::vector<std::pair<uint32_t, RValue>> values;
  for (auto [result, resultSlot] : llvm::zip(op->getResults(), step.results)) {
    RValue &v = frame.slots[resultSlot];
    if (v.kind == RValue::Kind::Empty)
      return false;
    values.push_back({resultSlot, v});
  }
  for (auto [result, value] : llvm::zip(op->getResults(), values))
    constants[result] = value.second;
  step.exec = [values](Frame &f) {
    for (const auto &[s, v] : values)
      f.slots[s] = v;
  };
  return true;
}

LogicalResult Compiler::compileFunction(Function &fn) {
  llvm::DenseMap<Value, uint32_t> map;
  uint32_t count = 0;
  auto *savedMap = slotMap;
  auto *savedCount = numSlots;
  slotMap = &map;
  numSlots = &count;
  FailureOr<Block> body = compileBlock(fn.func.getBody().front());
  slotMap = savedMap;
  numSlots = savedCount;
  if (failed(body))
    return failure();
  fn.body = std::move(*body);
  fn.numSlots = count;
  fn.compiled = true;
  return success();
}

Function *Compiler::getFunction(llvm::StringRef name, Location useLoc) {
  auto it = functions.find(name);
  if (it != functions.end())
    return it->second.get();
  auto func = module.lookupSymbol<func::FuncOp>(name);
  if (!func) {
    emitError(useLoc) << "no function named '" << name << "'";
    return nullptr;
  }
  if (func.isDeclaration()) {
    emitError(func.getLoc()) << "function '" << name << "' has no body";
    return nullptr;
  }
  if (!func.getBody().hasOneBlock()) {
    emitError(func.getLoc())
        << "function '" << name
        << "' has several blocks; kiln-run runs single-block bodies";
    return nullptr;
  }
  auto fn = std::make_unique<Function>();
  fn->func = func;
  Function *ptr = fn.get();
  functions[name] = std::move(fn);
  if (failed(compileFunction(*ptr))) {
    functions.erase(name);
    return nullptr;
  }
  return ptr;
}

//===----------------------------------------------------------------------===//
// Host conversions and argument binding
//===----------------------------------------------------------------------===//

at::Tensor fromHost(const HostTensor &t) {
  at::Tensor out =
      at::empty(t.shape, at::TensorOptions().dtype(toScalarType(t.dtype)));
  size_t bytes = out.numel() * out.element_size();
  if (bytes != t.bytes.size())
    fail("host tensor has " + llvm::Twine(t.bytes.size()) +
         " bytes, its shape needs " + llvm::Twine(bytes));
  if (bytes)
    std::memcpy(out.data_ptr(), t.bytes.data(), bytes);
  return out;
}

HostTensor toHost(const at::Tensor &t) {
  HostTensor out;
  std::optional<DType> dtype = toDType(t.scalar_type());
  if (!dtype)
    fail(llvm::Twine("unsupported result dtype ") +
         c10::toString(t.scalar_type()));
  out.dtype = *dtype;
  out.shape = t.sizes().vec();
  at::Tensor c = t.contiguous();
  out.bytes.resize(c.numel() * c.element_size());
  if (!out.bytes.empty())
    std::memcpy(out.bytes.data(), c.data_ptr(), out.bytes.size());
  return out;
}

RValue fromHost(const HostValue &v) {
  switch (v.kind) {
  case HostValue::Kind::None:
    return RValue::none();
  case HostValue::Kind::Tensor:
    return RValue::tensor(fromHost(v.tensor));
  case HostValue::Kind::Int:
    return RValue::integer(v.i);
  case HostValue::Kind::Float:
    return RValue::real(v.f);
  case HostValue::Kind::Sequence: {
    std::vector<RValue> elements;
    for (const HostValue &e : v.elements)
      elements.push_back(fromHost(e));
    return RValue::sequence(std::move(elements));
  }
  }
  return RValue::none();
}

HostValue toHost(const RValue &v) {
  switch (v.kind) {
  case RValue::Kind::Empty:
  case RValue::Kind::None:
    return HostValue::none();
  case RValue::Kind::Tensor:
    return HostValue::of(toHost(v.t));
  case RValue::Kind::Int:
    return HostValue::ofInt(v.i);
  case RValue::Kind::Float:
    return HostValue::ofFloat(v.f);
  case RValue::Kind::Seq: {
    std::vector<HostValue> elements;
    for (const RValue &e : *v.seq)
      elements.push_back(toHost(e));
    return HostValue::sequence(std::move(elements));
  }
  }
  return HostValue::none();
}

static std::string typeString(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

RValue bindArgument(const RValue &value, Type type, const llvm::Twine &what) {
  auto mismatch = [&](llvm::StringRef got) {
    fail(what + ": expected a value of type " + typeString(type) + ", got " +
         got);
  };
  if (auto tensorType = dyn_cast<TensorType>(type)) {
    if (value.kind != RValue::Kind::Tensor)
      mismatch(value.kindName());
    at::Tensor t = value.t;
    Type elt = tensorType.getElementType();
    if (auto q = quantParamsOf(elt)) {
      if (at::isIntegralType(t.scalar_type(), /*includeBool=*/false))
        t = q->dequantize(t);
      else
        t = q->apply(t);
    } else {
      std::optional<at::ScalarType> want = scalarTypeOf(elt);
      if (!want)
        fail(what + ": element type " + typeString(elt) + " is not supported");
      if (t.scalar_type() != *want)
        fail(what + ": dtype mismatch: got " + c10::toString(t.scalar_type()) +
             ", the argument is " + typeString(type));
    }
    if (auto ranked = dyn_cast<RankedTensorType>(tensorType)) {
      bool ok = ranked.getRank() == t.dim();
      for (int64_t i = 0; ok && i < ranked.getRank(); ++i)
        ok = ranked.isDynamicDim(i) || ranked.getDimSize(i) == t.size(i);
      if (!ok)
        fail(what + ": shape " + shapeString(t.sizes().vec()) +
             " does not match " + typeString(type));
    }
    return RValue::tensor(t);
  }
  auto scalarOf = [&](const RValue &v) -> std::optional<RValue> {
    if (v.kind == RValue::Kind::Int || v.kind == RValue::Kind::Float)
      return v;
    if (v.kind == RValue::Kind::Tensor && v.t.dim() == 0) {
      if (at::isFloatingType(v.t.scalar_type()))
        return RValue::real(v.t.item<double>());
      return RValue::integer(v.t.item<int64_t>());
    }
    return std::nullopt;
  };
  if (type.isIntOrIndex()) {
    auto s = scalarOf(value);
    if (!s || s->kind != RValue::Kind::Int)
      mismatch(value.kindName());
    if (type.isInteger(1))
      return RValue::integer(s->i != 0);
    return *s;
  }
  if (isa<FloatType>(type)) {
    auto s = scalarOf(value);
    if (!s)
      mismatch(value.kindName());
    return RValue::real(s->kind == RValue::Kind::Int ? static_cast<double>(s->i)
                                                     : s->f);
  }
  if (isa<kiln::NoneType>(type)) {
    if (value.kind != RValue::Kind::None)
      mismatch(value.kindName());
    return value;
  }
  if (auto opt = dyn_cast<kiln::OptionalType>(type)) {
    if (value.kind == RValue::Kind::None)
      return value;
    return bindArgument(value, opt.getElementType(), what);
  }
  if (auto tuple = dyn_cast<TupleType>(type)) {
    if (value.kind != RValue::Kind::Seq)
      mismatch(value.kindName());
    if (value.seq->size() != tuple.size())
      fail(what + ": expected a tuple of " + llvm::Twine(tuple.size()) +
           " elements, got " + llvm::Twine(value.seq->size()));
    std::vector<RValue> elements;
    for (size_t i = 0; i < tuple.size(); ++i)
      elements.push_back(bindArgument((*value.seq)[i], tuple.getType(i),
                                      what + "." + llvm::Twine(i)));
    return RValue::sequence(std::move(elements));
  }
  if (auto list = dyn_cast<kiln::ListType>(type)) {
    if (value.kind != RValue::Kind::Seq)
      mismatch(value.kindName());
    std::vector<RValue> elements;
    for (size_t i = 0; i < value.seq->size(); ++i)
      elements.push_back(bindArgument((*value.seq)[i], list.getElementType(),
                                      what + "." + llvm::Twine(i)));
    return RValue::sequence(std::move(elements));
  }
  fail(what + ": arguments of type " + typeString(type) + " are not supported");
}

} // namespace kiln::runtime
