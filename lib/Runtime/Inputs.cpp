//===- Inputs.cpp - Tensor files, reference folders, argument binding -----===//
#include "Inputs.h"

#include "kiln/Dialect/Kiln/IR/KilnDialect.h"
#include "kiln/Dialect/Kiln/IR/KilnTypes.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

using namespace mlir;

namespace kiln::runtime {

std::string shapeToString(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += ShapedType::isDynamic(shape[i]) ? "?" : std::to_string(shape[i]);
  }
  return s + "]";
}

static std::string typeToString(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

const char *dtypeFileName(at::ScalarType dtype) {
  switch (dtype) {
  case at::kFloat:
    return "float32";
  case at::kDouble:
    return "float64";
  case at::kHalf:
    return "float16";
  case at::kBFloat16:
    return "bfloat16";
  case at::kLong:
    return "int64";
  case at::kInt:
    return "int32";
  case at::kShort:
    return "int16";
  case at::kChar:
    return "int8";
  case at::kByte:
    return "uint8";
  case at::kBool:
    return "bool";
  default:
    return "unknown";
  }
}

std::optional<at::ScalarType> parseDTypeName(llvm::StringRef name) {
  for (at::ScalarType s :
       {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16, at::kLong, at::kInt,
        at::kShort, at::kChar, at::kByte, at::kBool})
    if (name == dtypeFileName(s))
      return s;
  return std::nullopt;
}

at::Tensor readTensorFile(const std::string &path,
                          llvm::ArrayRef<int64_t> shape, at::ScalarType dtype,
                          const std::string &what) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    fail(what + ": cannot read '" + path + "': " + buffer.getError().message());
  int64_t numel = 1;
  for (int64_t d : shape)
    numel *= d;
  size_t expected = numel * c10::elementSize(dtype);
  size_t actual = (*buffer)->getBufferSize();
  if (actual != expected)
    fail(what + ": '" + path + "' has " + llvm::Twine(actual) +
         " bytes, but a " + dtypeFileName(dtype) + " tensor of shape " +
         shapeToString(shape) + " needs " + llvm::Twine(expected));
  at::Tensor t = at::empty(c10::IntArrayRef(shape.data(), shape.size()),
                           at::TensorOptions().dtype(dtype));
  if (expected)
    std::memcpy(t.data_ptr(), (*buffer)->getBufferStart(), expected);
  return t;
}

void writeTensorFile(const std::string &path, const at::Tensor &t) {
  at::Tensor c = t.contiguous();
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    fail("cannot write '" + path + "': " + ec.message());
  os.write(static_cast<const char *>(c.data_ptr()),
           c.numel() * c.element_size());
}

llvm::json::Object writeTensorEntry(const std::string &dir,
                                    const std::string &file,
                                    const std::string &name,
                                    const at::Tensor &t) {
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, file);
  writeTensorFile(path.str().str(), t);
  llvm::json::Array shape;
  for (int64_t d : t.sizes())
    shape.push_back(d);
  return llvm::json::Object{{"name", name},
                            {"file", file},
                            {"shape", std::move(shape)},
                            {"dtype", dtypeFileName(t.scalar_type())}};
}

static std::vector<TensorEntry> readEntries(const llvm::json::Array *array,
                                            const std::string &dir,
                                            const std::string &where) {
  std::vector<TensorEntry> out;
  if (!array)
    return out;
  for (const llvm::json::Value &v : *array) {
    const llvm::json::Object *o = v.getAsObject();
    if (!o)
      fail(where + ": entries must be objects");
    TensorEntry e;
    auto name = o->getString("name");
    auto file = o->getString("file");
    auto dtype = o->getString("dtype");
    const llvm::json::Array *shape = o->getArray("shape");
    if (!name || !file || !dtype || !shape)
      fail(where + ": an entry lacks name, file, shape or dtype");
    e.name = name->str();
    llvm::SmallString<256> path(*file);
    if (!llvm::sys::path::is_absolute(path)) {
      path = dir;
      llvm::sys::path::append(path, *file);
    }
    e.file = path.str().str();
    for (const llvm::json::Value &d : *shape) {
      auto i = d.getAsInteger();
      if (!i)
        fail(where + ": shape of '" + e.name + "' must hold integers");
      e.shape.push_back(*i);
    }
    auto s = parseDTypeName(*dtype);
    if (!s)
      fail(where + ": unknown dtype '" + *dtype + "' of '" + e.name + "'");
    e.dtype = *s;
    out.push_back(std::move(e));
  }
  return out;
}

ReferenceFolder readReferenceFolder(const std::string &dir) {
  llvm::SmallString<256> indexPath(dir);
  llvm::sys::path::append(indexPath, "index.json");
  auto buffer = llvm::MemoryBuffer::getFile(indexPath);
  if (!buffer)
    fail("cannot read '" + indexPath.str() +
         "': " + buffer.getError().message());
  auto json = llvm::json::parse((*buffer)->getBuffer());
  if (!json) {
    std::string msg = llvm::toString(json.takeError());
    fail("'" + indexPath.str() + "' is not valid JSON: " + msg);
  }
  const llvm::json::Object *root = json->getAsObject();
  if (!root)
    fail("'" + indexPath.str() + "' must hold a JSON object");
  ReferenceFolder folder;
  folder.dir = dir;
  if (const llvm::json::Object *model = root->getObject("model"))
    folder.model = *model;
  for (const auto &kv : *root) {
    std::string step = kv.first.str();
    if (step == "model")
      continue;
    const llvm::json::Object *o = kv.second.getAsObject();
    if (!o)
      continue;
    std::string where = indexPath.str().str() + " step '" + step + "'";
    ReferenceStep s;
    s.inputs = readEntries(o->getArray("inputs"), dir, where);
    s.outputs = readEntries(o->getArray("outputs"), dir, where);
    folder.steps[step] = std::move(s);
    folder.stepNames.push_back(step);
  }
  std::sort(folder.stepNames.begin(), folder.stepNames.end());
  return folder;
}

//===----------------------------------------------------------------------===//
// Binding
//===----------------------------------------------------------------------===//

std::string argumentName(func::FuncOp func, unsigned index) {
  if (auto name = func.getArgAttrOfType<StringAttr>(
          index, kiln::KilnDialect::getNameAttrName()))
    return name.str();
  if (!func.isDeclaration())
    if (auto loc = dyn_cast<NameLoc>(func.getArgument(index).getLoc()))
      return loc.getName().str();
  return "arg" + std::to_string(index);
}

RValue parseScalar(const std::string &text, const std::string &what) {
  llvm::StringRef s(text);
  if (s == "true" || s == "True")
    return RValue::integer(1);
  if (s == "false" || s == "False")
    return RValue::integer(0);
  if (s == "none" || s == "None")
    return RValue::none();
  int64_t i;
  if (!s.getAsInteger(10, i))
    return RValue::integer(i);
  double d;
  if (!s.getAsDouble(d))
    return RValue::real(d);
  fail(what + ": cannot parse '" + text +
       "' (expected true, false, none, an integer or a float)");
}

namespace {
struct Binder {
  const InputSet &in;
  std::string funcName;
  size_t next = 0;
  uint64_t randomCount = 0;
  std::set<std::string> used;

  bool hasNamedUnder(const std::string &name) const {
    auto under = [&](const std::string &key) {
      return key == name || llvm::StringRef(key).starts_with(name + ".");
    };
    for (const auto &kv : in.named)
      if (under(kv.first))
        return true;
    for (const auto &kv : in.scalars)
      if (under(kv.first))
        return true;
    return false;
  }

  static bool hasTensorLeaf(Type t) {
    if (isa<TensorType>(t))
      return true;
    if (auto o = dyn_cast<kiln::OptionalType>(t))
      return hasTensorLeaf(o.getElementType());
    if (auto l = dyn_cast<kiln::ListType>(t))
      return hasTensorLeaf(l.getElementType());
    if (auto tu = dyn_cast<TupleType>(t))
      return llvm::any_of(tu.getTypes(), hasTensorLeaf);
    return false;
  }

  static RankedTensorType staticType(Type t) {
    auto r = dyn_cast<RankedTensorType>(t);
    return r && r.hasStaticShape() ? r : RankedTensorType();
  }

  RValue load(const InputSource &src, Type type, const std::string &leaf) {
    if (src.value)
      return *src.value;
    RankedTensorType r = staticType(type);
    std::string what =
        src.label + " (argument '" + leaf + "' of @" + funcName + ")";
    if (!r)
      fail(what + ": the argument type " + typeToString(type) +
           " has no static shape; give one: NAME=FILE:1x16x64xf32");
    std::optional<at::ScalarType> dtype = scalarTypeOf(r.getElementType());
    if (!dtype)
      fail(what + ": unsupported element type " +
           typeToString(r.getElementType()));
    return RValue::tensor(readTensorFile(src.file, r.getShape(), *dtype, what));
  }

  RValue random(Type type, const std::string &leaf) {
    RankedTensorType r = staticType(type);
    if (!r)
      fail("argument '" + leaf + "' of @" + funcName + " has type " +
           typeToString(type) +
           ": random inputs need a static shape (or pass an input for it)");
    std::optional<at::ScalarType> dtype = scalarTypeOf(r.getElementType());
    if (!dtype)
      fail("argument '" + leaf + "': unsupported element type " +
           typeToString(r.getElementType()));
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(
        *in.randomSeed * 1000003 + randomCount++);
    std::vector<int64_t> shape(r.getShape().begin(), r.getShape().end());
    if (at::isFloatingType(*dtype))
      return RValue::tensor(
          at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat))
              .to(*dtype));
    int64_t high = *dtype == at::kBool ? 2 : in.randomIntRange;
    return RValue::tensor(
        at::randint(0, high, shape, gen, at::TensorOptions().dtype(at::kLong))
            .to(*dtype));
  }

  RValue build(Type t, const std::string &name) {
    if (isa<TensorType>(t)) {
      auto it = in.named.find(name);
      if (it != in.named.end()) {
        used.insert(name);
        return load(it->second, t, name);
      }
      if (next < in.positional.size())
        return load(in.positional[next++], t, name);
      if (in.randomSeed)
        return random(t, name);
      fail("no input for argument '" + name + "' (" + typeToString(t) +
           ") of @" + funcName);
    }
    if (t.isIntOrIndexOrFloat()) {
      auto s = in.scalars.find(name);
      if (s != in.scalars.end()) {
        used.insert(name);
        return parseScalar(s->second, "--arg " + name);
      }
      auto it = in.named.find(name);
      if (it != in.named.end()) {
        used.insert(name);
        return load(it->second, RankedTensorType::get({}, t), name);
      }
      auto d = in.defaults.find(name);
      if (d != in.defaults.end())
        return parseScalar(d->second, "default of " + name);
      if (in.defaultScalars)
        return isa<FloatType>(t) ? RValue::real(0) : RValue::integer(0);
      fail("argument '" + name + "' (" + typeToString(t) + ") of @" + funcName +
           " needs a value: --arg " + name + "=VALUE");
    }
    if (isa<kiln::NoneType>(t))
      return RValue::none();
    if (auto opt = dyn_cast<kiln::OptionalType>(t)) {
      auto s = in.scalars.find(name);
      if (s != in.scalars.end() &&
          (s->second == "none" || s->second == "None")) {
        used.insert(name);
        return RValue::none();
      }
      bool present =
          hasNamedUnder(name) ||
          (next < in.positional.size() && hasTensorLeaf(opt.getElementType()));
      return present ? build(opt.getElementType(), name) : RValue::none();
    }
    if (auto tuple = dyn_cast<TupleType>(t)) {
      std::vector<RValue> elements;
      for (size_t i = 0; i < tuple.size(); ++i)
        elements.push_back(
            build(tuple.getType(i), name + "." + std::to_string(i)));
      return RValue::sequence(std::move(elements));
    }
    if (auto list = dyn_cast<kiln::ListType>(t)) {
      std::vector<RValue> elements;
      if (!hasTensorLeaf(list.getElementType()))
        fail("argument '" + name + "' of @" + funcName + ": lists of " +
             typeToString(list.getElementType()) +
             " cannot be given as inputs");
      for (size_t i = 0;; ++i) {
        std::string element = name + "." + std::to_string(i);
        if (!hasNamedUnder(element) && next >= in.positional.size())
          break;
        elements.push_back(build(list.getElementType(), element));
      }
      return RValue::sequence(std::move(elements));
    }
    fail("argument '" + name + "' of @" + funcName + " has unsupported type " +
         typeToString(t));
  }
};
} // namespace

/// Names a named input may take: leaves, and anything below a list.
static void collectNames(Type t, const std::string &name,
                         std::vector<std::string> &leaves,
                         std::vector<std::string> &lists) {
  if (auto opt = dyn_cast<kiln::OptionalType>(t)) {
    leaves.push_back(name); // --arg NAME=none
    return collectNames(opt.getElementType(), name, leaves, lists);
  }
  if (auto tuple = dyn_cast<TupleType>(t)) {
    for (size_t i = 0; i < tuple.size(); ++i)
      collectNames(tuple.getType(i), name + "." + std::to_string(i), leaves,
                   lists);
    return;
  }
  if (isa<kiln::ListType>(t)) {
    lists.push_back(name + ".");
    return;
  }
  leaves.push_back(name);
}

std::vector<RValue> bindInputs(func::FuncOp func, const InputSet &inputs) {
  Binder b{inputs, func.getSymName().str()};
  {
    std::vector<std::string> leaves, lists;
    std::string names;
    for (unsigned i = 0; i < func.getNumArguments(); ++i) {
      collectNames(func.getArgumentTypes()[i], argumentName(func, i), leaves,
                   lists);
      names += (i ? ", " : "") + argumentName(func, i);
    }
    auto known = [&](const std::string &key) {
      return llvm::is_contained(leaves, key) ||
             llvm::any_of(lists, [&](const std::string &l) {
               return llvm::StringRef(key).starts_with(l);
             });
    };
    for (const auto &kv : inputs.named)
      if (!known(kv.first))
        fail(kv.second.label + " matches no argument of @" + b.funcName +
             " (arguments: " + names +
             "; tuple elements are NAME.0, NAME.1, ...)");
    for (const auto &kv : inputs.scalars)
      if (!known(kv.first))
        fail("--arg " + kv.first + " matches no argument of @" + b.funcName +
             " (arguments: " + names + ")");
  }
  std::vector<RValue> args;
  for (unsigned i = 0; i < func.getNumArguments(); ++i)
    args.push_back(b.build(func.getArgumentTypes()[i], argumentName(func, i)));
  if (b.next < inputs.positional.size())
    fail(llvm::Twine(inputs.positional.size() - b.next) +
         " input(s) left over, starting with " +
         inputs.positional[b.next].label + ": @" + b.funcName + " takes " +
         llvm::Twine(b.next) + " tensors");
  std::string names;
  for (unsigned i = 0; i < func.getNumArguments(); ++i)
    names += (i ? ", " : "") + argumentName(func, i);
  for (const auto &kv : inputs.named)
    if (!b.used.count(kv.first))
      fail(kv.second.label + " matches no argument of @" + b.funcName +
           " (arguments: " + names +
           "; tuple elements are NAME.0, NAME.1, ...)");
  for (const auto &kv : inputs.scalars)
    if (!b.used.count(kv.first))
      fail("--arg " + kv.first +
           " matches no scalar or Optional argument of @" + b.funcName +
           " (arguments: " + names + ")");
  return args;
}

//===----------------------------------------------------------------------===//
// Outputs and metrics
//===----------------------------------------------------------------------===//

/// `type` (may be null) gives scalars their dtype: i1 -> bool, integers ->
/// int64, f32 -> float32, other floats -> float64.
static void flatten(const RValue &v, Type type, std::vector<OutputLeaf> &out) {
  if (auto opt = dyn_cast_or_null<kiln::OptionalType>(type))
    type = opt.getElementType();
  switch (v.kind) {
  case RValue::Kind::Empty:
  case RValue::Kind::None:
    return;
  case RValue::Kind::Tensor:
    out.push_back({"", v.t});
    return;
  case RValue::Kind::Int:
    out.push_back(
        {"", at::scalar_tensor(v.i, type && type.isInteger(1) ? at::kBool
                                                              : at::kLong)});
    return;
  case RValue::Kind::Float:
    out.push_back(
        {"", at::scalar_tensor(v.f, type && type.isF32() ? at::kFloat
                                                         : at::kDouble)});
    return;
  case RValue::Kind::Seq:
    for (size_t i = 0; i < v.seq->size(); ++i) {
      Type element;
      if (auto tuple = dyn_cast_or_null<TupleType>(type))
        element = i < tuple.size() ? tuple.getType(i) : Type();
      else if (auto list = dyn_cast_or_null<kiln::ListType>(type))
        element = list.getElementType();
      flatten((*v.seq)[i], element, out);
    }
    return;
  }
}

std::vector<OutputLeaf> flattenOutputs(const std::vector<RValue> &results,
                                       llvm::ArrayRef<Type> types,
                                       llvm::ArrayRef<std::string> names) {
  std::vector<OutputLeaf> out;
  bool named = !names.empty() && llvm::all_of(names, [](const std::string &n) {
    return !n.empty();
  });
  for (size_t i = 0; i < results.size(); ++i) {
    size_t first = out.size();
    flatten(results[i], i < types.size() ? types[i] : Type(), out);
    if (!named)
      continue;
    bool single =
        out.size() == first + 1 && results[i].kind != RValue::Kind::Seq;
    for (size_t k = first; k < out.size(); ++k)
      out[k].name =
          single ? names[i] : names[i] + "." + std::to_string(k - first);
  }
  if (!named)
    for (size_t i = 0; i < out.size(); ++i)
      out[i].name = "output." + std::to_string(i);
  return out;
}

std::vector<std::string> resultNames(func::FuncOp func) {
  std::vector<std::string> names;
  for (unsigned i = 0; i < func.getNumResults(); ++i) {
    auto name = func.getResultAttrOfType<StringAttr>(
        i, kiln::KilnDialect::getNameAttrName());
    names.push_back(name ? name.str() : "");
  }
  return names;
}

/// The dimension along which `big` is larger than `small` when they differ
/// in exactly one dimension (all others equal), else -1.
static int64_t onlyLargerDim(const at::Tensor &big, const at::Tensor &small) {
  if (big.dim() != small.dim())
    return -1;
  int64_t dim = -1;
  for (int64_t d = 0; d < big.dim(); ++d) {
    if (big.size(d) == small.size(d))
      continue;
    if (dim >= 0 || big.size(d) < small.size(d))
      return -1;
    dim = d;
  }
  return dim;
}

TensorMetrics compareTensors(const at::Tensor &actualIn,
                             const at::Tensor &expectedIn) {
  TensorMetrics m;
  at::Tensor actual = actualIn, expected = expectedIn;
  if (actual.sizes() != expected.sizes()) {
    int64_t dim;
    if (actual.numel() == expected.numel()) {
      m.note =
          "compared flattened: shape " + shapeToString(actual.sizes().vec());
    } else if ((dim = onlyLargerDim(actual, expected)) >= 0) {
      int64_t n = expected.size(dim);
      m.note = "last " + std::to_string(n) + " of " +
               std::to_string(actual.size(dim)) + " along dim " +
               std::to_string(dim);
      actual = actual.narrow(dim, actual.size(dim) - n, n);
    } else if ((dim = onlyLargerDim(expected, actual)) >= 0) {
      int64_t n = actual.size(dim);
      m.note = "against the last " + std::to_string(n) + " of " +
               std::to_string(expected.size(dim)) + " along dim " +
               std::to_string(dim);
      expected = expected.narrow(dim, expected.size(dim) - n, n);
    } else {
      fail("shape " + shapeToString(actual.sizes().vec()) +
           " cannot be compared with " + shapeToString(expected.sizes().vec()));
    }
  }
  at::Tensor a = actual.to(at::kDouble).reshape({-1});
  at::Tensor b = expected.to(at::kDouble).reshape({-1});
  m.numel = a.numel();
  if (m.numel == 0)
    return m;
  at::Tensor diff = (a - b).abs();
  // NaN where the reference has none counts as an infinite error.
  at::Tensor nanMismatch = at::logical_xor(at::isnan(a), at::isnan(b));
  if (nanMismatch.any().item<bool>()) {
    m.maxAbs = m.meanAbs = m.peir = INFINITY;
    m.cosine = NAN;
    return m;
  }
  diff = at::where(at::isnan(diff), at::zeros_like(diff), diff);
  m.maxAbs = diff.max().item<double>();
  m.meanAbs = diff.mean().item<double>();
  at::Tensor finiteB = at::where(at::isnan(b), at::zeros_like(b), b);
  double range = (finiteB.max() - finiteB.min()).item<double>();
  m.peir = range > 0 ? m.maxAbs / range : (m.maxAbs == 0 ? 0 : INFINITY);
  at::Tensor fa = at::where(at::isnan(a), at::zeros_like(a), a);
  double na = fa.norm().item<double>(), nb = finiteB.norm().item<double>();
  if (na == 0 && nb == 0)
    m.cosine = 1;
  else if (na == 0 || nb == 0)
    m.cosine = 0;
  else
    m.cosine = (fa * finiteB).sum().item<double>() / (na * nb);
  return m;
}

} // namespace kiln::runtime
