# Inputs and checks for int4.mlir: each *_i4 signature must give the same
# bits as its *_i8 twin (the same weights stored as INT8), and both stay
# near numpy's float product of the dequantized weights.
#   int4.py make DIR | check DIR OUTDIR
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from refdata import read_step, write_step  # noqa: E402

W = np.array([[-7, -2, 3, -8, -2, 3, -7, -2], [6, -4, 1, 6, -4, 1, 6, -4],
              [4, -6, -1, 4, -6, -1, 4, -6], [2, 7, -3, 2, 7, -3, 2, 7]]) * \
    np.array([0.02, 0.03, 0.04, 0.05])[:, None]
V = np.array([[-8, 7, 3, -5, 1], [6, -4, 0, 5, -1], [2, -6, 7, -8, 4]]) * \
    np.array([0.02, 0.03, 0.04])[:, None]
STEPS = ["a8", "a16", "f32", "dq"]


def make(folder):
    rng = np.random.default_rng(5)
    x8 = rng.integers(-128, 128, (2, 8)).astype(np.int8)
    x16 = rng.integers(-3000, 3000, (2, 5)).astype(np.int16)
    xf = rng.uniform(-3, 3, (2, 8)).astype(np.float32)
    xd = rng.uniform(-3, 3, (3, 5)).astype(np.float32)
    for twin in ("i4", "i8"):
        write_step(folder, "a8_" + twin, {"x": x8})
        write_step(folder, "a16_" + twin, {"x": x16})
        write_step(folder, "f32_" + twin, {"x": xf})
        write_step(folder, "dq_" + twin, {"x": xd})


def expected(folder, step):
    """Float value of the output and its tolerance (one output step for the
    integer kernels; the hybrid kernel quantizes its input to int8)."""
    x = read_step(folder, step + "_i8", "inputs")["x"].astype(np.float64)
    if step == "a8":
        bias = np.array([100, -133, 150, -160]) * np.array([0.001, 0.0015, 0.002, 0.0025])
        return ((x + 3) * 0.05 @ W.T + bias) / 0.1 + 2, 1.0 + 1e-6
    if step == "a16":
        bias = np.array([5000, -6667, 7500]) * np.array([2.0e-5, 3.0e-5, 4.0e-5])
        return (x * 0.001 @ V.T + bias) / 0.002, 1.0 + 1e-6
    if step == "f32":
        return x @ W.T, 0.05
    return x + V, 1e-6


def check(folder, out_folder):
    failures = 0
    for step in STEPS:
        a = read_step(out_folder, step + "_i4", "outputs")["y"]
        b = read_step(out_folder, step + "_i8", "outputs")["y"]
        want, tolerance = expected(folder, step)
        near = np.abs(b.astype(np.float64) - want).max() <= tolerance
        same = a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
        print(step, "y", "identical" if same else "DIFFER",
              "(int8 twin %s numpy's product)" % ("near" if near else "FAR FROM"))
        failures += 0 if same and near else 1
    print("all int4 outputs match their int8 twins" if failures == 0
          else "%d outputs differ" % failures)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    {"make": lambda: make(sys.argv[2]), "check": lambda: check(sys.argv[2], sys.argv[3])}[sys.argv[1]]()
