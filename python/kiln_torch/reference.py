"""Reference tensors on disk: raw little-endian .bin files plus an index.json."""

import json
import os
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

INDEX_FILE = "index.json"

_DTYPE_NAMES = {torch.float32: "float32", torch.int32: "int32", torch.int64: "int64"}
_NUMPY_DTYPES = {"float32": "<f4", "int32": "<i4", "int64": "<i8"}

NamedTensors = Sequence[Tuple[str, Tensor]]


def write_tensor(folder: str, file: str, name: str, tensor: Tensor) -> Dict[str, Any]:
    """Writes one tensor C-contiguous and little-endian; returns its index entry."""
    if tensor.dtype not in _DTYPE_NAMES:
        raise TypeError(f"{name}: unsupported dtype {tensor.dtype}")
    dtype = _DTYPE_NAMES[tensor.dtype]
    array = np.ascontiguousarray(tensor.detach().cpu().numpy()).astype(_NUMPY_DTYPES[dtype])
    with open(os.path.join(folder, file), "wb") as f:
        f.write(array.tobytes(order="C"))
    return {"name": name, "file": file, "shape": list(tensor.shape), "dtype": dtype}


def write_reference(folder: str, model_info: Dict[str, Any],
                    steps: Dict[str, Tuple[NamedTensors, NamedTensors]]) -> Dict[str, Any]:
    """Writes `<step>.<name>.bin` for every tensor and index.json; returns the index.

    Old .bin files and index.json in folder are removed first.

    steps maps a step name ("prefill", "decode") to (inputs, outputs), each a list of
    (name, tensor) in call/return order.
    """
    os.makedirs(folder, exist_ok=True)
    for stale in os.listdir(folder):
        if stale.endswith(".bin") or stale == INDEX_FILE:
            os.remove(os.path.join(folder, stale))
    index: Dict[str, Any] = {"model": model_info}
    for step, (inputs, outputs) in steps.items():
        index[step] = {
            "inputs": [write_tensor(folder, f"{step}.{n}.bin", n, t) for n, t in inputs],
            "outputs": [write_tensor(folder, f"{step}.{n}.bin", n, t) for n, t in outputs],
        }
    with open(os.path.join(folder, INDEX_FILE), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    return index


def read_tensor(folder: str, entry: Dict[str, Any]) -> Tensor:
    array = np.fromfile(os.path.join(folder, entry["file"]), dtype=_NUMPY_DTYPES[entry["dtype"]])
    return torch.from_numpy(array.astype(array.dtype.newbyteorder("="))).reshape(entry["shape"])


def read_reference(folder: str) -> Dict[str, Any]:
    """Loads index.json and every tensor: {"model": ..., step: {"inputs": [(name, tensor)], ...}}."""
    with open(os.path.join(folder, INDEX_FILE)) as f:
        index = json.load(f)
    result: Dict[str, Any] = {"model": index["model"]}
    for step, parts in index.items():
        if step == "model":
            continue
        result[step] = {kind: [(e["name"], read_tensor(folder, e)) for e in entries]
                        for kind, entries in parts.items()}
    return result


def tensors_by_name(entries: List[Tuple[str, Tensor]]) -> Dict[str, Tensor]:
    return dict(entries)
