//===- ConstantFolding.cpp - run constant nodes through LibTorch ----------===//
//
// A node whose inputs are all known at import (literals, module parameters
// and buffers, results of other folded nodes) is computed by LibTorch's own
// kernel, and its outputs become constants. This is what lets
//  - TICO's fake-quant parameters (buffers read through a no-op aten::to)
//    become attributes,
//  - a traced model's RoPE tables and causal mask (arange, cumsum, cos, sin,
//    comparisons on sizes) become constants once the input shapes are fixed
//    (`--input-shape` hints make aten::size constant),
// without an op in kiln for every function of constants.
//
// Fake quantization is never folded: kiln-fold-fake-quant needs the op to
// type the weight it quantizes.
//
//===----------------------------------------------------------------------===//
#include "ImporterImpl.h"

#include "kiln/Dialect/Kiln/IR/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace kiln;
using namespace kiln::torchscript;

namespace {

/// Kinds that are never folded: fake quant (kept for kiln-fold-fake-quant),
/// random and in-place/mutating ops, and structural ops the importer keeps
/// as aggregates.
bool neverFold(llvm::StringRef kind) {
  static const llvm::StringSet<> kinds = {
      "aten::fake_quantize_per_tensor_affine",
      "aten::fake_quantize_per_channel_affine",
      "aten::rand",
      "aten::randn",
      "aten::rand_like",
      "aten::randn_like",
      "aten::randint",
      "aten::dropout", // identity at inference; folding would copy weights
      "aten::append",
      "aten::__getitem__",
      "aten::__is__",
      "aten::__isnot__",
      "aten::copy_",
  };
  if (kinds.contains(kind))
    return true;
  // In-place ops (add_, masked_fill_, ...) mutate their constant input.
  return kind.ends_with("_") && !kind.ends_with("__");
}

} // namespace

/// The IValue of an entry known at import, typed as TorchScript expects.
static std::optional<c10::IValue> knownIValue(const Entry &e,
                                              const c10::TypePtr &type) {
  if (e.kind == Entry::Kind::Constant)
    return e.ivalue;
  if (e.kind != Entry::Kind::Aggregate)
    return std::nullopt;
  if (auto list = type->cast<c10::ListType>()) {
    c10::TypePtr elt = list->getElementType();
    c10::impl::GenericList out(elt);
    for (const Entry &el : e.elements) {
      auto v = knownIValue(el, elt);
      if (!v)
        return std::nullopt;
      out.push_back(*v);
    }
    return c10::IValue(out);
  }
  if (auto tuple = type->cast<c10::TupleType>()) {
    if (tuple->elements().size() != e.elements.size())
      return std::nullopt;
    std::vector<c10::IValue> els;
    for (auto [el, t] : llvm::zip(e.elements, tuple->elements())) {
      auto v = knownIValue(el, t);
      if (!v)
        return std::nullopt;
      els.push_back(*v);
    }
    return c10::IValue(c10::ivalue::Tuple::create(std::move(els)));
  }
  return std::nullopt;
}

bool FunctionImporter::tryFoldConstant(TSNode *n, Frame &f) {
  if (!n->blocks().empty() || n->outputs().empty())
    return false;
  std::string kind = n->kind().toQualString();
  bool foldableKind = n->kind().is_aten() || kind == "prim::NumToTensor" ||
                      llvm::StringRef(kind).starts_with("circle_custom::");
  if (!foldableKind || neverFold(kind))
    return false;
  if (!n->maybeOperator())
    return false;
  torch::jit::Stack stack;
  std::string path;
  for (unsigned i = 0, e = n->inputs().size(); i < e; ++i) {
    Entry *in = lookup(f, n->input(i));
    if (!in)
      return false;
    auto iv = knownIValue(*in, n->input(i)->type());
    if (!iv)
      return false;
    if (path.empty() && iv->isTensor() && !in->path.empty())
      path = in->path;
    stack.push_back(std::move(*iv));
  }
  try {
    torch::jit::Operation op = n->getOperation();
    op(stack);
  } catch (const std::exception &) {
    return false; // not computable here: converted (and diagnosed) as usual
  }
  if (stack.size() != n->outputs().size())
    return false;
  for (unsigned i = 0, e = n->outputs().size(); i < e; ++i) {
    c10::IValue out = std::move(stack[i]);
    if (out.isTensor())
      out = c10::IValue(out.toTensor().detach());
    // Results of parameters keep the parameter's name (blob names and
    // locations); a result that is the parameter itself (a no-op aten::to)
    // shares its storage and blob.
    setOutput(n, f, i, Entry::ofConstant(std::move(out), path));
  }
  return true;
}
