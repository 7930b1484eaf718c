//===- VerifyNumerics.h - The --kiln-verify-numerics pass -------*- C++ -*-===//
//
// Registered by kiln::registerAllPasses. The pass is built without LibTorch:
// it snapshots the module before and after its pipeline and runs kiln-run
// (a separate process) to compare them.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_VERIFYNUMERICS_H
#define KILN_RUNTIME_VERIFYNUMERICS_H

namespace kiln::runtime {
/// Registers `--kiln-verify-numerics="pipeline=... max-abs=... max-peir=...
/// seed=... inputs-from=... step=... args=... functions=... report"`: runs
/// the pipeline and fails, with kiln-run's error metrics, when a function's
/// outputs on the same inputs move by more than the tolerance.
void registerVerifyNumericsPass();
} // namespace kiln::runtime

#endif
