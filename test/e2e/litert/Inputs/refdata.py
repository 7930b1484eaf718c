# Reference folders in kiln_torch's format (docs/kiln_torch.md): index.json
# plus one raw little-endian C-contiguous .bin per tensor.
import json
import os

import numpy as np

DTYPES = {"float32": np.float32, "int32": np.int32, "int64": np.int64,
          "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_}


def write_step(folder, step, inputs, outputs=None, extra=None):
    """Adds `step` with named input (and expected output) arrays to folder;
    `extra` adds fields to input entries (e.g. scale and zero_point)."""
    os.makedirs(folder, exist_ok=True)
    index_path = os.path.join(folder, "index.json")
    index = json.load(open(index_path)) if os.path.exists(index_path) else {}

    def entries(arrays, extra=None):
        out = []
        for name, array in arrays.items():
            dtype = next(k for k, v in DTYPES.items() if np.dtype(v) == array.dtype)
            file = "%s.%s.bin" % (step, name)
            np.ascontiguousarray(array).tofile(os.path.join(folder, file))
            entry = {"name": name, "file": file, "shape": list(array.shape), "dtype": dtype}
            entry.update((extra or {}).get(name, {}))
            out.append(entry)
        return out

    index[step] = {"inputs": entries(inputs, extra), "outputs": entries(outputs or {})}
    json.dump(index, open(index_path, "w"), indent=1)


def read_step(folder, step, kind):
    """The arrays of `kind` ("inputs" or "outputs") of `step`, by name."""
    index = json.load(open(os.path.join(folder, "index.json")))
    result = {}
    for e in index[step][kind]:
        data = np.fromfile(os.path.join(folder, e["file"]), dtype=DTYPES[e["dtype"]])
        result[e["name"]] = data.reshape(e["shape"])
    return result
