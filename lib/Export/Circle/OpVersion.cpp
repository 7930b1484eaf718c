//===- OpVersion.cpp - TFLite operator versioning rules -------------------===//
//
// Each case states, most specific first, the feature that raises an
// operator's version in TFLite's kernel registry; the first match wins.
//
//===----------------------------------------------------------------------===//
#include "kiln/Export/Circle/OpVersion.h"

#include "Schema.h"

using namespace kiln::circle;
using fb::BuiltinOperator;
using fb::TensorType;

namespace {
/// Typed view of the signatures for terse rules.
struct Sig {
  llvm::ArrayRef<TensorSignature> ins, outs;

  bool in(size_t i, TensorType t) const {
    return i < ins.size() && !ins[i].absent &&
           ins[i].type == static_cast<int8_t>(t);
  }
  bool out(size_t i, TensorType t) const {
    return i < outs.size() && !outs[i].absent &&
           outs[i].type == static_cast<int8_t>(t);
  }
  size_t inRank(size_t i) const {
    return i < ins.size() ? ins[i].shape.size() : 0;
  }
  /// Two inputs whose shapes differ (the kernel has to broadcast).
  bool broadcasts() const {
    return ins.size() >= 2 && ins[0].shape != ins[1].shape;
  }
  size_t maxInputRank() const {
    size_t r = 0;
    for (const TensorSignature &t : ins)
      r = std::max(r, t.shape.size());
    return r;
  }
  /// Per-channel: more than one scale, one per slice of the quantized axis.
  static bool perChannel(const TensorSignature &t, bool alongDim0) {
    if (!t.quantized || t.numScales <= 1 || t.shape.empty())
      return false;
    int64_t dim = alongDim0 ? 0 : t.quantizedDimension;
    return dim >= 0 && dim < static_cast<int64_t>(t.shape.size()) &&
           static_cast<int64_t>(t.numScales) == t.shape[dim];
  }
};
} // namespace

int32_t kiln::circle::getOperatorVersion(
    int32_t builtinCode, llvm::ArrayRef<TensorSignature> inputs,
    llvm::ArrayRef<TensorSignature> outputs, const OptionsSignature &opt) {
  Sig s{inputs, outputs};
  using T = TensorType;
  switch (static_cast<BuiltinOperator>(builtinCode)) {
  case BuiltinOperator::FULLY_CONNECTED: {
    bool hybrid =
        s.in(0, T::FLOAT32) && s.in(1, T::INT8) && s.out(0, T::FLOAT32);
    if (hybrid && inputs.size() > 1 &&
        Sig::perChannel(inputs[1], /*alongDim0=*/true))
      return 12;
    // (11: int16 x int8 with quantized_bias_type, which Kiln does not set;
    //  8: sparse weights, which Kiln does not write.)
    if (s.in(0, T::INT16) && s.in(1, T::INT16) && s.out(0, T::INT16))
      return 7;
    if (inputs.size() == 2)
      return 6; // no bias operand at all (Kiln writes -1 instead)
    if (opt.keepNumDims)
      return 5;
    if (s.in(0, T::INT8) && s.in(1, T::INT8) && s.out(0, T::INT8))
      return 4;
    if (s.in(0, T::INT8) && s.in(1, T::INT4) && s.out(0, T::INT8))
      return 10;
    if (hybrid)
      return opt.asymmetricQuantizeInputs ? 9 : 3;
    return opt.shuffledWeights ? 2 : 1;
  }
  case BuiltinOperator::GATHER:
    if (s.in(0, T::INT4))
      return 7;
    if (s.in(1, T::INT16))
      return 6;
    if (opt.batchDims != 0)
      return 5;
    if (s.in(0, T::INT16))
      return 4;
    if (s.in(0, T::BOOL))
      return 3;
    return s.in(0, T::INT8) ? 2 : 1;
  case BuiltinOperator::MUL: {
    bool inputQuantized = (inputs.size() > 0 && inputs[0].quantized) ||
                          (inputs.size() > 1 && inputs[1].quantized);
    if ((s.in(0, T::INT16) && !inputQuantized) || s.in(0, T::UINT32))
      return 7;
    if (s.in(0, T::INT64))
      return 5;
    if (s.in(0, T::INT16))
      return 4;
    if (inputs.size() >= 2 && !outputs.empty() && inputs[0].quantized &&
        inputs[1].quantized && outputs[0].quantized && inputs[0].scale != 0 &&
        inputs[1].scale != 0 && outputs[0].scale != 0 &&
        inputs[0].scale * inputs[1].scale / outputs[0].scale >= 1.0f)
      return 3;
    return s.in(0, T::INT8) ? 2 : 1;
  }
  case BuiltinOperator::ADD: {
    bool inputQuantized = !inputs.empty() && inputs[0].quantized;
    if (s.in(0, T::INT16) && !inputQuantized)
      return 5;
    if (s.in(0, T::INT64))
      return 4;
    if (s.in(0, T::INT16) && s.out(0, T::INT16) && !opt.potScaleInt16)
      return 3;
    return s.in(0, T::INT8) ? 2 : 1;
  }
  case BuiltinOperator::SUB:
    if (s.in(0, T::INT16) && s.out(0, T::INT16) && !opt.potScaleInt16)
      return 5;
    if (s.in(0, T::INT64))
      return 4;
    if (s.broadcasts() && s.maxInputRank() > 4)
      return 3;
    return s.in(0, T::INT8) ? 2 : 1;
  case BuiltinOperator::DIV:
    return s.broadcasts() && s.maxInputRank() > 4 ? 2 : 1;
  case BuiltinOperator::LOGISTIC:
    if (s.in(0, T::INT16) && s.out(0, T::INT16))
      return 3;
    return s.in(0, T::INT8) ? 2 : 1;
  case BuiltinOperator::TRANSPOSE:
    if (s.inRank(0) > 5)
      return 6;
    if (s.in(0, T::INT16))
      return 5;
    if (s.inRank(0) > 4)
      return 4;
    if (s.in(0, T::BOOL))
      return 3;
    return s.in(0, T::INT8) ? 2 : 1;
  case BuiltinOperator::SLICE:
    if (s.in(0, T::UINT32))
      return 6;
    if (s.inRank(0) > 4)
      return 5;
    if (s.in(0, T::INT16))
      return 4;
    return s.in(0, T::INT8) ? 2 : 1;
  case BuiltinOperator::STRIDED_SLICE:
    if (opt.offset)
      return 8;
    if (s.in(0, T::UINT32))
      return 7;
    if (opt.ellipsisMask != 0 || opt.newAxisMask != 0)
      return 6;
    if (s.inRank(0) > 4)
      return 4;
    if (s.in(0, T::BOOL))
      return 3;
    return s.in(0, T::INT8) ? 2 : 1;
  case BuiltinOperator::DEQUANTIZE:
    if (s.in(0, T::INT4))
      return 6;
    if (s.in(0, T::INT16) || s.in(0, T::FLOAT16))
      return 3;
    if (s.in(0, T::INT8))
      return Sig::perChannel(inputs[0], /*alongDim0=*/false) ? 5 : 2;
    return 1;
  case BuiltinOperator::QUANTIZE:
    if (s.in(0, T::INT4) || s.out(0, T::INT4))
      return 4;
    if (!outputs.empty() && Sig::perChannel(outputs[0], /*alongDim0=*/false))
      return 3;
    return s.out(0, T::INT16) ? 2 : 1;
  case BuiltinOperator::BATCH_MATMUL:
    if (s.in(0, T::INT16))
      return 3;
    if (s.in(0, T::INT8))
      return 2;
    if (s.in(0, T::FLOAT32) && s.in(1, T::INT8) && s.out(0, T::FLOAT32) &&
        opt.asymmetricQuantizeInputs)
      return 4;
    return 1;
  case BuiltinOperator::CONCATENATION:
    if (s.in(0, T::UINT32))
      return 4;
    if (s.in(0, T::INT16))
      return 3;
    return s.in(0, T::INT8) ? 2 : 1;
  case BuiltinOperator::SOFTMAX:
  case BuiltinOperator::MEAN:
  case BuiltinOperator::RSQRT:
    if (s.in(0, T::INT16))
      return 3;
    return s.in(0, T::INT8) ? 2 : 1;
  case BuiltinOperator::SELECT_V2:
    return s.in(0, T::UINT32) ? 2 : 1;
  case BuiltinOperator::BROADCAST_TO:
    // Version 1 was withdrawn when the code moved above 127.
    return s.in(0, T::INT8) || s.in(0, T::INT16) ? 3 : 2;
  case BuiltinOperator::CAST: {
    auto either = [&](T t) { return s.in(0, t) || s.out(0, t); };
    if (either(T::BFLOAT16))
      return 7;
    if (s.in(0, T::INT4) && s.out(0, T::FLOAT32))
      return 6;
    if (either(T::FLOAT64) || either(T::FLOAT16))
      return 5;
    if (either(T::UINT16))
      return 4;
    if (either(T::INT8))
      return 3;
    return either(T::UINT32) ? 2 : 1;
  }
  default:
    // RESHAPE, NEG, POW and the Circle-only RMS_NORM and ROPE.
    return 1;
  }
}
