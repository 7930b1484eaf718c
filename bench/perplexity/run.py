#!/usr/bin/python3
"""kiln-run --perplexity at Llama-3.2-1B shape against PyTorch on the same tokens.

    bench/perplexity/run.py [--work DIR] [--sequences 2] [--tokens 80] [--threads 1]
                            [--quick] [--in-process] [--build-dir build]

1. makes the whole model with kiln_torch (preset llama-3.2-1b: hidden 2048, 16 layers,
   32/8 heads, MLP 8192, vocabulary 128256, tied embeddings; random weights, w8a16),
   cached as WORK/1b-w8a16.pt with its config (build_model.py);
2. converts it: kiln-convert --mode prefill+decode --seq-len 64 --cache-len 256
   (cached as WORK/1b-w8a16.circle);
3. writes seeded random token sequences (WORK/tokens.txt);
4. runs, each under /usr/bin/time -v (peak RSS, wall time):
     kiln-run WORK/1b-w8a16.circle --perplexity tokens.txt --model-config ...
       --quantized-kernels=float --gemm aten --num-threads T   (the export alone)
     torch_ppl.py WORK/1b-w8a16.pt tokens.txt ...   (PyTorch running the .pt in Python,
       the same prefill + static-cache decode steps, the baseline)
   and, with --in-process, kiln-run --torch (both in one process, token-by-token diff);
5. prints one table: evaluation tokens/s, wall, peak RSS, each as kiln/torch ratios,
   and both mean losses.
--quick: kiln_torch 'small' instead (4 layers, vocabulary 1024), seconds end to end.
Not part of CI.  See README.md next to this file.
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def timed(cmd, out_path):
    """Runs cmd under /usr/bin/time -v; returns (stdout text, peak RSS bytes, wall s)."""
    log("$ " + " ".join(cmd))
    t0 = time.time()
    with open(out_path, "w") as out, open(out_path + ".time", "w") as err:
        rc = subprocess.call(["/usr/bin/time", "-v"] + cmd, stdout=out, stderr=err)
    wall = time.time() - t0
    text = open(out_path).read()
    timing = open(out_path + ".time").read()
    if rc != 0:
        sys.exit(f"failed ({rc}): {' '.join(cmd)}\n{text}\n{timing[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", timing).group(1)) * 1024
    return text, rss, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="/tmp/kiln-perplexity-bench")
    parser.add_argument("--sequences", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=80, help="tokens per sequence")
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--cache-len", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1,
                        help="ATen / torch threads for both (default 1)")
    parser.add_argument("--gemm", default="aten", choices=["aten", "onednn"])
    parser.add_argument("--quantized-kernels", default="float", choices=["float", "integer"])
    parser.add_argument("--in-process", action="store_true",
                        help="also kiln-run --torch (per-token comparison in one process)")
    parser.add_argument("--quick", action="store_true", help="the 'small' preset")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    args = parser.parse_args()

    preset = "small" if args.quick else "llama-3.2-1b"
    name = ("small" if args.quick else "1b") + "-w8a16"
    os.makedirs(args.work, exist_ok=True)
    pt = os.path.join(args.work, name + ".pt")
    config = os.path.join(args.work, name + ".config.json")
    circle = os.path.join(args.work, f"{name}-s{args.seq_len}-c{args.cache_len}.circle")
    kiln_run = os.path.join(args.build_dir, "bin", "kiln-run")
    kiln_convert = os.path.join(args.build_dir, "bin", "kiln-convert")

    if not (os.path.exists(pt) and os.path.exists(config)):
        log(f"building {preset} w8a16 -> {pt}")
        subprocess.check_call(["/usr/bin/python3", os.path.join(HERE, "build_model.py"),
                               "--preset", preset, "--recipe", "w8a16", "-o", pt,
                               "--config-json", config])
    if not os.path.exists(circle):
        log(f"converting -> {circle}")
        subprocess.check_call([kiln_convert, pt, "-o", circle + ".tmp", "--mode",
                               "prefill+decode", "--seq-len", str(args.seq_len), "--cache-len",
                               str(args.cache_len), "--recipe", "w8a16", "--quiet"])
        os.replace(circle + ".tmp", circle)
    vocab = json.load(open(config))["config"]["vocab_size"]
    rng = random.Random(0)
    tokens = os.path.join(args.work, "tokens.txt")
    with open(tokens, "w") as f:
        for _ in range(args.sequences):
            f.write(" ".join(str(rng.randrange(vocab)) for _ in range(args.tokens)) + "\n")

    common = ["--perplexity", tokens, "--model-config", config, "--num-threads",
              str(args.threads), "--gemm", args.gemm,
              "--quantized-kernels=" + args.quantized_kernels]
    ktext, krss, kwall = timed([kiln_run, circle] + common, os.path.join(args.work, "kiln.out"))
    ttext, trss, twall = timed(["/usr/bin/python3", os.path.join(HERE, "torch_ppl.py"), pt, tokens,
                                "--config", config, "--seq-len", str(args.seq_len),
                                "--cache-len", str(args.cache_len), "--threads",
                                str(args.threads)], os.path.join(args.work, "torch.out"))
    torch_result = json.loads(ttext.strip().splitlines()[-1])
    kloss = float(re.search(r"^kiln\s+mean loss ([-0-9.e+]+)", ktext, re.M).group(1))
    m = re.search(r"(\d+) tokens in ([0-9.]+) s: ([0-9.]+) tokens/s; prefill (\d+) calls, "
                  r"([0-9.]+) ms each; decode (\d+) steps, ([0-9.]+) ms each", ktext)
    ktoks, ksec, krate = int(m.group(1)), float(m.group(2)), float(m.group(3))
    kprefill, kdecode = float(m.group(5)), float(m.group(7))
    trate = torch_result["tokens_per_s"]

    print(ktext.rstrip())
    print(f"\nbench/perplexity: {preset} w8a16, {args.sequences} x {args.tokens} tokens "
          f"({ktoks} predicted: prefill {args.seq_len}, then decode with past {args.cache_len}), "
          f"{args.threads} thread(s), kiln-run --gemm {args.gemm} "
          f"--quantized-kernels={args.quantized_kernels}")
    print(f"{'':14} {'mean loss':>12} {'eval s':>9} {'tokens/s':>9} {'wall s':>8} "
          f"{'peak RSS GB':>12}")
    print(f"{'torch (.pt)':14} {torch_result['mean_loss']:12.4f} {torch_result['seconds']:9.1f} "
          f"{trate:9.3f} {twall:8.1f} {trss / 1e9:12.2f}")
    print(f"{'kiln-run':14} {kloss:12.4f} {ksec:9.1f} {krate:9.3f} {kwall:8.1f} "
          f"{krss / 1e9:12.2f}")
    print(f"{'kiln / torch':14} {kloss - torch_result['mean_loss']:+12.4f} "
          f"{ksec / torch_result['seconds']:8.3f}x {krate / trate:8.2f}x {kwall / twall:7.3f}x "
          f"{krss / trss:11.3f}x")
    print(f"kiln-run prefill {kprefill:.0f} ms per call ({args.seq_len} tokens), decode "
          f"{kdecode:.0f} ms per step; .pt {os.path.getsize(pt) / 1e9:.2f} GB, "
          f".circle {os.path.getsize(circle) / 1e9:.2f} GB")
    if args.in_process:
        text, rss, wall = timed([kiln_run, circle, "--torch", pt] + common,
                                os.path.join(args.work, "both.out"))
        print(text.rstrip())
        print(f"kiln-run --torch: wall {wall:.1f} s, peak RSS {rss / 1e9:.2f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
