//===- SplitLayers.cpp - One lowered model as per-layer artifacts ---------===//
#include "kiln/Pipelines/SplitLayers.h"
#include "kiln/Dialect/Kiln/IR/KilnDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <set>

using namespace mlir;

llvm::StringRef kiln::stringifySplitMode(SplitMode mode) {
  switch (mode) {
  case SplitMode::None:
    return "none";
  case SplitMode::Layers:
    return "layers";
  }
  return "";
}

std::optional<kiln::SplitMode> kiln::parseSplitMode(StringRef name) {
  return llvm::StringSwitch<std::optional<SplitMode>>(name)
      .Case("none", SplitMode::None)
      .Case("layers", SplitMode::Layers)
      .Default(std::nullopt);
}

namespace {
/// The names of a location: NameLoc names, also inside FusedLoc and
/// CallSiteLoc (the callee first), outermost first.
void collectNames(Location loc, SmallVectorImpl<StringRef> &names) {
  if (auto n = dyn_cast<NameLoc>(loc)) {
    names.push_back(n.getName().getValue());
    collectNames(n.getChildLoc(), names);
  } else if (auto f = dyn_cast<FusedLoc>(loc)) {
    // Fake-quant points folded into an op (FoldFakeQuant) may belong to the
    // next module: the op's own location is the first.
    auto tag = dyn_cast_or_null<StringAttr>(f.getMetadata());
    if (tag && tag.getValue() == "kiln.fake_quant") {
      collectNames(f.getLocations().front(), names);
      return;
    }
    for (Location l : f.getLocations())
      collectNames(l, names);
  } else if (auto c = dyn_cast<CallSiteLoc>(loc)) {
    collectNames(c.getCallee(), names);
    collectNames(c.getCaller(), names);
  }
}

/// The decoder layer a module path names: the number after "layers." (or
/// "layers_"), as in model.layers.3.self_attn.q_proj.
std::optional<int64_t> layerOfName(StringRef name) {
  for (StringRef marker : {"layers.", "layers_"}) {
    size_t at = 0;
    while ((at = name.find(marker, at)) != StringRef::npos) {
      // The marker starts a path component.
      bool starts = at == 0 || name[at - 1] == '.' || name[at - 1] == '/';
      StringRef rest = name.drop_front(at + marker.size());
      StringRef digits =
          rest.take_while([](char c) { return c >= '0' && c <= '9'; });
      int64_t layer;
      if (starts && !digits.empty() && !digits.getAsInteger(10, layer))
        return layer;
      at += marker.size();
    }
  }
  return std::nullopt;
}

/// What an op's location says: its decoder layer, and whether it names a
/// module outside the layers (model.embed_tokens, model.norm, lm_head), as
/// opposed to the model's own forward code (`forward`, `forward.head0`) or
/// no name at all.
struct Place {
  std::optional<int64_t> layer;
  bool module = false;
};

Place placeOf(Location loc) {
  SmallVector<StringRef> names;
  collectNames(loc, names);
  Place place;
  for (StringRef name : names) {
    if (!place.layer)
      place.layer = layerOfName(name);
    StringRef head = name.split('.').first;
    if (!name.empty() && head != "forward" && head != "decode")
      place.module = true;
  }
  return place;
}

bool isConstant(Operation *op) {
  return op->getNumOperands() == 0 && op->getNumRegions() == 0 &&
         op->hasTrait<OpTrait::ConstantLike>();
}

std::string typeString(Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << type;
  return text;
}

/// One signature's partition.
struct Partition {
  func::FuncOp func;
  /// Home segment of each anchored op (not constants, not floating ops).
  llvm::DenseMap<Operation *, int> home;
  /// Ops that only read model inputs and constants and belong to no
  /// non-layer module: cloned into each segment that needs them.
  llvm::DenseSet<Operation *> floating;
  /// Segment of each model output's root when its producer has no home.
  llvm::DenseMap<unsigned, int> outputSegment;
  /// Values read by another segment: `<producer>.out<k>`, k counting the
  /// producer's crossing values in program order.
  llvm::DenseMap<Value, std::string> crossing;
};
} // namespace

FailureOr<std::vector<kiln::SplitSegment>> kiln::splitLayers(ModuleOp module) {
  MLIRContext *ctx = module.getContext();
  SmallVector<func::FuncOp> funcs;
  for (auto f : module.getOps<func::FuncOp>())
    if (f.isPublic() && !f.isExternal())
      funcs.push_back(f);
  if (funcs.empty())
    return emitError(module.getLoc())
           << "--split layers: no signature to split";

  // The layers, over every signature.
  std::set<int64_t> layerSet;
  for (func::FuncOp f : funcs)
    f.walk([&](Operation *op) {
      if (!isConstant(op))
        if (auto layer = placeOf(op->getLoc()).layer)
          layerSet.insert(*layer);
    });
  if (layerSet.empty())
    return emitError(funcs.front().getLoc())
           << "--split layers: no decoder layer found: no op's location "
              "names a module path with 'layers.<i>' (save the whole model, "
              "whose submodules are model.layers.<i>, not a single layer)";
  std::vector<int64_t> layers(layerSet.begin(), layerSet.end());
  // Segment numbers: 0 embedding, 1 + position of the layer, then lm_head.
  const int numSegments = layers.size() + 2;
  const int lmHead = numSegments - 1;
  auto segmentOfLayer = [&](int64_t layer) {
    return int(llvm::lower_bound(layers, layer) - layers.begin()) + 1;
  };
  auto segmentName = [&](int s) -> std::string {
    if (s == 0)
      return "embedding";
    if (s == lmHead)
      return "lm_head";
    return "decoder_layer_" + std::to_string(layers[s - 1]);
  };

  // Assign the ops of each signature.
  std::vector<Partition> partitions;
  for (func::FuncOp f : funcs) {
    Partition p;
    p.func = f;
    Block &body = f.getBody().front();
    // Non-layer ops that read a layer's value: the latest such layer; they
    // go there when a later layer reads them, else to lm_head.
    llvm::DenseMap<Operation *, int> after;
    auto homeOf = [&](Value v) -> int {
      Operation *def = v.getDefiningOp();
      if (!def)
        return 0;
      auto it = p.home.find(def);
      if (it != p.home.end())
        return it->second;
      auto a = after.find(def);
      return a != after.end() ? a->second : 0;
    };
    for (Operation &op : body.without_terminator()) {
      if (isConstant(&op))
        continue;
      Place place = placeOf(op.getLoc());
      bool inputOnly = llvm::all_of(op.getOperands(), [&](Value v) {
        Operation *def = v.getDefiningOp();
        return !def || isConstant(def) || p.floating.contains(def);
      });
      if (inputOnly && (place.layer || !place.module) &&
          op.getNumRegions() == 0 && isMemoryEffectFree(&op)) {
        p.floating.insert(&op);
        continue;
      }
      if (place.layer) {
        p.home[&op] = segmentOfLayer(*place.layer);
        continue;
      }
      int lo = 0;
      for (Value v : op.getOperands())
        lo = std::max(lo, homeOf(v));
      if (lo == 0)
        p.home[&op] = 0;
      else
        after[&op] = lo;
    }
    // Non-layer ops after a layer: glue between layers stays with its
    // producer when a later layer (through other such ops) reads it.
    llvm::DenseSet<Operation *> feedsLayer;
    for (Operation &op : llvm::reverse(body.without_terminator())) {
      auto a = after.find(&op);
      if (a == after.end())
        continue;
      bool feeds = false;
      for (Operation *user : op.getUsers()) {
        auto h = p.home.find(user);
        if ((h != p.home.end() && h->second > 0 && h->second < lmHead) ||
            feedsLayer.contains(user))
          feeds = true;
      }
      if (feeds)
        feedsLayer.insert(&op);
      p.home[&op] = feeds ? a->second : lmHead;
    }
    // Outputs computed from inputs and constants alone: with their layer,
    // else in lm_head.
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
      Operation *def = v.getDefiningOp();
      if (!def)
        return emitError(f.getLoc())
               << "--split layers: output " << i << " of @" << f.getName()
               << " is an input of the signature; no segment computes it";
      if (!p.home.count(def)) {
        auto layer = placeOf(def->getLoc()).layer;
        p.outputSegment[i] = layer ? segmentOfLayer(*layer) : lmHead;
      }
    }
    // Values flow forward only.
    for (Operation &op : body.without_terminator()) {
      auto h = p.home.find(&op);
      if (h == p.home.end())
        continue;
      for (Value v : op.getOperands()) {
        Operation *def = v.getDefiningOp();
        if (!def)
          continue;
        auto d = p.home.find(def);
        if (d != p.home.end() && d->second > h->second)
          return op.emitError()
                 << "--split layers: this op of " << segmentName(h->second)
                 << " (@" << f.getName() << ") reads a value computed in the "
                 << "later segment " << segmentName(d->second);
      }
    }
    std::map<int, int> count;
    for (Operation &op : body.without_terminator()) {
      auto h = p.home.find(&op);
      if (h == p.home.end())
        continue;
      for (Value r : op.getResults())
        if (llvm::any_of(r.getUsers(), [&](Operation *u) {
              auto uh = p.home.find(u);
              return uh != p.home.end() && uh->second != h->second;
            }))
          p.crossing[r] = segmentName(h->second) + ".out" +
                          std::to_string(count[h->second]++);
    }
    partitions.push_back(std::move(p));
  }

  // Build the segments.
  std::vector<SplitSegment> segments;
  for (int s = 0; s < numSegments; ++s) {
    SplitSegment segment;
    segment.name = segmentName(s);
    if (s > 0 && s < lmHead)
      segment.layer = layers[s - 1];
    segment.module = ModuleOp::create(module.getLoc());
    ModuleOp seg = *segment.module;
    for (NamedAttribute attr : module->getAttrs())
      if (attr.getName() != SymbolTable::getSymbolAttrName())
        seg->setAttr(attr.getName(), attr.getValue());
    SmallVector<NamedAttribute> metadata;
    if (auto old = module->getAttrOfType<DictionaryAttr>("kiln.metadata"))
      metadata.append(old.begin(), old.end());
    metadata.push_back(NamedAttribute(StringAttr::get(ctx, "kiln.segment"),
                                      StringAttr::get(ctx, segment.name)));
    seg->setAttr("kiln.metadata", DictionaryAttr::get(ctx, metadata));
    bool any = false;
    for (Partition &p : partitions) {
      func::FuncOp f = p.func;
      Block &body = f.getBody().front();
      auto ret = cast<func::ReturnOp>(body.getTerminator());
      // The ops of this segment: its anchored ops, and the constants and
      // floating ops they (and its output roots) read.
      llvm::DenseSet<Operation *> members;
      SmallVector<Operation *> work;
      auto need = [&](Operation *op) {
        if (members.insert(op).second)
          work.push_back(op);
      };
      for (Operation &op : body.without_terminator()) {
        auto h = p.home.find(&op);
        if (h != p.home.end() && h->second == s)
          need(&op);
      }
      for (auto [i, seg] : p.outputSegment)
        if (seg == s)
          need(ret.getOperand(i).getDefiningOp());
      while (!work.empty()) {
        Operation *op = work.pop_back_val();
        for (Value v : op->getOperands())
          if (Operation *def = v.getDefiningOp())
            if (isConstant(def) || p.floating.contains(def))
              need(def);
      }
      if (members.empty())
        continue;
      // Inputs: values of earlier segments (by producer, in program order),
      // then the model's inputs (in the signature's order).
      llvm::SetVector<Value> crossingIn;
      std::set<unsigned> modelIn;
      for (Operation &op : body.without_terminator()) {
        if (!members.contains(&op))
          continue;
        for (Value v : op.getOperands()) {
          if (auto arg = dyn_cast<BlockArgument>(v))
            modelIn.insert(arg.getArgNumber());
          else if (!members.contains(v.getDefiningOp()))
            crossingIn.insert(v);
        }
      }
      // Outputs: values later segments read (in program order), then the
      // model's outputs computed here.
      SmallVector<Value> crossingOut;
      SmallVector<std::vector<std::string>> consumers;
      for (Operation &op : body.without_terminator()) {
        if (!members.contains(&op) || !p.home.count(&op))
          continue;
        for (Value v : op.getResults()) {
          std::set<int> readers;
          for (Operation *user : v.getUsers()) {
            auto h = p.home.find(user);
            if (h != p.home.end() && h->second != s)
              readers.insert(h->second);
          }
          if (readers.empty())
            continue;
          crossingOut.push_back(v);
          std::vector<std::string> names;
          for (int r : readers)
            names.push_back(segmentName(r));
          consumers.push_back(std::move(names));
        }
      }
      SmallVector<unsigned> modelOut;
      for (auto [i, v] : llvm::enumerate(ret.getOperands()))
        if (p.home.count(v.getDefiningOp())
                ? p.home.lookup(v.getDefiningOp()) == s
                : p.outputSegment.lookup(i) == s)
          modelOut.push_back(i);
      auto crossingName = [&](Value v) { return p.crossing.lookup(v); };

      SplitSignature sig;
      sig.name = f.getName().str();
      SmallVector<Type> argTypes, resultTypes;
      SmallVector<DictionaryAttr> argAttrs, resultAttrs;
      SmallVector<Location> argLocs;
      auto nameAttr = [&](StringRef name) {
        return DictionaryAttr::get(
            ctx, {NamedAttribute(
                     StringAttr::get(ctx, kiln::KilnDialect::getNameAttrName()),
                     StringAttr::get(ctx, name))});
      };
      auto modelName = [&](DictionaryAttr attrs, StringRef fallback) {
        if (attrs)
          if (auto n =
                  attrs.getAs<StringAttr>(kiln::KilnDialect::getNameAttrName()))
            return n.getValue().str();
        return fallback.str();
      };
      for (Value v : crossingIn) {
        std::string name = crossingName(v);
        argTypes.push_back(v.getType());
        argAttrs.push_back(nameAttr(name));
        argLocs.push_back(NameLoc::get(StringAttr::get(ctx, name)));
        sig.inputs.push_back({name,
                              typeString(v.getType()),
                              segmentName(p.home.lookup(v.getDefiningOp())),
                              {}});
      }
      for (unsigned i : modelIn) {
        BlockArgument arg = body.getArgument(i);
        DictionaryAttr attrs = f.getArgAttrDict(i);
        std::string name = modelName(attrs, "input_" + std::to_string(i));
        argTypes.push_back(arg.getType());
        argAttrs.push_back(attrs ? attrs : nameAttr(name));
        argLocs.push_back(NameLoc::get(StringAttr::get(ctx, name)));
        sig.inputs.push_back({name, typeString(arg.getType()), "model", {}});
      }
      SmallVector<Value> results;
      for (auto [k, v] : llvm::enumerate(crossingOut)) {
        std::string name = crossingName(v);
        results.push_back(v);
        resultTypes.push_back(v.getType());
        resultAttrs.push_back(nameAttr(name));
        sig.outputs.push_back(
            {name, typeString(v.getType()), "", consumers[k]});
      }
      for (unsigned i : modelOut) {
        Value v = ret.getOperand(i);
        DictionaryAttr attrs = f.getResultAttrDict(i);
        std::string name = modelName(attrs, "output_" + std::to_string(i));
        results.push_back(v);
        resultTypes.push_back(v.getType());
        resultAttrs.push_back(attrs ? attrs : nameAttr(name));
        sig.outputs.push_back({name, typeString(v.getType()), "model", {}});
      }

      OpBuilder builder(ctx);
      builder.setInsertionPointToEnd(seg.getBody());
      auto g = builder.create<func::FuncOp>(
          f.getLoc(), f.getName(),
          builder.getFunctionType(argTypes, resultTypes));
      for (NamedAttribute attr : f->getAttrs()) {
        StringRef n = attr.getName().getValue();
        if (n != SymbolTable::getSymbolAttrName() && n != "function_type" &&
            n != "arg_attrs" && n != "res_attrs")
          g->setAttr(attr.getName(), attr.getValue());
      }
      g.setAllArgAttrs(argAttrs);
      g.setAllResultAttrs(resultAttrs);
      Block *entry = builder.createBlock(&g.getBody(), {}, argTypes, argLocs);
      IRMapping map;
      unsigned a = 0;
      for (Value v : crossingIn)
        map.map(v, entry->getArgument(a++));
      for (unsigned i : modelIn)
        map.map(body.getArgument(i), entry->getArgument(a++));
      builder.setInsertionPointToEnd(entry);
      for (Operation &op : body.without_terminator())
        if (members.contains(&op))
          builder.clone(op, map);
      SmallVector<Value> mapped;
      for (Value v : results)
        mapped.push_back(map.lookup(v));
      builder.create<func::ReturnOp>(ret.getLoc(), mapped);
      segment.signatures.push_back(std::move(sig));
      any = true;
    }
    if (any)
      segments.push_back(std::move(segment));
  }
  return segments;
}

LogicalResult kiln::writeSplitLayers(
    MLIRContext &context, std::vector<SplitSegment> &segments, StringRef dir,
    const circle::WriterOptions &writer,
    ArrayRef<std::pair<std::string, std::string>> manifestInfo,
    const std::function<void(StringRef, size_t, size_t)> &beginSegment) {
  Location loc = UnknownLoc::get(&context);
  namespace fs = llvm::sys::fs;
  bool created = false;
  if (!fs::exists(dir)) {
    if (std::error_code ec = fs::create_directory(dir))
      return emitError(loc) << "cannot create the output directory '" << dir
                            << "': " << ec.message();
    created = true;
  } else if (!fs::is_directory(dir)) {
    return emitError(loc) << "--split writes a directory; the output '" << dir
                          << "' is not one";
  }
  llvm::SmallString<256> staging;
  {
    // createUniqueDirectory would put a relative path in the system's
    // temporary directory: the name is made unique here, in `dir`.
    llvm::SmallString<256> model(dir);
    llvm::sys::path::append(model, ".kiln-split-%%%%%%");
    std::error_code ec;
    for (int attempt = 0; attempt < 128; ++attempt) {
      fs::createUniquePath(model, staging, /*MakeAbsolute=*/false);
      ec = fs::create_directory(staging, /*IgnoreExisting=*/false);
      if (ec != std::errc::file_exists)
        break;
    }
    if (ec) {
      if (created)
        fs::remove(dir);
      return emitError(loc) << "cannot create a temporary directory in '" << dir
                            << "': " << ec.message();
    }
  }
  std::vector<std::string> files;
  auto cleanup = [&] {
    for (const std::string &file : files) {
      llvm::SmallString<256> path(staging);
      llvm::sys::path::append(path, file);
      fs::remove(path);
    }
    fs::remove(staging);
    if (created)
      fs::remove(dir);
    return failure();
  };
  StringRef extension =
      writer.flavor == circle::Flavor::TFLite ? ".tflite" : ".circle";
  for (auto [index, segment] : llvm::enumerate(segments)) {
    if (beginSegment)
      beginSegment(segment.name, index, segments.size());
    segment.file = segment.name + extension.str();
    llvm::SmallString<256> path(staging);
    llvm::sys::path::append(path, segment.file);
    circle::WriterOptions options = writer;
    options.stats = &segment.stored;
    files.push_back(segment.file);
    if (failed(circle::writeCircleFile(*segment.module, path, options)))
      return cleanup();
  }

  // The manifest.
  llvm::json::Object manifest;
  for (auto &[key, value] : manifestInfo)
    manifest[key] = value;
  manifest["split"] = "layers";
  manifest["format"] = circle::stringifyFlavor(writer.flavor).str();
  llvm::json::Array order, list;
  for (SplitSegment &segment : segments) {
    order.push_back(segment.name);
    llvm::json::Object s;
    s["name"] = segment.name;
    s["file"] = segment.file;
    if (segment.layer)
      s["layer"] = *segment.layer;
    s["bytes"] = int64_t(segment.stored.fileBytes);
    llvm::json::Object sigs;
    for (SplitSignature &sig : segment.signatures) {
      auto tensors = [](const std::vector<SplitTensor> &list, bool input) {
        llvm::json::Array array;
        for (const SplitTensor &t : list) {
          llvm::json::Object o;
          o["name"] = t.name;
          o["type"] = t.type;
          if (input)
            o["from"] = t.from;
          else if (t.from == "model")
            o["model_output"] = true;
          if (!input) {
            llvm::json::Array to;
            for (const std::string &c : t.to)
              to.push_back(c);
            o["to"] = std::move(to);
          }
          array.push_back(std::move(o));
        }
        return array;
      };
      llvm::json::Object o;
      o["inputs"] = tensors(sig.inputs, true);
      o["outputs"] = tensors(sig.outputs, false);
      sigs[sig.name] = std::move(o);
    }
    s["signatures"] = std::move(sigs);
    list.push_back(std::move(s));
  }
  manifest["order"] = std::move(order);
  manifest["segments"] = std::move(list);
  {
    llvm::SmallString<256> path(staging);
    llvm::sys::path::append(path, "manifest.json");
    files.push_back("manifest.json");
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    if (ec) {
      emitError(loc) << "cannot write '" << path << "': " << ec.message();
      return cleanup();
    }
    os << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest)))
       << "\n";
    os.close();
    if (os.has_error()) {
      os.clear_error();
      emitError(loc) << "cannot write '" << path << "'";
      return cleanup();
    }
  }
  // The segments of an earlier split into the same directory (its
  // manifest's files), removed once the new ones are in place when the new
  // split does not write them (fewer layers, another format).
  std::vector<std::string> stale;
  {
    llvm::SmallString<256> old(dir);
    llvm::sys::path::append(old, "manifest.json");
    if (auto buffer = llvm::MemoryBuffer::getFile(old)) {
      if (auto json = llvm::json::parse((*buffer)->getBuffer())) {
        if (auto *segments = json->getAsObject()
                                 ? json->getAsObject()->getArray("segments")
                                 : nullptr)
          for (const llvm::json::Value &segment : *segments)
            if (auto *object = segment.getAsObject())
              if (auto file = object->getString("file");
                  file && !file->empty() && !file->contains('/') &&
                  *file != "manifest.json" && !llvm::is_contained(files, *file))
                stale.push_back(file->str());
      } else {
        llvm::consumeError(json.takeError());
      }
    }
  }
  // Into place, the manifest last.
  for (const std::string &file : files) {
    llvm::SmallString<256> from(staging), to(dir);
    llvm::sys::path::append(from, file);
    llvm::sys::path::append(to, file);
    if (std::error_code ec = fs::rename(from, to)) {
      emitError(loc) << "cannot move '" << from << "' to '" << to
                     << "': " << ec.message();
      return cleanup();
    }
  }
  for (const std::string &file : stale) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, file);
    fs::remove(path);
  }
  fs::remove(staging);
  return success();
}
