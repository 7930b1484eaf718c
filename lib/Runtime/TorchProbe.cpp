//===- TorchProbe.cpp - Run a TorchScript file, recording fake quants -----===//
//
// The forward graph is copied and inlined call by call (prim::CallMethod,
// prim::CallFunction), remembering for every inlined node the module path of
// the `self` it was called on: the GetAttr chain from the root module, as
// the importer's Frame::path. After every aten::fake_quantize_* a
// kiln_parity::record_* op stores the output (and the scale, zero point and
// axis it was quantized with) under the node's index; the graph then runs in
// LibTorch's interpreter without graph-executor optimizations.
//
//===----------------------------------------------------------------------===//
#include "TorchProbe.h"
#include "Interpreter.h"

#include "kiln/Import/TorchScript/ArchiveCheck.h"
#include "kiln/Import/TorchScript/TorchSupport.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/MemoryBuffer.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/library.h>
#include <torch/script.h>

#include <mutex>
#include <sstream>
#include <unordered_map>

namespace jit = torch::jit;

namespace kiln::runtime {
namespace {

struct Recorded {
  int64_t id;
  at::Tensor value, scale, zeroPoint;
  int64_t axis, quantMin, quantMax;
};
std::vector<Recorded> *recorder = nullptr;

at::Tensor recordScalar(const at::Tensor &x, int64_t id, double scale,
                        int64_t zeroPoint, int64_t qmin, int64_t qmax) {
  if (recorder)
    recorder->push_back(
        {id, x.detach().clone(), at::scalar_tensor(scale, at::kDouble),
         at::scalar_tensor(zeroPoint, at::kLong), -1, qmin, qmax});
  return x;
}

at::Tensor recordTensor(const at::Tensor &x, int64_t id,
                        const at::Tensor &scale, const at::Tensor &zeroPoint,
                        int64_t axis, int64_t qmin, int64_t qmax) {
  if (recorder)
    recorder->push_back(
        {id, x.detach().clone(), scale.detach().to(at::kDouble).clone(),
         zeroPoint.detach().to(at::kLong).clone(), axis, qmin, qmax});
  return x;
}

void registerRecordOps() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto *lib = new torch::Library(torch::Library::DEF, "kiln_parity",
                                   c10::nullopt, __FILE__, __LINE__);
    lib->def("record_s(Tensor x, int id, float scale, int zero_point, "
             "int quant_min, int quant_max) -> Tensor",
             &recordScalar);
    lib->def("record_t(Tensor x, int id, Tensor scale, Tensor zero_point, "
             "int axis, int quant_min, int quant_max) -> Tensor",
             &recordTensor);
  });
}

bool isFakeQuant(const jit::Node *n) {
  llvm::StringRef kind = n->kind().toQualString();
  return kind == "aten::fake_quantize_per_tensor_affine" ||
         kind == "aten::fake_quantize_per_channel_affine";
}

/// Inlines every call of `graph`, filling the module path of each node.
class Inliner {
public:
  explicit Inliner(jit::Graph &graph) : graph(graph) {
    if (!graph.inputs().empty())
      valuePath[graph.inputs()[0]] = "";
  }
  void run() { processBlock(graph.block(), ""); }
  std::string pathOf(jit::Node *n) const {
    auto it = nodePath.find(n);
    return it == nodePath.end() ? std::string() : it->second;
  }

private:
  void mark(jit::Node *n, const std::string &path) {
    nodePath[n] = path;
    for (jit::Block *b : n->blocks())
      for (jit::Node *m : b->nodes())
        mark(m, path);
  }
  void processBlock(jit::Block *block, const std::string &inherited) {
    jit::Node *n = block->nodes().front();
    while (n != block->return_node()) {
      auto it = nodePath.find(n);
      std::string framePath = it == nodePath.end() ? inherited : it->second;
      if (n->kind() == c10::prim::GetAttr) {
        auto in = valuePath.find(n->input(0));
        auto cls = n->output()->type()->cast<c10::ClassType>();
        if (in != valuePath.end() && cls) {
          const std::string &name = n->s(c10::attr::name);
          valuePath[n->output()] =
              in->second.empty() ? name : in->second + "." + name;
        }
        n = n->next();
        continue;
      }
      jit::GraphFunction *callee = nullptr;
      std::string calleePath = framePath;
      if (n->kind() == c10::prim::CallMethod) {
        if (auto cls = n->input(0)->type()->cast<c10::ClassType>())
          if (jit::Function *fn = cls->findMethod(n->s(c10::attr::name)))
            callee = jit::tryToGraphFunction(*fn);
        auto self = valuePath.find(n->input(0));
        if (self != valuePath.end())
          calleePath = self->second;
      } else if (n->kind() == c10::prim::CallFunction) {
        if (auto fnType = n->input(0)->type()->cast<c10::FunctionType>())
          callee = jit::tryToGraphFunction(*fnType->function());
      }
      if (callee) {
        // A function call's first input is the function itself.
        if (n->kind() == c10::prim::CallFunction)
          n->removeInput(0);
        if (++inlined > 100000)
          throw EvalError("the model's calls do not end (recursion?)");
        jit::Node *prev = n->prev(), *next = n->next();
        // false: the callee's own graph (true would take its optimized,
        // already inlined graph, losing the module path of nested calls).
        jit::inlineCallTo(n, callee, /*inline_optimized_graph=*/false);
        for (jit::Node *m = prev->next(); m != next; m = m->next())
          mark(m, calleePath);
        n = prev->next();
        continue;
      }
      for (jit::Block *b : n->blocks())
        processBlock(b, framePath);
      n = n->next();
    }
  }

  jit::Graph &graph;
  std::unordered_map<jit::Value *, std::string> valuePath;
  std::unordered_map<jit::Node *, std::string> nodePath;
  unsigned inlined = 0;
};

/// The importer's position of a node: its own source unless inside torch,
/// else the nearest consumer's (then producer's) (Importer.cpp: fileLoc).
std::optional<std::tuple<std::string, unsigned, unsigned>>
userSource(jit::Node *node) {
  using torchscript::isTorchInternal;
  using torchscript::sourceOf;
  auto src = sourceOf(node);
  if (src && !isTorchInternal(std::get<0>(*src)))
    return src;
  std::vector<jit::Node *> work{node};
  std::set<jit::Node *> seen{node};
  for (unsigned step = 0; step < work.size() && step < 32; ++step)
    for (jit::Value *out : work[step]->outputs())
      for (const jit::Use &use : out->uses())
        if (seen.insert(use.user).second) {
          if (auto s = sourceOf(use.user);
              s && !isTorchInternal(std::get<0>(*s)))
            return s;
          work.push_back(use.user);
        }
  for (jit::Value *in : node->inputs())
    if (jit::Node *def = in->node(); def && def->kind() != c10::prim::Param)
      if (auto s = sourceOf(def); s && !isTorchInternal(std::get<0>(*s)))
        return s;
  return src;
}

struct PointInfo {
  std::string path, file;
  unsigned line = 0, col = 0;
};

/// Puts a record op after every fake quant; returns the points by id.
std::vector<PointInfo> instrument(jit::Graph &graph, const Inliner &inliner) {
  std::vector<jit::Node *> fqs;
  std::function<void(jit::Block *)> collect = [&](jit::Block *b) {
    for (jit::Node *n : b->nodes()) {
      if (isFakeQuant(n))
        fqs.push_back(n);
      for (jit::Block *inner : n->blocks())
        collect(inner);
    }
  };
  collect(graph.block());
  std::vector<PointInfo> points;
  for (jit::Node *fq : fqs) {
    PointInfo info;
    info.path = inliner.pathOf(fq);
    if (auto src = userSource(fq)) {
      info.file = std::get<0>(*src);
      info.line = std::get<1>(*src);
      info.col = std::get<2>(*src);
    }
    int64_t id = points.size();
    points.push_back(info);
    jit::Value *x = fq->output();
    bool perChannel = llvm::StringRef(fq->kind().toQualString()) ==
                      "aten::fake_quantize_per_channel_affine";
    bool scalarScale = fq->input(1)->type()->kind() == c10::TypeKind::FloatType;
    jit::Node *rec = graph.create(
        c10::Symbol::fromQualString(scalarScale ? "kiln_parity::record_s"
                                                : "kiln_parity::record_t"),
        1);
    rec->insertAfter(fq);
    rec->output()->setType(x->type());
    x->replaceAllUsesWith(rec->output());
    jit::WithInsertPoint guard(rec);
    rec->addInput(x);
    rec->addInput(graph.insertConstant(id));
    rec->addInput(fq->input(1));
    rec->addInput(fq->input(2));
    if (!scalarScale)
      rec->addInput(perChannel ? fq->input(3) : graph.insertConstant(-1));
    rec->addInput(fq->input(perChannel ? 4 : 3));
    rec->addInput(fq->input(perChannel ? 5 : 4));
  }
  return points;
}

/// Binds positional tensors (and scalars by name) to the method's schema.
class Binder {
public:
  Binder(const std::vector<at::Tensor> &inputs, const TorchRunOptions &opts)
      : inputs(inputs), opts(opts) {}

  std::vector<c10::IValue> bind(const c10::FunctionSchema &schema) {
    std::vector<c10::IValue> values;
    const auto &args = schema.arguments();
    for (size_t i = 1; i < args.size(); ++i)
      values.push_back(bindArg(args[i]));
    if (next != inputs.size())
      throw EvalError(
          "the model's " + schema.name() + " takes " + std::to_string(next) +
          " tensors, the reference step has " + std::to_string(inputs.size()));
    return values;
  }

private:
  c10::IValue scalar(const c10::Argument &arg, const std::string &text) {
    c10::TypePtr t = arg.type();
    if (auto opt = t->cast<c10::OptionalType>()) {
      if (text == "none")
        return c10::IValue();
      t = opt->getElementType();
    }
    if (t->kind() == c10::TypeKind::BoolType) {
      if (text == "true" || text == "1")
        return true;
      if (text == "false" || text == "0")
        return false;
    } else if (t->kind() == c10::TypeKind::IntType) {
      long long v;
      if (!llvm::StringRef(text).getAsInteger(10, v))
        return static_cast<int64_t>(v);
    } else if (t->kind() == c10::TypeKind::FloatType) {
      double v;
      if (!llvm::StringRef(text).getAsDouble(v))
        return v;
    }
    throw EvalError("cannot pass '" + text + "' to argument '" + arg.name() +
                    "' of type " + arg.type()->str());
  }

  c10::IValue bindType(const c10::TypePtr &t, const c10::Argument &arg) {
    switch (t->kind()) {
    case c10::TypeKind::TensorType:
      if (next >= inputs.size())
        throw EvalError("no input left for argument '" + arg.name() + "'");
      return inputs[next++];
    case c10::TypeKind::OptionalType:
      if (next < inputs.size())
        return bindType(t->expectRef<c10::OptionalType>().getElementType(),
                        arg);
      return c10::IValue();
    case c10::TypeKind::TupleType: {
      std::vector<c10::IValue> elements;
      for (const c10::TypePtr &e : t->expectRef<c10::TupleType>().elements())
        elements.push_back(bindType(e, arg));
      return c10::ivalue::Tuple::create(std::move(elements));
    }
    case c10::TypeKind::ListType: {
      c10::List<at::Tensor> list;
      while (next < inputs.size())
        list.push_back(inputs[next++]);
      return list;
    }
    default:
      break;
    }
    if (arg.default_value())
      return *arg.default_value();
    if (t->kind() == c10::TypeKind::BoolType)
      return false;
    throw EvalError("argument '" + arg.name() + "' (" + t->str() +
                    ") needs a value: --arg " + arg.name() + "=VALUE");
  }

  c10::IValue bindArg(const c10::Argument &arg) {
    if (auto it = opts.scalars.find(arg.name()); it != opts.scalars.end())
      return scalar(arg, it->second);
    c10::TypePtr t = arg.type();
    bool scalarType = t->kind() == c10::TypeKind::BoolType ||
                      t->kind() == c10::TypeKind::IntType ||
                      t->kind() == c10::TypeKind::FloatType;
    if (scalarType)
      if (auto it = opts.defaults.find(arg.name()); it != opts.defaults.end())
        return scalar(arg, it->second);
    return bindType(t, arg);
  }

  const std::vector<at::Tensor> &inputs;
  const TorchRunOptions &opts;
  size_t next = 0;
};

} // namespace

void flattenIValueTensors(const c10::IValue &v, std::vector<at::Tensor> &out) {
  if (v.isTensor())
    out.push_back(v.toTensor());
  else if (v.isTuple())
    for (const c10::IValue &e : v.toTupleRef().elements())
      flattenIValueTensors(e, out);
  else if (v.isList())
    for (const c10::IValue &e : v.toListRef())
      flattenIValueTensors(e, out);
}

jit::Module loadTorchScript(const std::string &path) {
  torchscript::registerExtraOperators();
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    throw EvalError("cannot read '" + path +
                    "': " + buffer.getError().message());
  llvm::ArrayRef<uint8_t> bytes(
      reinterpret_cast<const uint8_t *>((*buffer)->getBufferStart()),
      (*buffer)->getBufferSize());
  torchscript::ArchiveCheckResult check =
      torchscript::checkTorchScriptArchive(bytes, nullptr);
  if (!check.error.empty())
    throw EvalError("'" + path +
                    "' is not a readable TorchScript file: " + check.error);
  try {
    // LibTorch reads the file itself (mapped) unless record names need the
    // rename the archive check found.
    if (check.renameOffsets.empty()) {
      buffer->reset();
      return jit::load(path);
    }
    std::string copy((*buffer)->getBufferStart(), (*buffer)->getBufferSize());
    buffer->reset();
    for (uint64_t at : check.renameOffsets)
      copy[at] = '~';
    std::istringstream in(std::move(copy));
    return jit::load(in);
  } catch (const c10::Error &e) {
    throw EvalError("LibTorch cannot load '" + path +
                    "': " + e.what_without_backtrace());
  }
}

TorchRun runTorchScript(const std::string &path,
                        const std::vector<at::Tensor> &inputs,
                        const TorchRunOptions &options) {
  registerRecordOps();
  TorchRun run;
  try {
    jit::Module module = loadTorchScript(path);
    auto method = module.find_method(options.method);
    if (!method)
      throw EvalError("'" + path + "' has no method '" + options.method + "'");
    jit::GraphFunction &fn = jit::toGraphFunction(method->function());
    std::shared_ptr<jit::Graph> graph = fn.graph()->copy();
    Inliner inliner(*graph);
    inliner.run();
    std::vector<PointInfo> points = instrument(*graph, inliner);
    run.numPoints = points.size();

    Binder binder(inputs, options);
    std::vector<c10::IValue> stack{module._ivalue()};
    for (c10::IValue &v : binder.bind(fn.getSchema()))
      stack.push_back(std::move(v));
    bool optimize = jit::getGraphExecutorOptimize();
    jit::setGraphExecutorOptimize(false);
    jit::GraphFunction probeFn("kiln_parity_" + options.method, graph, nullptr);
    std::vector<Recorded> recorded;
    recorder = &recorded;
    c10::IValue result;
    try {
      at::NoGradGuard noGrad;
      result = probeFn(std::move(stack));
    } catch (...) {
      recorder = nullptr;
      jit::setGraphExecutorOptimize(optimize);
      throw;
    }
    recorder = nullptr;
    jit::setGraphExecutorOptimize(optimize);
    flattenIValueTensors(result, run.outputs);
    for (Recorded &r : recorded) {
      const PointInfo &p = points.at(r.id);
      TorchProbe probe;
      probe.path = p.path;
      probe.file = p.file;
      probe.line = p.line;
      probe.col = p.col;
      probe.value = std::move(r.value);
      probe.scale = std::move(r.scale);
      probe.zeroPoint = std::move(r.zeroPoint);
      probe.axis = r.axis;
      probe.quantMin = r.quantMin;
      probe.quantMax = r.quantMax;
      probe.node = r.id;
      run.probes.push_back(std::move(probe));
    }
  } catch (const c10::Error &e) {
    throw EvalError("LibTorch running '" + path +
                    "': " + e.what_without_backtrace());
  }
  return run;
}

} // namespace kiln::runtime
