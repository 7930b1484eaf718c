//===- Reader.cpp - Circle / TFLite FlatBuffer -> circle dialect ----------===//
//
// Tensors are materialized in the order of their indices: constants are
// placed before the first operator whose outputs come after them, so that the
// writer, which numbers tensors in definition order, gives every tensor its
// original index back.
//
//===----------------------------------------------------------------------===//
#include "kiln/Export/Circle/Reader.h"
#include "kiln/Dialect/Kiln/IR/KilnDialect.h"
#include "kiln/Export/Circle/Locations.h"

#include "ModelFile.h"
#include "OpTable.h"
#include "kiln/Dialect/Circle/IR/CircleOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/QuantOps.h"
#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringSet.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

using namespace mlir;
using namespace kiln::circle;

/// The double closest to the shortest decimal that reads back as `value`
/// (0.1f gives 0.1, not 0.10000000149011612): the same float when the writer
/// narrows it again, and readable IR.
static double widenScale(float value) {
  for (int digits = 1; digits <= 9; ++digits) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.*g", digits,
                  static_cast<double>(value));
    double wide = std::strtod(text, nullptr);
    if (static_cast<float>(wide) == value)
      return wide;
  }
  return value;
}

namespace {

class ModelReader {
public:
  ModelReader(const ModelFile &file, MLIRContext *context, Location loc,
              std::shared_ptr<const void> keepAlive)
      : file(file), model(file.model), context(context), loc(loc), b(context),
        keepAlive(std::move(keepAlive)) {}

  OwningOpRef<ModuleOp> read();

private:
  LogicalResult readFunction(ModuleOp module, uint32_t index,
                             llvm::StringSet<> &funcNames);
  FailureOr<RankedTensorType> getTensorType(const fb::Tensor *tensor);
  /// Type of a constant's attribute: the tensor type, with integer storage
  /// for quantized tensors.
  static RankedTensorType getStorageType(RankedTensorType type);
  FailureOr<ElementsAttr> getConstantAttr(uint32_t buffer,
                                          RankedTensorType type,
                                          llvm::StringRef tensorName);
  LogicalResult readOptions(int32_t code, const fb::Operator *op,
                            NamedAttrList &attrs);
  /// Quantized tensors with storage wider than 32 bits (int64 biases).
  static bool isWideQuantized(const fb::Tensor *tensor) {
    const fb::QuantizationParameters *quant = tensor->quantization();
    unsigned width;
    bool isSigned;
    return quant && quant->scale() && quant->scale()->size() > 0 &&
           getIntegerStorage(static_cast<int8_t>(tensor->type()), width,
                             isSigned) &&
           width > 32;
  }
  /// Their parameters as kiln.quant_scales / _zero_points / _dimension.
  LogicalResult addExtraQuantization(const fb::Tensor *tensor,
                                     RankedTensorType type,
                                     OperationState &state) {
    if (!isWideQuantized(tensor))
      return success();
    const fb::QuantizationParameters *quant = tensor->quantization();
    SmallVector<double> scales;
    for (float scale : *quant->scale())
      scales.push_back(widenScale(scale));
    state.addAttribute("kiln.quant_scales", b.getDenseF64ArrayAttr(scales));
    if (auto *zp = quant->zero_point();
        zp && llvm::any_of(*zp, [](int64_t z) { return z != 0; })) {
      if (zp->size() != scales.size())
        return emitError(tensorLoc(tensor), "tensor '")
               << tensorName(tensor) << "' has " << scales.size()
               << " scales but " << zp->size() << " zero points";
      state.addAttribute(
          "kiln.quant_zero_points",
          b.getDenseI64ArrayAttr(SmallVector<int64_t>(zp->begin(), zp->end())));
    }
    if (quant->quantized_dimension() != 0)
      state.addAttribute("kiln.quant_dimension",
                         b.getI32IntegerAttr(quant->quantized_dimension()));
    return success();
  }
  Location tensorLoc(const fb::Tensor *tensor) const {
    Location source = UnknownLoc::get(context);
    if (auto it = sourcePoints.find(tensor); it != sourcePoints.end())
      source = buildLocation(context, it->second);
    if (tensor->name() && tensor->name()->size())
      return NameLoc::get(StringAttr::get(context, tensor->name()->str()),
                          source);
    return source;
  }
  /// The "kiln.locations" metadata (Locations.h): where each tensor came
  /// from. A malformed entry is ignored with a warning (they only inform).
  void readSourcePoints();
  llvm::DenseMap<const fb::Tensor *, std::vector<SourcePoint>> sourcePoints;
  std::string tensorName(const fb::Tensor *tensor) const {
    return tensor->name() ? tensor->name()->str() : std::string();
  }

  const ModelFile &file;
  const fb::Model *model;
  MLIRContext *context;
  Location loc;
  OpBuilder b;
  /// Set: resource blobs borrow the file's bytes and hold this (readCircle).
  std::shared_ptr<const void> keepAlive;

  /// Buffers seen with more than one attribute type: shared as one resource.
  llvm::DenseMap<uint32_t, llvm::SmallVector<Type, 1>> bufferTypes;
  llvm::DenseMap<std::pair<uint32_t, Type>, ElementsAttr> constants;
  llvm::DenseMap<uint32_t, DenseResourceElementsHandle> resources;
  /// Small constants written as dense attributes, by content: a second buffer
  /// with the same content must stay a separate (resource) attribute, or the
  /// writer would merge them.
  std::map<std::pair<const void *, std::string>, uint32_t> denseContents;
};

} // namespace

/// Number of bytes `count` elements of `element` take in a buffer.
static uint64_t getBufferSize(Type element, uint64_t count) {
  unsigned width = element.getIntOrFloatBitWidth();
  if (width == 4)
    return getPackedInt4Size(count);
  return count * (width <= 8 ? 1 : width / 8);
}

RankedTensorType ModelReader::getStorageType(RankedTensorType type) {
  auto q = dyn_cast<quant::QuantizedType>(type.getElementType());
  if (!q)
    return type;
  Type storage = IntegerType::get(
      type.getContext(), q.getStorageTypeIntegralWidth(),
      q.isSigned() ? IntegerType::Signless : IntegerType::Unsigned);
  return RankedTensorType::get(type.getShape(), storage);
}

FailureOr<RankedTensorType>
ModelReader::getTensorType(const fb::Tensor *tensor) {
  Location at = tensorLoc(tensor);
  std::string name = tensorName(tensor);
  SmallVector<int64_t> shape;
  if (tensor->shape())
    for (int32_t d : *tensor->shape())
      shape.push_back(d);
  if (auto *signature = tensor->shape_signature();
      signature && signature->size() == shape.size())
    for (auto [i, d] : llvm::enumerate(*signature))
      if (d < 0)
        shape[i] = ShapedType::kDynamic;
  // Static element counts must stay far from overflow (and a FlatBuffer
  // buffer holds < 2^63 bytes anyway): 2^48 elements is beyond any file.
  uint64_t elements = 1;
  for (int64_t d : shape) {
    if (d < 0 && !ShapedType::isDynamic(d))
      return emitError(at, "tensor '") << name << "' has a negative dimension";
    if (ShapedType::isDynamic(d))
      continue;
    if (d != 0 && elements > (uint64_t(1) << 48) / static_cast<uint64_t>(d))
      return emitError(at, "tensor '")
             << name << "' has more elements than any file can hold";
    elements *= static_cast<uint64_t>(d);
  }

  int8_t type = static_cast<int8_t>(tensor->type());
  Type element;
  const fb::QuantizationParameters *quant = tensor->quantization();
  if (quant && quant->scale() && quant->scale()->size() > 0) {
    unsigned width;
    bool isSigned;
    if (!getIntegerStorage(type, width, isSigned))
      return emitError(at, "tensor '") << name << "' is quantized but has type "
                                       << getTensorTypeName(type);
    SmallVector<double> scales;
    for (float scale : *quant->scale())
      scales.push_back(widenScale(scale));
    SmallVector<int64_t> zeroPoints(scales.size(), 0);
    if (auto *zp = quant->zero_point(); zp && zp->size()) {
      if (zp->size() != scales.size())
        return emitError(at, "tensor '")
               << name << "' has " << scales.size() << " scales but "
               << zp->size() << " zero points";
      zeroPoints.assign(zp->begin(), zp->end());
    }
    int32_t dimension = quant->quantized_dimension();
    if (scales.size() > 1 || dimension != 0) {
      if (dimension < 0 || static_cast<size_t>(dimension) >= shape.size())
        return emitError(at, "tensor '")
               << name << "' is quantized along dimension " << dimension
               << ", but has rank " << shape.size();
      if (!ShapedType::isDynamic(shape[dimension]) &&
          static_cast<uint64_t>(shape[dimension]) != scales.size())
        return emitError(at, "tensor '")
               << name << "' has " << scales.size()
               << " scales along dimension " << dimension << " of size "
               << shape[dimension];
    }
    for (double scale : scales)
      if (!(scale > 0) || !std::isfinite(scale))
        return emitError(at, "tensor '")
               << name << "' has the quantization scale " << scale
               << " (not positive and finite)";
    if (width > 32) {
      // MLIR's quant types stop at 32-bit storage: a plain integer tensor;
      // constants keep the parameters in kiln.quant_* attributes.
      element = IntegerType::get(context, width);
      return RankedTensorType::get(shape, element);
    }
    Type storage = IntegerType::get(context, width);
    Type expressed = Float32Type::get(context);
    unsigned flags = isSigned ? quant::QuantizationFlags::Signed : 0;
    int64_t storageMin =
        quant::QuantizedType::getDefaultMinimumForInteger(isSigned, width);
    int64_t storageMax =
        quant::QuantizedType::getDefaultMaximumForInteger(isSigned, width);
    for (int64_t z : zeroPoints)
      if (z < storageMin || z > storageMax)
        return emitError(at, "tensor '")
               << name << "' has the zero point " << z << ", outside its "
               << getTensorTypeName(type) << " storage range [" << storageMin
               << ", " << storageMax << "]";
    auto emitter = [&] { return emitError(at, "tensor '") << name << "': "; };
    if (scales.size() > 1 || dimension != 0)
      element = quant::UniformQuantizedPerAxisType::getChecked(
          emitter, flags, storage, expressed, scales, zeroPoints, dimension,
          storageMin, storageMax);
    else
      element = quant::UniformQuantizedType::getChecked(
          emitter, flags, storage, expressed, scales[0], zeroPoints[0],
          storageMin, storageMax);
    if (!element)
      return failure();
  } else {
    element = getElementType(type, context);
    if (!element)
      return emitError(at, "tensor '")
             << name << "' has type " << getTensorTypeName(type)
             << ", which Kiln does not read";
  }
  return RankedTensorType::get(shape, element);
}

FailureOr<ElementsAttr>
ModelReader::getConstantAttr(uint32_t buffer, RankedTensorType type,
                             llvm::StringRef tensorName) {
  auto key = std::make_pair(buffer, Type(type));
  if (auto it = constants.find(key); it != constants.end())
    return it->second;

  Location at = NameLoc::get(StringAttr::get(context, tensorName));
  FailureOr<llvm::ArrayRef<uint8_t>> data = file.getBufferData(buffer, at);
  if (failed(data))
    return failure();
  Type element = type.getElementType();
  uint64_t count = type.getNumElements();
  unsigned width = element.getIntOrFloatBitWidth();
  if (data->size() != getBufferSize(element, count))
    return emitError(at, "constant '")
           << tensorName << "': buffer " << buffer << " holds " << data->size()
           << " bytes, but " << type << " needs "
           << getBufferSize(element, count);

  // One byte per value for 4-bit types, as MLIR stores them.
  std::vector<uint8_t> unpacked;
  llvm::ArrayRef<uint8_t> values = *data;
  if (width == 4) {
    unpacked = unpackInt4(*data, count, !element.isUnsignedInteger());
    values = unpacked;
  }

  ElementsAttr attr;
  bool shared = bufferTypes.lookup(buffer).size() > 1;
  // Only small buffers are keyed by content (a weight is not copied for it).
  std::pair<const void *, std::string> contentKey;
  bool small = !shared && count <= 16;
  if (small)
    contentKey =
        std::make_pair(type.getAsOpaquePointer(),
                       std::string(reinterpret_cast<const char *>(data->data()),
                                   data->size()));
  if (small && !denseContents.count(contentKey)) {
    denseContents[contentKey] = buffer;
    if (width == 1) {
      SmallVector<bool> bools;
      for (uint8_t v : values)
        bools.push_back(v != 0);
      attr = DenseElementsAttr::get(type, bools);
    } else if (width == 4) {
      SmallVector<APInt> ints;
      for (uint8_t v : values)
        ints.push_back(APInt(4, v & 0x0F));
      attr = DenseElementsAttr::get(type, ints);
    } else {
      llvm::ArrayRef<char> raw(reinterpret_cast<const char *>(values.data()),
                               values.size());
      attr = DenseElementsAttr::getFromRawBuffer(type, raw);
    }
  } else {
    auto it = resources.find(buffer);
    if (it == resources.end()) {
      llvm::ArrayRef<char> raw(reinterpret_cast<const char *>(values.data()),
                               values.size());
      // Borrowed when the caller keeps the bytes alive and they are the
      // stored values (not unpacked int4) aligned for their element type.
      size_t align = std::max<size_t>(1, width / 8);
      bool borrow = keepAlive && width != 4 &&
                    reinterpret_cast<uintptr_t>(raw.data()) % align == 0;
      AsmResourceBlob blob =
          borrow
              ? AsmResourceBlob(
                    raw, align, [hold = keepAlive](void *, size_t, size_t) {},
                    /*dataIsMutable=*/false)
              : HeapAsmResourceBlob::allocateAndCopyWithAlign(
                    raw, alignof(std::max_align_t));
      auto resource = DenseResourceElementsAttr::get(
          type, "buffer_" + std::to_string(buffer), std::move(blob));
      it = resources.try_emplace(buffer, resource.getRawHandle()).first;
      attr = resource;
    } else {
      attr = DenseResourceElementsAttr::get(type, it->second);
    }
  }
  constants[key] = attr;
  return attr;
}

LogicalResult ModelReader::readOptions(int32_t code, const fb::Operator *op,
                                       NamedAttrList &attrs) {
  using BO = fb::BuiltinOperator;
  auto setActivation = [&](fb::ActivationFunctionType a) {
    if (a != fb::ActivationFunctionType::NONE)
      attrs.set("fused_activation_function",
                b.getStringAttr(fb::EnumNameActivationFunctionType(a)));
  };
  auto setBool = [&](llvm::StringRef name, bool value) {
    if (value)
      attrs.set(name, b.getBoolAttr(true));
  };
  auto setI32 = [&](llvm::StringRef name, int32_t value) {
    if (value != 0)
      attrs.set(name, b.getI32IntegerAttr(value));
  };
  switch (static_cast<BO>(code)) {
  case BO::ADD:
    if (auto *o = op->builtin_options_as_AddOptions())
      setActivation(o->fused_activation_function());
    break;
  case BO::SUB:
    if (auto *o = op->builtin_options_as_SubOptions())
      setActivation(o->fused_activation_function());
    break;
  case BO::MUL:
    if (auto *o = op->builtin_options_as_MulOptions())
      setActivation(o->fused_activation_function());
    break;
  case BO::DIV:
    if (auto *o = op->builtin_options_as_DivOptions())
      setActivation(o->fused_activation_function());
    break;
  case BO::FULLY_CONNECTED:
    if (auto *o = op->builtin_options_as_FullyConnectedOptions()) {
      setActivation(o->fused_activation_function());
      if (o->weights_format() !=
          fb::FullyConnectedOptionsWeightsFormat::DEFAULT) {
        const char *format =
            fb::EnumNameFullyConnectedOptionsWeightsFormat(o->weights_format());
        if (!format || !*format)
          return emitError(loc, "unknown FULLY_CONNECTED weights_format ")
                 << static_cast<int>(o->weights_format());
        attrs.set("weights_format", b.getStringAttr(format));
      }
      setBool("keep_num_dims", o->keep_num_dims());
      setBool("asymmetric_quantize_inputs", o->asymmetric_quantize_inputs());
    }
    break;
  case BO::BATCH_MATMUL:
    if (auto *o = op->builtin_options_as_BatchMatMulOptions()) {
      setBool("adj_x", o->adjoint_lhs());
      setBool("adj_y", o->adjoint_rhs());
      setBool("asymmetric_quantize_inputs", o->asymmetric_quantize_inputs());
    }
    break;
  case BO::SOFTMAX:
    if (auto *o = op->builtin_options_as_SoftmaxOptions())
      if (o->beta() != 1.0f)
        attrs.set("beta", b.getF32FloatAttr(o->beta()));
    break;
  case BO::MEAN:
    if (auto *o = op->builtin_options_as_ReducerOptions())
      setBool("keep_dims", o->keep_dims());
    break;
  case BO::STRIDED_SLICE:
    if (auto *o = op->builtin_options_as_StridedSliceOptions()) {
      setI32("begin_mask", o->begin_mask());
      setI32("end_mask", o->end_mask());
      setI32("ellipsis_mask", o->ellipsis_mask());
      setI32("new_axis_mask", o->new_axis_mask());
      setI32("shrink_axis_mask", o->shrink_axis_mask());
      setBool("offset", o->offset());
    }
    break;
  case BO::CONCATENATION: {
    auto *o = op->builtin_options_as_ConcatenationOptions();
    attrs.set("axis", b.getI32IntegerAttr(o ? o->axis() : 0));
    if (o)
      setActivation(o->fused_activation_function());
    break;
  }
  case BO::GATHER:
    if (auto *o = op->builtin_options_as_GatherOptions()) {
      setI32("axis", o->axis());
      setI32("batch_dims", o->batch_dims());
    }
    break;
  case BO::RMS_NORM:
    if (auto *o = op->builtin_options_as_RmsNormOptions())
      if (o->epsilon() != 1e-06f)
        attrs.set("epsilon", b.getF32FloatAttr(o->epsilon()));
    break;
  case BO::ROPE:
    if (auto *o = op->builtin_options_as_RoPEOptions()) {
      const char *mode = fb::EnumNameRoPEMode(o->mode());
      if (!mode || !*mode)
        return emitError(loc, "unknown ROPE mode ")
               << static_cast<int>(o->mode());
      if (o->mode() != fb::RoPEMode::GPT_NEOX)
        attrs.set("mode", b.getStringAttr(mode));
    }
    break;
  default:
    // Options without fields the circle op keeps (CAST's types, RESHAPE's
    // new_shape and ADD/SUB's pot_scale_int16 follow from the tensors).
    break;
  }
  return success();
}

LogicalResult ModelReader::readFunction(ModuleOp module, uint32_t index,
                                        llvm::StringSet<> &funcNames) {
  const fb::SubGraph *sg = model->subgraphs()->Get(index);
  const fb::SignatureDef *signature = nullptr;
  if (auto *sigs = model->signature_defs())
    for (const fb::SignatureDef *s : *sigs)
      if (s->subgraph_index() == index) {
        signature = s;
        break;
      }

  auto *tensors = sg->tensors();
  size_t numTensors = tensors ? tensors->size() : 0;
  auto checkIndex = [&](int32_t t) -> LogicalResult {
    if (t < 0 || static_cast<size_t>(t) >= numTensors)
      return emitError(loc, "subgraph ")
             << index << " refers to tensor " << t << ", which does not exist";
    return success();
  };
  std::vector<RankedTensorType> types(numTensors);
  for (size_t t = 0; t < numTensors; ++t) {
    FailureOr<RankedTensorType> type = getTensorType(tensors->Get(t));
    if (failed(type))
      return failure();
    types[t] = *type;
  }

  // Function name and signature.
  std::string name = sg->name() ? sg->name()->str() : "";
  std::string key = signature && signature->signature_key()
                        ? signature->signature_key()->str()
                        : "";
  if (name.empty())
    name = !key.empty() ? key : "subgraph_" + std::to_string(index);
  std::string base = name;
  for (unsigned n = 1; !funcNames.insert(name).second; ++n)
    name = base + "_" + std::to_string(n);

  auto listOf = [](const flatbuffers::Vector<int32_t> *v) {
    return v ? std::vector<int32_t>(v->begin(), v->end())
             : std::vector<int32_t>();
  };
  std::vector<int32_t> inputs = listOf(sg->inputs()),
                       outputs = listOf(sg->outputs());
  SmallVector<Type> inputTypes, outputTypes;
  for (int32_t t : inputs) {
    if (failed(checkIndex(t)))
      return failure();
    inputTypes.push_back(types[t]);
  }
  for (int32_t t : outputs) {
    if (failed(checkIndex(t)))
      return failure();
    outputTypes.push_back(types[t]);
  }

  auto func = func::FuncOp::create(NameLoc::get(b.getStringAttr(name)), name,
                                   b.getFunctionType(inputTypes, outputTypes));
  module.push_back(func);
  if (signature && !key.empty() && key != name)
    func->setAttr(kiln::KilnDialect::getSignatureAttrName(),
                  b.getStringAttr(key));
  auto signatureName =
      [&](const flatbuffers::Vector<flatbuffers::Offset<fb::TensorMap>> *maps,
          int32_t tensor) -> StringAttr {
    if (maps)
      for (const fb::TensorMap *m : *maps)
        if (static_cast<int32_t>(m->tensor_index()) == tensor && m->name())
          return b.getStringAttr(m->name()->str());
    return nullptr;
  };
  if (signature) {
    for (auto [i, t] : llvm::enumerate(inputs))
      if (StringAttr n = signatureName(signature->inputs(), t))
        func.setArgAttr(i, kiln::KilnDialect::getNameAttrName(), n);
    for (auto [i, t] : llvm::enumerate(outputs))
      if (StringAttr n = signatureName(signature->outputs(), t))
        func.setResultAttr(i, kiln::KilnDialect::getNameAttrName(), n);
  }

  Block *block = func.addEntryBlock();
  b.setInsertionPointToEnd(block);
  std::vector<Value> values(numTensors);
  for (auto [i, t] : llvm::enumerate(inputs)) {
    BlockArgument arg = block->getArgument(i);
    arg.setLoc(tensorLoc(tensors->Get(t)));
    values[t] = arg;
  }

  // Which tensors operators produce; the rest with data are constants.
  auto *operators = sg->operators();
  std::vector<bool> produced(numTensors, false);
  if (operators)
    for (const fb::Operator *op : *operators)
      for (int32_t t : listOf(op->outputs())) {
        if (failed(checkIndex(t)))
          return failure();
        produced[t] = true;
      }
  std::vector<int32_t> constantTensors;
  for (size_t t = 0; t < numTensors; ++t) {
    const fb::Tensor *tensor = tensors->Get(t);
    if (values[t] || produced[t] || tensor->buffer() == 0)
      continue;
    FailureOr<llvm::ArrayRef<uint8_t>> data =
        file.getBufferData(tensor->buffer(), loc);
    if (failed(data))
      return failure();
    if (data->empty() && !types[t].hasStaticShape())
      continue;
    if (!types[t].hasStaticShape())
      return emitError(tensorLoc(tensor), "tensor '")
             << tensorName(tensor) << "' holds data but has a dynamic shape";
    if (!data->empty() || types[t].getNumElements() == 0)
      constantTensors.push_back(t);
  }

  for (size_t t = 0; t < numTensors; ++t)
    if (isWideQuantized(tensors->Get(t)) &&
        !llvm::is_contained(constantTensors, static_cast<int32_t>(t)))
      return emitError(tensorLoc(tensors->Get(t)), "tensor '")
             << tensorName(tensors->Get(t))
             << "' is a quantized 64-bit tensor that is not a constant, which "
                "MLIR's quant types cannot express";

  auto emitConstant = [&](int32_t t) -> LogicalResult {
    const fb::Tensor *tensor = tensors->Get(t);
    RankedTensorType storage = getStorageType(types[t]);
    FailureOr<ElementsAttr> attr =
        getConstantAttr(tensor->buffer(), storage, tensorName(tensor));
    if (failed(attr))
      return failure();
    OperationState state(tensorLoc(tensor), ConstOp::getOperationName());
    state.addAttribute("value", *attr);
    if (failed(addExtraQuantization(tensor, types[t], state)))
      return failure();
    state.addTypes(types[t]);
    values[t] = b.create(state)->getResult(0);
    return success();
  };

  size_t nextConstant = 0;
  if (operators) {
    for (auto [k, op] : llvm::enumerate(*operators)) {
      std::vector<int32_t> opInputs = listOf(op->inputs()),
                           opOutputs = listOf(op->outputs());
      int32_t firstOutput = std::numeric_limits<int32_t>::max();
      for (int32_t t : opOutputs)
        firstOutput = std::min(firstOutput, t);
      for (; nextConstant < constantTensors.size() &&
             constantTensors[nextConstant] < firstOutput;
           ++nextConstant)
        if (!values[constantTensors[nextConstant]] &&
            failed(emitConstant(constantTensors[nextConstant])))
          return failure();

      auto *opcodes = model->operator_codes();
      if (!opcodes || op->opcode_index() >= opcodes->size())
        return emitError(loc, "operator ")
               << k << " of subgraph " << index << " has no operator code";
      const fb::OperatorCode *opcode = opcodes->Get(op->opcode_index());
      int32_t code =
          getEffectiveBuiltinCode(opcode->deprecated_builtin_code(),
                                  static_cast<int32_t>(opcode->builtin_code()));
      std::optional<llvm::StringRef> opName = getOperationName(code);
      if (!opName)
        return emitError(loc, "operator ")
               << k << " of subgraph " << index << " is "
               << getBuiltinName(code)
               << (opcode->custom_code()
                       ? " (custom '" + opcode->custom_code()->str() + "')"
                       : "")
               << ", which has no circle dialect op";

      Location opLoc = UnknownLoc::get(context);
      if (!opOutputs.empty())
        opLoc = tensorLoc(tensors->Get(opOutputs.front()));
      OperationState state(opLoc, *opName);
      for (auto [position, t] : llvm::enumerate(opInputs)) {
        if (t < 0) {
          if (code ==
                  static_cast<int32_t>(fb::BuiltinOperator::FULLY_CONNECTED) &&
              position == 2)
            continue; // no bias
          return emitError(opLoc, "operator ")
                 << k << " (" << getBuiltinName(code) << ") leaves out input "
                 << position << ", which its circle op requires";
        }
        if (failed(checkIndex(t)))
          return failure();
        if (!values[t] && llvm::is_contained(constantTensors, t) &&
            failed(emitConstant(t)))
          return failure();
        if (!values[t])
          return emitError(opLoc, "operator ")
                 << k << " (" << getBuiltinName(code) << ") reads tensor " << t
                 << " before anything writes it";
        state.addOperands(values[t]);
      }
      for (int32_t t : opOutputs)
        state.addTypes(types[t]);
      NamedAttrList attrs;
      if (failed(readOptions(code, op, attrs)))
        return failure();
      state.addAttributes(attrs);
      Operation *created = b.create(state);
      for (auto [i, t] : llvm::enumerate(opOutputs))
        values[t] = created->getResult(i);
    }
  }
  for (; nextConstant < constantTensors.size(); ++nextConstant)
    if (!values[constantTensors[nextConstant]] &&
        failed(emitConstant(constantTensors[nextConstant])))
      return failure();

  SmallVector<Value> results;
  for (int32_t t : outputs) {
    if (!values[t])
      return emitError(loc, "subgraph ")
             << index << " output tensor " << t << " is never written";
    results.push_back(values[t]);
  }
  b.create<func::ReturnOp>(func.getLoc(), results);
  return success();
}

void ModelReader::readSourcePoints() {
  auto *metadata = model->metadata();
  auto *subgraphs = model->subgraphs();
  if (!metadata || !subgraphs)
    return;
  for (const fb::Metadata *entry : *metadata) {
    if (!entry->name() || entry->name()->str() != kLocationsMetadata)
      continue;
    FailureOr<llvm::ArrayRef<uint8_t>> data =
        file.getBufferData(entry->buffer(), loc);
    if (failed(data))
      return;
    llvm::StringRef text(reinterpret_cast<const char *>(data->data()),
                         data->size());
    auto malformed = [&](const Twine &why) {
      emitWarning(loc) << "ignoring the '" << kLocationsMetadata
                       << "' metadata: " << why;
      sourcePoints.clear();
    };
    llvm::Expected<llvm::json::Value> json = llvm::json::parse(text);
    if (!json) {
      malformed(llvm::toString(json.takeError()));
      return;
    }
    const llvm::json::Object *root = json->getAsObject();
    const llvm::json::Array *perSubgraph =
        root ? root->getArray("subgraphs") : nullptr;
    const llvm::json::Array *fileArray =
        root ? root->getArray("files") : nullptr;
    if (!perSubgraph || !fileArray)
      return malformed("no 'subgraphs' or 'files' array");
    std::vector<std::string> files;
    for (const llvm::json::Value &f : *fileArray) {
      if (!f.getAsString())
        return malformed("a file name is not a string");
      files.push_back(f.getAsString()->str());
    }
    for (auto [i, value] : llvm::enumerate(*perSubgraph)) {
      const llvm::json::Object *tensorsObj = value.getAsObject();
      if (!tensorsObj || i >= subgraphs->size())
        return malformed("subgraph " + Twine(i) + " is not in the file");
      auto *tensors = subgraphs->Get(i)->tensors();
      for (const auto &[key, pointsValue] : *tensorsObj) {
        unsigned index;
        std::vector<SourcePoint> points;
        if (llvm::StringRef(key).getAsInteger(10, index) || !tensors ||
            index >= tensors->size() || !fromJSON(pointsValue, files, points))
          return malformed("bad entry '" + key.str() + "' of subgraph " +
                           Twine(i));
        sourcePoints[tensors->Get(index)] = std::move(points);
      }
    }
  }
}

OwningOpRef<ModuleOp> ModelReader::read() {
  context->loadDialect<func::FuncDialect, quant::QuantizationDialect,
                       CircleDialect>();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  (*module)->setAttr("kiln.flavor",
                     b.getStringAttr(stringifyFlavor(file.flavor)));

  // Buffers referenced with more than one attribute type (shared across
  // shapes) become one resource.
  if (auto *subgraphs = model->subgraphs())
    for (const fb::SubGraph *sg : *subgraphs)
      if (auto *tensors = sg->tensors())
        for (const fb::Tensor *tensor : *tensors) {
          if (tensor->buffer() == 0)
            continue;
          // Buffer indices key DenseMaps (whose empty and tombstone keys
          // are ~0 and ~0 - 1): only indices of existing buffers go there.
          auto *buffers = model->buffers();
          if (!buffers || tensor->buffer() >= buffers->size()) {
            emitError(tensorLoc(tensor), "tensor '")
                << tensorName(tensor) << "' refers to buffer "
                << tensor->buffer() << ", which does not exist (the file has "
                << (buffers ? buffers->size() : 0) << " buffers)";
            return nullptr;
          }
          FailureOr<RankedTensorType> type = getTensorType(tensor);
          if (failed(type))
            return nullptr;
          auto &seen = bufferTypes[tensor->buffer()];
          Type storage = getStorageType(*type);
          if (!llvm::is_contained(seen, storage))
            seen.push_back(storage);
        }

  readSourcePoints();
  llvm::StringSet<> funcNames;
  if (auto *subgraphs = model->subgraphs())
    for (uint32_t i = 0; i < subgraphs->size(); ++i)
      if (failed(readFunction(*module, i, funcNames)))
        return nullptr;

  // Metadata.
  SmallVector<NamedAttribute> extra;
  if (auto *metadata = model->metadata())
    for (const fb::Metadata *entry : *metadata) {
      std::string name = entry->name() ? entry->name()->str() : "";
      FailureOr<llvm::ArrayRef<uint8_t>> data =
          file.getBufferData(entry->buffer(), loc);
      if (failed(data))
        return nullptr;
      std::string value(reinterpret_cast<const char *>(data->data()),
                        data->size());
      llvm::StringRef n(name);
      if (n == "kiln.version" || n == kLocationsMetadata)
        continue; // the writer records its own version; locations are read
      if (n == "kiln.pipeline" ||
          n == kiln::KilnDialect::getVariantAttrName() || n == "kiln.recipe") {
        (*module)->setAttr(n, b.getStringAttr(value));
        continue;
      }
      if (n.consume_front("kiln.variant.")) {
        bool found = false;
        for (auto func : module->getOps<func::FuncOp>()) {
          auto key = func->getAttrOfType<StringAttr>(
              kiln::KilnDialect::getSignatureAttrName());
          if ((key ? key.getValue() : func.getSymName()) == n) {
            func->setAttr(kiln::KilnDialect::getVariantAttrName(),
                          b.getStringAttr(value));
            found = true;
          }
        }
        if (found)
          continue;
      }
      extra.push_back(b.getNamedAttr(name, b.getStringAttr(value)));
    }
  if (!extra.empty())
    (*module)->setAttr("kiln.metadata", b.getDictionaryAttr(extra));

  if (failed(verify(*module)))
    return nullptr;
  return module;
}

OwningOpRef<ModuleOp>
kiln::circle::readCircle(llvm::StringRef bytes, MLIRContext *context,
                         Location loc, std::shared_ptr<const void> keepAlive) {
  FailureOr<ModelFile> file = ModelFile::open(bytes, loc);
  if (failed(file))
    return nullptr;
  ModelReader reader(*file, context, loc, std::move(keepAlive));
  return reader.read();
}
