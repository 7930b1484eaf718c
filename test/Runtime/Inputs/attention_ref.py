"""Writes a kiln_torch-format reference folder for compare-bench.mlir: step
'attention' with q, k, v and softmax(q k^T) v computed in float64 numpy."""
import json
import os
import sys

import numpy as np

folder = sys.argv[1]
os.makedirs(folder, exist_ok=True)
rng = np.random.default_rng(7)
q, k, v = (rng.standard_normal((1, 2, 4, 8)).astype(np.float32) for _ in range(3))
s = q.astype(np.float64) @ np.swapaxes(k, -1, -2).astype(np.float64)
p = np.exp(s - s.max(-1, keepdims=True))
p /= p.sum(-1, keepdims=True)
context = (p @ v.astype(np.float64)).astype(np.float32)


def entry(name, array):
    file = f"attention.{name}.bin"
    array.astype("<f4").tofile(os.path.join(folder, file))
    return {"name": name, "file": file, "shape": list(array.shape), "dtype": "float32"}


index = {"model": {"producer": "attention_ref.py"},
         "attention": {"inputs": [entry("q", q), entry("k", k), entry("v", v)],
                       "outputs": [entry("context", context)]}}
with open(os.path.join(folder, "index.json"), "w") as f:
    json.dump(index, f, indent=2)
