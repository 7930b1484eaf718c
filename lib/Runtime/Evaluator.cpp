//===- Evaluator.cpp - The public, LibTorch-free evaluator API ------------===//
#include "Inputs.h"
#include "Interpreter.h"

#include "mlir/IR/Diagnostics.h"

#include <cstring>

using namespace mlir;

namespace kiln::runtime {

//===----------------------------------------------------------------------===//
// DType / HostTensor / HostValue
//===----------------------------------------------------------------------===//

llvm::StringRef dtypeName(DType dtype) {
  return dtypeFileName(toScalarType(dtype));
}

std::optional<DType> parseDType(llvm::StringRef name) {
  if (auto s = parseDTypeName(name))
    return toDType(*s);
  return std::nullopt;
}

size_t dtypeSize(DType dtype) { return c10::elementSize(toScalarType(dtype)); }

int64_t HostTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

double HostTensor::at(int64_t i) const {
  switch (dtype) {
  case DType::Bool:
    return data<bool>()[i];
  case DType::I8:
    return data<int8_t>()[i];
  case DType::U8:
    return data<uint8_t>()[i];
  case DType::I16:
    return data<int16_t>()[i];
  case DType::I32:
    return data<int32_t>()[i];
  case DType::I64:
    return static_cast<double>(data<int64_t>()[i]);
  case DType::F16:
    return static_cast<float>(data<c10::Half>()[i]);
  case DType::BF16:
    return static_cast<float>(data<c10::BFloat16>()[i]);
  case DType::F32:
    return data<float>()[i];
  case DType::F64:
    return data<double>()[i];
  }
  return 0;
}

HostTensor HostTensor::zeros(DType dtype, std::vector<int64_t> shape) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.bytes.assign(t.numel() * dtypeSize(dtype), 0);
  return t;
}

HostTensor HostTensor::f32(std::vector<int64_t> shape,
                           llvm::ArrayRef<float> values) {
  HostTensor t = zeros(DType::F32, std::move(shape));
  std::memcpy(t.bytes.data(), values.data(),
              std::min(t.bytes.size(), values.size() * 4));
  return t;
}

HostTensor HostTensor::i64(std::vector<int64_t> shape,
                           llvm::ArrayRef<int64_t> values) {
  HostTensor t = zeros(DType::I64, std::move(shape));
  std::memcpy(t.bytes.data(), values.data(),
              std::min(t.bytes.size(), values.size() * 8));
  return t;
}

HostValue HostValue::of(HostTensor t) {
  HostValue v;
  v.kind = Kind::Tensor;
  v.tensor = std::move(t);
  return v;
}

HostValue HostValue::ofInt(int64_t i) {
  HostValue v;
  v.kind = Kind::Int;
  v.i = i;
  return v;
}

HostValue HostValue::ofFloat(double f) {
  HostValue v;
  v.kind = Kind::Float;
  v.f = f;
  return v;
}

HostValue HostValue::sequence(std::vector<HostValue> elements) {
  HostValue v;
  v.kind = Kind::Sequence;
  v.elements = std::move(elements);
  return v;
}

//===----------------------------------------------------------------------===//
// Evaluator
//===----------------------------------------------------------------------===//

struct Evaluator::Impl {
  explicit Impl(ModuleOp module) : compiler(module) {}
  Compiler compiler;
  Function *function = nullptr;
};

Evaluator::Evaluator(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
Evaluator::~Evaluator() = default;
Evaluator::Evaluator(Evaluator &&) noexcept = default;

std::unique_ptr<Evaluator> Evaluator::create(ModuleOp module,
                                             llvm::StringRef function) {
  auto impl = std::make_unique<Impl>(module);
  impl->function = impl->compiler.getFunction(function, module.getLoc());
  if (!impl->function)
    return nullptr;
  return std::unique_ptr<Evaluator>(new Evaluator(std::move(impl)));
}

func::FuncOp Evaluator::getFunction() const { return impl->function->func; }

FailureOr<std::vector<HostValue>>
Evaluator::run(llvm::ArrayRef<HostValue> args) {
  func::FuncOp func = impl->function->func;
  std::vector<RValue> values;
  try {
    if (args.size() != func.getNumArguments())
      fail("@" + func.getSymName() + " takes " +
           llvm::Twine(func.getNumArguments()) + " arguments, got " +
           llvm::Twine(args.size()));
    for (size_t i = 0; i < args.size(); ++i)
      values.push_back(
          bindArgument(fromHost(args[i]), func.getArgumentTypes()[i],
                       "argument '" + argumentName(func, i) + "'"));
  } catch (const EvalError &e) {
    return emitError(func.getLoc()) << e.what();
  } catch (const std::exception &e) {
    return emitError(func.getLoc()) << e.what();
  }
  try {
    std::vector<RValue> results = callFunction(*impl->function, values);
    std::vector<HostValue> out;
    for (const RValue &r : results)
      out.push_back(toHost(r));
    return out;
  } catch (const Reported &) {
    return failure();
  } catch (const std::exception &e) {
    return emitError(func.getLoc()) << e.what();
  }
}

bool hasKernel(llvm::StringRef operationName) {
  // Terminators are handled by the block runner.
  if (operationName == "func.return" || operationName == "scf.yield")
    return true;
  return kernelTable().count(operationName) != 0;
}

FailureOr<Metrics> computeMetrics(const HostTensor &actual,
                                  const HostTensor &expected,
                                  std::string &error) {
  try {
    TensorMetrics m = compareTensors(fromHost(actual), fromHost(expected));
    Metrics out;
    out.maxAbs = m.maxAbs;
    out.meanAbs = m.meanAbs;
    out.peir = m.peir;
    out.cosine = m.cosine;
    out.numel = m.numel;
    return out;
  } catch (const std::exception &e) {
    error = e.what();
    return failure();
  }
}

} // namespace kiln::runtime
