//===- Perplexity.cpp - kiln-run --perplexity -----------------------------===//
//
//   kiln-run m.circle --perplexity tokens.txt [--torch m.pt] [--max-tokens N]
//   kiln-run m.tflite --random-tokens 64 --sequences 4 --seed 1 --torch m.pt
//
// The exported file is read with its weights in place (the file is mapped,
// readCircle borrows the buffers). For each sequence of n tokens:
//
//   prefill  the first P = min(S, n - 1) tokens (padded to the signature's S
//            with token 0: the mask is causal, so padding changes nothing
//            before it), logits of positions 0 .. P-1, their keys/values
//            copied into cache slots 0 .. P-1;
//   decode   positions p = P .. n-2 one at a time: the static past of C slots
//            (slot i holds position i, slots >= p are masked), the new token
//            in the last mask column, cos/sin of position p; the step's new
//            key/value (the last entry along the position axis: delta or
//            full cache outputs) is written into slot p.
//
// Loss at position p is -log softmax(logits_p)[token p+1] (in double). The
// TorchScript model runs the same steps on the same inputs (its own cache, in
// [B,H,positions,D]), so the difference is the export's alone.
//
//===----------------------------------------------------------------------===//
#include "Perplexity.h"
#include "Inputs.h"
#include "Interpreter.h"
#include "TorchProbe.h"
#include "kiln/Export/Circle/Reader.h"
#include "kiln/Import/TorchScript/ArchiveCheck.h"
#include "kiln/Import/TorchScript/TorchSupport.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

using namespace mlir;
namespace cl = llvm::cl;

namespace kiln::runtime {

PerplexityCommandLine::PerplexityCommandLine(cl::OptionCategory &category)
    : tokens("perplexity",
             cl::desc("Whole-model evaluation: TOKENS is a file of token "
                      "sequences (one a line: ids separated by spaces or "
                      "commas, [..] allowed; or one JSON array of arrays); "
                      "prefill, then decode token by token, and report the "
                      "next-token loss and perplexity"),
             cl::value_desc("TOKENS"), cl::cat(category)),
      randomTokens("random-tokens",
                   cl::desc("Perplexity on seeded random sequences of N "
                            "tokens (--sequences, --seed) instead of a file"),
                   cl::value_desc("N"), cl::init(0), cl::cat(category)),
      sequences("sequences",
                cl::desc("Number of --random-tokens sequences (default 1)"),
                cl::init(1), cl::cat(category)),
      torchModel("torch",
                 cl::desc("--perplexity: also run this TorchScript model the "
                          "same way on the same tokens and compare"),
                 cl::value_desc("MODEL.pt"), cl::cat(category)),
      maxTokens("max-tokens",
                cl::desc("--perplexity: use at most N tokens of each sequence"),
                cl::value_desc("N"), cl::init(0), cl::cat(category)),
      prefillTokens("prefill-tokens",
                    cl::desc("--perplexity: prefill at most N tokens (default: "
                             "the prefill signature's length; 0: decode "
                             "every position)"),
                    cl::value_desc("N"), cl::init(-1), cl::cat(category)),
      modelConfig(
          "model-config",
          cl::desc("--perplexity: JSON with the model's RoPE settings "
                   "(rope_theta, rope_scaling, head_dim): a Hugging Face "
                   "config.json, a kiln_torch config, or a kiln_torch "
                   "reference folder / its index.json (also mask_value, "
                   "negate_sin_half); default theta 10000, no scaling"),
          cl::value_desc("FILE"), cl::cat(category)),
      maskValue("mask-value",
                cl::desc("--perplexity: additive mask value of hidden keys "
                         "(default: --model-config's, else -100 as "
                         "kiln_torch)"),
                cl::init(std::numeric_limits<double>::quiet_NaN()),
                cl::cat(category)),
      progress("progress",
               cl::desc("--perplexity: progress bar on stderr even when it "
                        "is not a terminal"),
               cl::cat(category)),
      maxLossDiff("max-loss-diff",
                  cl::desc("--perplexity --torch: exit 1 when the mean losses "
                           "differ by more than X"),
                  cl::value_desc("X"), cl::init(-1), cl::cat(category)) {}

bool PerplexityCommandLine::enabled() const {
  return !tokens.empty() || randomTokens > 0;
}

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

//===----------------------------------------------------------------------===//
// Tokens, RoPE and masks
//===----------------------------------------------------------------------===//

std::vector<std::vector<int64_t>> readTokenFile(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    fail("cannot read '" + path + "': " + buffer.getError().message());
  llvm::StringRef text = (*buffer)->getBuffer();
  std::vector<std::vector<int64_t>> out;
  // One JSON array of arrays.
  if (text.ltrim().starts_with("[") &&
      text.ltrim().drop_front().ltrim().starts_with("[")) {
    llvm::Expected<llvm::json::Value> json = llvm::json::parse(text);
    if (!json)
      fail("'" + path + "' is not valid JSON: " + toString(json.takeError()));
    const llvm::json::Array *rows = json->getAsArray();
    for (size_t i = 0; rows && i < rows->size(); ++i) {
      const llvm::json::Array *row = (*rows)[i].getAsArray();
      if (!row)
        fail("'" + path + "': element " + llvm::Twine(i) +
             " is not an array of token ids");
      std::vector<int64_t> ids;
      for (const llvm::json::Value &v : *row) {
        std::optional<int64_t> id = v.getAsInteger();
        if (!id)
          fail("'" + path + "': sequence " + llvm::Twine(i) +
               " holds a value that is not an integer token id");
        ids.push_back(*id);
      }
      out.push_back(std::move(ids));
    }
    return out;
  }
  llvm::SmallVector<llvm::StringRef> lines;
  text.split(lines, '\n');
  for (auto [number, line] : llvm::enumerate(lines)) {
    llvm::StringRef l = line.trim();
    if (l.empty() || l.starts_with("#"))
      continue;
    std::string cleaned = l.str();
    for (char &c : cleaned)
      if (c == ',' || c == '[' || c == ']')
        c = ' ';
    llvm::SmallVector<llvm::StringRef> words;
    llvm::StringRef(cleaned).split(words, ' ', -1, /*KeepEmpty=*/false);
    std::vector<int64_t> ids;
    for (llvm::StringRef w : words) {
      w = w.trim();
      if (w.empty())
        continue;
      long long v;
      if (w.getAsInteger(10, v))
        fail(path + ":" + llvm::Twine(number + 1) + ": '" + w +
             "' is not a token id");
      ids.push_back(v);
    }
    if (!ids.empty())
      out.push_back(std::move(ids));
  }
  return out;
}

struct RopeConfig {
  double theta = 10000;
  std::optional<llvm::json::Object> scaling;
  std::optional<int64_t> headDim;
  bool negateSinHalf = false;
  std::optional<double> maskValue;
  std::string source = "default (theta 10000, no scaling)";
};

RopeConfig readModelConfig(const std::string &pathIn) {
  RopeConfig rope;
  if (pathIn.empty())
    return rope;
  std::string path = pathIn;
  if (llvm::sys::fs::is_directory(path))
    path += "/index.json";
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    fail("cannot read --model-config '" + path +
         "': " + buffer.getError().message());
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buffer)->getBuffer());
  if (!json)
    fail("--model-config '" + path +
         "' is not valid JSON: " + toString(json.takeError()));
  const llvm::json::Object *root = json->getAsObject();
  if (!root)
    fail("--model-config '" + path + "' is not a JSON object");
  const llvm::json::Object *config = root;
  const llvm::json::Object *settings = root;
  if (const llvm::json::Object *model = root->getObject("model")) {
    settings = model;
    if (const llvm::json::Object *c = model->getObject("config"))
      config = c;
  } else if (const llvm::json::Object *c = root->getObject("config")) {
    config = c;
  }
  if (std::optional<double> t = config->getNumber("rope_theta"))
    rope.theta = *t;
  if (const llvm::json::Object *s = config->getObject("rope_scaling"))
    rope.scaling = *s;
  if (std::optional<int64_t> d = config->getInteger("head_dim"))
    rope.headDim = *d;
  if (std::optional<bool> n = settings->getBoolean("negate_sin_half"))
    rope.negateSinHalf = *n;
  if (std::optional<double> m = settings->getNumber("mask_value"))
    rope.maskValue = *m;
  rope.source = llvm::formatv("{0} (theta {1}{2}{3})", pathIn, rope.theta,
                              rope.scaling ? ", llama3 scaling" : "",
                              rope.negateSinHalf ? ", sin half negated" : "")
                    .str();
  return rope;
}

/// cos/sin tables as kiln_torch.model.rope_cos_sin: float64, rounded once.
class Rope {
public:
  Rope(const RopeConfig &config, int64_t headDim)
      : headDim(headDim), negate(config.negateSinHalf) {
    if (config.headDim && *config.headDim != headDim)
      fail("--model-config says head_dim " + llvm::Twine(*config.headDim) +
           ", the export's cos input has " + llvm::Twine(headDim));
    for (int64_t i = 0; i < headDim; i += 2)
      invFreq.push_back(
          1.0 / std::pow(config.theta, static_cast<double>(i) / headDim));
    if (!config.scaling)
      return;
    const llvm::json::Object &s = *config.scaling;
    std::string kind = s.getString("rope_type")
                           .value_or(s.getString("type").value_or(""))
                           .str();
    if (kind != "llama3")
      fail("--model-config: rope_scaling type '" + kind +
           "' is not supported (only llama3)");
    auto number = [&](llvm::StringRef key) {
      std::optional<double> v = s.getNumber(key);
      if (!v)
        fail("--model-config: rope_scaling has no '" + key + "'");
      return *v;
    };
    double factor = number("factor"), low = number("low_freq_factor"),
           high = number("high_freq_factor"),
           oldLen = number("original_max_position_embeddings");
    for (double &f : invFreq) {
      double wavelen = 2 * M_PI / f;
      double slowed = f / factor;
      double smooth =
          std::clamp((oldLen / wavelen - low) / (high - low), 0.0, 1.0);
      double blended = (1.0 - smooth) * slowed + smooth * f;
      double result = wavelen > oldLen / low ? slowed : blended;
      f = wavelen < oldLen / high ? f : result;
    }
  }

  /// [1, n, headDim] for positions first .. first + n - 1.
  std::pair<at::Tensor, at::Tensor> table(int64_t first, int64_t n) const {
    at::Tensor cos = at::empty({1, n, headDim}, at::kFloat);
    at::Tensor sin = at::empty({1, n, headDim}, at::kFloat);
    float *c = cos.data_ptr<float>(), *s = sin.data_ptr<float>();
    int64_t half = headDim / 2;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t i = 0; i < headDim; ++i) {
        double angle = static_cast<double>(first + p) * invFreq[i % half];
        double sv = std::sin(angle);
        if (negate && i < half)
          sv = -sv;
        c[p * headDim + i] = static_cast<float>(std::cos(angle));
        s[p * headDim + i] = static_cast<float>(sv);
      }
    return {cos, sin};
  }

private:
  int64_t headDim;
  bool negate;
  std::vector<double> invFreq;
};

at::Tensor prefillMask(int64_t s, double maskValue) {
  at::Tensor m = at::zeros({1, 1, s, s}, at::kFloat);
  return m.masked_fill(at::ones({s, s}, at::kBool).triu(1), maskValue);
}

/// Decode at `position` with `past` static slots (slot i = position i).
at::Tensor decodeMask(int64_t position, int64_t past, double maskValue) {
  at::Tensor m = at::zeros({1, 1, 1, past + 1}, at::kFloat);
  if (position < past)
    m.narrow(3, position, past - position).fill_(maskValue);
  return m;
}

//===----------------------------------------------------------------------===//
// Backends: the export in kiln-run, the TorchScript model in LibTorch
//===----------------------------------------------------------------------===//

/// What the export's signatures say (the TorchScript model must agree).
struct Geometry {
  int64_t prefillLen = 0; // S; 0: no prefill signature
  int64_t past = 0;       // C
  int64_t vocab = 0;      // V
  int64_t headDim = 0;
  int64_t layers = 0;
  /// Shape of one layer's value cache, [1, H, C, D] (the TorchScript cache).
  std::vector<int64_t> valueShape;
};

class Backend {
public:
  virtual ~Backend() = default;
  /// Called before the prefills (true) and before the decodes (false): the
  /// export keeps one compiled signature in memory at a time.
  virtual void beginPhase(bool prefill) {}
  /// Zeroes the cache before a sequence.
  void reset() {
    for (at::Tensor &t : past)
      t.zero_();
  }
  /// ids [1,S]; returns logits [S,V]; the first `keep` positions' keys and
  /// values go to cache slots 0 .. keep-1.
  virtual at::Tensor prefill(const std::vector<at::Tensor> &in,
                             int64_t keep) = 0;
  /// ids [1,1] at `position`; returns logits [V]; writes the new key/value
  /// into slot `position` when it is < C.
  virtual at::Tensor decode(const std::vector<at::Tensor> &in,
                            int64_t position) = 0;

  /// One tensor per layer and key/value, in the backend's layout.
  std::vector<at::Tensor> past;
};

/// Copies the last entry along `axis` of `fresh` into slot `position`.
void storeEntry(at::Tensor &cache, const at::Tensor &fresh, int64_t axis,
                int64_t position) {
  if (position >= cache.size(axis))
    return;
  cache.narrow(axis, position, 1)
      .copy_(fresh.narrow(axis, fresh.size(axis) - 1, 1));
}

std::string typeString(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

std::vector<int64_t> staticShape(Type t, const std::string &what) {
  auto ranked = dyn_cast<RankedTensorType>(t);
  if (!ranked || !ranked.hasStaticShape())
    fail(what + " has type " + typeString(t) +
         ": --perplexity needs static shapes");
  return std::vector<int64_t>(ranked.getShape().begin(),
                              ranked.getShape().end());
}

std::string resultName(func::FuncOp f, unsigned i) {
  if (auto name = f.getResultAttrOfType<StringAttr>(i, "kiln.name"))
    return name.str();
  return "output." + std::to_string(i);
}

std::string signatureName(func::FuncOp f) {
  if (auto key = f->getAttrOfType<StringAttr>("kiln.signature"))
    return key.str();
  return f.getSymName().str();
}

class KilnBackend : public Backend {
public:
  KilnBackend(MLIRContext &ctx, const std::string &path,
              const CompileOptions &options, int64_t prefillOverride)
      : path(path), compileOptions(options) {
    auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                              /*RequiresNullTerminator=*/false);
    if (!buffer)
      fail("cannot read '" + path + "': " + buffer.getError().message());
    file = std::shared_ptr<llvm::MemoryBuffer>(std::move(*buffer));
    llvm::StringRef bytes = file->getBuffer();
    if (bytes.size() < 8 ||
        (bytes.substr(4, 4) != "CIR0" && bytes.substr(4, 4) != "TFL3"))
      fail("'" + path +
           "' is not a .circle / .tflite file: --perplexity runs an "
           "exported whole model");
    module = kiln::circle::readCircle(
        bytes, &ctx, FileLineColLoc::get(&ctx, path, 0, 0), file);
    if (!module)
      throw Reported();
    readContract();
    analyze(prefillOverride);
  }

  /// Compiles one signature, after freeing the other's program: a compiled
  /// function holds its own dequantized weights, so prefill and decode
  /// together would hold them twice.
  void beginPhase(bool prefill) override {
    fn = nullptr;
    compiler.reset();
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    func::FuncOp f = prefill ? prefillFunc : decodeFunc;
    if (!f)
      return;
    compiler = std::make_unique<Compiler>(*module, compileOptions);
    fn = compiler->getFunction(f.getSymName(), module->getLoc());
    if (!fn)
      throw Reported();
    // Compiling dequantized the integer weights into their own tensors: the
    // file's pages are read again (from the page cache) only where a kernel
    // still reads the file (float constants).
    dropFilePages();
  }

  const Geometry &geometry() const { return geo; }
  std::string describe() const {
    std::string prefill =
        prefillFunc ? llvm::formatv("'{0}' ({1} tokens) and ",
                                    signatureName(prefillFunc), geo.prefillLen)
                          .str()
                    : std::string();
    return llvm::formatv("{0}'{1}' (past {2}), vocabulary {3}, {4} layers",
                         prefill, signatureName(decodeFunc), geo.past,
                         geo.vocab, geo.layers)
        .str();
  }

  at::Tensor prefill(const std::vector<at::Tensor> &in, int64_t keep) override {
    std::vector<RValue> out = call(*fn, in);
    keep = std::min(keep, geo.past);
    for (size_t j = 0; j < past.size(); ++j)
      if (keep > 0)
        past[j]
            .narrow(axes[j], 0, keep)
            .copy_(out[1 + j].t.narrow(axes[j], 0, keep));
    return out[0].t[0];
  }

  at::Tensor decode(const std::vector<at::Tensor> &in,
                    int64_t position) override {
    std::vector<at::Tensor> args = in;
    args.insert(args.end(), past.begin(), past.end());
    std::vector<RValue> out = call(*fn, args);
    for (size_t j = 0; j < past.size(); ++j)
      storeEntry(past[j], out[1 + j].t, axes[j], position);
    return out[0].t[0][0];
  }

  /// Frees the compiled functions and the module (weights) before the
  /// TorchScript model is loaded.
  void release() {
    fn = nullptr;
    compiler.reset();
    past.clear();
    module = nullptr;
    dropFilePages();
  }

private:
  std::vector<RValue> call(const Function &fn,
                           const std::vector<at::Tensor> &in) {
    func::FuncOp f = fn.func;
    std::vector<RValue> args;
    for (size_t i = 0; i < in.size(); ++i)
      args.push_back(bindArgument(
          RValue::tensor(in[i]), f.getArgumentTypes()[i],
          "argument '" + argumentName(f, i) + "' of @" + f.getSymName().str()));
    std::vector<RValue> out = callFunction(fn, args);
    for (size_t i = 0; i < out.size(); ++i)
      if (out[i].kind != RValue::Kind::Tensor)
        fail("result " + llvm::Twine(i) + " of @" + f.getSymName() +
             " is not a tensor");
    return out;
  }

  void dropFilePages() {
    if (!file || file->getBufferKind() != llvm::MemoryBuffer::MemoryBuffer_MMap)
      return;
    // A read-only file mapping: dropped pages are read again if touched.
    size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    uintptr_t begin = reinterpret_cast<uintptr_t>(file->getBufferStart());
    uintptr_t end = begin + file->getBufferSize();
    uintptr_t first = (begin + page - 1) / page * page;
    uintptr_t last = end / page * page;
    if (last > first)
      ::madvise(reinterpret_cast<void *>(first), last - first, MADV_DONTNEED);
  }

  void readContract() {
    auto metadata = (*module)->getAttrOfType<DictionaryAttr>("kiln.metadata");
    auto text =
        metadata ? metadata.getAs<StringAttr>("kiln.contract") : StringAttr();
    if (!text)
      return;
    llvm::Expected<llvm::json::Value> json = llvm::json::parse(text.strref());
    if (!json) {
      llvm::consumeError(json.takeError());
      return;
    }
    if (const llvm::json::Object *o = json->getAsObject()) {
      if (const llvm::json::Value *w = o->get("sliding_window");
          w && w->kind() != llvm::json::Value::Null)
        fail("'" + path +
             "' is a sliding-window export: --perplexity runs exports "
             "whose decode past holds every position (no ring buffer)");
      keyLayout = o->getString("key_layout").value_or("bhsd").str();
    }
  }

  void analyze(int64_t prefillOverride) {
    std::vector<std::string> names;
    for (auto f : module->getOps<func::FuncOp>()) {
      if (f.isDeclaration() || !f.isPublic())
        continue;
      std::string name = signatureName(f);
      names.push_back(name);
      if (name == "decode")
        decodeFunc = f;
      else if (name == "prefill" ||
               llvm::StringRef(name).starts_with("prefill_")) {
        // The longest prefill signature.
        int64_t len = f.getNumArguments()
                          ? staticShape(f.getArgumentTypes()[0],
                                        "input 0 of '" + name + "'")
                                .back()
                          : 0;
        if (!prefillFunc || len > geo.prefillLen) {
          prefillFunc = f;
          geo.prefillLen = len;
        }
      }
    }
    std::string list = llvm::join(names, ", ");
    if (!decodeFunc)
      fail("'" + path + "' has no 'decode' signature (signatures: " + list +
           "): --perplexity needs a whole model exported with --mode "
           "prefill+decode (or decode)");
    if (prefillOverride == 0) {
      prefillFunc = nullptr;
      geo.prefillLen = 0;
    }

    func::FuncOp d = decodeFunc;
    unsigned nargs = d.getNumArguments(), nres = d.getNumResults();
    auto argType = [&](func::FuncOp f, unsigned i) {
      return f.getArgumentTypes()[i];
    };
    auto argLabel = [&](func::FuncOp f, unsigned i) {
      return "input '" + argumentName(f, i) + "' of '" + signatureName(f) + "'";
    };
    auto resLabel = [&](func::FuncOp f, unsigned i) {
      return "output '" + resultName(f, i) + "' of '" + signatureName(f) + "'";
    };
    if (nargs < 1)
      fail("'decode' takes no inputs");
    auto ids = dyn_cast<RankedTensorType>(argType(d, 0));
    if (!ids || !isa<IntegerType>(ids.getElementType()))
      fail(argLabel(d, 0) + " is " + typeString(argType(d, 0)) +
           ", not token ids: --perplexity needs a whole model (input_ids -> "
           "logits), not a decoder layer");
    if (nargs < 6 || (nargs - 4) % 2 != 0 || nres != nargs - 3)
      fail("'decode' has " + llvm::Twine(nargs) + " inputs and " +
           llvm::Twine(nres) +
           " outputs: --perplexity expects input_ids, attention_mask, cos, "
           "sin and one past_key/past_value pair per layer in, logits and "
           "one new_key/new_value pair per layer out");
    std::vector<int64_t> idShape = staticShape(ids, argLabel(d, 0));
    if (idShape.size() != 2 || idShape[0] != 1 || idShape[1] != 1)
      fail(argLabel(d, 0) + " is " + shapeToString(idShape) +
           ": --perplexity runs batch 1, one token per decode step");
    std::vector<int64_t> mask = staticShape(argType(d, 1), argLabel(d, 1));
    if (mask.size() != 4 || mask[2] != 1)
      fail(argLabel(d, 1) + " is " + shapeToString(mask) +
           ", not an additive mask [1, 1, 1, past + 1]");
    geo.past = mask[3] - 1;
    std::vector<int64_t> cos = staticShape(argType(d, 2), argLabel(d, 2));
    geo.headDim = cos.back();
    std::vector<int64_t> logits =
        staticShape(d.getResultTypes()[0], resLabel(d, 0));
    if (logits.size() != 3 || logits[1] != 1)
      fail(resLabel(d, 0) + " is " + typeString(d.getResultTypes()[0]) +
           ": --perplexity needs logits [1, 1, vocabulary] as the first "
           "output (a whole model, not a layer returning hidden states)");
    geo.vocab = logits[2];
    geo.layers = (nargs - 4) / 2;
    for (unsigned j = 0; j < 2 * geo.layers; ++j) {
      bool isKey = j % 2 == 0;
      int64_t axis = isKey && keyLayout == "bhds" ? 3 : 2;
      std::vector<int64_t> shape =
          staticShape(argType(d, 4 + j), argLabel(d, 4 + j));
      std::vector<int64_t> fresh =
          staticShape(d.getResultTypes()[1 + j], resLabel(d, 1 + j));
      if (shape.size() != 4 || shape[axis] != geo.past)
        fail(argLabel(d, 4 + j) + " is " + shapeToString(shape) +
             ": expected " + llvm::Twine(geo.past) +
             " positions (the mask's past) on axis " + llvm::Twine(axis));
      if (fresh.size() != 4 ||
          (fresh[axis] != 1 && fresh[axis] != geo.past + 1))
        fail(resLabel(d, 1 + j) + " is " + shapeToString(fresh) +
             ": expected 1 (delta) or past + 1 (full) positions on axis " +
             llvm::Twine(axis));
      if (!isKey && geo.valueShape.empty())
        geo.valueShape = shape;
      axes.push_back(axis);
      past.push_back(at::zeros(shape, at::kFloat));
    }

    if (!prefillFunc)
      return;
    func::FuncOp p = prefillFunc;
    if (p.getNumArguments() != 4 || p.getNumResults() != nres)
      fail("'" + signatureName(p) + "' has " +
           llvm::Twine(p.getNumArguments()) + " inputs and " +
           llvm::Twine(p.getNumResults()) +
           " outputs: expected input_ids, attention_mask, cos, sin in, "
           "logits and one key/value pair per layer out (as 'decode')");
    std::vector<int64_t> pl =
        staticShape(p.getResultTypes()[0], resLabel(p, 0));
    if (pl.size() != 3 || pl[1] != geo.prefillLen || pl[2] != geo.vocab)
      fail(resLabel(p, 0) + " is " + shapeToString(pl) + ", expected [1, " +
           llvm::Twine(geo.prefillLen) + ", " + llvm::Twine(geo.vocab) + "]");
    for (unsigned j = 0; j < 2 * geo.layers; ++j) {
      std::vector<int64_t> shape =
          staticShape(p.getResultTypes()[1 + j], resLabel(p, 1 + j));
      if (shape.size() != 4 || shape[axes[j]] != geo.prefillLen)
        fail(resLabel(p, 1 + j) + " is " + shapeToString(shape) +
             ": expected " + llvm::Twine(geo.prefillLen) +
             " positions on axis " + llvm::Twine(axes[j]));
    }
  }

  std::string path;
  std::shared_ptr<llvm::MemoryBuffer> file;
  OwningOpRef<ModuleOp> module;
  CompileOptions compileOptions;
  std::unique_ptr<Compiler> compiler;
  Function *fn = nullptr; // the signature of the current phase
  std::string keyLayout = "bhsd";
  func::FuncOp prefillFunc, decodeFunc;
  Geometry geo;
  std::vector<int64_t> axes;
};

/// A kiln_torch / TICO causal LM: scripted, forward(input_ids,
/// attention_mask, (cos, sin), past_key_values, use_cache,
/// output_attentions); or traced, forward(ids, mask, cos, sin) and
/// decode(ids, mask, cos, sin, past...). Its cache is [1, H, positions, D].
class TorchBackend : public Backend {
public:
  TorchBackend(const std::string &path, const Geometry &geo)
      : path(path), geo(geo) {
    module = loadTorchScript(path);
    module.eval();
    traced = module.find_method("decode").has_value();
    if (!traced) {
      const c10::FunctionSchema &schema =
          module.get_method("forward").function().getSchema();
      const auto &args = schema.arguments();
      if (args.size() != 7 ||
          args[3].type()->kind() != c10::TypeKind::TupleType)
        fail("'" + path + "': forward is " + schema.name() + " with " +
             llvm::Twine(args.size() - 1) +
             " arguments; --torch runs a kiln_torch causal LM (scripted: "
             "input_ids, attention_mask, (cos, sin), past_key_values, "
             "use_cache, output_attentions; or traced with a decode method)");
    }
    for (int64_t j = 0; j < 2 * geo.layers; ++j)
      past.push_back(at::zeros(geo.valueShape, at::kFloat));
  }

  at::Tensor prefill(const std::vector<at::Tensor> &in, int64_t keep) override {
    std::vector<at::Tensor> out = run(in, /*withPast=*/false);
    keep = std::min(keep, geo.past);
    for (size_t j = 0; j < past.size(); ++j)
      if (keep > 0)
        past[j].narrow(2, 0, keep).copy_(out[1 + j].narrow(2, 0, keep));
    return out[0][0];
  }

  at::Tensor decode(const std::vector<at::Tensor> &in,
                    int64_t position) override {
    std::vector<at::Tensor> out = run(in, /*withPast=*/true);
    for (size_t j = 0; j < past.size(); ++j)
      storeEntry(past[j], out[1 + j], 2, position);
    return out[0][0][0];
  }

private:
  std::vector<at::Tensor> run(const std::vector<at::Tensor> &in,
                              bool withPast) {
    at::NoGradGuard noGrad;
    std::vector<c10::IValue> args;
    c10::IValue result;
    try {
      if (traced) {
        for (const at::Tensor &t : in)
          args.push_back(t);
        if (withPast)
          for (const at::Tensor &t : past)
            args.push_back(t);
        result = module.get_method(withPast ? "decode" : "forward")(args);
      } else {
        args = {in[0], in[1], c10::ivalue::Tuple::create(in[2], in[3])};
        if (withPast) {
          c10::impl::GenericList list(c10::TupleType::create(
              {c10::TensorType::get(), c10::TensorType::get()}));
          for (size_t j = 0; j < past.size(); j += 2)
            list.push_back(c10::ivalue::Tuple::create(past[j], past[j + 1]));
          args.push_back(list);
        } else {
          args.push_back(c10::IValue());
        }
        args.push_back(true);
        args.push_back(false);
        result = module.get_method("forward")(args);
      }
    } catch (const std::exception &e) {
      auto *c10e = dynamic_cast<const c10::Error *>(&e);
      fail("LibTorch running '" + path +
           "': " + (c10e ? c10e->what_without_backtrace() : e.what()));
    }
    std::vector<at::Tensor> out;
    flattenIValueTensors(result, out);
    if (out.size() != static_cast<size_t>(1 + 2 * geo.layers))
      fail("'" + path + "' returns " + llvm::Twine(out.size()) +
           " tensors, expected logits and " + llvm::Twine(2 * geo.layers) +
           " cache tensors (the export's " + llvm::Twine(geo.layers) +
           " layers)");
    int64_t tokens = in[0].size(1);
    if (out[0].dim() != 3 || out[0].size(1) != tokens ||
        out[0].size(2) != geo.vocab)
      fail("'" + path + "' returns logits " +
           shapeToString(out[0].sizes().vec()) + ", the export [1, " +
           llvm::Twine(tokens) + ", " + llvm::Twine(geo.vocab) + "]");
    for (size_t j = 1; j < out.size(); ++j)
      if (out[j].dim() != 4 || out[j].size(1) != geo.valueShape[1] ||
          out[j].size(3) != geo.valueShape[3])
        fail("'" + path + "' returns cache tensor " +
             shapeToString(out[j].sizes().vec()) +
             ", expected [1, H, positions, D] as the export's " +
             shapeToString(geo.valueShape));
    for (at::Tensor &t : out)
      t = t.to(at::kFloat);
    return out;
  }

  std::string path;
  Geometry geo;
  torch::jit::Module module;
  bool traced = false;
};

//===----------------------------------------------------------------------===//
// The evaluation loop
//===----------------------------------------------------------------------===//

class Progress {
public:
  Progress(bool enabled, std::string label, int64_t total)
      : enabled(enabled), label(std::move(label)), total(total),
        start(Clock::now()) {}
  void update(int64_t done) {
    if (!enabled)
      return;
    double t = secondsSince(start);
    if (done != total && t - lastDraw < 0.1)
      return;
    lastDraw = t;
    constexpr int width = 30;
    int filled = total ? static_cast<int>(width * done / total) : width;
    std::string bar(filled, '#');
    bar.append(width - filled, '.');
    double rate = t > 0 ? done / t : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    llvm::errs() << llvm::format("\r%-6s [%s] %lld/%lld tokens %.1f tok/s "
                                 "eta %.0fs  ",
                                 label.c_str(), bar.c_str(), (long long)done,
                                 (long long)total, rate, eta);
    llvm::errs().flush();
  }
  void finish() {
    if (enabled)
      llvm::errs() << "\n";
  }

private:
  bool enabled;
  std::string label;
  int64_t total;
  Clock::time_point start;
  double lastDraw = -1;
};

struct Plan {
  const std::vector<int64_t> *tokens;
  int64_t prefill; // P: tokens given to the prefill signature
};

struct Scores {
  std::vector<double> loss; // per predicted token, all sequences in order
  std::vector<int64_t> argmax;
  /// seconds: the evaluation without compileSeconds (the export's
  /// signatures compiled at the start of each phase).
  double seconds = 0, compileSeconds = 0, prefillSeconds = 0, decodeSeconds = 0;
  int64_t prefillCalls = 0, decodeCalls = 0;
  double peakRssGB = -1;
};

void score(const at::Tensor &logits, int64_t target, Scores &s) {
  at::Tensor lp = at::log_softmax(logits.to(at::kDouble), -1);
  s.loss.push_back(-lp[target].item<double>());
  s.argmax.push_back(logits.argmax().item<int64_t>());
}

Scores evaluate(Backend &backend, const std::vector<Plan> &plans,
                const Geometry &geo, const Rope &rope, double maskValue,
                Progress &progress) {
  Scores s;
  int64_t done = 0;
  auto start = Clock::now();
  auto phase = [&](bool prefill) {
    auto t0 = Clock::now();
    backend.beginPhase(prefill);
    s.compileSeconds += secondsSince(t0);
  };
  // All prefills first (each sequence's cache kept), then all decodes.
  std::vector<std::vector<at::Tensor>> caches(plans.size());
  bool anyPrefill =
      llvm::any_of(plans, [](const Plan &p) { return p.prefill > 0; });
  if (anyPrefill)
    phase(true);
  for (auto [i, plan] : llvm::enumerate(plans)) {
    if (plan.prefill == 0)
      continue;
    const std::vector<int64_t> &tok = *plan.tokens;
    backend.reset();
    int64_t len = geo.prefillLen;
    at::Tensor ids = at::zeros({1, len}, at::kLong);
    for (int64_t k = 0; k < plan.prefill; ++k)
      ids[0][k] = tok[k];
    auto [cos, sin] = rope.table(0, len);
    auto t0 = Clock::now();
    at::Tensor logits = backend.prefill(
        {ids, prefillMask(len, maskValue), cos, sin}, plan.prefill);
    s.prefillSeconds += secondsSince(t0);
    ++s.prefillCalls;
    for (int64_t k = 0; k < plan.prefill; ++k)
      score(logits[k], tok[k + 1], s);
    if (plan.prefill + 1 < static_cast<int64_t>(tok.size()))
      for (const at::Tensor &t : backend.past)
        caches[i].push_back(t.clone());
    done += plan.prefill;
    progress.update(done);
  }
  phase(false);
  for (auto [i, plan] : llvm::enumerate(plans)) {
    const std::vector<int64_t> &tok = *plan.tokens;
    int64_t n = tok.size();
    if (plan.prefill + 1 >= n)
      continue;
    if (caches[i].empty())
      backend.reset();
    else
      for (size_t j = 0; j < caches[i].size(); ++j)
        backend.past[j].copy_(caches[i][j]);
    caches[i].clear();
    for (int64_t p = plan.prefill; p + 1 < n; ++p) {
      at::Tensor ids = at::full({1, 1}, tok[p], at::kLong);
      auto [cos, sin] = rope.table(p, 1);
      auto t0 = Clock::now();
      at::Tensor logits = backend.decode(
          {ids, decodeMask(p, geo.past, maskValue), cos, sin}, p);
      s.decodeSeconds += secondsSince(t0);
      ++s.decodeCalls;
      score(logits, tok[p + 1], s);
      progress.update(++done);
    }
  }
  s.seconds = secondsSince(start) - s.compileSeconds;
  progress.finish();
  return s;
}

/// Peak resident set (VmHWM) in GB, or -1; `reset` restarts it (Linux
/// clear_refs 5) so that the next phase's peak is its own.
double peakRssGB(bool reset = false) {
  double gb = -1;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0)
      gb = std::stod(line.substr(6)) * 1024 / 1e9;
  if (reset) {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
  }
  return gb;
}

void printScores(llvm::StringRef label, llvm::StringRef file, const Scores &s,
                 int64_t fed) {
  double sum = 0;
  for (double l : s.loss)
    sum += l;
  double mean = s.loss.empty() ? 0 : sum / s.loss.size();
  llvm::outs() << llvm::format("%-6s mean loss %.6f  perplexity %.6g  (%s)\n",
                               label.str().c_str(), mean, std::exp(mean),
                               file.str().c_str());
  llvm::outs() << llvm::format(
      "       %lld tokens in %.2f s: %.2f tokens/s; prefill %lld calls, %.1f "
      "ms each; decode %lld steps, %.1f ms each",
      (long long)fed, s.seconds, s.seconds > 0 ? fed / s.seconds : 0.0,
      (long long)s.prefillCalls,
      s.prefillCalls ? 1e3 * s.prefillSeconds / s.prefillCalls : 0.0,
      (long long)s.decodeCalls,
      s.decodeCalls ? 1e3 * s.decodeSeconds / s.decodeCalls : 0.0);
  if (s.compileSeconds >= 0.005)
    llvm::outs() << llvm::format("; compile %.2f s", s.compileSeconds);
  if (s.peakRssGB >= 0)
    llvm::outs() << llvm::format("; peak RSS %.2f GB", s.peakRssGB);
  llvm::outs() << "\n";
}

double meanOf(const std::vector<double> &v) {
  double sum = 0;
  for (double x : v)
    sum += x;
  return v.empty() ? 0 : sum / v.size();
}

int run(MLIRContext &ctx, const std::vector<std::string> &positional,
        const PerplexityCommandLine &opt, const PerplexityShared &shared) {
  if (positional.size() != 1)
    fail("--perplexity takes one exported model (.circle / .tflite)");
  if (!opt.tokens.empty() && opt.randomTokens > 0)
    fail("give either --perplexity TOKENS or --random-tokens N, not both");
  if (shared.threads > 0)
    at::set_num_threads(shared.threads);
  std::string path = positional[0];
  if (llvm::StringRef(path).contains('@'))
    fail("--perplexity chooses the signatures itself (prefill*, decode): "
         "give the file without @SIGNATURE");
  RopeConfig ropeConfig = readModelConfig(opt.modelConfig);
  double maskValue = !std::isnan(opt.maskValue) ? double(opt.maskValue)
                     : ropeConfig.maskValue     ? *ropeConfig.maskValue
                                                : -100.0;
  bool showProgress =
      opt.progress || llvm::sys::Process::StandardErrIsDisplayed();

  auto loadStart = Clock::now();
  auto kiln = std::make_unique<KilnBackend>(ctx, path, shared.compile,
                                            opt.prefillTokens);
  double kilnLoad = secondsSince(loadStart);
  Geometry geo = kiln->geometry();
  Rope rope(ropeConfig, geo.headDim);

  // Sequences.
  std::vector<std::vector<int64_t>> sequences;
  if (opt.randomTokens > 0) {
    std::mt19937_64 rng(shared.seed);
    std::uniform_int_distribution<int64_t> dist(0, geo.vocab - 1);
    for (unsigned i = 0; i < std::max(1u, unsigned(opt.sequences)); ++i) {
      std::vector<int64_t> ids(opt.randomTokens);
      for (int64_t &id : ids)
        id = dist(rng);
      sequences.push_back(std::move(ids));
    }
  } else {
    sequences = readTokenFile(opt.tokens);
  }
  if (sequences.empty())
    fail("no token sequences in '" + opt.tokens + "'");
  int64_t limit = geo.past + 2; // the last decode position is C
  int64_t truncated = 0;
  std::vector<Plan> plans;
  int64_t fed = 0;
  for (auto [i, seq] : llvm::enumerate(sequences)) {
    if (opt.maxTokens > 0 && static_cast<int64_t>(seq.size()) > opt.maxTokens)
      seq.resize(opt.maxTokens);
    if (static_cast<int64_t>(seq.size()) > limit) {
      ++truncated;
      seq.resize(limit);
    }
    if (seq.size() < 2)
      fail("sequence " + llvm::Twine(i + 1) + " has " +
           llvm::Twine(seq.size()) +
           " token: at least 2 are needed (one to predict)");
    for (auto [pos, id] : llvm::enumerate(seq))
      if (id < 0 || id >= geo.vocab)
        fail("token " + llvm::Twine(id) + " (sequence " + llvm::Twine(i + 1) +
             ", position " + llvm::Twine(pos) +
             ") is outside the vocabulary of " + llvm::Twine(geo.vocab) +
             " (the logits' last dimension)");
    int64_t n = seq.size();
    int64_t p = std::min<int64_t>(geo.prefillLen, n - 1);
    if (opt.prefillTokens >= 0)
      p = std::min<int64_t>(p, opt.prefillTokens);
    if (p < n - 1)
      p = std::min(p, geo.past); // the decode past must hold the prefill
    plans.push_back({&seq, p});
    fed += n - 1;
  }

  llvm::outs() << "perplexity: " << sequences.size() << " sequence"
               << (sequences.size() == 1 ? "" : "s") << ", " << fed
               << " predicted tokens; export " << kiln->describe() << "\n";
  llvm::outs() << llvm::format("  rope %s; mask value %g\n",
                               ropeConfig.source.c_str(), maskValue);
  if (truncated)
    llvm::outs() << "  " << truncated << " sequence"
                 << (truncated == 1 ? "" : "s") << " cut to " << limit
                 << " tokens (decode past " << geo.past << " + 2)\n";
  llvm::outs() << llvm::formatv(
      "  read '{0}' in {1:f2} s (weights mapped); {2} threads\n", path,
      kilnLoad, at::get_num_threads());

  peakRssGB(/*reset=*/true);
  Progress kilnProgress(showProgress, "kiln", fed);
  Scores k = evaluate(*kiln, plans, geo, rope, maskValue, kilnProgress);
  k.peakRssGB = peakRssGB();
  kiln->release();
  kiln.reset();
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  printScores("kiln", path, k, fed);

  if (opt.torchModel.empty())
    return 0;
  peakRssGB(/*reset=*/true);
  loadStart = Clock::now();
  TorchBackend torch(opt.torchModel, geo);
  llvm::outs() << llvm::formatv("  loaded '{0}' in {1:f2} s (LibTorch)\n",
                                std::string(opt.torchModel),
                                secondsSince(loadStart));
  Progress torchProgress(showProgress, "torch", fed);
  Scores t = evaluate(torch, plans, geo, rope, maskValue, torchProgress);
  t.peakRssGB = peakRssGB();
  printScores("torch", opt.torchModel, t, fed);

  double diff = meanOf(k.loss) - meanOf(t.loss), maxDiff = 0;
  int64_t same = 0;
  for (size_t i = 0; i < k.loss.size(); ++i) {
    maxDiff = std::max(maxDiff, std::abs(k.loss[i] - t.loss[i]));
    same += k.argmax[i] == t.argmax[i];
  }
  llvm::outs() << llvm::format(
      "kiln - torch: mean loss %+.3e (perplexity ratio %.6f), max per-token "
      "|diff| %.3e, same argmax on %lld of %lld tokens; time kiln/torch "
      "%.3f",
      diff, std::exp(diff), maxDiff, (long long)same, (long long)k.loss.size(),
      t.seconds > 0 ? k.seconds / t.seconds : 0.0);
  bool exceeded = opt.maxLossDiff >= 0 && !(std::abs(diff) <= opt.maxLossDiff);
  if (exceeded)
    llvm::outs() << llvm::format("  EXCEEDS --max-loss-diff %g",
                                 double(opt.maxLossDiff));
  llvm::outs() << "\n";
  return exceeded ? 1 : 0;
}

} // namespace

int runPerplexity(MLIRContext &context,
                  const std::vector<std::string> &positional,
                  const PerplexityCommandLine &options,
                  const PerplexityShared &shared) {
  return reportErrors(
      "kiln-run", [&] { return run(context, positional, options, shared); });
}

} // namespace kiln::runtime
