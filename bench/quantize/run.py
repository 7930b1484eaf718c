#!/usr/bin/python3
"""Weight quantization speed (issue 12, item 2): the kiln-fold-fake-quant stage of
kiln-convert with the streaming, parallel, vectorized weight kernel against the
previous element-by-element path, measured in the same run on the same model.

    bench/quantize/run.py [--model PT | --preset P --layers N --recipe R]
                          [--old-bin DIR] [--build-dir DIR] [--work DIR]
                          [--mode prefill+decode] [--repeat K] [--integer-only]

Configurations (each a separate kiln-convert process, the .pt warm in the page cache):
  scalar    the previous path, still in the binary: KILN_FOLD_FAKE_QUANT_SCALAR=1
            (element by element through a std::vector<int64_t>, every function
            folding its own copy of each weight, embedding tables gridded through
            a float copy)
  new       the default: WeightQuantizer (vectorized), blobs written chunk by chunk
            on the MLIR thread pool, one blob per weight for all signatures
  new-1cpu  the same pinned to one CPU (taskset): the kernel without the parallelism
  old-bin   DIR/kiln-convert, a build from before the change (--old-bin), if given
For each: the fold-fake-quant stage time kiln-convert reports, total wall time, peak
RSS; the output files are compared byte for byte with the scalar path's, and the
speedups are printed as ratios against `scalar` (and `old-bin`).

The model: --model PT, or made once with kiln_torch's make_model (cached in WORK):
default the Llama-3.2-1B shape with 2 decoder layers, whole model (tied 128256 x 2048
embedding / lm_head), w4a16: a 1.44 GiB .pt, ~1 min to make.  --preset small is quick.
"""

import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def make_model(args) -> str:
    os.makedirs(args.work, exist_ok=True)
    layers = f"-{args.layers}l" if args.layers else ""
    name = f"{args.preset}{layers}-{args.recipe}.pt"
    path = os.path.join(args.work, name)
    if os.path.exists(path):
        return path
    cmd = [sys.executable, "-m", "kiln_torch.make_model", "--preset", args.preset,
           "--recipe", args.recipe, "--whole-model", "--seed", "0",
           "--seq-len", "8", "--cache-len", "8", "-o", path + ".tmp"]
    if args.layers:
        cmd += ["--num-layers", str(args.layers)]
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    print("making", path, "...", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    os.rename(path + ".tmp", path)
    return path


def convert(binary, model, out, args, env_extra=None, cpus=None):
    cmd = [binary, model, "-o", out, "--mode", args.mode, "--seq-len", "128",
           "--cache-len", "128"]
    if args.integer_only:
        cmd.append("--integer-only")
    if args.format:
        cmd += ["--format", args.format]
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    env = dict(os.environ)
    env.pop("KILN_FOLD_FAKE_QUANT_SCALAR", None)
    env.update(env_extra or {})
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if status != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{output}")
    stages = dict(re.findall(r"(\S+)=([0-9.]+)s", output.split("time:")[-1]))
    return dict(wall=wall, fold=float(stages.get("fold-fake-quant", "nan")),
                cpu=usage.ru_utime + usage.ru_stime, rss=usage.ru_maxrss * 1024,
                stages=stages)


def same_bytes(a, b) -> bool:
    return subprocess.run(["cmp", "-s", a, b]).returncode == 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="a kiln_torch/TorchScript .pt to convert")
    p.add_argument("--preset", default="llama-3.2-1b")
    p.add_argument("--layers", type=int, default=2, help="decoder layers (0: the preset's)")
    p.add_argument("--recipe", default="w4a16")
    p.add_argument("--mode", default="prefill+decode")
    p.add_argument("--format", default="", help="circle (default) or tflite")
    p.add_argument("--integer-only", action="store_true")
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    p.add_argument("--old-bin", help="directory with a kiln-convert from before the change")
    p.add_argument("--work", default="/tmp/kiln-bench-quantize")
    p.add_argument("--repeat", type=int, default=1, help="runs per configuration (best kept)")
    p.add_argument("--no-1cpu", action="store_true", help="skip the one-CPU run")
    args = p.parse_args()

    model = args.model or make_model(args)
    os.makedirs(args.work, exist_ok=True)
    binary = os.path.join(args.build_dir, "bin", "kiln-convert")
    ext = ".tflite" if args.format == "tflite" else ".circle"
    configs = [("scalar", binary, {"KILN_FOLD_FAKE_QUANT_SCALAR": "1"}, None),
               ("new", binary, {}, None)]
    if not args.no_1cpu:
        configs.append(("new-1cpu", binary, {}, "0"))
    if args.old_bin:
        configs.append(("old-bin", os.path.join(args.old_bin, "kiln-convert"), {}, None))

    # Warm the page cache so that no configuration pays for the first read.
    with open(model, "rb") as f:
        while f.read(1 << 24):
            pass
    results = {}
    for rep in range(args.repeat):
        for name, exe, env, cpus in configs:
            out = os.path.join(args.work, f"out-{name}{ext}")
            r = convert(exe, model, out, args, env, cpus)
            r["out"] = out
            if name not in results or r["fold"] < results[name]["fold"]:
                results[name] = r
            print(f"  {name:9s} run {rep + 1}: fold-fake-quant {r['fold']:.3f}s, "
                  f"wall {r['wall']:.2f}s", file=sys.stderr, flush=True)

    size = os.path.getsize(model)
    print(f"model {model} ({size / 2**30:.2f} GiB), kiln-convert --mode {args.mode}"
          f"{' --integer-only' if args.integer_only else ''}, nproc {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'config':10s} {'fold-fake-quant':>16s} {'total wall':>11s} {'CPU':>8s} "
          f"{'peak RSS':>10s}  output")
    base = results["scalar"]
    for name, *_ in configs:
        r = results[name]
        same = "identical to scalar" if same_bytes(r["out"], base["out"]) else "DIFFERS from scalar"
        print(f"{name:10s} {r['fold']:15.3f}s {r['wall']:10.2f}s {r['cpu']:7.1f}s "
              f"{r['rss'] / 2**30:8.2f}GiB  {same}")
    new = results["new"]
    print(f"speedup fold-fake-quant, scalar / new: {base['fold'] / new['fold']:.1f}x"
          f"  (total wall {base['wall'] / new['wall']:.2f}x,"
          f" peak RSS {new['rss'] / base['rss']:.2f} of scalar)")
    if "new-1cpu" in results:
        one = results["new-1cpu"]
        print(f"speedup fold-fake-quant, scalar / new-1cpu: {base['fold'] / one['fold']:.1f}x"
              f"  (threads: new-1cpu / new = {one['fold'] / new['fold']:.2f}x)")
    if "old-bin" in results:
        old = results["old-bin"]
        print(f"speedup fold-fake-quant, old-bin / new: {old['fold'] / new['fold']:.1f}x"
              f"  (total wall {old['wall'] / new['wall']:.2f}x,"
              f" peak RSS {new['rss'] / old['rss']:.2f} of old-bin)")
    # old-bin may differ through other changes since that build; the two paths of
    # this binary must not.
    if any(not same_bytes(results[n]["out"], base["out"]) for n in ("new", "new-1cpu")
           if n in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
