"""Inputs and check for masked-softmax.mlir (numpy, independent of Kiln).

make DIR   scores [1, 8, 2048] (uniform in [-4, 4]) and an additive causal-like
           mask: row i keeps the first 1 + 292 * i keys (row 0 keeps one key,
           so 2,047 are masked), the rest get -100.
check DIR OUT  masked keys must be exactly 0; kept keys must match numpy's
           softmax over the kept keys of the quantized scores within 4 steps
           of 2^-15; exits 1 otherwise.
"""
import sys

import numpy as np

import refdata

KEYS, ROWS = 2048, 8
S_SCORES, S_MASK, S_SUM, S_P = 0.001, 100.0 / 32767, 0.004, 2.0 ** -15


def kept(i):
    return 1 + 292 * i


def quantize(x, s):
    return np.clip(np.round(x / s), -32768, 32767) * s


def make(folder):
    rng = np.random.default_rng(11)
    scores = rng.uniform(-4, 4, size=(1, ROWS, KEYS)).astype(np.float32)
    mask = np.full((1, ROWS, KEYS), -100.0, np.float32)
    for i in range(ROWS):
        mask[0, i, :kept(i)] = 0
    refdata.write_step(folder, "masked", {"scores": scores, "mask": mask})


def check(folder, out):
    inputs = refdata.read_step(folder, "masked", "inputs")
    probs = refdata.read_step(out, "masked", "outputs")["probs"].astype(np.float64)
    x = quantize(quantize(inputs["scores"].astype(np.float64), S_SCORES), S_SUM)
    masked = inputs["mask"] < 0
    nonzero = int(np.count_nonzero(probs[masked]))
    print("masked keys: %d, nonzero: %d" % (masked.sum(), nonzero))
    leaked = np.where(masked, probs, 0).sum(-1).max()
    print("largest leaked mass in a row: %.4f" % leaked)
    worst = 0.0
    for i in range(ROWS):
        k = kept(i)
        e = np.exp(x[0, i, :k] - x[0, i, :k].max())
        ref = e / e.sum()
        worst = max(worst, np.abs(probs[0, i, :k] - ref).max() / S_P)
    print("max error over kept keys: %.2f steps" % worst)
    ok = nonzero == 0 and worst <= 4
    print("masked softmax ok" if ok else "masked softmax WRONG")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        sys.exit(check(sys.argv[2], sys.argv[3]))
