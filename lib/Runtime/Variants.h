//===- Variants.h - kiln-parity --variants --------------------*- C++ -*-===//
//
// Private to lib/Runtime. `kiln-parity --variants MODEL.pt --inputs-from REF/`
// converts MODEL.pt to both prefill variants (per-head `prefill`, batched
// `prefill_reference`), runs both on the reference step's inputs and reports
// tensor by tensor where they differ (Variants.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef KILN_LIB_RUNTIME_VARIANTS_H
#define KILN_LIB_RUNTIME_VARIANTS_H

#include "mlir/IR/DialectRegistry.h"

namespace kiln::runtime {

/// Whether the command line asks for the --variants mode.
bool wantsVariants(int argc, char **argv);
/// The --variants command line (kilnParityMain hands it over).
int kilnParityVariantsMain(int argc, char **argv,
                           mlir::DialectRegistry &registry);

} // namespace kiln::runtime

#endif // KILN_LIB_RUNTIME_VARIANTS_H
