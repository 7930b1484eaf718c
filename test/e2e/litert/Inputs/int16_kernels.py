"""Inputs and check for int16-kernels.mlir (numpy, independent of Kiln)."""
import sys

import numpy as np

import refdata

SX, SY = 4.0 / 32767, 2.0 / 32767


def q(x, s):
    return np.clip(np.round(x / s), -32768, 32767) * s


def make(folder):
    rng = np.random.default_rng(5)
    x = rng.uniform(0.2, 4.0, size=(4, 64)).astype(np.float32)
    y = rng.uniform(0.5, 2.0, size=(4, 64)).astype(np.float32)
    mask = np.where(rng.uniform(size=(4, 64)) < 0.5, -100.0, 0.0).astype(np.float32)
    refdata.write_step(folder, "rsqrt", {"x": x})
    refdata.write_step(folder, "div", {"x": x, "y": y})
    refdata.write_step(folder, "keep", {"mask": mask})


def check(folder, out):
    ok = True

    def report(name, good):
        nonlocal ok
        ok &= good
        print(name, "ok" if good else "WRONG")

    x = q(refdata.read_step(folder, "rsqrt", "inputs")["x"].astype(np.float64), SX)
    r = refdata.read_step(out, "rsqrt", "outputs")["r"]
    report("rsqrt", np.abs(r / (1 / np.sqrt(x)) - 1).max() < 2e-3)
    d = refdata.read_step(folder, "div", "inputs")
    o = refdata.read_step(out, "div", "outputs")
    mean = q(d["y"].astype(np.float64), SY).mean(-1, keepdims=True)
    report("div", np.abs(o["q"] - q(d["x"], SX) / mean).max() < 4 * 8.0 / 32767)
    report("reciprocal", np.abs(o["inv"] - 0.25 / mean).max() < 4 * SY)
    report("mean", np.abs(o["mean"] - mean).max() < 2 * SY)
    mask = refdata.read_step(folder, "keep", "inputs")["mask"]
    keep = refdata.read_step(out, "keep", "outputs")["keep"]
    report("keep", np.array_equal(keep, np.where(mask < 0, 0.0, 1.0).astype(np.float32)))
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        sys.exit(check(sys.argv[2], sys.argv[3]))
