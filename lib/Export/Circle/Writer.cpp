//===- Writer.cpp - circle dialect -> Circle / TFLite FlatBuffer ----------===//
//
// Two stages: `build` walks the module and describes the model in plain
// structures (every diagnostic is emitted there); `finish` serializes the
// tables with the generated FlatBuffer API, leaving room for the constant
// data without copying it, places out-of-line data, and verifies the result.
// Only then is anything written: `emit` streams the tables and, into the
// room left for them, every buffer's bytes from the attributes.
//
//===----------------------------------------------------------------------===//
#include "kiln/Export/Circle/Writer.h"
#include "kiln/Dialect/Kiln/IR/KilnDialect.h"

#include "OpTable.h"
#include "Schema.h"
#include "kiln/Dialect/Circle/IR/CircleOps.h"
#include "kiln/Export/Circle/Locations.h"
#include "kiln/Export/Circle/OpVersion.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/QuantTypes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Signals.h"
#include "llvm/Support/xxhash.h"

#include <sys/mman.h>

#include <algorithm>
#include <functional>
#include <map>

#ifndef KILN_VERSION_STRING
#define KILN_VERSION_STRING "unknown"
#endif

using namespace mlir;
using namespace kiln::circle;
namespace fbs = flatbuffers;

namespace {

using BuiltOptions = std::pair<fb::BuiltinOptions, fbs::Offset<void>>;
using OptionsFn = std::function<BuiltOptions(fbs::FlatBufferBuilder &)>;

struct QuantDesc {
  std::vector<float> scales;
  std::vector<int64_t> zeroPoints;
  int32_t dimension = 0;
};

struct TensorDesc {
  std::string name;
  std::vector<int32_t> shape;
  /// Only for shapes with dynamic dimensions (-1 there, 1 in `shape`).
  std::vector<int32_t> shapeSignature;
  fb::TensorType type = fb::TensorType::FLOAT32;
  uint32_t buffer = 0;
  std::optional<QuantDesc> quant;

  TensorSignature signature() const {
    TensorSignature s;
    s.type = static_cast<int8_t>(type);
    s.shape.assign(shape.begin(), shape.end());
    if (quant) {
      s.quantized = true;
      s.numScales = quant->scales.size();
      s.quantizedDimension = quant->dimension;
      s.scale = quant->scales.empty() ? 0.0f : quant->scales.front();
    }
    return s;
  }
};

struct OperatorDesc {
  uint32_t opcodeIndex = 0;
  std::vector<int32_t> inputs, outputs;
  OptionsFn options;
};

struct SubgraphDesc {
  std::string name, signatureKey;
  std::vector<TensorDesc> tensors;
  std::vector<int32_t> inputs, outputs;
  std::vector<std::string> inputNames, outputNames;
  std::vector<OperatorDesc> operators;
  /// Source points of each tensor (Locations.h), by tensor index.
  std::vector<std::vector<SourcePoint>> points;
};

/// Constant data is read and written in pieces of this size (a multiple of
/// every element size).
constexpr uint64_t kChunkBytes = uint64_t(1) << 20;

/// A buffer's bytes, produced piece by piece when written: a view of
/// attribute or blob storage, 4-bit values held one per byte (packed two per
/// byte piece by piece), a splat (its element repeated), or small bytes made
/// here.
struct BufferDesc {
  enum class Source { Bytes, PackInt4, Splat };
  Source source = Source::Bytes;
  /// Bytes: the stored bytes (unless owned); PackInt4: one value a byte.
  llvm::ArrayRef<uint8_t> view;
  /// Bytes: the stored bytes when isOwned; Splat: one element.
  std::vector<uint8_t> owned;
  bool isOwned = false;
  /// Bytes the file stores.
  uint64_t size = 0;
  /// What the bytes hold, for WriterStats ("int4", "f32", ...).
  std::string kind;
  /// A name for progress reports: the constant's location name, or if it
  /// has none, that of the first operator reading it (a weight's layer).
  std::string tensorName;

  static BufferDesc ofView(llvm::ArrayRef<uint8_t> bytes) {
    BufferDesc d;
    d.view = bytes;
    d.size = bytes.size();
    return d;
  }
  static BufferDesc ofOwned(std::vector<uint8_t> bytes) {
    BufferDesc d;
    d.owned = std::move(bytes);
    d.isOwned = true;
    d.size = d.owned.size();
    return d;
  }
  static BufferDesc ofInt4Values(llvm::ArrayRef<uint8_t> values) {
    BufferDesc d;
    d.source = Source::PackInt4;
    d.view = values;
    d.size = getPackedInt4Size(values.size());
    return d;
  }
  static BufferDesc ofSplat(llvm::ArrayRef<uint8_t> element, uint64_t count) {
    BufferDesc d;
    d.source = Source::Splat;
    d.owned.assign(element.begin(), element.end());
    d.size = element.size() * count;
    return d;
  }

  uint64_t numChunks() const { return (size + kChunkBytes - 1) / kChunkBytes; }
  /// Stored bytes [i * kChunkBytes, min(size, (i + 1) * kChunkBytes)), a
  /// view of the attribute or made in `scratch`.
  llvm::ArrayRef<uint8_t> chunk(uint64_t i,
                                std::vector<uint8_t> &scratch) const {
    uint64_t begin = i * kChunkBytes;
    uint64_t length = std::min(kChunkBytes, size - begin);
    switch (source) {
    case Source::Bytes:
      return (isOwned ? llvm::ArrayRef<uint8_t>(owned) : view)
          .slice(begin, length);
    case Source::PackInt4: {
      // kChunkBytes is even: each piece packs whole bytes.
      uint64_t first = 2 * begin;
      llvm::ArrayRef<uint8_t> values = view.slice(
          first, std::min<uint64_t>(2 * length, view.size() - first));
      scratch.resize(length);
      size_t pairs = values.size() / 2;
      const uint8_t *in = values.data();
      uint8_t *out = scratch.data();
      for (size_t j = 0; j < pairs; ++j)
        out[j] =
            static_cast<uint8_t>((in[2 * j] & 0x0F) | (in[2 * j + 1] << 4));
      if (values.size() % 2)
        out[pairs] = in[values.size() - 1] & 0x0F;
      return scratch;
    }
    case Source::Splat: {
      // kChunkBytes is a multiple of the element size: each piece starts
      // with a whole element. Filled by doubling the copied prefix.
      scratch.resize(length);
      uint64_t filled = std::min<uint64_t>(owned.size(), length);
      std::memcpy(scratch.data(), owned.data(), filled);
      while (filled < length) {
        uint64_t n = std::min(filled, length - filled);
        std::memcpy(scratch.data() + filled, scratch.data(), n);
        filled += n;
      }
      return scratch;
    }
    }
    return {};
  }
  /// A hash of the stored bytes (the same for the same bytes, whatever the
  /// source).
  uint64_t hash() const {
    std::vector<uint8_t> scratch;
    uint64_t h = llvm::xxh3_64bits(llvm::ArrayRef<uint8_t>(
        reinterpret_cast<const uint8_t *>(&size), sizeof(size)));
    for (uint64_t i = 0, e = numChunks(); i < e; ++i)
      h = (h ^ llvm::xxh3_64bits(chunk(i, scratch))) * 0x9E3779B97F4A7C15ull;
    return h;
  }
  /// Whether both store the same bytes.
  bool sameBytes(const BufferDesc &other) const {
    if (size != other.size)
      return false;
    std::vector<uint8_t> a, b;
    for (uint64_t i = 0, e = numChunks(); i < e; ++i)
      if (chunk(i, a) != other.chunk(i, b))
        return false;
    return true;
  }
};

/// Memory for the FlatBuffer builder from anonymous mappings whose pages the
/// kernel provides only when touched: the room reserved for inline constant
/// data, never written, takes address space but no memory.
class LazyPagesAllocator : public fbs::Allocator {
public:
  ~LazyPagesAllocator() override {
    if (reserved)
      ::munmap(reserved, reservedSize);
  }
  /// Maps `size` bytes for the next allocate() of at most that size; false
  /// if the system refuses (strict overcommit, an address-space limit).
  bool reserve(size_t size) {
    void *p = map(size);
    if (!p)
      return false;
    reserved = static_cast<uint8_t *>(p);
    reservedSize = size;
    return true;
  }
  uint8_t *allocate(size_t size) override {
    if (reserved && size <= reservedSize) {
      uint8_t *p = reserved;
      reserved = nullptr;
      sizes[p] = reservedSize;
      return p;
    }
    void *p = map(size);
    if (!p)
      llvm::report_fatal_error("out of memory for the FlatBuffer tables");
    sizes[p] = size;
    return static_cast<uint8_t *>(p);
  }
  void deallocate(uint8_t *p, size_t) override {
    auto it = sizes.find(p);
    if (it == sizes.end())
      return;
    ::munmap(p, it->second);
    sizes.erase(it);
  }

private:
  static void *map(size_t size) {
    void *p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  uint8_t *reserved = nullptr;
  size_t reservedSize = 0;
  /// Mapped length of each allocation (deallocate is told the builder's
  /// size, which may be less than a reservation).
  llvm::DenseMap<void *, size_t> sizes;
};

/// Name of a location: the NameLoc's name, looking through fused and
/// call-site locations; empty if there is none.
std::string getLocName(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  if (auto fused = dyn_cast<FusedLoc>(loc)) {
    for (Location child : fused.getLocations()) {
      std::string name = getLocName(child);
      if (!name.empty())
        return name;
    }
    return "";
  }
  if (auto callSite = dyn_cast<CallSiteLoc>(loc))
    return getLocName(callSite.getCallee());
  return "";
}

template <typename EnumT, size_t N>
std::optional<EnumT> lookupEnum(llvm::StringRef name, const EnumT (&values)[N],
                                const char *(*nameOf)(EnumT)) {
  for (EnumT v : values)
    if (name == nameOf(v))
      return v;
  return std::nullopt;
}

class ModelWriter {
public:
  ModelWriter(ModuleOp module, const WriterOptions &options)
      : module(module), options(options) {}

  /// Describes the model; emits diagnostics on failure.
  LogicalResult build();
  /// Serializes the tables into memory, with room for the constant data.
  LogicalResult finish();
  /// Streams the finished file: the tables, and each buffer's bytes from its
  /// attribute. Stops early (and returns false) once `failed` says the
  /// output has failed.
  bool emit(llvm::raw_ostream &os,
            llvm::function_ref<bool()> failed = nullptr) const;

private:
  /// Builds the tables into `fbb`: buffers out of line (placeholder offsets)
  /// or inline (uninitialized vectors; inlineEnds gets each one's end).
  void serialize(fbs::FlatBufferBuilder &fbb, bool inlineData,
                 std::vector<fbs::uoffset_t> &inlineEnds);
  LogicalResult addFunction(func::FuncOp func);
  FailureOr<TensorDesc> describeTensor(Type type, std::string name,
                                       Location loc);
  FailureOr<uint32_t> getOrCreateBuffer(ConstOp op, const TensorDesc &tensor);
  void fillStats(WriterStats &stats) const;
  LogicalResult addExtraQuantization(ConstOp op, TensorDesc &tensor);
  FailureOr<BufferDesc> getConstantData(ElementsAttr value, Location loc,
                                        llvm::StringRef tensorName);
  FailureOr<OptionsFn> getOptions(Operation *op, const SubgraphDesc &sg,
                                  OptionsSignature &versionOptions);
  uint32_t getOpcodeIndex(int32_t code, int32_t version);
  LogicalResult collectMetadata(llvm::ArrayRef<func::FuncOp> funcs,
                                llvm::ArrayRef<std::string> keys);

  ModuleOp module;
  WriterOptions options;

  std::vector<SubgraphDesc> subgraphs;
  /// Index 0 is the empty sentinel.
  std::vector<BufferDesc> buffers{BufferDesc{}};
  llvm::DenseMap<std::pair<const void *, Type>, uint32_t> bufferIndex;
  llvm::DenseMap<uint64_t, llvm::SmallVector<uint32_t, 1>> buffersByHash;
  std::vector<std::pair<int32_t, int32_t>> opcodes; // (code, version)
  std::map<std::pair<int32_t, int32_t>, uint32_t> opcodeIndex;
  std::vector<std::pair<std::string, std::string>> metadata;

  // finish() results.
  LazyPagesAllocator allocator;
  fbs::DetachedBuffer flatbuffer;
  bool external = false;
  /// File offset of each buffer's data (0 for none), inline or out of line.
  std::vector<uint64_t> dataOffsets;
  uint64_t fileSize = 0;
};

} // namespace

//===----------------------------------------------------------------------===//
// Describing the model
//===----------------------------------------------------------------------===//

LogicalResult ModelWriter::build() {
  SmallVector<func::FuncOp> funcs;
  for (auto func : module.getOps<func::FuncOp>())
    if (func.isPublic())
      funcs.push_back(func);
  if (funcs.empty())
    return emitError(module.getLoc(),
                     "no public function to write: each public "
                     "func.func becomes a subgraph");

  std::vector<std::string> keys;
  llvm::StringSet<> seenKeys;
  for (func::FuncOp func : funcs) {
    if (failed(addFunction(func)))
      return failure();
    const std::string &key = subgraphs.back().signatureKey;
    if (!seenKeys.insert(key).second)
      return emitError(func.getLoc(), "signature key '")
             << key << "' is used twice";
    keys.push_back(key);
  }
  return collectMetadata(funcs, keys);
}

LogicalResult ModelWriter::addFunction(func::FuncOp func) {
  if (func.isExternal())
    return emitError(func.getLoc(), "cannot write function declaration '")
           << func.getSymName() << "': it has no body";
  if (!func.getBody().hasOneBlock())
    return emitError(func.getLoc(), "cannot write '")
           << func.getSymName()
           << "': a subgraph needs a single-block function";

  SubgraphDesc sg;
  sg.name = func.getSymName().str();
  if (auto key = func->getAttrOfType<StringAttr>(
          kiln::KilnDialect::getSignatureAttrName()))
    sg.signatureKey = key.str();
  else
    sg.signatureKey = sg.name;

  llvm::DenseMap<Value, int32_t> tensorOf;
  llvm::StringSet<> usedNames;
  auto uniqueName = [&](std::string base) {
    std::string candidate = base;
    for (unsigned n = 1; !usedNames.insert(candidate).second; ++n)
      candidate = base + "_" + std::to_string(n);
    return candidate;
  };
  auto addTensor = [&](Value value, std::string name, Location loc,
                       ConstOp constOp) -> FailureOr<int32_t> {
    FailureOr<TensorDesc> tensor =
        describeTensor(value.getType(), uniqueName(name), loc);
    if (failed(tensor))
      return failure();
    if (constOp) {
      if (failed(addExtraQuantization(constOp, *tensor)))
        return failure();
      FailureOr<uint32_t> buffer = getOrCreateBuffer(constOp, *tensor);
      if (failed(buffer))
        return failure();
      tensor->buffer = *buffer;
    }
    int32_t index = sg.tensors.size();
    sg.tensors.push_back(std::move(*tensor));
    sg.points.push_back(options.sourceLocations ? flattenLocation(loc)
                                                : std::vector<SourcePoint>());
    tensorOf[value] = index;
    return index;
  };

  Block &block = func.front();
  for (BlockArgument arg : block.getArguments()) {
    unsigned i = arg.getArgNumber();
    auto kilnName = func.getArgAttrOfType<StringAttr>(
        i, kiln::KilnDialect::getNameAttrName());
    std::string locName = getLocName(arg.getLoc());
    std::string fallback = "input_" + std::to_string(i);
    std::string tensorName = !locName.empty() ? locName
                             : kilnName       ? kilnName.str()
                                              : fallback;
    std::string signatureName = kilnName           ? kilnName.str()
                                : !locName.empty() ? locName
                                                   : fallback;
    FailureOr<int32_t> index =
        addTensor(arg, tensorName, arg.getLoc(), nullptr);
    if (failed(index))
      return failure();
    sg.inputs.push_back(*index);
    sg.inputNames.push_back(signatureName);
  }

  for (Operation &op : block) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
        sg.outputs.push_back(tensorOf.lookup(value));
        auto kilnName = func.getResultAttrOfType<StringAttr>(
            i, kiln::KilnDialect::getNameAttrName());
        sg.outputNames.push_back(kilnName ? kilnName.str()
                                          : "output_" + std::to_string(i));
      }
      continue;
    }
    if (auto constOp = dyn_cast<ConstOp>(op)) {
      std::string name = getLocName(op.getLoc());
      if (name.empty())
        name = "const_" + std::to_string(sg.tensors.size());
      if (failed(addTensor(constOp.getResult(), name, op.getLoc(), constOp)))
        return failure();
      continue;
    }

    llvm::StringRef builtinName;
    std::optional<fb::BuiltinOperator> code =
        getBuiltinOperator(&op, &builtinName);
    if (!code) {
      if (!builtinName.empty())
        return op.emitOpError("builtin operator ")
               << builtinName << " is not in Kiln's FlatBuffer schema";
      return op.emitError("'")
             << op.getName()
             << "' is not a circle operator: only circle dialect ops (and "
                "func.return) can be written to a Circle/TFLite file";
    }
    if (options.flavor == Flavor::TFLite && isCircleOnly(*code))
      return op.emitError("'")
             << op.getName() << "' (" << builtinName
             << ") is a Circle-only operator: the tflite flavor cannot hold "
                "it (write the circle flavor, or lower with flavor=tflite)";
    if (op.getNumRegions() != 0)
      return op.emitOpError(
          "has regions, which a builtin operator cannot have");

    OperatorDesc desc;
    std::vector<TensorSignature> inSigs, outSigs;
    for (Value operand : op.getOperands()) {
      auto it = tensorOf.find(operand);
      if (it == tensorOf.end())
        return op.emitOpError("uses a value defined outside its function body");
      desc.inputs.push_back(it->second);
      inSigs.push_back(sg.tensors[it->second].signature());
      if (uint32_t buffer = sg.tensors[it->second].buffer)
        if (buffers[buffer].tensorName.empty())
          buffers[buffer].tensorName = getLocName(op.getLoc());
    }
    // An absent optional input is written as -1 (as TFLite's converter does).
    if (auto fc = dyn_cast<FullyConnectedOp>(op); fc && !fc.getBias()) {
      desc.inputs.push_back(-1);
      inSigs.push_back(TensorSignature::none());
    }
    for (Value result : op.getResults()) {
      std::string name = getLocName(op.getLoc());
      if (name.empty())
        name = op.getName().stripDialect().str() + "_" +
               std::to_string(sg.tensors.size());
      FailureOr<int32_t> index = addTensor(result, name, op.getLoc(), nullptr);
      if (failed(index))
        return failure();
      desc.outputs.push_back(*index);
      outSigs.push_back(sg.tensors[*index].signature());
    }

    OptionsSignature versionOptions;
    FailureOr<OptionsFn> opts = getOptions(&op, sg, versionOptions);
    if (failed(opts))
      return failure();
    desc.options = std::move(*opts);
    int32_t version = getOperatorVersion(static_cast<int32_t>(*code), inSigs,
                                         outSigs, versionOptions);
    desc.opcodeIndex = getOpcodeIndex(static_cast<int32_t>(*code), version);
    sg.operators.push_back(std::move(desc));
  }
  subgraphs.push_back(std::move(sg));
  return success();
}

FailureOr<TensorDesc> ModelWriter::describeTensor(Type type, std::string name,
                                                  Location loc) {
  auto ranked = dyn_cast<RankedTensorType>(type);
  if (!ranked)
    return emitError(loc, "tensor '") << name << "' has type " << type
                                      << ": only ranked tensors can be written";
  Type element = ranked.getElementType();
  std::optional<fb::TensorType> tensorType = getTensorType(element);
  if (!tensorType)
    return emitError(loc, "tensor '")
           << name << "' has element type " << element
           << ", which has no Circle/TFLite tensor type";
  if (*tensorType == fb::TensorType::UINT4 && options.flavor == Flavor::TFLite)
    return emitError(loc, "tensor '")
           << name << "' has element type " << element
           << " (Circle's UINT4), which the tflite flavor cannot hold: write "
              "the circle flavor or use a signed 4-bit type";
  if (options.flavor == Flavor::Circle &&
      llvm::is_contained({fb::TensorType::BFLOAT16, fb::TensorType::FLOAT64,
                          fb::TensorType::UINT16, fb::TensorType::UINT32,
                          fb::TensorType::UINT64},
                         *tensorType))
    emitWarning(loc, "tensor '") << name << "' has element type " << element
                                 << ", which ONE's Circle importer rejects";

  TensorDesc desc;
  desc.name = std::move(name);
  desc.type = *tensorType;
  bool dynamic = false;
  for (int64_t dim : ranked.getShape()) {
    if (ShapedType::isDynamic(dim)) {
      dynamic = true;
      desc.shape.push_back(1);
      desc.shapeSignature.push_back(-1);
      continue;
    }
    if (dim > std::numeric_limits<int32_t>::max())
      return emitError(loc, "tensor '")
             << desc.name << "' has a dimension above 2^31";
    desc.shape.push_back(static_cast<int32_t>(dim));
    desc.shapeSignature.push_back(static_cast<int32_t>(dim));
  }
  if (!dynamic)
    desc.shapeSignature.clear();

  if (auto q = dyn_cast<quant::UniformQuantizedType>(element)) {
    desc.quant =
        QuantDesc{{static_cast<float>(q.getScale())}, {q.getZeroPoint()}, 0};
  } else if (auto q = dyn_cast<quant::UniformQuantizedPerAxisType>(element)) {
    QuantDesc quant;
    for (double scale : q.getScales())
      quant.scales.push_back(static_cast<float>(scale));
    quant.zeroPoints.assign(q.getZeroPoints().begin(), q.getZeroPoints().end());
    quant.dimension = q.getQuantizedDimension();
    if (quant.dimension < 0 || quant.dimension >= ranked.getRank() ||
        ranked.isDynamicDim(quant.dimension) ||
        ranked.getDimSize(quant.dimension) !=
            static_cast<int64_t>(quant.scales.size()))
      return emitError(loc, "tensor '")
             << desc.name << "' has " << quant.scales.size()
             << " scales, which do not match its quantized dimension "
             << quant.dimension;
    desc.quant = std::move(quant);
  } else if (isa<quant::QuantizedType>(element)) {
    return emitError(loc, "tensor '")
           << desc.name << "' has element type " << element
           << ": only !quant.uniform (per tensor or per axis) can be written";
  }
  return desc;
}

/// MLIR 19's quant types stop at 32-bit storage, so an int64 constant (the
/// bias of a 16-bit-activation FULLY_CONNECTED) carries its parameters in
/// discardable attributes: `kiln.quant_scales` (array of f64 or f32),
/// optional `kiln.quant_zero_points` (array of i64, default zeros) and
/// `kiln.quant_dimension` (integer, default 0).
LogicalResult ModelWriter::addExtraQuantization(ConstOp op,
                                                TensorDesc &tensor) {
  Attribute scalesAttr = op->getAttr("kiln.quant_scales");
  if (!scalesAttr)
    return success();
  if (tensor.quant)
    return op.emitOpError("has both a quantized type and 'kiln.quant_scales'");
  if (!isa<IntegerType>(getElementTypeOrSelf(op.getType())))
    return op.emitOpError("'kiln.quant_scales' needs an integer constant");
  QuantDesc quant;
  if (auto f64 = dyn_cast<DenseF64ArrayAttr>(scalesAttr))
    for (double s : f64.asArrayRef())
      quant.scales.push_back(static_cast<float>(s));
  else if (auto f32 = dyn_cast<DenseF32ArrayAttr>(scalesAttr))
    quant.scales.assign(f32.asArrayRef().begin(), f32.asArrayRef().end());
  else
    return op.emitOpError(
        "'kiln.quant_scales' must be an array<f64: ...> or array<f32: ...>");
  if (quant.scales.empty())
    return op.emitOpError("'kiln.quant_scales' is empty");
  quant.zeroPoints.assign(quant.scales.size(), 0);
  if (Attribute zpAttr = op->getAttr("kiln.quant_zero_points")) {
    auto zps = dyn_cast<DenseI64ArrayAttr>(zpAttr);
    if (!zps || zps.size() != static_cast<int64_t>(quant.scales.size()))
      return op.emitOpError(
          "'kiln.quant_zero_points' must be an array<i64: ...> "
          "as long as 'kiln.quant_scales'");
    quant.zeroPoints.assign(zps.asArrayRef().begin(), zps.asArrayRef().end());
  }
  if (auto dim = op->getAttrOfType<IntegerAttr>("kiln.quant_dimension"))
    quant.dimension = dim.getInt();
  if (quant.scales.size() > 1 &&
      (quant.dimension < 0 ||
       quant.dimension >= static_cast<int32_t>(tensor.shape.size()) ||
       tensor.shape[quant.dimension] !=
           static_cast<int32_t>(quant.scales.size())))
    return op.emitOpError("has ")
           << quant.scales.size()
           << " 'kiln.quant_scales', which do not match dimension "
           << quant.dimension << " of its shape";
  tensor.quant = std::move(quant);
  return success();
}

/// The kind of data a constant tensor stores: "int8", "uint8", "int4", ...
/// when quantized, else the element type ("f32", "i32", "i64", "i1", ...).
static std::string getStorageKind(const TensorDesc &tensor) {
  using T = fb::TensorType;
  switch (tensor.type) {
  case T::FLOAT32:
    return "f32";
  case T::FLOAT16:
    return "f16";
  case T::BFLOAT16:
    return "bf16";
  case T::FLOAT64:
    return "f64";
  case T::BOOL:
    return "i1";
  default:
    break;
  }
  std::string name =
      llvm::StringRef(fb::EnumNameTensorType(tensor.type)).lower();
  if (tensor.quant)
    return name; // int8, uint8, int4, uint4, int16, int32, int64
  llvm::StringRef n(name);
  if (n.consume_front("uint"))
    return "ui" + n.str();
  if (n.consume_front("int"))
    return "i" + n.str();
  return name;
}

FailureOr<uint32_t> ModelWriter::getOrCreateBuffer(ConstOp op,
                                                   const TensorDesc &tensor) {
  llvm::StringRef tensorName = tensor.name;
  ElementsAttr value = op.getValue();
  // Identity of the data: the uniqued attribute, or for resources the blob
  // itself (the same blob seen through different shapes is the same bytes).
  std::pair<const void *, Type> key{value.getAsOpaquePointer(), Type()};
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value))
    key = {resource.getRawHandle().getResource(), resource.getElementType()};
  auto it = bufferIndex.find(key);
  if (it != bufferIndex.end())
    return it->second;
  FailureOr<BufferDesc> data = getConstantData(value, op.getLoc(), tensorName);
  if (failed(data))
    return failure();
  // Different attributes with the same bytes (e.g. the same weight folded
  // separately in prefill and decode, or a tied embedding table lowered
  // twice) share one buffer as well.
  uint64_t hash = data->hash();
  for (uint32_t candidate : buffersByHash[hash])
    if (buffers[candidate].sameBytes(*data)) {
      bufferIndex[key] = candidate;
      return candidate;
    }
  uint32_t index = buffers.size();
  data->kind = getStorageKind(tensor);
  data->tensorName = getLocName(op.getLoc());
  buffers.push_back(std::move(*data));
  bufferIndex[key] = index;
  buffersByHash[hash].push_back(index);
  return index;
}

FailureOr<BufferDesc> ModelWriter::getConstantData(ElementsAttr value,
                                                   Location loc,
                                                   llvm::StringRef tensorName) {
  auto type = cast<ShapedType>(value.getType());
  Type element = type.getElementType();
  if (!element.isIntOrFloat())
    return emitError(loc, "constant '")
           << tensorName << "' has element type " << element
           << ", which cannot be stored in a buffer";
  unsigned width = element.getIntOrFloatBitWidth();
  if (width != 1 && width != 4 && width % 8 != 0)
    return emitError(loc, "constant '")
           << tensorName << "' has " << width
           << "-bit elements, which cannot be stored";
  uint64_t count = type.getNumElements();
  uint64_t elementBytes = width <= 8 ? 1 : width / 8;

  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return emitError(loc, "constant '")
             << tensorName << "': resource '"
             << resource.getRawHandle().getKey() << "' has no data";
    llvm::ArrayRef<char> raw = blob->getData();
    llvm::ArrayRef<uint8_t> bytes(reinterpret_cast<const uint8_t *>(raw.data()),
                                  raw.size());
    if (width == 4 && bytes.size() == count)
      return BufferDesc::ofInt4Values(bytes); // packed while written
    if (width == 4 && bytes.size() == getPackedInt4Size(count))
      return BufferDesc::ofView(bytes); // already packed
    if (width != 4 && bytes.size() == count * elementBytes)
      return BufferDesc::ofView(bytes);
    {
      return emitError(loc, "constant '")
             << tensorName << "': resource '"
             << resource.getRawHandle().getKey() << "' holds " << bytes.size()
             << " bytes, but " << type << " needs " << count * elementBytes;
    }
  }

  auto dense = dyn_cast<DenseElementsAttr>(value);
  if (!dense)
    return emitError(loc, "constant '")
           << tensorName
           << "' has an attribute of an unsupported kind: a dense "
              "or dense_resource attribute is needed";
  if (width == 1) {
    if (dense.isSplat()) {
      uint8_t b = dense.getSplatValue<bool>() ? 1 : 0;
      return BufferDesc::ofSplat(llvm::ArrayRef<uint8_t>(b), count);
    }
    std::vector<uint8_t> bytes;
    bytes.reserve(count);
    for (bool b : dense.getValues<bool>())
      bytes.push_back(b ? 1 : 0);
    return BufferDesc::ofOwned(std::move(bytes));
  }
  if (width == 4) {
    std::vector<uint8_t> values;
    values.reserve(count);
    for (const APInt &v : dense.getValues<APInt>())
      values.push_back(static_cast<uint8_t>(v.getZExtValue() & 0x0F));
    return BufferDesc::ofOwned(packInt4(values));
  }
  llvm::ArrayRef<char> raw = dense.getRawData();
  llvm::ArrayRef<uint8_t> bytes(reinterpret_cast<const uint8_t *>(raw.data()),
                                raw.size());
  if (dense.isSplat())
    return BufferDesc::ofSplat(bytes.take_front(elementBytes), count);
  return BufferDesc::ofView(bytes);
}

uint32_t ModelWriter::getOpcodeIndex(int32_t code, int32_t version) {
  auto [it, inserted] =
      opcodeIndex.try_emplace({code, version}, opcodes.size());
  if (inserted)
    opcodes.push_back({code, version});
  return it->second;
}

/// Options of one operator: fields from its attributes, plus the options
/// fields that set its version.
FailureOr<OptionsFn> ModelWriter::getOptions(Operation *op,
                                             const SubgraphDesc &sg,
                                             OptionsSignature &v) {
  using BO = fb::BuiltinOptions;
  auto activation =
      [&](llvm::StringRef name) -> FailureOr<fb::ActivationFunctionType> {
    if (auto a = lookupEnum(name, fb::EnumValuesActivationFunctionType(),
                            fb::EnumNameActivationFunctionType))
      return *a;
    return op->emitOpError("unknown fused_activation_function '")
           << name << "'";
  };
  auto none = [](fbs::FlatBufferBuilder &) -> BuiltOptions {
    return {BO::NONE, 0};
  };
  // Element type of an operand or result's tensor.
  auto isQuantInt16 = [](Value value) {
    auto q =
        dyn_cast<quant::QuantizedType>(getElementTypeOrSelf(value.getType()));
    return q && q.getStorageTypeIntegralWidth() == 16;
  };
#define KILN_EMPTY_OPTIONS(NAME)                                               \
  [](fbs::FlatBufferBuilder &b) -> BuiltOptions {                              \
    return {BO::NAME, fb::Create##NAME(b).Union()};                            \
  }

  return llvm::TypeSwitch<Operation *, FailureOr<OptionsFn>>(op)
      .Case<AddOp, SubOp>([&](auto o) -> FailureOr<OptionsFn> {
        auto act = activation(o.getFusedActivationFunction());
        if (failed(act))
          return failure();
        // int16 kernels with scales that are not powers of two need
        // pot_scale_int16 = false (TFLite's general int16 path).
        bool pot = !isQuantInt16(o.getOutput());
        v.potScaleInt16 = pot;
        fb::ActivationFunctionType a = *act;
        if constexpr (std::is_same_v<decltype(o), AddOp>)
          return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
            return {BO::AddOptions, fb::CreateAddOptions(b, a, pot).Union()};
          });
        else
          return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
            return {BO::SubOptions, fb::CreateSubOptions(b, a, pot).Union()};
          });
      })
      .Case([&](MulOp o) -> FailureOr<OptionsFn> {
        auto act = activation(o.getFusedActivationFunction());
        if (failed(act))
          return failure();
        fb::ActivationFunctionType a = *act;
        return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
          return {BO::MulOptions, fb::CreateMulOptions(b, a).Union()};
        });
      })
      .Case([&](DivOp o) -> FailureOr<OptionsFn> {
        auto act = activation(o.getFusedActivationFunction());
        if (failed(act))
          return failure();
        fb::ActivationFunctionType a = *act;
        return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
          return {BO::DivOptions, fb::CreateDivOptions(b, a).Union()};
        });
      })
      .Case([&](PowOp) { return OptionsFn(KILN_EMPTY_OPTIONS(PowOptions)); })
      .Case([&](NegOp) { return OptionsFn(KILN_EMPTY_OPTIONS(NegOptions)); })
      .Case([&](QuantizeOp) {
        return OptionsFn(KILN_EMPTY_OPTIONS(QuantizeOptions));
      })
      .Case([&](DequantizeOp) {
        return OptionsFn(KILN_EMPTY_OPTIONS(DequantizeOptions));
      })
      .Case([&](TransposeOp) {
        return OptionsFn(KILN_EMPTY_OPTIONS(TransposeOptions));
      })
      .Case(
          [&](SliceOp) { return OptionsFn(KILN_EMPTY_OPTIONS(SliceOptions)); })
      .Case([&](SelectV2Op) {
        return OptionsFn(KILN_EMPTY_OPTIONS(SelectV2Options));
      })
      .Case([&](BroadcastToOp) {
        return OptionsFn(KILN_EMPTY_OPTIONS(BroadcastToOptions));
      })
      .Case<RsqrtOp, LogisticOp>([&](auto) { return OptionsFn(none); })
      .Case([&](CastOp o) -> FailureOr<OptionsFn> {
        auto in = getTensorType(getElementTypeOrSelf(o.getInput().getType()));
        auto out = getTensorType(getElementTypeOrSelf(o.getOutput().getType()));
        if (!in || !out)
          return failure(); // describeTensor already reported it
        fb::TensorType i = *in, r = *out;
        return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
          return {BO::CastOptions, fb::CreateCastOptions(b, i, r).Union()};
        });
      })
      .Case([&](FullyConnectedOp o) -> FailureOr<OptionsFn> {
        auto act = activation(o.getFusedActivationFunction());
        if (failed(act))
          return failure();
        auto format =
            lookupEnum(o.getWeightsFormat(),
                       fb::EnumValuesFullyConnectedOptionsWeightsFormat(),
                       fb::EnumNameFullyConnectedOptionsWeightsFormat);
        if (!format)
          return o.emitOpError("unknown weights_format '")
                 << o.getWeightsFormat() << "'";
        fb::ActivationFunctionType a = *act;
        fb::FullyConnectedOptionsWeightsFormat f = *format;
        bool keep = o.getKeepNumDims(), asym = o.getAsymmetricQuantizeInputs();
        v.keepNumDims = keep;
        v.asymmetricQuantizeInputs = asym;
        v.shuffledWeights =
            f == fb::FullyConnectedOptionsWeightsFormat::SHUFFLED4x16INT8;
        return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
          return {BO::FullyConnectedOptions,
                  fb::CreateFullyConnectedOptions(b, a, f, keep, asym).Union()};
        });
      })
      .Case([&](BatchMatMulOp o) -> FailureOr<OptionsFn> {
        bool x = o.getAdjX(), y = o.getAdjY(),
             asym = o.getAsymmetricQuantizeInputs();
        v.asymmetricQuantizeInputs = asym;
        return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
          return {BO::BatchMatMulOptions,
                  fb::CreateBatchMatMulOptions(b, x, y, asym).Union()};
        });
      })
      .Case([&](SoftmaxOp o) -> FailureOr<OptionsFn> {
        float beta = o.getBeta().convertToFloat();
        return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
          return {BO::SoftmaxOptions,
                  fb::CreateSoftmaxOptions(b, beta).Union()};
        });
      })
      .Case([&](MeanOp o) -> FailureOr<OptionsFn> {
        bool keep = o.getKeepDims();
        return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
          return {BO::ReducerOptions,
                  fb::CreateReducerOptions(b, keep).Union()};
        });
      })
      .Case([&](ReshapeOp o) -> FailureOr<OptionsFn> {
        // new_shape repeats a constant shape operand for readers that look at
        // the options; the shape tensor stays the operand runtimes use.
        std::optional<std::vector<int32_t>> newShape;
        if (auto shapeConst = o.getShape().getDefiningOp<ConstOp>())
          if (auto dense =
                  dyn_cast<DenseIntElementsAttr>(shapeConst.getValue())) {
            newShape.emplace();
            for (const APInt &d : dense.getValues<APInt>())
              newShape->push_back(static_cast<int32_t>(d.getSExtValue()));
          }
        return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
          auto vec = newShape ? b.CreateVector(*newShape)
                              : fbs::Offset<fbs::Vector<int32_t>>();
          return {BO::ReshapeOptions, fb::CreateReshapeOptions(b, vec).Union()};
        });
      })
      .Case([&](StridedSliceOp o) -> FailureOr<OptionsFn> {
        int32_t begin = o.getBeginMask(), end = o.getEndMask(),
                ellipsis = o.getEllipsisMask(), newAxis = o.getNewAxisMask(),
                shrink = o.getShrinkAxisMask();
        bool offset = o.getOffset();
        v.offset = offset;
        v.ellipsisMask = ellipsis;
        v.newAxisMask = newAxis;
        return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
          return {BO::StridedSliceOptions,
                  fb::CreateStridedSliceOptions(b, begin, end, ellipsis,
                                                newAxis, shrink, offset)
                      .Union()};
        });
      })
      .Case([&](ConcatenationOp o) -> FailureOr<OptionsFn> {
        auto act = activation(o.getFusedActivationFunction());
        if (failed(act))
          return failure();
        fb::ActivationFunctionType a = *act;
        int32_t axis = o.getAxis();
        return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
          return {BO::ConcatenationOptions,
                  fb::CreateConcatenationOptions(b, axis, a).Union()};
        });
      })
      .Case([&](GatherOp o) -> FailureOr<OptionsFn> {
        int32_t axis = o.getAxis(), batchDims = o.getBatchDims();
        v.batchDims = batchDims;
        return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
          return {BO::GatherOptions,
                  fb::CreateGatherOptions(b, axis, batchDims).Union()};
        });
      })
      .Case([&](RmsNormOp o) -> FailureOr<OptionsFn> {
        float epsilon = o.getEpsilon().convertToFloat();
        return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
          return {BO::RmsNormOptions,
                  fb::CreateRmsNormOptions(b, epsilon).Union()};
        });
      })
      .Case([&](RopeOp o) -> FailureOr<OptionsFn> {
        auto mode = lookupEnum(o.getMode(), fb::EnumValuesRoPEMode(),
                               fb::EnumNameRoPEMode);
        if (!mode)
          return o.emitOpError("unknown mode '") << o.getMode() << "'";
        fb::RoPEMode m = *mode;
        return OptionsFn([=](fbs::FlatBufferBuilder &b) -> BuiltOptions {
          return {BO::RoPEOptions, fb::CreateRoPEOptions(b, m).Union()};
        });
      })
      .Default([&](Operation *op) -> FailureOr<OptionsFn> {
        return op->emitOpError(
            "has no options mapping in Kiln's Circle writer");
      });
#undef KILN_EMPTY_OPTIONS
}

static std::string attrToString(Attribute attr) {
  if (auto s = dyn_cast<StringAttr>(attr))
    return s.str();
  std::string text;
  llvm::raw_string_ostream os(text);
  attr.print(os);
  return os.str();
}

LogicalResult ModelWriter::collectMetadata(llvm::ArrayRef<func::FuncOp> funcs,
                                           llvm::ArrayRef<std::string> keys) {
  metadata.push_back({"kiln.version", KILN_VERSION_STRING});
  for (llvm::StringRef name :
       {llvm::StringRef("kiln.pipeline"),
        llvm::StringRef(kiln::KilnDialect::getVariantAttrName()),
        llvm::StringRef("kiln.recipe")})
    if (Attribute attr = module->getAttr(name))
      metadata.push_back({name.str(), attrToString(attr)});
  for (auto [func, key] : llvm::zip(funcs, keys))
    if (Attribute attr = func->getAttr(kiln::KilnDialect::getVariantAttrName()))
      metadata.push_back({"kiln.variant." + key, attrToString(attr)});
  llvm::json::Array perSubgraph;
  llvm::StringMap<unsigned> fileIndex;
  std::vector<std::string> files;
  bool anyPoint = false;
  for (const SubgraphDesc &sg : subgraphs) {
    llvm::json::Object tensors;
    for (auto [i, points] : llvm::enumerate(sg.points))
      if (!points.empty()) {
        tensors[std::to_string(i)] = toJSON(points, fileIndex, files);
        anyPoint = true;
      }
    perSubgraph.push_back(std::move(tensors));
  }
  if (anyPoint) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << llvm::json::Value(
        llvm::json::Object{{"version", 1},
                           {"files", llvm::json::Array(files)},
                           {"subgraphs", std::move(perSubgraph)}});
    metadata.push_back({kLocationsMetadata, std::move(os.str())});
  }
  if (Attribute attr = module->getAttr("kiln.metadata")) {
    auto dict = dyn_cast<DictionaryAttr>(attr);
    if (!dict)
      return module.emitError(
          "'kiln.metadata' must be a dictionary of strings");
    for (NamedAttribute entry : dict)
      metadata.push_back(
          {entry.getName().str(), attrToString(entry.getValue())});
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Serializing
//===----------------------------------------------------------------------===//

void ModelWriter::serialize(fbs::FlatBufferBuilder &fbb, bool inlineData,
                            std::vector<fbs::uoffset_t> &inlineEnds) {
  inlineEnds.assign(buffers.size(), 0);
  // Inline data first, the last buffer first: the builder works back to
  // front, so the data ends the file in buffer order. Each vector is room
  // for the bytes, filled by emit() (the builder does not write it).
  if (inlineData)
    for (size_t i = buffers.size() - 1; i >= 1; --i) {
      uint64_t size = buffers[i].size;
      if (size == 0)
        continue;
      fbb.ForceVectorAlignment(size, sizeof(uint8_t), kBufferAlignment);
      uint8_t *room;
      inlineEnds[i] =
          fbb.CreateUninitializedVector(size, sizeof(uint8_t), &room);
    }
  // Buffers: the sentinel, constants, then metadata strings (always inline).
  std::vector<fbs::Offset<fb::Buffer>> bufferOffsets;
  bufferOffsets.push_back(fb::CreateBuffer(fbb));
  for (size_t i = 1; i < buffers.size(); ++i) {
    uint64_t size = buffers[i].size;
    if (size == 0)
      bufferOffsets.push_back(fb::CreateBuffer(fbb));
    else if (inlineData)
      bufferOffsets.push_back(fb::CreateBuffer(
          fbb, fbs::Offset<fbs::Vector<uint8_t>>(inlineEnds[i])));
    else // Placeholder offset 1 ("not set" to readers), patched by finish().
      bufferOffsets.push_back(fb::CreateBuffer(fbb, 0, 1, size));
  }
  std::vector<fbs::Offset<fb::Metadata>> metadataOffsets;
  for (const auto &[name, value] : metadata) {
    fbb.ForceVectorAlignment(value.size(), sizeof(uint8_t), kBufferAlignment);
    auto vec = fbb.CreateVector(reinterpret_cast<const uint8_t *>(value.data()),
                                value.size());
    uint32_t index = bufferOffsets.size();
    bufferOffsets.push_back(fb::CreateBuffer(fbb, vec));
    metadataOffsets.push_back(
        fb::CreateMetadata(fbb, fbb.CreateString(name), index));
  }

  std::vector<fbs::Offset<fb::SubGraph>> subgraphOffsets;
  std::vector<fbs::Offset<fb::SignatureDef>> signatureOffsets;
  // Per-axis parameters (a weight's per-channel scales and zero points) are
  // written once and shared by every tensor that has them: signatures
  // sharing a weight would otherwise repeat 12 bytes per channel each.
  llvm::StringMap<fbs::Offset<fb::QuantizationParameters>> sharedQuant;
  for (auto [index, sg] : llvm::enumerate(subgraphs)) {
    std::vector<fbs::Offset<fb::Tensor>> tensors;
    for (const TensorDesc &t : sg.tensors) {
      auto shape = fbb.CreateVector(t.shape);
      auto name = fbb.CreateString(t.name);
      fbs::Offset<fb::QuantizationParameters> quant;
      if (t.quant) {
        std::string key;
        bool shared = t.quant->scales.size() > 1;
        if (shared) {
          key.append(reinterpret_cast<const char *>(t.quant->scales.data()),
                     t.quant->scales.size() * sizeof(t.quant->scales[0]));
          key.append(reinterpret_cast<const char *>(t.quant->zeroPoints.data()),
                     t.quant->zeroPoints.size() *
                         sizeof(t.quant->zeroPoints[0]));
          key += std::to_string(t.quant->dimension);
          if (auto it = sharedQuant.find(key); it != sharedQuant.end())
            quant = it->second;
        }
        if (quant.IsNull()) {
          auto scales = fbb.CreateVector(t.quant->scales);
          auto zeroPoints = fbb.CreateVector(t.quant->zeroPoints);
          quant = fb::CreateQuantizationParameters(
              fbb, 0, 0, scales, zeroPoints, t.quant->dimension);
          if (shared)
            sharedQuant[key] = quant;
        }
      }
      fbs::Offset<fbs::Vector<int32_t>> signature;
      if (!t.shapeSignature.empty())
        signature = fbb.CreateVector(t.shapeSignature);
      tensors.push_back(fb::CreateTensor(fbb, shape, t.type, t.buffer, name,
                                         quant,
                                         /*is_variable=*/false, signature,
                                         /*has_rank=*/true));
    }
    std::vector<fbs::Offset<fb::Operator>> operators;
    for (const OperatorDesc &op : sg.operators) {
      auto inputs = fbb.CreateVector(op.inputs);
      auto outputs = fbb.CreateVector(op.outputs);
      BuiltOptions opts = op.options(fbb);
      operators.push_back(fb::CreateOperator(fbb, op.opcodeIndex, inputs,
                                             outputs, opts.first, opts.second));
    }
    subgraphOffsets.push_back(fb::CreateSubGraph(
        fbb, fbb.CreateVector(tensors), fbb.CreateVector(sg.inputs),
        fbb.CreateVector(sg.outputs), fbb.CreateVector(operators),
        fbb.CreateString(sg.name)));

    auto tensorMaps = [&](const std::vector<int32_t> &indices,
                          const std::vector<std::string> &names) {
      std::vector<fbs::Offset<fb::TensorMap>> maps;
      for (auto [i, name] : llvm::zip(indices, names))
        maps.push_back(fb::CreateTensorMap(fbb, fbb.CreateString(name), i));
      return fbb.CreateVector(maps);
    };
    auto inputs = tensorMaps(sg.inputs, sg.inputNames);
    auto outputs = tensorMaps(sg.outputs, sg.outputNames);
    signatureOffsets.push_back(fb::CreateSignatureDef(
        fbb, inputs, outputs, fbb.CreateString(sg.signatureKey), index));
  }

  std::vector<fbs::Offset<fb::OperatorCode>> opcodeOffsets;
  for (auto [code, version] : opcodes)
    opcodeOffsets.push_back(fb::CreateOperatorCode(
        fbb, getDeprecatedBuiltinCode(code), /*custom_code=*/0, version,
        static_cast<fb::BuiltinOperator>(code)));

  std::string description = std::string("Kiln ") + KILN_VERSION_STRING;
  auto model = fb::CreateModel(
      fbb, getModelVersion(options.flavor), fbb.CreateVector(opcodeOffsets),
      fbb.CreateVector(subgraphOffsets), fbb.CreateString(description),
      fbb.CreateVector(bufferOffsets), /*metadata_buffer=*/0,
      fbb.CreateVector(metadataOffsets), fbb.CreateVector(signatureOffsets));
  std::string identifier = getFileIdentifier(options.flavor).str();
  fbb.Finish(model, identifier.c_str());
}

LogicalResult ModelWriter::finish() {
  uint64_t dataBytes = 0;
  for (const BufferDesc &b : buffers)
    dataBytes += alignBufferOffset(b.size);
  std::string identifier = getFileIdentifier(options.flavor).str();
  std::vector<fbs::uoffset_t> inlineEnds;

  // The tables alone, with out-of-line buffers: small whatever the model.
  {
    fbs::FlatBufferBuilder fbb(1u << 20);
    serialize(fbb, /*inlineData=*/false, inlineEnds);
    flatbuffer = fbb.Release();
  }
  // Inline data (small models, the usual layout) unless forced out or too
  // big for a FlatBuffer: the same tables with room for every buffer. The
  // builder's memory is reserved for all of it up front (tables + data +
  // per-buffer length and padding), so it never grows and copies; the room
  // for the data is never touched and takes no memory.
  uint64_t inlineBound = flatbuffer.size() + dataBytes +
                         buffers.size() * (kBufferAlignment + 8) + (1u << 20);
  // Out of line too if the system will not map the room (strict
  // overcommit, an address-space limit).
  external = options.forceExternalBuffers ||
             dataBytes > options.externalBufferThreshold ||
             inlineBound >= FLATBUFFERS_MAX_BUFFER_SIZE ||
             !allocator.reserve(inlineBound + 4096);
  if (!external) {
    fbs::FlatBufferBuilder fbb(inlineBound, &allocator,
                               /*own_allocator=*/false);
    serialize(fbb, /*inlineData=*/true, inlineEnds);
    flatbuffer = fbb.Release();
  }

  fileSize = flatbuffer.size();
  dataOffsets.assign(buffers.size(), 0);
  if (external) {
    fb::Model *mutableModel = fb::GetMutableModel(flatbuffer.data());
    auto *fbBuffers = mutableModel->mutable_buffers();
    for (size_t i = 1; i < buffers.size(); ++i) {
      uint64_t size = buffers[i].size;
      if (size == 0)
        continue;
      uint64_t offset = alignExternalBufferOffset(fileSize);
      if (!fbBuffers->GetMutableObject(i)->mutate_offset(offset))
        return emitError(module.getLoc(),
                         "internal error: cannot place buffer ")
               << i;
      dataOffsets[i] = offset;
      fileSize = offset + size;
    }
  } else {
    // A vector created when the builder held `end` bytes starts `end` bytes
    // before the end of the finished buffer; its data follows the length.
    for (size_t i = 1; i < buffers.size(); ++i)
      if (inlineEnds[i])
        dataOffsets[i] =
            flatbuffer.size() - inlineEnds[i] + sizeof(fbs::uoffset_t);
  }

  // Verifying reads the tables and vector lengths, not the data.
  fbs::Verifier verifier(flatbuffer.data(), flatbuffer.size(), /*max_depth=*/64,
                         /*max_tables=*/100000000);
  if (!verifier.VerifyBuffer<fb::Model>(identifier.c_str()))
    return emitError(module.getLoc(),
                     "internal error: the written FlatBuffer does not verify");
  if (options.stats)
    fillStats(*options.stats);
  return success();
}

void ModelWriter::fillStats(WriterStats &stats) const {
  stats = WriterStats();
  for (size_t i = 1; i < buffers.size(); ++i) {
    stats.constantBytes[buffers[i].kind] += buffers[i].size;
    ++stats.constantBuffers;
  }
  for (const SubgraphDesc &sg : subgraphs)
    for (const TensorDesc &t : sg.tensors)
      stats.constantTensors += t.buffer != 0;
  for (const auto &entry : metadata)
    stats.metadataBytes += entry.second.size();
  stats.fileBytes = fileSize;
}

bool ModelWriter::emit(llvm::raw_ostream &os,
                       llvm::function_ref<bool()> failed) const {
  const char *tables = reinterpret_cast<const char *>(flatbuffer.data());
  WriteProgress progress;
  progress.external = external;
  std::vector<uint32_t> order;
  for (size_t i = 1; i < buffers.size(); ++i)
    if (dataOffsets[i]) {
      order.push_back(i);
      ++progress.buffers;
      progress.bytes += buffers[i].size;
    }
  llvm::sort(order, [&](uint32_t a, uint32_t b) {
    return dataOffsets[a] < dataOffsets[b];
  });
  if (options.progress)
    options.progress(progress);

  static const char zeros[kExternalBufferAlignment] = {};
  std::vector<uint8_t> scratch;
  // `position` bytes of the file are written; inline data lies inside the
  // tables (their bytes there are room, skipped), out-of-line data after.
  uint64_t position = 0;
  for (uint32_t i : order) {
    uint64_t offset = dataOffsets[i];
    if (!external) {
      os.write(tables + position, offset - position);
    } else {
      if (position < flatbuffer.size()) {
        os.write(tables + position, flatbuffer.size() - position);
        position = flatbuffer.size();
      }
      os.write(zeros, offset - position);
    }
    const BufferDesc &buffer = buffers[i];
    for (uint64_t c = 0, e = buffer.numChunks(); c < e; ++c) {
      llvm::ArrayRef<uint8_t> piece = buffer.chunk(c, scratch);
      os.write(reinterpret_cast<const char *>(piece.data()), piece.size());
      if (failed && failed())
        return false;
    }
    position = offset + buffer.size;
    ++progress.buffersWritten;
    progress.bytesWritten += buffer.size;
    progress.tensorName = buffer.tensorName;
    if (options.progress)
      options.progress(progress);
  }
  if (position < flatbuffer.size())
    os.write(tables + position, flatbuffer.size() - position);
  return !(failed && failed());
}

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

LogicalResult kiln::circle::writeCircle(ModuleOp module, llvm::raw_ostream &os,
                                        const WriterOptions &options) {
  ModelWriter writer(module, options);
  if (failed(writer.build()) || failed(writer.finish()))
    return failure();
  writer.emit(os);
  return success();
}

LogicalResult kiln::circle::writeCircleFile(ModuleOp module,
                                            llvm::StringRef path,
                                            const WriterOptions &options) {
  ModelWriter writer(module, options);
  if (failed(writer.build()) || failed(writer.finish()))
    return failure();
  if (path == "-") {
    writer.emit(llvm::outs(), [] { return llvm::outs().has_error(); });
    llvm::outs().flush();
    if (llvm::outs().has_error()) {
      llvm::outs().clear_error();
      return emitError(module.getLoc(), "cannot write the model to stdout");
    }
    return success();
  }
  // An existing output that is not a regular file (/dev/null, a pipe) is
  // written in place: renaming a temporary over it would replace the device.
  llvm::sys::fs::file_status status;
  if (!llvm::sys::fs::status(path, status) && llvm::sys::fs::exists(status) &&
      !llvm::sys::fs::is_regular_file(status)) {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    if (ec)
      return emitError(module.getLoc(), "cannot write '")
             << path << "': " << ec.message();
    writer.emit(os, [&] { return os.has_error(); });
    os.close();
    if (os.has_error()) {
      std::string message = os.error().message();
      os.clear_error();
      return emitError(module.getLoc(), "cannot write '")
             << path << "': " << message;
    }
    return success();
  }
  // A temporary file next to the output replaces it only when every byte
  // was written (a full disk leaves the old file, or none).
  llvm::SmallString<256> tmp;
  int fd;
  if (std::error_code ec =
          llvm::sys::fs::createUniqueFile(path + ".tmp-%%%%%%", fd, tmp))
    return emitError(module.getLoc(), "cannot write '")
           << path << "': cannot create a file next to it: " << ec.message();
  llvm::sys::RemoveFileOnSignal(tmp);
  std::string failure;
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    writer.emit(os, [&] { return os.has_error(); });
    os.close();
    if (os.has_error()) {
      failure = os.error().message();
      os.clear_error();
    }
  }
  if (failure.empty())
    if (std::error_code ec = llvm::sys::fs::rename(tmp, path))
      failure = ec.message();
  if (!failure.empty())
    llvm::sys::fs::remove(tmp);
  llvm::sys::DontRemoveFileOnSignal(tmp);
  if (!failure.empty())
    return emitError(module.getLoc(), "cannot write '")
           << path << "': " << failure;
  return success();
}

std::optional<Flavor> kiln::circle::getModuleFlavor(ModuleOp module) {
  if (auto name = module->getAttrOfType<StringAttr>("kiln.flavor"))
    return parseFlavor(name.getValue());
  return std::nullopt;
}
