"""Inputs and check for integer-rms-norm.mlir (numpy, independent of Kiln).

make DIR       x [1, 64, 256]: rows 0..59 Gaussian with RMS 2 * 2^(-k/3) (from
               the top of x's grid, 8, down to below sqrt(eps)), row 60 zeros,
               row 61 one spike of 8 among values of 1e-3, row 62 uniform over
               the whole grid, row 63 one step of x's grid per element.
check DIR OUT  y within 3 steps of the output grid of numpy's RMSNorm of the
               quantized input (float64, rounded and clipped to that grid);
               prints the largest error in steps and the row where it is.
"""
import sys

import numpy as np

import refdata

ROWS, N = 64, 256
SX, SY, EPS = 8.0 / 32767, 10.0 / 32767, 1e-6


def weight():
    w = np.geomspace(0.05, 2.0, N).astype(np.float32)
    return w[np.random.default_rng(3).permutation(N)].astype(np.float64)


def q(x, s):
    return np.clip(np.round(x / s), -32768, 32767) * s


def make(folder):
    rng = np.random.default_rng(17)
    x = np.zeros((1, ROWS, N), np.float32)
    for k in range(60):
        x[0, k] = rng.standard_normal(N) * 2.0 * 2.0 ** (-k / 3)
    x[0, 61] = 1e-3
    x[0, 61, 7] = 8.0
    x[0, 62] = rng.uniform(-8, 8, N)
    x[0, 63] = SX * rng.choice([-1, 1], N)
    refdata.write_step(folder, "norm", {"x": x})


def check(folder, out):
    x = q(refdata.read_step(folder, "norm", "inputs")["x"].astype(np.float64), SX)
    y = refdata.read_step(out, "norm", "outputs")["y"].astype(np.float64)
    ref = q(weight() * x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS), SY)
    steps = np.abs(y - ref) / SY
    worst = np.unravel_index(np.argmax(steps), steps.shape)
    print("max error: %d steps (row %d), mean %.3f steps" % (round(steps.max()), worst[1], steps.mean()))
    good = steps.max() <= 3.5
    print("rms norm", "ok" if good else "WRONG")
    return 0 if good else 1


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        sys.exit(check(sys.argv[2], sys.argv[3]))
