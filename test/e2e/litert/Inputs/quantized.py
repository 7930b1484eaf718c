# Inputs and expectations for quantized.mlir: numpy emulates the integer
# arithmetic of each quantized kernel from the model's integer weights and
# scales (copied from the test, not computed by Kiln).
#   quantized.py make DIR | check DIR OUTDIR
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from refdata import read_step, write_step  # noqa: E402

QW = np.array([[((c * 8 + k) * 5 + 3 * c) % 15 - 7 for k in range(8)] for c in range(4)], np.int64)
SW = np.array([0.02, 0.03, 0.04, 0.05])
BIAS8 = np.array([100, -133, 150, -160], np.int64)
BIAS16 = np.array([5000, -6667, 7500, -8000], np.int64)


def rnd(v):
    """TFLite rounds half away from zero."""
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def quantize(x, scale, zp, bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(rnd(x / scale) + zp, lo, hi).astype(np.int64)


def fc(qx, sx, zx, bias, sy, zy, bits):
    acc = (qx - zx) @ QW.T + bias                    # exact int32/int64 sums
    return quantize(acc * sx * SW, sy, 0, bits) + zy  # requantize per channel


def make(folder):
    rng = np.random.default_rng(11)
    x8 = rng.uniform(-3, 3, (2, 8)).astype(np.float32)
    x16 = rng.uniform(-3, 3, (2, 8)).astype(np.float32)
    write_step(folder, "q8", {"x": x8})
    write_step(folder, "q16", {"x": x16})
    write_step(folder, "q8io", {"x": quantize(x8, 0.05, -3, 8).astype(np.int8)})
    write_step(folder, "q16io", {"x": quantize(x16, 0.001, 0, 16).astype(np.int16)})
    # The same input as float, quantized by the runner from scale/zero_point.
    write_step(folder, "q16io_float", {"x": x16}, extra={"x": {"scale": 0.001, "zero_point": 0}})


def expected(folder):
    """(step, name, expected, tolerance, unit): float outputs are compared
    within `tolerance` of the expected value; `unit` is their quantization
    step. A fixed-point requantization may round the other way at a tie of
    the exact product, so outputs may differ by one step."""
    x8 = read_step(folder, "q8", "inputs")["x"].astype(np.float64)
    q8 = fc(quantize(x8, 0.05, -3, 8), 0.05, -3, BIAS8, 0.1, 2, 8)
    yield "q8", "fc", (q8 - 2) * 0.1, 0.1 + 1e-6, 0.1
    x16 = read_step(folder, "q16", "inputs")["x"].astype(np.float64)
    qx16 = quantize(x16, 0.001, 0, 16)
    yield "q16", "fc", fc(qx16, 0.001, 0, BIAS16, 0.002, 0, 16) * 0.002, 0.002 + 1e-6, 0.002
    yield "q16", "add", quantize(2 * qx16 * 0.001, 0.0025, 0, 16) * 0.0025, 0.0025 + 1e-6, 0.0025
    # int16 SOFTMAX evaluates exp and 1/x with lookup tables: TFLite's kernel
    # tests accept about 1/256 of the output range; 2e-3 is well inside that.
    e = np.exp(qx16 * 0.001 - (qx16 * 0.001).max(-1, keepdims=True))
    yield "q16", "softmax", e / e.sum(-1, keepdims=True), 2e-3, 2.0 ** -15
    qi8 = read_step(folder, "q8io", "inputs")["x"].astype(np.int64)
    yield "q8io", "y", fc(qi8, 0.05, -3, BIAS8, 0.1, 2, 8), 1, 1
    qi16 = read_step(folder, "q16io", "inputs")["x"].astype(np.int64)
    yield "q16io", "y", fc(qi16, 0.001, 0, BIAS16, 0.002, 0, 16), 1, 1
    yield "q16io_float", "y", fc(qi16, 0.001, 0, BIAS16, 0.002, 0, 16), 1, 1


def check(folder, out_folder):
    failures = 0
    for step, name, want, tolerance, unit in expected(folder):
        have = read_step(out_folder, step, "outputs")[name].astype(np.float64)
        err = np.abs(have - want)
        ok = have.shape == want.shape and err.max() <= tolerance
        print(step, name, "ok" if ok else "MISMATCH",
              "(max abs error %.3g = %.2f steps; %d of %d elements off by a step)"
              % (err.max(), err.max() / unit, int((err > unit / 2).sum()), err.size))
        failures += 0 if ok else 1
    print("all outputs match" if failures == 0 else "%d outputs differ" % failures)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        check(sys.argv[2], sys.argv[3])
