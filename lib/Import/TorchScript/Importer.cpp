//===- Importer.cpp - TorchScript to kiln ---------------------------------===//
//
// Built with exceptions: LibTorch reports errors by throwing c10::Error, and
// the entry point turns those into MLIR diagnostics.
//
// Structure of the import: the method's graph is walked node by node;
// prim::CallMethod / prim::CallFunction are inlined by importing the callee's
// graph in a new Frame (whose `path` is the module path of the callee's
// `self`), prim::If becomes scf.if, a counted prim::Loop becomes scf.for.
// Everything else goes through the converter table (AtenOps.cpp).
//
//===----------------------------------------------------------------------===//
#include "ImporterImpl.h"
#include "kiln/Dialect/Kiln/IR/KilnDialect.h"
#include "kiln/Dialect/Kiln/Utils/DeadCode.h"

#include "kiln/Dialect/Kiln/IR/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Iterators.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"

#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/serialization/import.h>

#include "kiln/Import/TorchScript/ArchiveCheck.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/MemoryBuffer.h"

#include <new>
#include <sstream>

using namespace mlir;
using namespace kiln;
using namespace kiln::torchscript;
namespace jit = torch::jit;

//===----------------------------------------------------------------------===//
// Locations
//===----------------------------------------------------------------------===//

std::optional<std::tuple<std::string, unsigned, unsigned>>
kiln::torchscript::sourceOf(const TSNode *node) {
  // A loaded module's nodes point into its serialized code
  // (code/__torch__/...); the debug info maps them back to the Python
  // source they were compiled from.
  jit::SourceRange range = node->sourceRange();
  if (auto original = range.findSourceRangeThatGenerated())
    range = *original;
  auto flc = range.file_line_col();
  if (!flc)
    return std::nullopt;
  auto [file, line, col] = *flc;
  if (file.empty())
    return std::nullopt;
  // TorchScript columns are 0-based, MLIR's are 1-based.
  return std::make_tuple(file, static_cast<unsigned>(line),
                         static_cast<unsigned>(col + 1));
}

/// PyTorch's Tensor operator wrappers (torch/_tensor.py: __floordiv__,
/// __rsub__, ...) and custom-op dispatch (torch/_ops.py): a traced op
/// located there says nothing to the user, the line that used the operator
/// does. (torch.nn.functional keeps its own
/// location: the importer's call-site logic handles scripted calls.)
bool kiln::torchscript::isTorchInternal(const std::string &path) {
  llvm::StringRef file(path);
  return file.ends_with("/torch/_tensor.py") ||
         file.ends_with("/torch/_ops.py");
}

Location ModuleImporter::fileLoc(TSNode *node) {
  auto make = [&](const std::tuple<std::string, unsigned, unsigned> &src) {
    return FileLineColLoc::get(&context, std::get<0>(src), std::get<1>(src),
                               std::get<2>(src));
  };
  auto src = sourceOf(node);
  if (src && !isTorchInternal(std::get<0>(*src)))
    return make(*src);
  // Traced graphs give shape glue (aten::Int, prim::NumToTensor) no source
  // range, and calls into torch's Python code a range inside torch: take the
  // user's line from the nearest consumer (then producer) that has one.
  llvm::SmallVector<TSNode *> work{node};
  llvm::DenseSet<TSNode *> seen{node};
  for (unsigned step = 0; step < work.size() && step < 32; ++step) {
    TSNode *n = work[step];
    for (TSValue *out : n->outputs())
      for (const torch::jit::Use &use : out->uses())
        if (seen.insert(use.user).second) {
          if (auto s = sourceOf(use.user);
              s && !isTorchInternal(std::get<0>(*s)))
            return make(*s);
          work.push_back(use.user);
        }
  }
  for (TSValue *in : node->inputs())
    if (TSNode *def = in->node(); def && def->kind() != c10::prim::Param)
      if (auto s = sourceOf(def); s && !isTorchInternal(std::get<0>(*s)))
        return make(*s);
  if (src)
    return make(*src);
  return UnknownLoc::get(&context);
}

Location FunctionImporter::fileLocOf(TSNode *node, const Frame &frame) {
  Location own = parent.fileLoc(node);
  if (!frame.callSite)
    return own;
  if (isa<UnknownLoc>(own))
    return *frame.callSite;
  return CallSiteLoc::get(own, *frame.callSite);
}

Location FunctionImporter::locOf(TSNode *node, const Frame &frame) {
  Location loc = fileLocOf(node, frame);
  if (frame.path.empty())
    return loc;
  return NameLoc::get(StringAttr::get(ctx, frame.path), loc);
}

InFlightDiagnostic FunctionImporter::error(TSNode *node, const Frame &frame) {
  InFlightDiagnostic diag = emitError(locOf(node, frame));
  if (!frame.path.empty())
    diag.attachNote() << "in module '" << frame.path << "' ("
                      << node->kind().toQualString() << ")";
  return diag;
}

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

FunctionImporter::FunctionImporter(ModuleImporter &parent, func::FuncOp func)
    : parent(parent), ctx(&parent.context), func(func), b(ctx),
      constBuilder(ctx) {
  refineShapes = !parent.options.inputShapes.empty();
}

Entry *FunctionImporter::lookup(Frame &frame, const TSValue *value) {
  if (auto it = parent.mutation.find(value->owningGraph());
      it != parent.mutation.end())
    if (const TSValue *root = it->second->aliasRoot.lookup(value))
      value = root;
  auto it = frame.values.find(value);
  return it == frame.values.end() ? nullptr : &it->second;
}

Entry &FunctionImporter::input(TSNode *node, Frame &frame, unsigned i) {
  if (Entry *e = lookup(frame, node->input(i)))
    return *e;
  // TorchScript is SSA and imported in order, so this is unreachable for
  // well-formed graphs; keep a harmless placeholder to avoid crashing.
  static Entry none = Entry::ofConstant(c10::IValue());
  return none;
}

void FunctionImporter::setOutput(TSNode *node, Frame &frame, unsigned i,
                                 Entry entry) {
  frame.values[node->output(i)] = std::move(entry);
}

/// Sets the builder to the place where the next hoisted constant goes.
static void setHoistPoint(OpBuilder &cb, Block *entry, Operation *last) {
  if (last)
    cb.setInsertionPointAfter(last);
  else
    cb.setInsertionPointToStart(entry);
}

Value FunctionImporter::constantI64(int64_t v) {
  auto key = std::make_pair(0, v);
  if (Value c = scalarConstants[key])
    return c;
  setHoistPoint(constBuilder, &func.getBody().front(), lastHoisted);
  auto op = constBuilder.create<arith::ConstantOp>(
      UnknownLoc::get(ctx), constBuilder.getI64IntegerAttr(v));
  lastHoisted = op;
  return scalarConstants[key] = op;
}

Value FunctionImporter::constantF64(double v) {
  auto key = std::make_pair(1, llvm::bit_cast<int64_t>(v));
  if (Value c = scalarConstants[key])
    return c;
  setHoistPoint(constBuilder, &func.getBody().front(), lastHoisted);
  auto op = constBuilder.create<arith::ConstantOp>(
      UnknownLoc::get(ctx), constBuilder.getF64FloatAttr(v));
  lastHoisted = op;
  return scalarConstants[key] = op;
}

Value FunctionImporter::constantBool(bool v) {
  auto key = std::make_pair(2, static_cast<int64_t>(v));
  if (Value c = scalarConstants[key])
    return c;
  setHoistPoint(constBuilder, &func.getBody().front(), lastHoisted);
  auto op = constBuilder.create<arith::ConstantOp>(UnknownLoc::get(ctx),
                                                   constBuilder.getBoolAttr(v));
  lastHoisted = op;
  return scalarConstants[key] = op;
}

Value FunctionImporter::scalarTensorConstant(double v, Type elt) {
  auto key =
      std::make_pair(elt.getAsOpaquePointer(), llvm::bit_cast<int64_t>(v));
  if (Value c = tensorScalarConstants[key])
    return c;
  auto type = RankedTensorType::get({}, elt);
  DenseElementsAttr attr;
  if (auto ft = dyn_cast<FloatType>(elt)) {
    APFloat value(v);
    bool lost;
    value.convert(ft.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
    attr = DenseElementsAttr::get(type, value);
  } else if (auto it = dyn_cast<IntegerType>(elt)) {
    if (it.getWidth() == 1)
      attr = DenseElementsAttr::get(type, v != 0);
    else
      attr = DenseElementsAttr::get(
          type,
          APInt(it.getWidth(), static_cast<int64_t>(v), /*isSigned=*/true));
  } else {
    return {};
  }
  setHoistPoint(constBuilder, &func.getBody().front(), lastHoisted);
  auto op = constBuilder.create<ConstantOp>(UnknownLoc::get(ctx), type, attr);
  lastHoisted = op;
  return tensorScalarConstants[key] = op;
}

FailureOr<Value> FunctionImporter::materializeConstant(const c10::IValue &iv,
                                                       llvm::StringRef path,
                                                       Location loc) {
  Block *entry = &func.getBody().front();
  if (iv.isNone()) {
    if (!noneConstant) {
      setHoistPoint(constBuilder, entry, lastHoisted);
      auto op =
          constBuilder.create<NoneOp>(UnknownLoc::get(ctx), NoneType::get(ctx));
      lastHoisted = op;
      noneConstant = op;
    }
    return noneConstant;
  }
  if (iv.isBool())
    return constantBool(iv.toBool());
  if (iv.isInt())
    return constantI64(iv.toInt());
  if (iv.isDouble())
    return constantF64(iv.toDouble());
  if (iv.isTensor()) {
    const at::Tensor &t = iv.toTensor();
    std::vector<int64_t> sizes(t.sizes().begin(), t.sizes().end());
    std::vector<int64_t> strides(t.strides().begin(), t.strides().end());
    auto key = std::make_tuple(
        t.has_storage() ? t.storage().data()
                        : static_cast<const void *>(t.unsafeGetTensorImpl()),
        static_cast<int64_t>(t.storage_offset()), sizes, strides,
        static_cast<int>(t.scalar_type()));
    if (Value c = tensorConstants[key])
      return c;
    std::string err;
    FailureOr<ElementsAttr> attr = failure();
    Location constLoc = loc;
    if (!path.empty()) {
      attr = parent.weightAttr(t, path, err);
      constLoc = NameLoc::get(StringAttr::get(ctx, path), loc);
    } else {
      // A tensor literal of the graph (e.g. a traced 0-d constant).
      bool small = t.numel() * static_cast<int64_t>(t.element_size()) <= 64;
      attr = tensorToAttr(t, "constant", *ctx, err, small);
    }
    if (failed(attr))
      return emitError(loc) << err;
    setHoistPoint(constBuilder, entry, lastHoisted);
    auto op = constBuilder.create<ConstantOp>(constLoc, attr->getType(), *attr);
    lastHoisted = op;
    return tensorConstants[key] = op;
  }
  if (iv.isTuple()) {
    SmallVector<Value> elements;
    for (const c10::IValue &el : iv.toTupleRef().elements()) {
      auto v = materializeConstant(el, "", loc);
      if (failed(v))
        return failure();
      elements.push_back(*v);
    }
    SmallVector<Type> types(
        llvm::map_range(elements, [](Value v) { return v.getType(); }));
    setHoistPoint(constBuilder, entry, lastHoisted);
    auto op =
        constBuilder.create<TupleOp>(loc, TupleType::get(ctx, types), elements);
    lastHoisted = op;
    return Value(op);
  }
  if (iv.isList()) {
    std::string err;
    auto listType = convertType(iv.type(), *ctx, err);
    if (failed(listType))
      return emitError(loc) << err;
    Type elt = cast<ListType>(*listType).getElementType();
    SmallVector<Value> elements;
    for (const c10::IValue &el : iv.toListRef()) {
      auto v = materializeConstant(el, "", loc);
      if (failed(v))
        return failure();
      setHoistPoint(constBuilder, entry, lastHoisted);
      auto coerced = coerceValue(constBuilder, loc, *v, elt);
      if (failed(coerced))
        return emitError(loc)
               << "cannot put a " << v->getType() << " into a list of " << elt;
      if (Operation *def = coerced->getDefiningOp();
          def && def->getBlock() == entry && *coerced != *v)
        lastHoisted = def;
      elements.push_back(*coerced);
    }
    setHoistPoint(constBuilder, entry, lastHoisted);
    auto op =
        constBuilder.create<ListOp>(loc, ListType::get(ctx, elt), elements);
    lastHoisted = op;
    return Value(op);
  }
  return emitError(loc) << "a TorchScript constant of type '"
                        << iv.type()->annotation_str()
                        << "' cannot be used as a value";
}

FailureOr<Value> FunctionImporter::materialize(Entry &entry, Location loc) {
  switch (entry.kind) {
  case Entry::Kind::Value:
    return entry.value;
  case Entry::Kind::Constant:
    return materializeConstant(entry.ivalue, entry.path, loc);
  case Entry::Kind::Object:
    return emitError(loc) << "module '" << entry.path
                          << "' cannot be used as a value";
  case Entry::Kind::Function:
    return emitError(loc) << "a function cannot be used as a value";
  case Entry::Kind::Poison:
    return failure(); // an unsupported op, reported at the end
  case Entry::Kind::Aggregate:
    break;
  }
  SmallVector<Value> elements;
  for (Entry &el : entry.elements) {
    auto v = materialize(el, loc);
    if (failed(v))
      return failure();
    elements.push_back(*v);
  }
  if (!entry.isList) {
    SmallVector<Type> types(
        llvm::map_range(elements, [](Value v) { return v.getType(); }));
    return Value(b.create<TupleOp>(loc, TupleType::get(ctx, types), elements));
  }
  Type elt;
  for (Value v : elements)
    elt = elt ? joinTypes(elt, v.getType()) : v.getType();
  if (!elt) {
    std::string err;
    auto listType = convertType(entry.tsType, *ctx, err);
    if (failed(listType))
      return emitError(loc) << err;
    elt = cast<ListType>(*listType).getElementType();
  }
  for (Value &v : elements) {
    auto coerced = coerceValue(b, loc, v, elt);
    if (failed(coerced))
      return emitError(loc)
             << "cannot put a " << v.getType() << " into a list of " << elt;
    v = *coerced;
  }
  return Value(b.create<ListOp>(loc, ListType::get(ctx, elt), elements));
}

//===----------------------------------------------------------------------===//
// Mutable lists
//===----------------------------------------------------------------------===//

static void collectNodes(TSBlock *block, std::vector<TSNode *> &out) {
  for (TSNode *n : block->nodes()) {
    out.push_back(n);
    for (TSBlock *inner : n->blocks())
      collectNodes(inner, out);
  }
}

/// Uses of a list that only read it (they see the current version).
static bool isListRead(TSNode *user) {
  static const llvm::StringSet<> reads = {
      "aten::__getitem__", "aten::len",    "aten::cat",
      "aten::stack",       "aten::__is__", "aten::__isnot__"};
  return reads.contains(user->kind().toQualString());
}

const ListMutationInfo *FunctionImporter::mutationInfo(TSGraph &graph) {
  auto &slot = parent.mutation[&graph];
  if (slot)
    return slot.get();
  auto info = std::make_unique<ListMutationInfo>();
  std::vector<TSNode *> nodes;
  collectNodes(graph.block(), nodes);
  llvm::MapVector<const TSValue *, SmallVector<TSNode *>> appends;
  for (TSNode *n : nodes) {
    if (n->kind() != c10::aten::append)
      continue;
    const TSValue *list = n->input(0);
    while (list->node()->kind() == c10::aten::append)
      list = list->node()->input(0);
    if (list->node()->kind() != c10::prim::ListConstruct) {
      emitError(parent.fileLoc(n))
          << "aten::append to a list that is not built in the same function "
             "(an argument or attribute) is not supported";
      return nullptr;
    }
    info->roots.insert(list);
    info->aliasRoot[n->output()] = list;
    appends[list].push_back(n);
    // Every prim::If between the append and the list's block threads the
    // list through its results.
    const TSBlock *home = list->node()->owningBlock();
    for (TSBlock *blk = n->owningBlock(); blk && blk != home;
         blk = blk->owningNode() ? blk->owningNode()->owningBlock() : nullptr) {
      TSNode *owner = blk->owningNode();
      if (!owner)
        break;
      if (owner->kind() != c10::prim::If) {
        emitError(parent.fileLoc(n))
            << "aten::append inside a " << owner->kind().toQualString()
            << " is not supported";
        return nullptr;
      }
      auto &roots = info->mutatedIn[owner];
      if (!llvm::is_contained(roots, list))
        roots.push_back(list);
    }
  }
  // A list that escapes (is stored, yielded, passed to a call) before a later
  // append would be seen mutated by TorchScript but not by the value copy.
  for (auto &[root, rootAppends] : appends) {
    TSNode *lastAppend = rootAppends.front();
    for (TSNode *a : rootAppends)
      if (lastAppend->isBefore(a))
        lastAppend = a;
    SmallVector<const TSValue *> aliases = {root};
    for (TSNode *a : rootAppends)
      aliases.push_back(a->output());
    for (const TSValue *alias : aliases) {
      for (const jit::Use &use : alias->uses()) {
        TSNode *user = use.user;
        if ((user->kind() == c10::aten::append && use.offset == 0) ||
            isListRead(user))
          continue;
        TSNode *at = user;
        if (user->kind() == c10::prim::Return) {
          at = user->owningBlock()->owningNode();
          if (!at)
            continue; // the graph's return: after everything
        }
        if (at->isBefore(lastAppend)) {
          Location where = parent.fileLoc(user);
          if (isa<UnknownLoc>(where))
            where = parent.fileLoc(at);
          InFlightDiagnostic diag = emitError(where);
          diag << "this use of a list that is appended to later is not "
                  "supported (the list would change after this point)";
          diag.attachNote(parent.fileLoc(lastAppend)) << "appended to here";
          return nullptr;
        }
      }
    }
  }
  slot = std::move(info);
  return slot.get();
}

//===----------------------------------------------------------------------===//
// Structure
//===----------------------------------------------------------------------===//

static bool containsPoison(const Entry &e) {
  if (e.kind == Entry::Kind::Poison)
    return true;
  return llvm::any_of(e.elements, containsPoison);
}

void ModuleImporter::noteUnsupported(TSNode *node, Location loc) {
  std::string kind = node->kind().toQualString();
  ++unsupportedCount[kind];
  for (auto &entry : unsupported)
    if (entry.first == kind)
      return;
  unsupported.emplace_back(kind, loc);
}

LogicalResult FunctionImporter::importNode(TSNode *node, Frame &frame) {
  const auto &table = converters();
  auto it = table.find(node->kind().toQualString());
  auto poisonOutputs = [&] {
    for (unsigned i = 0, e = node->outputs().size(); i < e; ++i)
      setOutput(node, frame, i, Entry::poison());
  };
  if (tryFoldConstant(node, frame))
    return success();
  if (it == table.end()) {
    parent.noteUnsupported(node, locOf(node, frame));
    llvm::DenseSet<const TSGraph *> visited;
    for (TSBlock *inner : node->blocks())
      parent.scanUnsupported(inner, visited);
    poisonOutputs();
    return success();
  }
  // Downstream of an unsupported op: nothing can be built, but the rest of
  // the graph is still searched for unsupported ops.
  bool poisoned = false;
  for (unsigned i = 0, e = node->inputs().size(); i < e; ++i) {
    Entry *in = lookup(frame, node->input(i));
    if (in && containsPoison(*in) &&
        !(node->kind() == c10::prim::CallMethod && i > 0) &&
        node->kind() != c10::prim::CallFunction)
      poisoned = true;
  }
  if (poisoned) {
    llvm::DenseSet<const TSGraph *> visited;
    for (TSBlock *inner : node->blocks())
      parent.scanUnsupported(inner, visited);
    if (node->kind() == c10::prim::CallMethod) {
      if (auto cls = node->input(0)->type()->cast<c10::ClassType>())
        if (jit::Function *fn = cls->findMethod(node->s(c10::attr::name)))
          if (jit::GraphFunction *gf = jit::tryToGraphFunction(*fn))
            parent.scanUnsupported(gf->graph()->block(), visited);
    }
    poisonOutputs();
    return success();
  }
  return (this->*(it->second))(node, frame);
}

LogicalResult FunctionImporter::importBlock(TSBlock *block, Frame &frame) {
  for (TSNode *node : block->nodes())
    if (failed(importNode(node, frame)))
      return failure();
  return success();
}

FailureOr<SmallVector<Entry>>
FunctionImporter::inlineGraph(TSGraph &graph, ArrayRef<Entry> inputs,
                              Frame &callee) {
  if (!mutationInfo(graph))
    return failure();
  if (graph.inputs().size() != inputs.size())
    return emitError(UnknownLoc::get(ctx))
           << "call with " << inputs.size() << " arguments to a graph of "
           << graph.inputs().size();
  for (auto [v, e] : llvm::zip(graph.inputs(), inputs))
    callee.values[v] = e;
  if (failed(importBlock(graph.block(), callee)))
    return failure();
  SmallVector<Entry> outputs;
  for (TSValue *out : graph.outputs()) {
    Entry *e = lookup(callee, out);
    if (!e)
      return emitError(UnknownLoc::get(ctx)) << "graph output is undefined";
    outputs.push_back(*e);
  }
  return outputs;
}

LogicalResult FunctionImporter::convertConstant(TSNode *n, Frame &f) {
  TSValue *out = n->output();
  if (out->type()->kind() == c10::TypeKind::FunctionType) {
    Entry e;
    e.kind = Entry::Kind::Function;
    setOutput(n, f, 0, e);
    return success();
  }
  auto iv = jit::toIValue(out);
  if (!iv)
    return error(n, f) << "cannot read the value of this constant";
  setOutput(n, f, 0, Entry::ofConstant(*iv));
  return success();
}

LogicalResult FunctionImporter::convertGetAttr(TSNode *n, Frame &f) {
  Entry &obj = input(n, f, 0);
  if (obj.kind != Entry::Kind::Object)
    return error(n, f) << "prim::GetAttr on a value that is not a module";
  const std::string &name = n->s(c10::attr::name);
  c10::IValue value = obj.ivalue.toObject()->getAttr(name);
  std::string path = obj.path.empty() ? name : obj.path + "." + name;
  if (value.isObject()) {
    Entry e;
    e.kind = Entry::Kind::Object;
    e.ivalue = value;
    e.path = path;
    setOutput(n, f, 0, e);
  } else {
    setOutput(n, f, 0, Entry::ofConstant(value, path));
  }
  return success();
}

static constexpr unsigned kMaxInlineDepth = 64;

LogicalResult FunctionImporter::convertCallMethod(TSNode *n, Frame &f) {
  Entry &self = input(n, f, 0);
  const std::string &name = n->s(c10::attr::name);
  if (self.kind != Entry::Kind::Object)
    return error(n, f) << "call of method '" << name
                       << "' on a value that is not a module";
  jit::Function *fn = self.ivalue.toObject()->type()->findMethod(name);
  jit::GraphFunction *graphFn = fn ? jit::tryToGraphFunction(*fn) : nullptr;
  if (!graphFn)
    return error(n, f) << "module '" << self.path
                       << "' has no TorchScript method '" << name << "'";
  if (f.depth >= kMaxInlineDepth)
    return error(n, f) << "calls nested deeper than " << kMaxInlineDepth;
  Frame callee;
  callee.path = self.path;
  callee.depth = f.depth + 1;
  SmallVector<Entry> args;
  for (unsigned i = 0, e = n->inputs().size(); i < e; ++i)
    args.push_back(input(n, f, i));
  auto outs = inlineGraph(*graphFn->graph(), args, callee);
  if (failed(outs))
    return failure();
  for (auto [i, e] : llvm::enumerate(*outs))
    setOutput(n, f, i, e);
  return success();
}

LogicalResult FunctionImporter::convertCallFunction(TSNode *n, Frame &f) {
  auto fnType = n->input(0)->type()->cast<c10::FunctionType>();
  jit::GraphFunction *graphFn =
      fnType ? jit::tryToGraphFunction(*fnType->function()) : nullptr;
  if (!graphFn)
    return error(n, f) << "call of a function that is not a TorchScript graph";
  if (f.depth >= kMaxInlineDepth)
    return error(n, f) << "calls nested deeper than " << kMaxInlineDepth;
  Frame callee;
  callee.path = f.path;
  callee.depth = f.depth + 1;
  // Library functions (torch.nn.functional) point back at the user's call.
  // Serialized modules often lose the call's own range; the expression that
  // consumes its result is on the same source line.
  Location site = fileLocOf(n, f);
  for (TSValue *out : n->outputs()) {
    for (const jit::Use &use : out->uses()) {
      if (!isa<UnknownLoc>(site))
        break;
      site = fileLocOf(use.user, f);
    }
  }
  callee.callSite = site;
  SmallVector<Entry> args;
  for (unsigned i = 1, e = n->inputs().size(); i < e; ++i)
    args.push_back(input(n, f, i));
  auto outs = inlineGraph(*graphFn->graph(), args, callee);
  if (failed(outs))
    return failure();
  for (auto [i, e] : llvm::enumerate(*outs))
    setOutput(n, f, i, e);
  return success();
}

LogicalResult FunctionImporter::convertIf(TSNode *n, Frame &f) {
  Location loc = locOf(n, f);
  // A condition known at import (a constant argument of an inlined library
  // function, `x is None` on a None) selects its branch; the other one is
  // dead code TorchScript would never run.
  std::optional<int64_t> known = constInt(n, f, 0);
  if (known) {
    TSBlock *taken = n->blocks()[*known ? 0 : 1];
    if (failed(importBlock(taken, f)))
      return failure();
    for (auto [i, out] : llvm::enumerate(taken->outputs())) {
      Entry *e = lookup(f, out);
      setOutput(n, f, i, e ? *e : Entry::poison());
    }
    return success();
  }
  auto cond = materialize(input(n, f, 0), loc);
  if (failed(cond))
    return failure();
  if (!cond->getType().isInteger(1))
    return error(n, f) << "condition is not a bool";
  const ListMutationInfo *info = mutationInfo(*n->owningGraph());
  if (!info)
    return failure();
  SmallVector<const TSValue *> roots(info->mutatedIn.lookup(n));
  SmallVector<Entry> saved;
  for (const TSValue *r : roots)
    saved.push_back(*lookup(f, r));

  auto tmp = b.create<scf::IfOp>(loc, TypeRange{}, *cond, /*addThenBlock=*/true,
                                 /*addElseBlock=*/true);
  // Downstream of an unsupported op inside a branch: drop the if.
  auto poisonIf = [&]() -> LogicalResult {
    tmp.erase();
    for (unsigned k = 0, end = n->outputs().size(); k < end; ++k)
      setOutput(n, f, k, Entry::poison());
    for (const TSValue *r : roots)
      f.values[r] = Entry::poison();
    return success();
  };
  SmallVector<Value> yields[2];
  {
    OpBuilder::InsertionGuard guard(b);
    for (unsigned i = 0; i < 2; ++i) {
      Block *blk = &tmp->getRegion(i).front();
      b.setInsertionPointToEnd(blk);
      TSBlock *tsBlock = n->blocks()[i];
      if (failed(importBlock(tsBlock, f)))
        return failure();
      for (TSValue *out : tsBlock->outputs()) {
        Entry *e = lookup(f, out);
        if (!e)
          return error(n, f) << "branch result is undefined";
        if (containsPoison(*e))
          return poisonIf();
        auto v = materialize(*e, loc);
        if (failed(v))
          return failure();
        yields[i].push_back(*v);
      }
      for (const TSValue *r : roots) {
        Entry *re = lookup(f, r);
        if (!re || re->kind != Entry::Kind::Value)
          return poisonIf();
      }
      for (auto [k, r] : llvm::enumerate(roots)) {
        yields[i].push_back(lookup(f, r)->value);
        f.values[r] = saved[k];
      }
    }
  }
  SmallVector<Type> types;
  for (auto [y0, y1] : llvm::zip(yields[0], yields[1])) {
    Type t = joinTypes(y0.getType(), y1.getType());
    if (!t)
      return error(n, f) << "the branches of this if give incompatible types "
                         << y0.getType() << " and " << y1.getType();
    types.push_back(t);
  }
  b.setInsertionPoint(tmp);
  auto ifOp = b.create<scf::IfOp>(loc, types, *cond, /*addThenBlock=*/false,
                                  /*addElseBlock=*/false);
  for (unsigned i = 0; i < 2; ++i) {
    ifOp->getRegion(i).takeBody(tmp->getRegion(i));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(&ifOp->getRegion(i).front());
    SmallVector<Value> coerced;
    for (auto [v, t] : llvm::zip(yields[i], types)) {
      auto c = coerceValue(b, loc, v, t);
      if (failed(c))
        return error(n, f) << "cannot yield " << v.getType() << " as " << t;
      coerced.push_back(*c);
    }
    b.create<scf::YieldOp>(loc, coerced);
  }
  tmp.erase();
  b.setInsertionPointAfter(ifOp);
  unsigned numOutputs = n->outputs().size();
  for (unsigned i = 0; i < numOutputs; ++i)
    setOutput(n, f, i, ifOp.getResult(i));
  for (auto [k, r] : llvm::enumerate(roots))
    f.values[r] = Entry::ofValue(ifOp.getResult(numOutputs + k));
  return success();
}

/// The type with every tensor unranked (loop-carried values may change
/// shape from one iteration to the next).
static Type eraseShapes(Type t) {
  MLIRContext *ctx = t.getContext();
  if (auto tensor = dyn_cast<TensorType>(t))
    return UnrankedTensorType::get(tensor.getElementType());
  if (auto opt = dyn_cast<OptionalType>(t))
    return OptionalType::get(ctx, eraseShapes(opt.getElementType()));
  if (auto tuple = dyn_cast<TupleType>(t)) {
    SmallVector<Type> types(llvm::map_range(tuple.getTypes(), eraseShapes));
    return TupleType::get(ctx, types);
  }
  return t;
}

LogicalResult FunctionImporter::convertLoop(TSNode *n, Frame &f) {
  Location loc = locOf(n, f);
  TSBlock *body = n->blocks()[0];
  auto isTrue = [](TSValue *v) {
    auto iv = jit::toIValue(v);
    return iv && iv->isBool() && iv->toBool();
  };
  if (!isTrue(n->input(1)) || !isTrue(body->outputs()[0]))
    return error(n, f) << "only counted loops (for i in range(n)) are "
                          "supported, not loops with a data-dependent "
                          "condition";
  auto tripCount = materialize(input(n, f, 0), loc);
  if (failed(tripCount))
    return failure();
  SmallVector<Value> inits;
  SmallVector<Type> types;
  for (unsigned i = 2, e = n->inputs().size(); i < e; ++i) {
    auto v = materialize(input(n, f, i), loc);
    if (failed(v))
      return failure();
    Type t = eraseShapes(v->getType());
    auto c = coerceValue(b, loc, *v, t);
    if (failed(c))
      return error(n, f) << "cannot carry a " << v->getType()
                         << " through a loop";
    inits.push_back(*c);
    types.push_back(t);
  }
  Value zero = constantI64(0), one = constantI64(1);
  auto forOp = b.create<scf::ForOp>(loc, zero, *tripCount, one, inits);
  Block *blk = forOp.getBody();
  if (!blk->empty() && blk->back().hasTrait<OpTrait::IsTerminator>())
    blk->back().erase();
  f.values[body->inputs()[0]] = Entry::ofValue(forOp.getInductionVar());
  for (auto [i, arg] : llvm::enumerate(forOp.getRegionIterArgs()))
    f.values[body->inputs()[i + 1]] = Entry::ofValue(arg);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(blk);
    if (failed(importBlock(body, f)))
      return failure();
    SmallVector<Value> yields;
    for (unsigned i = 1, e = body->outputs().size(); i < e; ++i) {
      Entry *entry = lookup(f, body->outputs()[i]);
      if (!entry)
        return error(n, f) << "loop result is undefined";
      auto v = materialize(*entry, loc);
      if (failed(v))
        return failure();
      auto c = coerceValue(b, loc, *v, types[i - 1]);
      if (failed(c))
        return error(n, f) << "loop iteration gives " << v->getType()
                           << " for a value of type " << types[i - 1];
      yields.push_back(*c);
    }
    b.create<scf::YieldOp>(loc, yields);
  }
  for (unsigned i = 0, e = n->outputs().size(); i < e; ++i)
    setOutput(n, f, i, forOp.getResult(i));
  return success();
}

LogicalResult FunctionImporter::convertListConstruct(TSNode *n, Frame &f) {
  Entry e;
  e.kind = Entry::Kind::Aggregate;
  e.isList = true;
  e.tsType = n->output()->type();
  for (unsigned i = 0, end = n->inputs().size(); i < end; ++i)
    e.elements.push_back(input(n, f, i));
  const ListMutationInfo *info = mutationInfo(*n->owningGraph());
  if (!info)
    return failure();
  if (info->roots.contains(n->output())) {
    // A list that is appended to is a value from the start.
    auto v = materialize(e, locOf(n, f));
    if (failed(v))
      return failure();
    setOutput(n, f, 0, *v);
    return success();
  }
  setOutput(n, f, 0, e);
  return success();
}

/// Elements of a tuple/list entry known at import time (aggregates and
/// constants), if any.
static std::optional<std::vector<Entry>> knownElements(const Entry &e) {
  if (e.kind == Entry::Kind::Aggregate)
    return e.elements;
  if (e.kind == Entry::Kind::Constant) {
    std::vector<Entry> out;
    if (e.ivalue.isTuple()) {
      for (const c10::IValue &el : e.ivalue.toTupleRef().elements())
        out.push_back(Entry::ofConstant(el));
      return out;
    }
    if (e.ivalue.isList()) {
      for (const c10::IValue &el : e.ivalue.toListRef())
        out.push_back(Entry::ofConstant(el));
      return out;
    }
  }
  return std::nullopt;
}

LogicalResult FunctionImporter::convertListUnpack(TSNode *n, Frame &f) {
  Entry &list = input(n, f, 0);
  unsigned count = n->outputs().size();
  if (auto known = knownElements(list)) {
    if (known->size() != count)
      return error(n, f) << "unpacking " << known->size() << " elements into "
                         << count << " values";
    for (unsigned i = 0; i < count; ++i)
      setOutput(n, f, i, (*known)[i]);
    return success();
  }
  Location loc = locOf(n, f);
  auto v = materialize(list, loc);
  if (failed(v))
    return failure();
  auto listType = dyn_cast<ListType>(v->getType());
  if (!listType)
    return error(n, f) << "prim::ListUnpack of a " << v->getType();
  if (auto construct = v->getDefiningOp<ListOp>();
      construct && construct.getElements().size() == count) {
    for (unsigned i = 0; i < count; ++i)
      setOutput(n, f, i, construct.getElements()[i]);
    return success();
  }
  for (unsigned i = 0; i < count; ++i)
    setOutput(
        n, f, i,
        b.create<ListGetOp>(loc, listType.getElementType(), *v, constantI64(i))
            .getResult());
  return success();
}

LogicalResult FunctionImporter::convertTupleConstruct(TSNode *n, Frame &f) {
  Entry e;
  e.kind = Entry::Kind::Aggregate;
  e.tsType = n->output()->type();
  for (unsigned i = 0, end = n->inputs().size(); i < end; ++i)
    e.elements.push_back(input(n, f, i));
  setOutput(n, f, 0, e);
  return success();
}

/// Element i of a tuple value (forwarding kiln.tuple operands).
static Value tupleElement(OpBuilder &b, Location loc, Value tuple, unsigned i) {
  if (auto construct = tuple.getDefiningOp<TupleOp>())
    return construct.getElements()[i];
  auto type = cast<TupleType>(tuple.getType());
  return b.create<TupleGetOp>(loc, type.getType(i), tuple,
                              b.getI64IntegerAttr(i));
}

LogicalResult FunctionImporter::convertTupleUnpack(TSNode *n, Frame &f) {
  Entry &tuple = input(n, f, 0);
  unsigned count = n->outputs().size();
  if (auto known = knownElements(tuple)) {
    if (known->size() != count)
      return error(n, f) << "unpacking " << known->size() << " elements into "
                         << count << " values";
    for (unsigned i = 0; i < count; ++i)
      setOutput(n, f, i, (*known)[i]);
    return success();
  }
  Location loc = locOf(n, f);
  auto v = materialize(tuple, loc);
  if (failed(v))
    return failure();
  auto type = dyn_cast<TupleType>(v->getType());
  if (!type || type.size() != count)
    return error(n, f) << "prim::TupleUnpack of a " << v->getType() << " into "
                       << count << " values";
  for (unsigned i = 0; i < count; ++i)
    setOutput(n, f, i, tupleElement(b, loc, *v, i));
  return success();
}

LogicalResult FunctionImporter::convertTupleIndex(TSNode *n, Frame &f) {
  auto index = requireConstInt(n, f, 1, "tuple index");
  if (failed(index))
    return failure();
  Entry &tuple = input(n, f, 0);
  if (auto known = knownElements(tuple)) {
    int64_t i = *index < 0 ? *index + known->size() : *index;
    if (i < 0 || i >= static_cast<int64_t>(known->size()))
      return error(n, f) << "tuple index " << *index << " out of range";
    setOutput(n, f, 0, (*known)[i]);
    return success();
  }
  Location loc = locOf(n, f);
  auto v = materialize(tuple, loc);
  if (failed(v))
    return failure();
  auto type = dyn_cast<TupleType>(v->getType());
  if (!type)
    return error(n, f) << "prim::TupleIndex of a " << v->getType();
  int64_t i = *index < 0 ? *index + type.size() : *index;
  if (i < 0 || i >= static_cast<int64_t>(type.size()))
    return error(n, f) << "tuple index " << *index << " out of range";
  setOutput(n, f, 0, tupleElement(b, loc, *v, i));
  return success();
}

LogicalResult FunctionImporter::convertUncheckedCast(TSNode *n, Frame &f) {
  Entry &in = input(n, f, 0);
  if (in.kind != Entry::Kind::Value) {
    setOutput(n, f, 0, in);
    return success();
  }
  auto opt = dyn_cast<OptionalType>(in.value.getType());
  if (!opt || n->output()->type()->kind() == c10::TypeKind::OptionalType) {
    setOutput(n, f, 0, in);
    return success();
  }
  setOutput(
      n, f, 0,
      b.create<UncheckedCastOp>(locOf(n, f), opt.getElementType(), in.value)
          .getResult());
  return success();
}

LogicalResult FunctionImporter::convertGetItem(TSNode *n, Frame &f) {
  if (n->input(0)->type()->kind() != c10::TypeKind::ListType)
    return error(n, f) << "aten::__getitem__ is only supported on lists, not '"
                       << n->input(0)->type()->annotation_str() << "'";
  Entry &list = input(n, f, 0);
  std::optional<int64_t> index = constInt(n, f, 1);
  if (index) {
    if (auto known = knownElements(list)) {
      int64_t i = *index < 0 ? *index + known->size() : *index;
      if (i < 0 || i >= static_cast<int64_t>(known->size()))
        return error(n, f) << "list index " << *index << " out of range for "
                           << known->size() << " elements";
      setOutput(n, f, 0, (*known)[i]);
      return success();
    }
  }
  Location loc = locOf(n, f);
  auto v = materialize(list, loc);
  auto i = scalarOperand(n, f, 1, b.getI64Type());
  if (failed(v) || failed(i))
    return failure();
  auto listType = cast<ListType>(v->getType());
  setOutput(
      n, f, 0,
      b.create<ListGetOp>(loc, listType.getElementType(), *v, *i).getResult());
  return success();
}

LogicalResult FunctionImporter::convertAppend(TSNode *n, Frame &f) {
  Location loc = locOf(n, f);
  Entry &list = input(n, f, 0); // resolves aliases to the root's version
  if (list.kind != Entry::Kind::Value || !isa<ListType>(list.value.getType()))
    return error(n, f) << "aten::append to a list that is not tracked";
  auto el = materialize(input(n, f, 1), loc);
  if (failed(el))
    return failure();
  auto listType = cast<ListType>(list.value.getType());
  auto coerced = coerceValue(b, loc, *el, listType.getElementType());
  if (failed(coerced))
    return error(n, f) << "cannot append a " << el->getType() << " to a "
                       << listType;
  Value next = b.create<ListAppendOp>(loc, listType, list.value, *coerced);
  const ListMutationInfo *info = mutationInfo(*n->owningGraph());
  const TSValue *root = info->aliasRoot.lookup(n->output());
  f.values[root] = Entry::ofValue(next);
  return success();
}

LogicalResult FunctionImporter::convertIs(TSNode *n, Frame &f) {
  bool negate = n->kind() == c10::aten::__isnot__;
  bool noneA = isNoneOperand(n, f, 0), noneB = isNoneOperand(n, f, 1);
  if (!noneA && !noneB)
    return error(n, f) << n->kind().toQualString()
                       << " is only supported against None";
  if (noneA && noneB) {
    setOutput(n, f, 0, Entry::ofConstant(c10::IValue(!negate)));
    return success();
  }
  Location loc = locOf(n, f);
  auto v = materialize(input(n, f, noneA ? 1 : 0), loc);
  if (failed(v))
    return failure();
  if (!isa<OptionalType>(v->getType())) {
    // Presence is known from the type.
    bool none = isa<NoneType>(v->getType());
    setOutput(n, f, 0, Entry::ofConstant(c10::IValue(none != negate)));
    return success();
  }
  Value isNone = b.create<IsNoneOp>(loc, b.getI1Type(), *v);
  if (negate)
    isNone = b.create<arith::XOrIOp>(loc, isNone, constantBool(true));
  setOutput(n, f, 0, isNone);
  return success();
}

//===----------------------------------------------------------------------===//
// Methods and modules
//===----------------------------------------------------------------------===//

LogicalResult FunctionImporter::importMethod(const torch::jit::ObjectPtr &self,
                                             jit::Function &method,
                                             ArrayRef<InputShapeHint> hints,
                                             SmallVectorImpl<bool> &hintUsed) {
  jit::GraphFunction *graphFn = jit::tryToGraphFunction(method);
  if (!graphFn)
    return emitError(func.getLoc())
           << "method '" << method.name() << "' is not a TorchScript graph";
  TSGraph &graph = *graphFn->graph();
  const c10::FunctionSchema &schema = method.getSchema();
  Block *entry = new Block();
  func.getBody().push_back(entry);

  Frame top;
  top.values[graph.inputs()[0]] = [&] {
    Entry e;
    e.kind = Entry::Kind::Object;
    e.ivalue = c10::IValue(self);
    return e;
  }();
  SmallVector<std::string> argNames;
  for (unsigned i = 1, e = graph.inputs().size(); i < e; ++i) {
    TSValue *v = graph.inputs()[i];
    std::string name = i < schema.arguments().size()
                           ? schema.arguments()[i].name()
                           : v->debugNameBase();
    std::string err;
    auto type = convertType(v->type(), *ctx, err);
    if (failed(type))
      return emitError(func.getLoc()) << "argument '" << name << "': " << err;
    bool hinted = false;
    for (auto [k, hint] : llvm::enumerate(hints)) {
      if (hint.name != name)
        continue;
      auto applied = applyShapeHint(*type, hint.path, hint.type);
      if (failed(applied))
        return emitError(func.getLoc()) << "input shape hint for '" << name
                                        << "' does not fit its type " << *type;
      type = applied;
      hintUsed[k] = true;
      hinted = true;
    }
    Value arg = entry->addArgument(
        *type, NameLoc::get(StringAttr::get(ctx, name), func.getLoc()));
    bool knownDtype = v->type()->kind() == c10::TypeKind::TensorType &&
                      v->type()->expectRef<c10::TensorType>().scalarType();
    if (isa<TensorType>(*type) && !knownDtype && !hinted)
      guessedElementType.insert(arg);
    top.values[v] = Entry::ofValue(arg);
    argNames.push_back(name);
  }

  b.setInsertionPointToEnd(entry);
  if (!mutationInfo(graph) || failed(importBlock(graph.block(), top)))
    return failure();
  if (!parent.unsupported.empty())
    return success(); // the caller reports them; the function is dropped
  SmallVector<Value> results;
  for (TSValue *out : graph.outputs()) {
    Entry *e = lookup(top, out);
    if (!e)
      return emitError(func.getLoc()) << "method result is undefined";
    auto v = materialize(*e, func.getLoc());
    if (failed(v))
      return failure();
    results.push_back(*v);
  }
  b.create<func::ReturnOp>(func.getLoc(), results);
  func.setType(FunctionType::get(ctx, entry->getArgumentTypes(),
                                 ValueRange(results).getTypes()));
  for (auto [i, name] : llvm::enumerate(argNames))
    func.setArgAttr(i, kiln::KilnDialect::getNameAttrName(),
                    StringAttr::get(ctx, name));
  return success();
}

FailureOr<ElementsAttr> ModuleImporter::weightAttr(const at::Tensor &t,
                                                   llvm::StringRef name,
                                                   std::string &err) {
  std::vector<int64_t> sizes(t.sizes().begin(), t.sizes().end());
  std::vector<int64_t> strides(t.strides().begin(), t.strides().end());
  auto key = std::make_tuple(
      t.has_storage() ? t.storage().data()
                      : static_cast<const void *>(t.unsafeGetTensorImpl()),
      static_cast<int64_t>(t.storage_offset()), sizes, strides,
      static_cast<int>(t.scalar_type()));
  if (auto it = weightAttrs.find(key); it != weightAttrs.end())
    return it->second;
  auto attr = tensorToAttr(t, name, context, err, /*preferDense=*/false);
  if (failed(attr))
    return failure();
  weightAttrs[key] = *attr;
  return attr;
}

void ModuleImporter::scanUnsupported(TSBlock *block,
                                     llvm::DenseSet<const TSGraph *> &visited) {
  const auto &table = FunctionImporter::converters();
  std::vector<TSNode *> nodes;
  collectNodes(block, nodes);
  for (TSNode *n : nodes) {
    jit::GraphFunction *callee = nullptr;
    if (n->kind() == c10::prim::CallMethod) {
      if (auto cls = n->input(0)->type()->cast<c10::ClassType>())
        if (jit::Function *fn = cls->findMethod(n->s(c10::attr::name)))
          callee = jit::tryToGraphFunction(*fn);
    } else if (n->kind() == c10::prim::CallFunction) {
      if (auto fnType = n->input(0)->type()->cast<c10::FunctionType>())
        callee = jit::tryToGraphFunction(*fnType->function());
    }
    if (callee) {
      if (visited.insert(callee->graph().get()).second)
        scanUnsupported(callee->graph()->block(), visited);
      continue;
    }
    if (!table.count(n->kind().toQualString()))
      noteUnsupported(n, fileLoc(n));
  }
}

OwningOpRef<ModuleOp> ModuleImporter::run() {
  Location loc = FileLineColLoc::get(&context, path, 0, 0);
  if (!llvm::sys::fs::exists(path)) {
    emitError(loc) << "cannot open '" << path << "': no such file";
    return nullptr;
  }
  if (llvm::sys::fs::is_directory(path)) {
    emitError(loc) << "cannot import '" << path << "': it is a directory";
    return nullptr;
  }
  try {
    try {
      registerExtraOperators();
      // LibTorch trusts the archive: check it first (zip structure, pickles,
      // tensor records, CRCs) in a mapping of the file, dropping each
      // record's pages once checked; damaged debug pickles are hidden from
      // LibTorch.
      std::string mapError;
      std::shared_ptr<MappedFile> file = mapFile(path, mapError);
      if (!file) {
        emitError(loc) << "cannot read '" << path << "': " << mapError;
        return nullptr;
      }
      llvm::ArrayRef<uint8_t> bytes(
          reinterpret_cast<const uint8_t *>(file->data), file->size);
      ArchiveCheckResult check =
          checkTorchScriptArchive(bytes, [&](uint64_t offset, uint64_t size) {
            dropMappedPages(*file, offset, size);
          });
      if (!check.error.empty()) {
        emitError(loc) << "'" << path
                       << "' is not a readable TorchScript file: "
                       << check.error;
        return nullptr;
      }
      for (const std::string &w : check.warnings)
        emitWarning(loc) << w;
      // A failed allocation throws (LLVM's handler would abort) while
      // LibTorch reads the file.
      std::new_handler previous = std::set_new_handler(nullptr);
      auto restore =
          llvm::make_scope_exit([&] { std::set_new_handler(previous); });
      // The weights stay in the mapping (MappedLoad.cpp); an archive that
      // needs LibTorch's own reading of every record loads as a copy.
      std::optional<jit::Module> mapped;
      std::string why = "--load=copy";
      if (options.mappedLoad)
        mapped = loadMapped(file, check, why);
      if (mapped) {
        module = std::move(*mapped);
        loadedMapped = true;
      } else if (check.renameOffsets.empty()) {
        module = jit::load(path);
      } else {
        std::string copy(file->data, file->size);
        for (uint64_t at : check.renameOffsets)
          copy[at] = '~';
        std::istringstream in(std::move(copy));
        module = jit::load(in);
      }
      if (options.reportLoad)
        llvm::errs() << "kiln: loaded '" << path << "' "
                     << (loadedMapped ? "with its weights mapped"
                                      : "as a copy (" + why + ")")
                     << "\n";
    } catch (const std::exception &e) {
      // c10::Error, or jit::ErrorReport from compiling the serialized code.
      auto *c10e = dynamic_cast<const c10::Error *>(&e);
      llvm::StringRef msg = c10e ? c10e->what_without_backtrace() : e.what();
      // A builtin that neither LibTorch nor Kiln registered: one line that
      // names it (LibTorch's message continues with the serialized code).
      static constexpr llvm::StringLiteral unknown = "Unknown builtin op: ";
      if (size_t at = msg.find(unknown); at != llvm::StringRef::npos) {
        llvm::StringRef op = msg.drop_front(at + unknown.size());
        op = op.take_until([](char c) {
          return !(llvm::isAlnum(c) || c == '_' || c == ':' || c == '.');
        });
        op = op.rtrim('.');
        emitError(loc) << "cannot load '" << path
                       << "': it calls the operator '" << op
                       << "', which neither LibTorch 1.13 nor Kiln defines "
                          "(Kiln adds aten::scaled_dot_product_attention and "
                          "circle_custom::rms_norm)";
        return nullptr;
      }
      emitError(loc) << "'" << path
                     << "' is not a readable TorchScript file: " << msg.trim();
      return nullptr;
    }

    SmallVector<InputShapeHint> hints;
    for (const std::string &h : options.inputShapes) {
      std::string err;
      auto hint = parseInputShapeHint(h, context, err);
      if (failed(hint)) {
        emitError(loc) << err;
        return nullptr;
      }
      hints.push_back(*hint);
    }
    SmallVector<bool> hintUsed(hints.size(), false);

    std::vector<std::string> names = {options.methodName};
    for (const std::string &m : options.extraMethods)
      if (!llvm::is_contained(names, m))
        names.push_back(m);
    std::vector<jit::Function *> methods;
    for (const std::string &name : names) {
      jit::Function *fn = module.type()->findMethod(name);
      if (!fn || !jit::tryToGraphFunction(*fn)) {
        InFlightDiagnostic diag = emitError(loc);
        diag << "TorchScript module has no method '" << name << "'";
        std::vector<std::string> available;
        for (const jit::Method &m : module.get_methods())
          available.push_back(m.name());
        if (!available.empty())
          diag << " (it has: " << llvm::join(available, ", ") << ")";
        return nullptr;
      }
      methods.push_back(fn);
    }

    OwningOpRef<ModuleOp> result = ModuleOp::create(loc);
    // Which methods the TorchScript module has: a traced module with one
    // method is already specialised to one mode (the export adapter keeps
    // its outputs as they are).
    SmallVector<Attribute> methodNames;
    for (const jit::Method &m : module.get_methods())
      methodNames.push_back(StringAttr::get(&context, m.name()));
    (*result)->setAttr("kiln.torchscript_methods",
                       ArrayAttr::get(&context, methodNames));
    OpBuilder mb(&context);
    mb.setInsertionPointToEnd(result->getBody());
    for (auto [name, fn] : llvm::zip(names, methods)) {
      auto func = mb.create<func::FuncOp>(
          NameLoc::get(StringAttr::get(&context, name), loc), name,
          FunctionType::get(&context, {}, {}));
      FunctionImporter importer(*this, func);
      if (failed(
              importer.importMethod(module._ivalue(), *fn, hints, hintUsed)) &&
          unsupported.empty())
        return nullptr;
    }
    if (!unsupported.empty()) {
      // Every unsupported op kind, each at its first location, in one run.
      SmallVector<std::string> kinds;
      for (auto &[kind, where] : unsupported) {
        unsigned count = unsupportedCount.lookup(kind);
        InFlightDiagnostic diag = emitError(where);
        diag << "unsupported TorchScript op '" << kind << "'";
        if (count > 1)
          diag << " (" << count << " places; this is the first)";
        kinds.push_back(kind);
      }
      emitError(loc) << "cannot import '" << path << "': " << kinds.size()
                     << " unsupported op kind" << (kinds.size() == 1 ? "" : "s")
                     << ": " << llvm::join(kinds, ", ");
      return nullptr;
    }
    for (auto [hint, used] : llvm::zip(hints, hintUsed)) {
      if (!used && !options.ignoreUnusedShapes) {
        emitError(loc) << "input shape hint names '" << hint.name
                       << "', which is not an argument of the imported method";
        return nullptr;
      }
    }
    // Unused attribute reads, shape computations of untaken paths...
    eraseDeadCode(*result);
    if (failed(verify(*result)))
      return nullptr;
    return result;
  } catch (const c10::Error &e) {
    emitError(loc) << "LibTorch error while importing '" << path
                   << "': " << e.what_without_backtrace();
  } catch (const std::exception &e) {
    emitError(loc) << "error while importing '" << path << "': " << e.what();
  }
  return nullptr;
}

OwningOpRef<ModuleOp>
kiln::importTorchScript(llvm::StringRef path, MLIRContext &context,
                        const TorchScriptImportOptions &options) {
  context.loadDialect<func::FuncDialect, arith::ArithDialect, scf::SCFDialect,
                      tensor::TensorDialect, KilnDialect>();
  ModuleImporter importer(context, path, options);
  return importer.run();
}
