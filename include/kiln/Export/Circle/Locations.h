//===- Locations.h - Source locations stored in a Circle file ---*- C++ -*-===//
//
// A Circle/TFLite tensor has a name; Kiln also stores where each tensor came
// from in the PyTorch source: the module path and file:line:col of every
// location its op carries (the op's own, and those of the fake-quant points
// folded into it), as the metadata buffer "kiln.locations":
//
//   {"version": 1, "files": ["model.py", "quant.py"],
//    "subgraphs": [{"12": [["self_attn.q_proj", 0, 116, 13, ""],
//                          ["self_attn.q_proj.out_quant", 1, 67, 16, ""]],
//                   ...}, ...]}
//
// (per subgraph, tensor index -> points [module path, index in "files",
// line, column, head]; `head` is kiln-unroll-heads' head index, "2" or
// "0_1", else "").
// The reader turns them back into MLIR locations, so the IR read from a file
// carries them too; kiln-parity matches PyTorch's tensors through them.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_EXPORT_CIRCLE_LOCATIONS_H
#define KILN_EXPORT_CIRCLE_LOCATIONS_H

#include "mlir/IR/Location.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/JSON.h"

#include <string>
#include <vector>

namespace kiln::circle {

constexpr const char *kLocationsMetadata = "kiln.locations";

/// One place a tensor comes from.
struct SourcePoint {
  std::string path; // module path ("layers.0.self_attn"), may be empty
  std::string file;
  unsigned line = 0, col = 0;
  std::string head; // "2", "0_1" for a head-unrolled tensor, else empty

  bool operator==(const SourcePoint &o) const {
    return path == o.path && file == o.file && line == o.line && col == o.col &&
           head == o.head;
  }
};

/// The points of a location: NameLocs give the module path (a ".headN"
/// suffix becomes `head` for every point inside), FileLineColLocs the source
/// position, FusedLocs are concatenated, a CallSiteLoc contributes its
/// callee. Duplicates are dropped; order is kept.
std::vector<SourcePoint> flattenLocation(mlir::Location loc);

/// A location with these points (FusedLoc of NameLoc(path[.headN], file loc)).
mlir::Location buildLocation(mlir::MLIRContext *context,
                             const std::vector<SourcePoint> &points);

/// Points as JSON; files go into `files` (each once, `fileIndex` maps them).
llvm::json::Array toJSON(const std::vector<SourcePoint> &points,
                         llvm::StringMap<unsigned> &fileIndex,
                         std::vector<std::string> &files);
/// False when `value` is not an array of points over `files`.
bool fromJSON(const llvm::json::Value &value,
              const std::vector<std::string> &files,
              std::vector<SourcePoint> &points);

/// Splits "a.b.head2" into ("a.b", "2"); no suffix: (name, "").
std::pair<std::string, std::string> splitHeadSuffix(llvm::StringRef name);

} // namespace kiln::circle

#endif // KILN_EXPORT_CIRCLE_LOCATIONS_H
