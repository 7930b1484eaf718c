//===- ImporterImpl.h - TorchScript importer internals ----------*- C++ -*-===//
//
// Private to lib/Import/TorchScript (built with exceptions, includes
// LibTorch). The importer walks a method's graph and inlines every
// prim::CallMethod / prim::CallFunction itself, so that each op knows the
// module path it belongs to ("model.layers.3.self_attn.q_proj").
//
// TorchScript values are tracked as Entries: an SSA value, a compile-time
// constant (prim::Constant or a module attribute), a module object, or an
// aggregate (a tuple/list built in the graph, kept element-wise so that
// shape lists and unpacking need no IR). Constants and aggregates become IR
// only when an op needs them as operands; constants are hoisted to the entry
// block and shared.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_LIB_IMPORT_TORCHSCRIPT_IMPORTERIMPL_H
#define KILN_LIB_IMPORT_TORCHSCRIPT_IMPORTERIMPL_H

#include "kiln/Import/TorchScript/Importer.h"
#include "kiln/Import/TorchScript/TorchSupport.h"
#include "kiln/Import/TorchScript/TypeMapping.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringMap.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/script.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace kiln::torchscript {

struct ArchiveCheckResult;

//===----------------------------------------------------------------------===//
// Loading without copying the weights (MappedLoad.cpp)
//===----------------------------------------------------------------------===//

/// A private (copy-on-write) read-write mapping of a whole file.
struct MappedFile {
  char *data = nullptr;
  size_t size = 0;
  ~MappedFile();
};
/// Maps `path`; null with `error` set if it cannot.
std::shared_ptr<MappedFile> mapFile(const std::string &path,
                                    std::string &error);
/// Drops the whole pages of [offset, offset + size) from the process.
void dropMappedPages(const MappedFile &file, uint64_t offset, uint64_t size);
/// Loads the checked archive in `file` with its stored data/ records used in
/// place (MappedLoad.cpp says how). nullopt with `why` set when the archive
/// needs `torch::jit::load` of the whole file instead; LibTorch errors
/// propagate as exceptions.
std::optional<torch::jit::Module>
loadMapped(const std::shared_ptr<MappedFile> &file,
           const ArchiveCheckResult &check, std::string &why);

using TSNode = torch::jit::Node;
using TSValue = torch::jit::Value;
using TSBlock = torch::jit::Block;
using TSGraph = torch::jit::Graph;

//===----------------------------------------------------------------------===//
// Type mapping (TypeMapping.cpp)
//===----------------------------------------------------------------------===//

mlir::FailureOr<mlir::Type> convertScalarType(c10::ScalarType type,
                                              mlir::MLIRContext &context);
/// TorchScript type -> kiln type; failure (with `error`) for types that have
/// no value representation (modules, strings, devices...).
mlir::FailureOr<mlir::Type> convertType(const c10::TypePtr &type,
                                        mlir::MLIRContext &context,
                                        std::string &error);

/// Element type of a tensor value's type, or null for non-tensors.
mlir::Type elementTypeOf(mlir::Value value);
/// tensor<*xelt>.
mlir::Type unrankedOf(mlir::Type elementType);

/// A tensor as an elements attribute: parameters/buffers are borrowed
/// dense_resource blobs named `name`; tiny literals and bool tensors (whose
/// in-memory layout is not MLIR's) are dense copies.
mlir::FailureOr<mlir::ElementsAttr>
tensorToAttr(const at::Tensor &tensor, llvm::StringRef name,
             mlir::MLIRContext &context, std::string &error, bool preferDense,
             std::function<void()> onRelease = {});

//===----------------------------------------------------------------------===//
// Values during import
//===----------------------------------------------------------------------===//

struct Entry {
  enum class Kind { Value, Constant, Object, Aggregate, Function, Poison };
  Kind kind = Kind::Value;
  mlir::Value value;           // Kind::Value
  c10::IValue ivalue;          // Kind::Constant, Kind::Object
  std::string path;            // module path of an Object / attribute
  std::vector<Entry> elements; // Kind::Aggregate
  c10::TypePtr tsType;         // Kind::Aggregate: TupleType or ListType
  bool isList = false;         // Kind::Aggregate

  static Entry ofValue(mlir::Value v) {
    Entry e;
    e.value = v;
    return e;
  }
  static Entry ofConstant(c10::IValue iv, std::string path = {}) {
    Entry e;
    e.kind = Kind::Constant;
    e.ivalue = std::move(iv);
    e.path = std::move(path);
    return e;
  }
  /// The result of an unsupported op: the import goes on (to report every
  /// unsupported op kind in one run) but nothing is built from it.
  static Entry poison() {
    Entry e;
    e.kind = Kind::Poison;
    return e;
  }
  bool isNone() const {
    if (kind == Kind::Constant)
      return ivalue.isNone();
    return false;
  }
};

/// One inlined call: the values of one graph, the module path of `self`.
struct Frame {
  llvm::DenseMap<const TSValue *, Entry> values;
  std::string path;
  /// Set for free functions (prim::CallFunction): the caller's source
  /// location, so that ops of library code point at the user's call.
  std::optional<mlir::Location> callSite;
  unsigned depth = 0;
};

/// Per-graph facts about mutable lists (aten::append).
struct ListMutationInfo {
  /// Lists (prim::ListConstruct outputs) that aten::append mutates.
  llvm::DenseSet<const TSValue *> roots;
  /// aten::append outputs (aliases of their list) -> root list.
  llvm::DenseMap<const TSValue *, const TSValue *> aliasRoot;
  /// For each prim::If: the roots appended to inside it, in a stable order.
  llvm::DenseMap<const TSNode *, llvm::SmallVector<const TSValue *>> mutatedIn;
};

class ModuleImporter;

/// Imports one method into one func.func.
class FunctionImporter {
public:
  FunctionImporter(ModuleImporter &parent, mlir::func::FuncOp func);

  mlir::LogicalResult importMethod(const torch::jit::ObjectPtr &self,
                                   torch::jit::Function &method,
                                   llvm::ArrayRef<InputShapeHint> hints,
                                   llvm::SmallVectorImpl<bool> &hintUsed);

  using Converter = mlir::LogicalResult (FunctionImporter::*)(TSNode *,
                                                              Frame &);
  /// Every supported node kind; the unsupported-op scan uses the same table.
  static const llvm::StringMap<Converter> &converters();

private:
  friend class ModuleImporter;
  // --- Structure (Importer.cpp) ---
  mlir::LogicalResult importBlock(TSBlock *block, Frame &frame);
  mlir::LogicalResult importNode(TSNode *node, Frame &frame);
  mlir::FailureOr<llvm::SmallVector<Entry>>
  inlineGraph(TSGraph &graph, llvm::ArrayRef<Entry> inputs, Frame &callee);
  /// Null (after a diagnostic) when the graph mutates lists in ways the
  /// importer cannot follow.
  const ListMutationInfo *mutationInfo(TSGraph &graph);

  mlir::Location locOf(TSNode *node, const Frame &frame);
  mlir::Location fileLocOf(TSNode *node, const Frame &frame);
  mlir::InFlightDiagnostic error(TSNode *node, const Frame &frame);

  Entry *lookup(Frame &frame, const TSValue *value);
  Entry &input(TSNode *node, Frame &frame, unsigned i);
  void setOutput(TSNode *node, Frame &frame, unsigned i, Entry entry);
  void setOutput(TSNode *node, Frame &frame, unsigned i, mlir::Value v) {
    setOutput(node, frame, i, Entry::ofValue(v));
  }

  /// The entry as an SSA value (constants hoisted, aggregates built here).
  mlir::FailureOr<mlir::Value> materialize(Entry &entry, mlir::Location loc);
  mlir::FailureOr<mlir::Value> materializeConstant(const c10::IValue &iv,
                                                   llvm::StringRef path,
                                                   mlir::Location loc);
  mlir::Value constantI64(int64_t v);
  mlir::Value constantF64(double v);
  mlir::Value constantBool(bool v);
  /// A 0-d tensor constant of `elementType` holding `v`.
  mlir::Value scalarTensorConstant(double v, mlir::Type elementType);

  // Operand helpers for converters (AtenOps.cpp).
  mlir::FailureOr<mlir::Value> tensorOperand(TSNode *n, Frame &f, unsigned i);
  mlir::FailureOr<mlir::Value> scalarOperand(TSNode *n, Frame &f, unsigned i,
                                             mlir::Type type);
  std::optional<int64_t> constInt(TSNode *n, Frame &f, unsigned i);
  std::optional<double> constDouble(TSNode *n, Frame &f, unsigned i);
  std::optional<bool> constBool(TSNode *n, Frame &f, unsigned i);
  bool isNoneOperand(TSNode *n, Frame &f, unsigned i);
  mlir::FailureOr<int64_t> requireConstInt(TSNode *n, Frame &f, unsigned i,
                                           llvm::StringRef what);
  /// Operand i as a constant int, `dflt` when absent or None.
  mlir::FailureOr<int64_t> optionalConstInt(TSNode *n, Frame &f, unsigned i,
                                            int64_t dflt, llvm::StringRef what);
  mlir::FailureOr<llvm::SmallVector<int64_t>>
  requireConstIntList(TSNode *n, Frame &f, unsigned i, llvm::StringRef what);
  mlir::FailureOr<llvm::SmallVector<mlir::Value>>
  intListOperands(TSNode *n, Frame &f, unsigned i);
  mlir::FailureOr<llvm::SmallVector<mlir::Value>>
  tensorListOperands(TSNode *n, Frame &f, unsigned i);
  /// A tensor operand or a scalar (constant or SSA) as a 0-d tensor of
  /// `scalarElement`.
  mlir::FailureOr<mlir::Value> tensorOrScalarOperand(TSNode *n, Frame &f,
                                                     unsigned i,
                                                     mlir::Type scalarElement);
  /// Type of operand i's TorchScript value.
  bool isTensorInput(TSNode *n, unsigned i);
  /// Element type a scalar or tensor operand contributes to promotion.
  mlir::Type promotionType(TSNode *n, Frame &f, unsigned i, bool &isScalar);
  /// A tensor whose element type is only a default guess (an argument
  /// without dtype) is given `elementType` (retyping the argument when it is
  /// one and has no other use yet), else cast.
  mlir::Value withElementType(mlir::Value tensor, mlir::Type elementType,
                              mlir::Location loc);
  /// Applies shape inference to a new kiln op when refining is on.
  mlir::Value finish(mlir::Operation *op);

  // --- Converters: structure (Importer.cpp) ---
  mlir::LogicalResult convertConstant(TSNode *n, Frame &f);
  mlir::LogicalResult convertGetAttr(TSNode *n, Frame &f);
  mlir::LogicalResult convertCallMethod(TSNode *n, Frame &f);
  mlir::LogicalResult convertCallFunction(TSNode *n, Frame &f);
  mlir::LogicalResult convertIf(TSNode *n, Frame &f);
  mlir::LogicalResult convertLoop(TSNode *n, Frame &f);
  mlir::LogicalResult convertListConstruct(TSNode *n, Frame &f);
  mlir::LogicalResult convertListUnpack(TSNode *n, Frame &f);
  mlir::LogicalResult convertTupleConstruct(TSNode *n, Frame &f);
  mlir::LogicalResult convertTupleUnpack(TSNode *n, Frame &f);
  mlir::LogicalResult convertTupleIndex(TSNode *n, Frame &f);
  mlir::LogicalResult convertUncheckedCast(TSNode *n, Frame &f);
  mlir::LogicalResult convertGetItem(TSNode *n, Frame &f);
  mlir::LogicalResult convertAppend(TSNode *n, Frame &f);
  mlir::LogicalResult convertIs(TSNode *n, Frame &f);

  // --- Converters: scalars and tensors (AtenOps.cpp) ---
  mlir::LogicalResult convertNot(TSNode *n, Frame &f);
  mlir::LogicalResult convertBoolBinary(TSNode *n, Frame &f);
  mlir::LogicalResult convertCompare(TSNode *n, Frame &f);
  mlir::LogicalResult convertScalarCast(TSNode *n, Frame &f);
  mlir::LogicalResult convertScalarCastOf(TSNode *n, Frame &f,
                                          mlir::Value scalar);
  mlir::LogicalResult convertNumToTensor(TSNode *n, Frame &f);
  mlir::LogicalResult convertSize(TSNode *n, Frame &f);
  mlir::LogicalResult convertDim(TSNode *n, Frame &f);
  mlir::LogicalResult convertArith(TSNode *n, Frame &f);
  mlir::LogicalResult convertScalarArith(TSNode *n, Frame &f);
  mlir::LogicalResult convertNeg(TSNode *n, Frame &f);
  mlir::LogicalResult convertUnary(TSNode *n, Frame &f);
  mlir::LogicalResult convertPow(TSNode *n, Frame &f);
  mlir::LogicalResult convertRsub(TSNode *n, Frame &f);
  mlir::LogicalResult convertLinear(TSNode *n, Frame &f);
  mlir::LogicalResult convertMatmul(TSNode *n, Frame &f);
  mlir::LogicalResult convertMean(TSNode *n, Frame &f);
  mlir::LogicalResult convertSoftmax(TSNode *n, Frame &f);
  mlir::LogicalResult convertReshape(TSNode *n, Frame &f);
  mlir::LogicalResult convertTranspose(TSNode *n, Frame &f);
  mlir::LogicalResult convertPermute(TSNode *n, Frame &f);
  mlir::LogicalResult convertIdentity(TSNode *n, Frame &f);
  mlir::LogicalResult convertDropout(TSNode *n, Frame &f);
  mlir::LogicalResult convertUnsqueeze(TSNode *n, Frame &f);
  mlir::LogicalResult convertSqueeze(TSNode *n, Frame &f);
  mlir::LogicalResult convertExpand(TSNode *n, Frame &f);
  mlir::LogicalResult convertRepeatInterleave(TSNode *n, Frame &f);
  mlir::LogicalResult convertSlice(TSNode *n, Frame &f);
  mlir::LogicalResult convertSelect(TSNode *n, Frame &f);
  mlir::LogicalResult convertNarrow(TSNode *n, Frame &f);
  mlir::LogicalResult convertCat(TSNode *n, Frame &f);
  mlir::LogicalResult convertEmbedding(TSNode *n, Frame &f);
  mlir::LogicalResult convertTo(TSNode *n, Frame &f);
  mlir::LogicalResult convertTypeAs(TSNode *n, Frame &f);
  mlir::LogicalResult convertMaskedFill(TSNode *n, Frame &f);
  mlir::LogicalResult convertWhere(TSNode *n, Frame &f);
  mlir::LogicalResult convertFakeQuant(TSNode *n, Frame &f);
  mlir::LogicalResult convertFakeQuantPerChannel(TSNode *n, Frame &f);

  // --- Composite and shape ops (CompositeOps.cpp) ---
  mlir::LogicalResult convertFloorDivide(TSNode *n, Frame &f);
  mlir::LogicalResult convertScaledDotProductAttention(TSNode *n, Frame &f);
  mlir::LogicalResult convertRmsNorm(TSNode *n, Frame &f);
  mlir::LogicalResult convertChunk(TSNode *n, Frame &f);
  mlir::LogicalResult convertStack(TSNode *n, Frame &f);

  /// A 0-d tensor that holds a scalar known to the importer: prim::NumToTensor
  /// of a size (a kiln.from_scalar) or a 0-d literal. Returns the scalar
  /// (i64 or f64) or null.
  mlir::Value boxedScalar(Entry &e);
  /// Scalar arithmetic of TorchScript kind `kind` (add, sub, mul, div,
  /// floordiv, floor_divide, remainder) on i64/f64 values; null if the kind
  /// has no scalar form for these types.
  mlir::Value scalarBinary(llvm::StringRef kind, mlir::Value lhs,
                           mlir::Value rhs, mlir::Location loc);
  /// Shape arithmetic written on 0-d tensors (traced `x.shape[-1] // 2`):
  /// when both operands are boxed scalars, computes on the scalars and
  /// boxes the result; false when the operands are real tensors.
  mlir::FailureOr<bool> tryBoxedArith(TSNode *n, Frame &f,
                                      llvm::StringRef kind);

  // --- Constant folding (ConstantFolding.cpp) ---
  /// Runs a node whose inputs are all known at import through LibTorch's
  /// own kernel and records its outputs as constants. False when the node
  /// is not foldable (then it is converted as usual).
  bool tryFoldConstant(TSNode *n, Frame &f);

  ModuleImporter &parent;
  mlir::MLIRContext *ctx;
  mlir::func::FuncOp func;
  mlir::OpBuilder b;
  /// Inserts hoisted constants at the top of the entry block, in order.
  mlir::OpBuilder constBuilder;
  bool refineShapes = false;
  std::map<std::pair<int, int64_t>, mlir::Value> scalarConstants;
  std::map<std::tuple<const void *, int64_t, std::vector<int64_t>,
                      std::vector<int64_t>, int>,
           mlir::Value>
      tensorConstants;
  std::map<std::pair<const void *, int64_t>, mlir::Value> tensorScalarConstants;
  mlir::Value noneConstant;
  /// The last op hoisted to the entry block (the next goes after it).
  mlir::Operation *lastHoisted = nullptr;
  /// Function arguments whose tensor element type is a default guess.
  llvm::DenseSet<mlir::Value> guessedElementType;
};

/// Owns the loaded module, the function importers and the weight blobs.
class ModuleImporter {
public:
  ModuleImporter(mlir::MLIRContext &context, llvm::StringRef path,
                 const TorchScriptImportOptions &options)
      : context(context), path(path.str()), options(options) {}

  mlir::OwningOpRef<mlir::ModuleOp> run();

  /// The attribute for a parameter/buffer (deduplicated by storage, so tied
  /// weights share one blob).
  mlir::FailureOr<mlir::ElementsAttr>
  weightAttr(const at::Tensor &tensor, llvm::StringRef name, std::string &err);

  /// Lists the op kinds no converter handles, reachable from `graph`.
  void scanUnsupported(TSBlock *block,
                       llvm::DenseSet<const TSGraph *> &visited);

  /// Records an unsupported op kind (first location wins) and counts its
  /// occurrences.
  void noteUnsupported(TSNode *node, mlir::Location loc);
  std::vector<std::pair<std::string, mlir::Location>> unsupported;
  llvm::StringMap<unsigned> unsupportedCount;

  mlir::MLIRContext &context;
  std::string path;
  const TorchScriptImportOptions &options;
  torch::jit::Module module;
  bool loadedMapped = false;
  std::map<std::tuple<const void *, int64_t, std::vector<int64_t>,
                      std::vector<int64_t>, int>,
           mlir::ElementsAttr>
      weightAttrs;
  llvm::DenseMap<const TSGraph *, std::unique_ptr<ListMutationInfo>> mutation;
  mlir::Location fileLoc(TSNode *node);
};

} // namespace kiln::torchscript

#endif
