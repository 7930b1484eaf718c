"""Checks kiln-run against expectations computed independently with torch/numpy.

    %python opcheck.py TEST.mlir WORKDIR [--kiln-run kiln-run]

TEST.mlir annotates functions with Python lines:

    // PY@add: a = randn(2, 3); b = randn(3)
    // PY@add: inputs = [a, b]; expected = [a + b]

Per function the code must set `inputs` (tensors, in argument-leaf order) and
`expected` (tensors, in result order). Optional: `tol` (max abs error, default
0: bit-exact), `args` (dict for --arg NAME=VALUE), `expect_error` (a substring
of kiln-run's stderr; the run must fail). Helpers: torch, np, F
(torch.nn.functional), randn(*shape), randint(low, high, shape), fq(x, scale,
zp, qmin, qmax) (= torch.fake_quantize_per_tensor_affine).

Every function gets a step of a reference folder (inputs and expected
outputs); kiln-run runs all plain functions of the file in one call with
--inputs-from and --output-dir, then every output file is compared here,
independently of kiln-run's own metrics. Prints PASS @f / FAIL @f.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

NP = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32,
      "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_}
NAMES = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64",
         torch.int32: "int32", torch.int16: "int16", torch.int8: "int8", torch.uint8: "uint8",
         torch.bool: "bool"}


def parse_cases(path):
    cases = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*//\s*PY@([\w.$-]+):\s?(.*)$", line)
            if m:
                cases.setdefault(m.group(1), []).append(m.group(2))
    return cases


def write(folder, file, t):
    t = t.contiguous()
    with open(os.path.join(folder, file), "wb") as f:
        f.write(t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes())
    return {"name": file[:-4].split(".", 1)[1], "file": file, "shape": list(t.shape),
            "dtype": NAMES[t.dtype]}


def read(folder, entry):
    a = np.fromfile(os.path.join(folder, entry["file"]), dtype=NP[entry["dtype"]])
    return torch.from_numpy(a.copy()).reshape(entry["shape"])


def evaluate(name, lines):
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    ns = {
        "torch": torch, "np": np, "F": F,
        "randn": lambda *shape: torch.randn(*shape, generator=gen),
        "randint": lambda low, high, shape: torch.randint(low, high, shape, generator=gen),
        "fq": torch.fake_quantize_per_tensor_affine,
        "tol": 0.0, "args": {}, "expect_error": None,
    }
    exec("\n".join(lines), ns)
    return ns


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("test")
    parser.add_argument("workdir")
    parser.add_argument("--kiln-run", default="kiln-run")
    parser.add_argument("--extra", action="append", default=[],
                        help="extra kiln-run argument (e.g. --extra=--gemm=onednn)")
    parser.add_argument("--min-tol", type=float, default=0.0,
                        help="raise every case's tolerance to at least this")
    opts = parser.parse_args()

    cases = parse_cases(opts.test)
    os.makedirs(opts.workdir, exist_ok=True)
    ref = os.path.join(opts.workdir, "ref")
    os.makedirs(ref, exist_ok=True)
    for stale in os.listdir(ref):
        os.remove(os.path.join(ref, stale))
    index = {"model": {"test": opts.test}}
    specs = {}
    for name, lines in cases.items():
        ns = evaluate(name, lines)
        specs[name] = ns
        inputs = [write(ref, f"{name}.in{i}.bin", t) for i, t in enumerate(ns["inputs"])]
        outputs = [write(ref, f"{name}.out{i}.bin", t) for i, t in enumerate(ns.get("expected", []))]
        index[name] = {"inputs": inputs, "outputs": outputs}
    with open(os.path.join(ref, "index.json"), "w") as f:
        json.dump(index, f, indent=1)

    # One kiln-run per distinct --arg set; error cases run alone.
    groups = {}
    for name, ns in specs.items():
        if ns["expect_error"] is not None:
            continue
        key = tuple(sorted(ns["args"].items()))
        groups.setdefault(key, []).append(name)
    failures = 0
    produced = {}
    for gi, (key, names) in enumerate(groups.items()):
        out = os.path.join(opts.workdir, f"out{gi}")
        cmd = [opts.kiln_run, opts.test, "--function", ",".join(names), "--inputs-from", ref,
               "--output-dir", out] + opts.extra
        for k, v in key:
            cmd += ["--arg", f"{k}={v}"]
        r = run(cmd)
        if r.returncode != 0:
            print(f"FAIL kiln-run exited with {r.returncode} for {', '.join(names)}:\n{r.stderr}")
            failures += 1
            continue
        with open(os.path.join(out, "index.json")) as f:
            oindex = json.load(f)
        for name in names:
            produced[name] = [read(out, e) for e in oindex[name]["outputs"]]

    for name, ns in specs.items():
        if ns["expect_error"] is not None:
            cmd = [opts.kiln_run, opts.test, "--function", name, "--inputs-from", ref]
            for k, v in ns["args"].items():
                cmd += ["--arg", f"{k}={v}"]
            r = run(cmd)
            if r.returncode != 0 and ns["expect_error"] in r.stderr and "Stack dump" not in r.stderr:
                print(f"PASS @{name} (error: {ns['expect_error']})")
            else:
                print(f"FAIL @{name}: expected an error containing {ns['expect_error']!r}, "
                      f"got exit {r.returncode}:\n{r.stderr}")
                failures += 1
            continue
        if name not in produced:
            continue
        got, want = produced[name], ns["expected"]
        problems = []
        if len(got) != len(want):
            problems.append(f"{len(got)} outputs, expected {len(want)}")
        worst = 0.0
        for i, (g, w) in enumerate(zip(got, want)):
            if tuple(g.shape) != tuple(w.shape):
                problems.append(f"output {i}: shape {list(g.shape)}, expected {list(w.shape)}")
                continue
            if g.dtype != w.dtype:
                problems.append(f"output {i}: dtype {g.dtype}, expected {w.dtype}")
                continue
            gd, wd = g.double(), w.double()
            if not torch.equal(torch.isnan(gd), torch.isnan(wd)):
                problems.append(f"output {i}: NaN positions differ")
                continue
            err = (gd - wd).abs().nan_to_num(0.0).max().item() if g.numel() else 0.0
            worst = max(worst, err)
            tol = max(ns["tol"], opts.min_tol)
            if err > tol:
                problems.append(f"output {i}: max abs error {err:.3e} > {tol:.1e}")
        if problems:
            print(f"FAIL @{name}: " + "; ".join(problems))
            failures += 1
        else:
            print(f"PASS @{name} (max abs error {worst:.1e})")
    print(f"{len(specs)} cases, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
