"""Runs the segments of `kiln-convert --split layers` one after another.

usage: split-chain.py SPLIT_DIR REF_DIR OUT_DIR [--runner litert|kiln-run] [--steps prefill,decode]

SPLIT_DIR holds the segments and manifest.json; REF_DIR is a kiln_torch
reference folder (its step inputs are the model's inputs). For each step
(signature), the segments run in the manifest's order: each segment's inputs
are the model's inputs (by name) and the outputs of the segments before it
(by name, `<producer>.out<k>`); the model's outputs end up in
OUT_DIR/<step>.<name>.bin with an OUT_DIR/index.json, the format compare.py
reads. With --runner litert each segment runs in LiteRT (litert/run.mjs):
values that cross segments are passed in the segment's own dtype (int16 for
16-bit activations). With --runner kiln-run each segment file is read back
with `kiln-translate --circle-to-mlir` and evaluated by kiln-run (quantized
values pass as their float values on the grid). Tools come from PATH.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        sys.stderr.write("split-chain: failed: %s\n%s%s" % (" ".join(cmd), res.stdout, res.stderr))
        sys.exit(1)
    return res.stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument("split")
    p.add_argument("ref")
    p.add_argument("out")
    p.add_argument("--runner", choices=["litert", "kiln-run"], default="litert")
    p.add_argument("--steps", default="prefill,decode")
    args = p.parse_args()
    manifest = json.load(open(os.path.join(args.split, "manifest.json")))
    ref = json.load(open(os.path.join(args.ref, "index.json")))
    segments = {s["name"]: s for s in manifest["segments"]}
    os.makedirs(args.out, exist_ok=True)
    work = os.path.join(args.out, "chain")
    out_index = {}
    for step in args.steps.split(","):
        values = os.path.join(work, step, "values")
        shutil.rmtree(os.path.join(work, step), ignore_errors=True)
        os.makedirs(values)
        # name -> index entry (file relative to `values`)
        available = {}
        for e in ref[step]["inputs"]:
            shutil.copy(os.path.join(args.ref, e["file"]), os.path.join(values, e["file"]))
            available[e["name"]] = dict(e)
        model_outputs = []
        for name in manifest["order"]:
            seg = segments[name]
            sig = seg["signatures"].get(step)
            if sig is None:
                continue
            for t in sig["inputs"]:
                if t["name"] not in available:
                    sys.stderr.write("split-chain: %s@%s needs '%s', which nothing before it gives\n"
                                     % (name, step, t["name"]))
                    return 1
            seg_out = os.path.join(work, step, name)
            model = os.path.join(args.split, seg["file"])
            if args.runner == "litert":
                with open(os.path.join(values, "index.json"), "w") as f:
                    json.dump({step: {"inputs": list(available.values()), "outputs": []}}, f)
                run(["node", os.path.join(HERE, "litert", "run.mjs"), model, "--signature", step,
                     "--inputs", values, "--outputs", seg_out])
            else:
                mlir = os.path.join(work, name + ".mlir")
                if not os.path.exists(mlir):
                    run(["kiln-translate", "--circle-to-mlir", model, "-o", mlir])
                cmd = ["kiln-run", mlir + "@" + step, "--output-dir", seg_out]
                for t in sig["inputs"]:
                    cmd += ["--input", "%s=%s" % (t["name"], os.path.join(values, available[t["name"]]["file"]))]
                run(cmd)
            produced = json.load(open(os.path.join(seg_out, "index.json")))[step]["outputs"]
            for e in produced:
                src = os.path.join(seg_out, e["file"])
                shutil.copy(src, os.path.join(values, e["file"]))
                available[e["name"]] = dict(e)
            for t in sig["outputs"]:
                if t.get("model_output"):
                    model_outputs.append(t["name"])
            print("ran %s@%s (%s): %d inputs, %d outputs"
                  % (name, step, args.runner, len(sig["inputs"]), len(sig["outputs"])))
        entries = []
        for name in model_outputs:
            e = available[name]
            shutil.copy(os.path.join(values, e["file"]), os.path.join(args.out, "%s.%s.bin" % (step, name)))
            entries.append({"name": name, "file": "%s.%s.bin" % (step, name), "shape": e["shape"],
                            "dtype": e["dtype"]})
        out_index[step] = {"inputs": ref[step]["inputs"], "outputs": entries}
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump(out_index, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
