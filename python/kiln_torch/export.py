"""Python API over kiln-convert: export a module (or a saved .pt) in one call.

    summary = kiln_torch.export(model, "model.circle", mode="prefill+decode",
                                seq_lens=[32, 128], cache_len=128)
    summary["signatures"][0]["name"]      # "prefill_32"
    summary["file_bytes"]

Runs the kiln-convert executable (argument `kiln_convert`, else $KILN_CONVERT,
else `kiln-convert` on PATH) and returns its --summary-json as a dict. A failed
conversion raises KilnError with Kiln's diagnostics.
"""

import json
import os
import shutil
import subprocess
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from torch import nn


class KilnError(RuntimeError):
    """A kiln-convert run failed: `diagnostics` holds its error output (one
    `error:` line per problem, with the model's source location), `returncode`
    its exit status and `command` the command line."""

    def __init__(self, message: str, diagnostics: str, returncode: int, command: List[str]):
        super().__init__(message)
        self.diagnostics = diagnostics
        self.returncode = returncode
        self.command = command


def find_kiln_convert(kiln_convert: Optional[str] = None) -> str:
    path = kiln_convert or os.environ.get("KILN_CONVERT") or shutil.which("kiln-convert")
    if not path or not os.path.exists(path):
        raise FileNotFoundError("kiln-convert not found: pass kiln_convert=, set KILN_CONVERT "
                                "or put it on PATH")
    return path


def _lengths(flag: str, values: Optional[Union[int, Sequence[int]]]) -> List[str]:
    if values is None:
        return []
    if isinstance(values, int):
        values = [values]
    values = list(values)
    if not values:
        return []
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{flag} takes integers, not {v!r}")
    return [f"--{flag}", ",".join(str(v) for v in values)]


def export(module_or_path: Union[str, os.PathLike, nn.Module, torch.jit.ScriptModule],
           output: Union[str, os.PathLike], mode: str = "prefill",
           seq_lens: Optional[Union[int, Sequence[int]]] = None,
           cache_len: Optional[int] = None,
           append_lens: Optional[Union[int, Sequence[int]]] = None,
           sliding_window: Optional[int] = None, format: str = "circle",
           variant: Optional[str] = None, cache_out: Optional[str] = None,
           key_layout: Optional[str] = None, batch: Optional[int] = None,
           recipe: Optional[str] = None, integer_only: bool = False,
           extra_args: Sequence[str] = (), kiln_convert: Optional[str] = None,
           timeout: Optional[float] = None) -> Dict[str, Any]:
    """Converts a TorchScript file, a ScriptModule or an nn.Module (scripted with
    torch.jit.script first) to `output` (.circle or .tflite) with kiln-convert.

    The keyword arguments map to kiln-convert's flags (--mode, --seq-len,
    --cache-len, --append-len, --sliding-window, --format, --variant,
    --cache-out, --key-layout, --batch, --recipe, --integer-only); extra_args
    are passed as they are. Returns the summary: signatures (name, variant,
    inputs and outputs with shape and dtype, float_ops), file_bytes,
    constant_bytes, contract (the kiln.contract metadata) and seconds per stage.
    Raises KilnError when kiln-convert fails (nothing is written then).
    """
    tool = find_kiln_convert(kiln_convert)
    with tempfile.TemporaryDirectory(prefix="kiln-export-") as tmp:
        if isinstance(module_or_path, (str, os.PathLike)):
            path = os.fspath(module_or_path)
        else:
            path = os.path.join(tmp, "module.pt")
            scripted = module_or_path
            if not isinstance(scripted, torch.jit.ScriptModule):
                scripted = torch.jit.script(module_or_path.eval())
            scripted.save(path)
        summary_path = os.path.join(tmp, "summary.json")
        command = [tool, path, "-o", os.fspath(output), "--mode", mode, "--format", format,
                   "--quiet", "--summary-json", summary_path]
        command += _lengths("seq-len", seq_lens) + _lengths("append-len", append_lens)
        for flag, value in (("cache-len", cache_len), ("sliding-window", sliding_window),
                            ("batch", batch)):
            if value is not None:
                command += [f"--{flag}", str(int(value))]
        for flag, value in (("variant", variant), ("cache-out", cache_out),
                            ("key-layout", key_layout), ("recipe", recipe)):
            if value is not None:
                command += [f"--{flag}", str(value)]
        if integer_only:
            command.append("--integer-only")
        command += list(extra_args)
        run = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if run.returncode != 0:
            diagnostics = run.stderr.strip()
            errors = [line for line in diagnostics.splitlines() if "error:" in line]
            first = errors[0] if errors else (diagnostics.splitlines() or ["(no output)"])[0]
            raise KilnError(f"kiln-convert failed (exit {run.returncode}): {first}",
                            diagnostics, run.returncode, command)
        with open(summary_path) as f:
            return json.load(f)
