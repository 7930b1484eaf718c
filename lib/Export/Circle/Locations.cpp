//===- Locations.cpp - Source locations stored in a Circle file -----------===//
#include "kiln/Export/Circle/Locations.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;

namespace kiln::circle {

std::pair<std::string, std::string> splitHeadSuffix(llvm::StringRef name) {
  size_t at = name.rfind(".head");
  if (at == llvm::StringRef::npos)
    return {name.str(), ""};
  llvm::StringRef head = name.drop_front(at + 5);
  if (head.empty() ||
      !llvm::all_of(head, [](char c) { return llvm::isDigit(c) || c == '_'; }))
    return {name.str(), ""};
  return {name.take_front(at).str(), head.str()};
}

static void flatten(Location loc, std::vector<SourcePoint> &out) {
  auto add = [&](SourcePoint p) {
    if (!llvm::is_contained(out, p))
      out.push_back(std::move(p));
  };
  if (auto file = dyn_cast<FileLineColLoc>(loc)) {
    add({"", file.getFilename().str(), file.getLine(), file.getColumn(), ""});
  } else if (auto name = dyn_cast<NameLoc>(loc)) {
    auto [path, head] = splitHeadSuffix(name.getName().getValue());
    std::vector<SourcePoint> inner;
    flatten(name.getChildLoc(), inner);
    if (inner.empty())
      inner.push_back({"", "", 0, 0, ""});
    for (SourcePoint &p : inner) {
      if (p.path.empty())
        p.path = path;
      if (p.head.empty())
        p.head = head;
      add(std::move(p));
    }
  } else if (auto fused = dyn_cast<FusedLoc>(loc)) {
    for (Location child : fused.getLocations())
      flatten(child, out);
  } else if (auto call = dyn_cast<CallSiteLoc>(loc)) {
    flatten(call.getCallee(), out);
  }
}

std::vector<SourcePoint> flattenLocation(Location loc) {
  std::vector<SourcePoint> out;
  flatten(loc, out);
  return out;
}

Location buildLocation(MLIRContext *context,
                       const std::vector<SourcePoint> &points) {
  SmallVector<Location> locs;
  for (const SourcePoint &p : points) {
    Location l =
        p.file.empty()
            ? Location(UnknownLoc::get(context))
            : Location(FileLineColLoc::get(context, p.file, p.line, p.col));
    std::string name = p.path;
    if (!p.head.empty())
      name += ".head" + p.head;
    if (!name.empty())
      l = NameLoc::get(StringAttr::get(context, name), l);
    locs.push_back(l);
  }
  if (locs.empty())
    return UnknownLoc::get(context);
  if (locs.size() == 1)
    return locs.front();
  return FusedLoc::get(context, locs);
}

llvm::json::Array toJSON(const std::vector<SourcePoint> &points,
                         llvm::StringMap<unsigned> &fileIndex,
                         std::vector<std::string> &files) {
  llvm::json::Array out;
  for (const SourcePoint &p : points) {
    auto [it, inserted] = fileIndex.try_emplace(p.file, files.size());
    if (inserted)
      files.push_back(p.file);
    out.push_back(llvm::json::Array{p.path, int64_t(it->second),
                                    int64_t(p.line), int64_t(p.col), p.head});
  }
  return out;
}

bool fromJSON(const llvm::json::Value &value,
              const std::vector<std::string> &files,
              std::vector<SourcePoint> &points) {
  const llvm::json::Array *array = value.getAsArray();
  if (!array)
    return false;
  for (const llvm::json::Value &entry : *array) {
    const llvm::json::Array *p = entry.getAsArray();
    if (!p || p->size() != 5)
      return false;
    auto path = (*p)[0].getAsString(), head = (*p)[4].getAsString();
    auto file = (*p)[1].getAsInteger(), line = (*p)[2].getAsInteger(),
         col = (*p)[3].getAsInteger();
    if (!path || !head || !file || !line || !col || *file < 0 ||
        *file >= int64_t(files.size()) || *line < 0 || *col < 0)
      return false;
    points.push_back({path->str(), files[*file], unsigned(*line),
                      unsigned(*col), head->str()});
  }
  return true;
}

} // namespace kiln::circle
