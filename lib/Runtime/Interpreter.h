//===- Interpreter.h - Kernel programs over ATen tensors --------*- C++ -*-===//
//
// Private to lib/Runtime (built with LibTorch and exceptions).
//
// A function is compiled once into a Program: every SSA value gets a slot of
// a Frame, every op a Step whose closure reads its operand slots, calls ATen
// and writes its result slots. Attributes, constants and quantization
// parameters are decoded at compile time; run time is a loop over steps.
// Slots are released after their last use, so intermediates do not pile up.
//
// Kernels report errors by throwing (EvalError, or ATen's c10::Error); the
// step loop turns them into a diagnostic at the failing op's location.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_LIB_RUNTIME_INTERPRETER_H
#define KILN_LIB_RUNTIME_INTERPRETER_H

#include "kiln/Runtime/Evaluator.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"

#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

namespace kiln::runtime {

/// A run-time value in a slot.
struct RValue {
  enum class Kind : uint8_t { Empty, None, Tensor, Int, Float, Seq };
  Kind kind = Kind::Empty;
  int64_t i = 0;
  double f = 0;
  at::Tensor t;
  std::shared_ptr<const std::vector<RValue>> seq;

  static RValue none() {
    RValue v;
    v.kind = Kind::None;
    return v;
  }
  static RValue tensor(at::Tensor t) {
    RValue v;
    v.kind = Kind::Tensor;
    v.t = std::move(t);
    return v;
  }
  static RValue integer(int64_t i) {
    RValue v;
    v.kind = Kind::Int;
    v.i = i;
    return v;
  }
  static RValue real(double f) {
    RValue v;
    v.kind = Kind::Float;
    v.f = f;
    return v;
  }
  static RValue sequence(std::vector<RValue> elements) {
    RValue v;
    v.kind = Kind::Seq;
    v.seq = std::make_shared<const std::vector<RValue>>(std::move(elements));
    return v;
  }
  const char *kindName() const;
};

/// An error raised by a kernel; the message is reported at the op.
struct EvalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] void fail(const llvm::Twine &message);

/// Thrown after a diagnostic was emitted, to unwind nested blocks and calls.
struct Reported {};

struct Frame {
  std::vector<RValue> slots;

  const at::Tensor &tensor(uint32_t slot) const;
  int64_t integer(uint32_t slot) const;
  double real(uint32_t slot) const;
  const std::vector<RValue> &sequence(uint32_t slot) const;
};

using Exec = std::function<void(Frame &)>;

struct Step {
  mlir::Operation *op = nullptr;
  Exec exec;
  /// Slots whose last use is this step.
  llvm::SmallVector<uint32_t, 2> release;
  /// Slots of the op's results.
  llvm::SmallVector<uint32_t, 1> results;
};

struct Block {
  std::vector<Step> steps;
  llvm::SmallVector<uint32_t, 4> args;
  /// Operand slots of the terminator (scf.yield, func.return).
  llvm::SmallVector<uint32_t, 4> yields;
  /// Yield slots defined inside this block, released once copied out.
  llvm::SmallVector<uint32_t, 4> ownedYields;
};

/// Runs a block's steps; errors are reported at the failing op and rethrown
/// as Reported.
void runBlock(const Block &block, Frame &frame);

/// Called after every step when set (kiln-run --dump-intermediates). The
/// frame is mutable so that an observer can replace a step's results (kiln-run
/// --against-litert feeds each op the other runtime's operands).
using StepObserver = std::function<void(const Step &, Frame &)>;
void setStepObserver(StepObserver observer);

struct Function {
  mlir::func::FuncOp func;
  uint32_t numSlots = 0;
  Block body;
  bool compiled = false;
};

/// Runs a tool's `body`, turning its errors (EvalError and other exceptions,
/// c10::Error; Reported ones are already printed) into "TOOL: error: ..."
/// and exit code 1.
int reportErrors(llvm::StringRef tool, const std::function<int()> &body);

/// Calls a compiled function. Throws Reported on failure.
std::vector<RValue> callFunction(const Function &fn,
                                 llvm::ArrayRef<RValue> args);

/// Maps an element type to the ATen dtype its values are represented with.
std::optional<at::ScalarType> scalarTypeOf(mlir::Type elementType);
at::ScalarType toScalarType(DType dtype);
std::optional<DType> toDType(at::ScalarType type);

/// Quantization parameters of a !quant.uniform element type.
struct QuantParams {
  bool perAxis = false;
  double scale = 1;
  int64_t zeroPoint = 0;
  int64_t axis = 0;
  int64_t qmin = 0, qmax = 0;
  bool isSigned = true;
  unsigned storageWidth = 8;
  at::Tensor scales;      // float32 [C] (per axis)
  at::Tensor zeroPoints;  // int32 [C] (per axis)
  at::Tensor invScales;   // float32 1 / scales (per axis)
  at::Tensor zeroPointsF; // float32 zero points (per axis)

  /// Fills invScales / zeroPointsF from scales / zeroPoints.
  void prepare();
  /// Fake quantization: the nearest representable value, bit for bit what
  /// ATen's fake_quantize_per_{tensor,channel}_affine computes:
  /// (clamp(nearbyint(x * (1.0f / scale)) + zp, qmin, qmax) - zp) * scale in
  /// float32 (round half to even), with vectorized ATen ops (the fused ATen
  /// kernels are scalar loops that also write a mask). `axis` overrides the
  /// per-axis dimension (already normalized) when >= 0.
  at::Tensor apply(const at::Tensor &x, int64_t axisOverride = -1) const;
  /// (q - zero_point) * scale, in float32.
  at::Tensor dequantize(const at::Tensor &storage) const;
  /// The integers (int64) behind dequantized values of a per-tensor type:
  /// round(x / scale) + zero_point, exact for values dequantize produced.
  at::Tensor storage(const at::Tensor &values) const;
};
/// Null when `elementType` is not a quantized type.
std::shared_ptr<const QuantParams> quantParamsOf(mlir::Type elementType);

/// How a kernel's tensor result is finished: fake quantization for a
/// quantized result type, then a check against the declared static shape.
struct ResultInfo {
  uint32_t slot = 0;
  std::optional<at::ScalarType> dtype;
  std::shared_ptr<const QuantParams> quant;
  bool ranked = false;
  llvm::SmallVector<int64_t, 4> shape; // ShapedType::kDynamic where unknown

  at::Tensor finish(at::Tensor t) const;
  void checkShape(const at::Tensor &t) const;
};

/// y = x W^T (+ b) with ATen's at::linear, or through oneDNN for float32
/// operands when `onednn` is set.
at::Tensor linear(const at::Tensor &x, const at::Tensor &w,
                  const at::Tensor *bias, bool onednn);

/// Batched matmul with adjoint flags and batch broadcasting (aten::matmul,
/// TFLite BATCH_MATMUL); with `onednn`, float32 products run as one oneDNN
/// GEMM per batch entry.
at::Tensor matmul(const at::Tensor &a, const at::Tensor &b, bool adjX,
                  bool adjY, bool onednn);

/// Decodes an ElementsAttr (dense or dense_resource) as a tensor of
/// `resultType`; integer storage of a quantized result type is dequantized.
/// Resource blobs are wrapped without a copy.
mlir::FailureOr<at::Tensor> materializeConstant(mlir::Operation *op,
                                                mlir::ElementsAttr value,
                                                mlir::Type resultType);

class Compiler;
using KernelBuilder =
    std::function<mlir::FailureOr<Exec>(mlir::Operation *, Compiler &)>;
using KernelTable = llvm::StringMap<KernelBuilder>;

void addKilnKernels(KernelTable &table);
void addCircleKernels(KernelTable &table);
void addStandardKernels(KernelTable &table);
/// TFLite's integer kernels for quantized circle ops (IntegerKernels.cpp),
/// wrapping the float-domain ones, which remain for other operand types.
void addIntegerKernels(KernelTable &table);
struct CompileOptions;
/// Whether the integer kernel of `use`'s owner reads that operand's constant
/// itself (its integers, at compile time) and never its frame value: a
/// constant whose every use does is not materialized as floats (the weights
/// of a 1B-parameter model stay one byte each).
bool readsOnlyIntegerStorage(mlir::OpOperand &use,
                             const CompileOptions &options);
const KernelTable &kernelTable();

/// Kernel choices that trade bit-exactness with PyTorch for speed.
struct CompileOptions {
  /// Float32 linear / fully_connected / matmul / batch_matmul through oneDNN
  /// (mkldnn_linear) instead of ATen's BLAS GEMM: much faster where the BLAS
  /// is the reference one, but the summation order differs (float results
  /// ~1e-6 relative apart).
  bool onednnGemm = false;
  /// Quantized circle ops run TFLite's integer kernels (bit for bit what
  /// LiteRT computes); off, they run in the float domain with the result
  /// fake-quantized (kiln-run --quantized-kernels=float).
  bool integerKernels = true;
};

/// Compiles functions of one module; owns them.
class Compiler {
public:
  explicit Compiler(mlir::ModuleOp module, CompileOptions options = {})
      : module(module), compileOptions(options) {}
  const CompileOptions &options() const { return compileOptions; }

  /// The compiled function `name`, or null after a diagnostic.
  Function *getFunction(llvm::StringRef name, mlir::Location useLoc);

  // For kernel builders -----------------------------------------------------
  uint32_t slot(mlir::Value v);
  llvm::SmallVector<uint32_t, 4> slots(mlir::ValueRange values);
  ResultInfo result(mlir::Value v);
  mlir::FailureOr<Block> compileBlock(mlir::Block &block);

private:
  mlir::LogicalResult compileFunction(Function &fn);
  /// Evaluates a side-effect-free op whose operands are all constants once,
  /// at compile time (e.g. the fake quantization of a weight); its step then
  /// just loads the values. Returns false when the op must run each call.
  bool tryFold(Step &step);
  llvm::DenseMap<mlir::Value, RValue> constants;

  mlir::ModuleOp module;
  CompileOptions compileOptions;
  llvm::StringMap<std::unique_ptr<Function>> functions;
  /// Slot numbering of the function being compiled.
  llvm::DenseMap<mlir::Value, uint32_t> *slotMap = nullptr;
  uint32_t *numSlots = nullptr;
};

// Conversions between HostValue and RValue.
RValue fromHost(const HostValue &v);
HostValue toHost(const RValue &v);
at::Tensor fromHost(const HostTensor &t);
HostTensor toHost(const at::Tensor &t);

/// Binds run-time values to a function's arguments, checking them against
/// the argument types (tensor/scalar/None, dtype, static shape); quantized
/// tensor arguments are fake-quantized (float input) or dequantized (integer
/// storage input). Throws EvalError naming the argument.
RValue bindArgument(const RValue &value, mlir::Type type,
                    const llvm::Twine &what);

} // namespace kiln::runtime

#endif // KILN_LIB_RUNTIME_INTERPRETER_H
