# Per-row uint8 tables (embedding, lm_head) in the TFLite flavor's integer
# forms, against numpy's emulation of the model (PyTorch fake quant in
# float32, written here independently of Kiln):
#   per_row_tables.py mlir             kiln IR of the test (seeded tables)
#   per_row_tables.py make DIR         reference inputs
#   per_row_tables.py check DIR OUTDIR
# The embedding output must be PyTorch's integers exactly; lm_head (int8 and
# int16 inputs) within one output step of the exact integer product
# requantized once (TFLite's fixed-point multiplier may round the other way).
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from refdata import read_step, write_step  # noqa: E402

V, D, C = 24, 16, 20          # vocab, hidden, lm_head outputs
rng = np.random.default_rng(21)
TABLE = rng.integers(0, 256, (V, D))
T_SCALE = rng.uniform(0.005, 0.03, V).astype(np.float32)
T_ZP = rng.integers(60, 200, V)
W = rng.integers(0, 256, (C, D))
W[0, :4] = [255, 0, 254, 1]    # extremes next to a zero point of 1
W_SCALE = rng.uniform(0.001, 0.004, C).astype(np.float32)
W_ZP = rng.integers(1, 255, C)
W_ZP[0] = 1
# (activation bits, x scale, x zero point, y scale, y zero point, P scale, P zp)
ACTS = {"a16": (16, 0.0008, 0, 0.0005, 0, 2.0 ** -12, 0),
        "a8": (8, 0.03, -5, 0.05, 3, 0.02, -2)}


def mlir():
    def dense(a):
        return "dense<%s>" % np.array2string(a, separator=", ", threshold=1 << 20,
                                            max_line_width=1 << 20)
    per_row = lambda s, z: ", ".join("%r:%d" % (float(a), b) for a, b in zip(s, z))
    t = "!quant.uniform<u8:f32:0, {%s}>" % per_row(T_SCALE, T_ZP)
    w = "!quant.uniform<u8:f32:0, {%s}>" % per_row(W_SCALE, W_ZP)
    out = ["module {"]
    for name, (bits, sx, zx, sy, zy, p, pz) in ACTS.items():
        x = "!quant.uniform<i%d:f32, %r:%d>" % (bits, sx, zx)
        y = "!quant.uniform<i%d:f32, %r:%d>" % (bits, sy, zy)
        pt = "!quant.uniform<i%d:f32, %r:%d>" % (bits, p, pz)
        out.append(f"""  func.func @{name}(%ids: tensor<1x5xi64> {{kiln.name = "ids"}}, %x: tensor<1x3x{D}xf32> {{kiln.name = "x"}})
      -> (tensor<1x5x{D}xf32> {{kiln.name = "emb"}}, tensor<1x3x{C}xf32> {{kiln.name = "logits"}}) {{
    %t = kiln.constant {dense(TABLE)} : tensor<{V}x{D}xui8> as tensor<{V}x{D}x{t}>
    %e = kiln.embedding %t[%ids] : (tensor<{V}x{D}x{t}>, tensor<1x5xi64>) -> tensor<1x5x{D}x{pt}>
    %ed = kiln.dequantize %e : (tensor<1x5x{D}x{pt}>) -> tensor<1x5x{D}xf32>
    %xq = kiln.quantize %x : (tensor<1x3x{D}xf32>) -> tensor<1x3x{D}x{x}>
    %w = kiln.constant {dense(W)} : tensor<{C}x{D}xui8> as tensor<{C}x{D}x{w}>
    %y = kiln.linear %xq, %w : (tensor<1x3x{D}x{x}>, tensor<{C}x{D}x{w}>) -> tensor<1x3x{C}x{y}>
    %yd = kiln.dequantize %y : (tensor<1x3x{C}x{y}>) -> tensor<1x3x{C}xf32>
    return %ed, %yd : tensor<1x5x{D}xf32>, tensor<1x3x{C}xf32>
  }}""")
    out.append("}")
    print("\n".join(out))


def fq(x, scale, zp, bits):
    """torch.fake_quantize_per_tensor_affine's integers, in float32."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    inv = np.float32(1.0) / np.float32(scale)
    return np.clip(np.rint(x.astype(np.float32) * inv) + zp, lo, hi).astype(np.int64)


def make(folder):
    r = np.random.default_rng(4)
    for name in ACTS:
        write_step(folder, name, {"ids": r.integers(0, V, (1, 5)).astype(np.int64),
                                  "x": r.uniform(-0.9, 0.9, (1, 3, D)).astype(np.float32)})


def check(folder, out_folder):
    failures = 0
    for name, (bits, sx, zx, sy, zy, p, pz) in ACTS.items():
        ins = read_step(folder, name, "inputs")
        outs = read_step(out_folder, name, "outputs")
        rows = ins["ids"][0]
        # The table as the model computes it: per-row fake quant values,
        # then the output's fake quant.
        v = (TABLE[rows] - T_ZP[rows, None]).astype(np.float32) * T_SCALE[rows, None]
        want = fq(v, p, pz, bits)
        have = np.rint(outs["emb"][0].astype(np.float64) / p).astype(np.int64) + pz
        ok = np.array_equal(have, want)
        print(name, "embedding", "exact" if ok else "MISMATCH (%d of %d)" % ((have != want).sum(), want.size))
        failures += not ok
        qx = fq(ins["x"][0], sx, zx, bits) - zx
        acc = qx @ (W - W_ZP[:, None]).T          # exact integer product
        want = np.clip(np.rint(acc * (sx * W_SCALE.astype(np.float64) / sy)) + zy,
                       -(1 << (bits - 1)), (1 << (bits - 1)) - 1)
        have = np.rint(outs["logits"][0].astype(np.float64) / sy) + zy
        err = np.abs(have - want).max()
        print(name, "lm_head", "ok" if err <= 1 else "MISMATCH",
              "(max %d steps, %d of %d off by one)" % (err, (have != want).sum(), want.size))
        failures += err > 1
    print("all outputs match" if failures == 0 else "%d outputs differ" % failures)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    {"mlir": lambda: mlir(), "make": lambda: make(sys.argv[2]),
     "check": lambda: check(sys.argv[2], sys.argv[3])}[sys.argv[1]]()
