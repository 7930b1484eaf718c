//===- Evaluator.h - Run kiln / circle functions on the CPU -----*- C++ -*-===//
//
// Kiln's evaluator interprets a func.func of the kiln and circle dialects
// (with scf, arith, tensor, func and !quant.uniform types) with ATen kernels.
// It is implemented in lib/Runtime (KilnRuntime, built with LibTorch); this
// header exposes no LibTorch type, so code built with LLVM's flags can use it.
//
// Values crossing this API are HostValues: dense little-endian C-contiguous
// tensors, i64/f64 scalars (i1 as 0/1), None, and tuples/lists. A value of a
// quantized tensor type is the float tensor of its dequantized values.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_EVALUATOR_H
#define KILN_RUNTIME_EVALUATOR_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::func {
class FuncOp;
} // namespace mlir::func

namespace kiln::runtime {

/// Element types a host tensor can have (names as in numpy / kiln_torch).
enum class DType { Bool, I8, U8, I16, I32, I64, F16, BF16, F32, F64 };

/// "float32", "int64", "bool", ...
llvm::StringRef dtypeName(DType dtype);
std::optional<DType> parseDType(llvm::StringRef name);
size_t dtypeSize(DType dtype);
/// The DType a builtin/quant element type is represented with (quantized
/// types: their expressed type); std::nullopt when unsupported.
std::optional<DType> dtypeOf(mlir::Type elementType);

/// A dense, C-contiguous, little-endian tensor owned by the host.
struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<char> bytes;

  int64_t numel() const;
  template <typename T> T *data() {
    return reinterpret_cast<T *>(bytes.data());
  }
  template <typename T> const T *data() const {
    return reinterpret_cast<const T *>(bytes.data());
  }
  /// Element `i` converted to double.
  double at(int64_t i) const;

  static HostTensor zeros(DType dtype, std::vector<int64_t> shape);
  static HostTensor f32(std::vector<int64_t> shape,
                        llvm::ArrayRef<float> values);
  static HostTensor i64(std::vector<int64_t> shape,
                        llvm::ArrayRef<int64_t> values);
};

/// A runtime value: a tensor, an integer (i1/i64/index) or float scalar,
/// None, or a tuple/list of values.
struct HostValue {
  enum class Kind { None, Tensor, Int, Float, Sequence };
  Kind kind = Kind::None;
  HostTensor tensor;
  int64_t i = 0;
  double f = 0;
  std::vector<HostValue> elements;

  static HostValue none() { return {}; }
  static HostValue of(HostTensor t);
  static HostValue ofInt(int64_t v);
  static HostValue ofFloat(double v);
  static HostValue sequence(std::vector<HostValue> elements);
};

/// Interprets one function of a module. The module (and its MLIRContext,
/// which owns the weight blobs the evaluator reads without copying) must
/// outlive the evaluator and must not be modified while it exists.
class Evaluator {
public:
  ~Evaluator();
  Evaluator(Evaluator &&) noexcept;

  /// Compiles `function` (and every function it calls) into a kernel
  /// program. Ops without a kernel, bad attributes and unknown functions are
  /// reported as diagnostics at their location; the result is then null.
  static std::unique_ptr<Evaluator> create(mlir::ModuleOp module,
                                           llvm::StringRef function);

  mlir::func::FuncOp getFunction() const;

  /// Calls the function with one value per argument (a tuple argument takes a
  /// Sequence, an absent Optional takes None). Errors (wrong dtypes or shapes,
  /// an ATen failure inside a kernel) are diagnostics at the failing op.
  mlir::FailureOr<std::vector<HostValue>> run(llvm::ArrayRef<HostValue> args);

private:
  struct Impl;
  explicit Evaluator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

/// Whether the evaluator has a kernel for ops named `operationName`
/// ("kiln.linear"); every kiln and circle op must have one.
bool hasKernel(llvm::StringRef operationName);

/// Error metrics of `actual` against `expected` (same number of elements).
struct Metrics {
  double maxAbs = 0;
  double meanAbs = 0;
  /// Peak error to interval ratio: maxAbs / (max(expected) - min(expected)).
  double peir = 0;
  double cosine = 1;
  int64_t numel = 0;
};
mlir::FailureOr<Metrics> computeMetrics(const HostTensor &actual,
                                        const HostTensor &expected,
                                        std::string &error);

/// The `kiln-run` command line (tools/kiln-run is a thin main around it);
/// `registry` holds the dialects to parse.
int kilnRunMain(int argc, char **argv, mlir::DialectRegistry &registry);

} // namespace kiln::runtime

#endif // KILN_RUNTIME_EVALUATOR_H
