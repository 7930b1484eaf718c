"""Compares a run's outputs with kiln_torch reference outputs (both in the reference format).

usage: compare.py REF_DIR OUT_DIR [--steps prefill,decode] [--max-peir X] [--max-rel X]

Prints, per output: max abs error, mean abs error, PEIR (max |a - b| / (max(b) - min(b)))
and max relative error (max |a - b| / max |b|). Exits 1 when a bound is exceeded or
an output is missing.
"""
import argparse
import json
import os
import sys

import numpy as np


def load(directory, step):
    index = json.load(open(os.path.join(directory, "index.json")))
    entries = index[step]["outputs"] if "outputs" in index.get(step, {}) else None
    return entries


def main():
    p = argparse.ArgumentParser()
    p.add_argument("ref")
    p.add_argument("out")
    p.add_argument("--steps", default="prefill,decode")
    p.add_argument("--max-peir", type=float, default=None)
    p.add_argument("--max-rel", type=float, default=None)
    args = p.parse_args()
    ref_index = json.load(open(os.path.join(args.ref, "index.json")))
    ok = True
    for step in args.steps.split(","):
        for entry in ref_index[step]["outputs"]:
            name = entry["name"]
            ref = np.fromfile(os.path.join(args.ref, entry["file"]), dtype=entry["dtype"])
            ref = ref.reshape(entry["shape"]).astype(np.float64)
            path = os.path.join(args.out, "%s.%s.bin" % (step, name))
            if not os.path.exists(path):
                print("%s.%s: MISSING" % (step, name))
                ok = False
                continue
            got = np.fromfile(path, dtype=np.float32).astype(np.float64)
            if got.size != ref.size:
                print("%s.%s: SIZE %d != %d" % (step, name, got.size, ref.size))
                ok = False
                continue
            got = got.reshape(ref.shape)
            diff = np.abs(got - ref)
            span = ref.max() - ref.min()
            peir = diff.max() / span if span > 0 else diff.max()
            rel = diff.max() / max(np.abs(ref).max(), 1e-30)
            status = "ok"
            if args.max_peir is not None and not peir <= args.max_peir:  # NaN fails
                status = "FAIL (peir > %g)" % args.max_peir
            if args.max_rel is not None and not rel <= args.max_rel:
                status = "FAIL (rel > %g)" % args.max_rel
            ok &= status == "ok"
            print("%s.%s: max_abs=%.3e mean_abs=%.3e peir=%.3e rel=%.3e %s"
                  % (step, name, diff.max(), diff.mean(), peir, rel, status))
    print("compare: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
