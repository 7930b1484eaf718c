# Inputs and numpy expectations for float-ops.mlir, written independently of
# Kiln: the weights follow the formulas the test's constants were made with.
#   float_ops.py make DIR          reference inputs (seeded)
#   float_ops.py check DIR OUTDIR  compares LiteRT's outputs with numpy
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from refdata import read_step, write_step  # noqa: E402

W = np.array([[((i * 8 + j) % 7 - 3) * 0.125 for j in range(8)] for i in range(6)], np.float32)
B = np.array([(i - 2) * 0.25 for i in range(6)], np.float32)
TABLE = np.array([[((i * 4 + j) % 5 - 2) * 0.5 for j in range(4)] for i in range(5)], np.float32)


def make(folder):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 4, 8)).astype(np.float32)
    mask = np.triu(np.full((4, 4), -100.0, np.float32), 1)[None]
    write_step(folder, "prefill", {"hidden_states": x, "mask": mask})
    write_step(folder, "decode", {"hidden_states": rng.standard_normal((1, 8)).astype(np.float32)})
    a = (rng.standard_normal((2, 3, 4)) * 3).astype(np.float32)
    b = rng.uniform(0.5, 2.0, (2, 3, 4)).astype(np.float32)
    write_step(folder, "ops", {"a": a, "b": b,
                               # int64 as kiln_torch writes indices; the
                               # model takes int32 and the runner converts.
                               "ids": np.array([4, 0, 2], np.int64),
                               "cond": rng.integers(0, 2, (2, 3, 4)).astype(np.bool_)})


def softmax(v, beta):
    e = np.exp(beta * (v - v.max(-1, keepdims=True)))
    return e / e.sum(-1, keepdims=True)


def expected(folder):
    p = read_step(folder, "prefill", "inputs")
    x = p["hidden_states"].astype(np.float64)
    proj = x @ W.T.astype(np.float64) + B
    scores = proj @ np.swapaxes(proj, -1, -2) + p["mask"]
    yield "prefill", {"probs": softmax(scores, 0.5).reshape(1, 16), "proj": proj}
    d = read_step(folder, "decode", "inputs")["hidden_states"].astype(np.float64)
    y = d @ W.T.astype(np.float64) + B
    yield "decode", {"act": y / (1 + np.exp(-y))}
    o = read_step(folder, "ops", "inputs")
    a, b = o["a"].astype(np.float64), o["b"].astype(np.float64)
    yield "ops", {
        "sub": a - b, "div": a / b, "neg": -a, "rsqrt": 1 / np.sqrt(b), "pow": b ** 2,
        "mean": a.mean(-1, keepdims=True), "transpose": a.transpose(2, 0, 1),
        "strided": a[0:2, 1:3, 0:4:2], "slice": a[1:2, 0:3, 1:3],
        "concat": np.concatenate([a, b], 1), "gather": TABLE[o["ids"]],
        "select": np.where(o["cond"], a, b),
        "broadcast": np.broadcast_to(np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1), (2, 3, 4)),
        "cast": np.trunc(a).astype(np.int32), "logistic": 1 / (1 + np.exp(-a)),
    }


def check(folder, out_folder):
    failures = 0
    for step, outputs in expected(folder):
        got = read_step(out_folder, step, "outputs")
        for name, want in outputs.items():
            have = got[name]
            if have.shape != want.shape:
                print(step, name, "SHAPE", have.shape, "expected", want.shape)
                failures += 1
                continue
            if have.dtype.kind == "i":
                ok = np.array_equal(have, want)
            else:
                # Float: 1e-4 relative (XNNPack's exp/logistic approximations
                # stay far below), with a small absolute floor near zero.
                ok = np.allclose(have, want, rtol=1e-4, atol=1e-6)
            err = np.abs(have.astype(np.float64) - want).max()
            print(step, name, "ok" if ok else "MISMATCH", "(max abs error %.3g)" % err)
            failures += 0 if ok else 1
    print("all outputs match" if failures == 0 else "%d outputs differ" % failures)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        check(sys.argv[2], sys.argv[3])
