#!/usr/bin/python3
"""Builds a whole kiln_torch model (random weights, scripted) for bench/perplexity.

    build_model.py --preset llama-3.2-1b --recipe w8a16 -o 1b-w8a16.pt

Like bench/convert_scale's helper: build_model(seed 0), prepare(recipe), one short
calibration batch (ranges only need to exist), convert, save_torchscript.  The
make_model CLI is not used because it reloads the saved file next to the eager
model (twice the .pt in memory) and writes reference data the bench does not need.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "python"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="llama-3.2-1b")
    parser.add_argument("--recipe", default="w8a16")
    parser.add_argument("--num-layers", type=int, help="override num_hidden_layers")
    parser.add_argument("--calib-len", type=int, default=32,
                        help="tokens of the calibration batch (plus 4 decode steps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--config-json", help="also write this JSON (kiln-run --model-config)")
    args = parser.parse_args()

    import torch
    from kiln_torch import (build_model, calibrate, convert, get_config, prepare,
                            random_token_batches, save_torchscript)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    config = get_config(args.preset, num_hidden_layers=args.num_layers)
    t0 = time.time()
    model = build_model(config, args.seed)
    prepare(model, args.recipe)
    batches = random_token_batches(config, 1, 1, args.calib_len + 4, args.seed + 1)
    with torch.no_grad():
        calibrate(model, batches, 4)
        convert(model)
    t1 = time.time()
    tmp = args.output + ".tmp"
    save_torchscript(model, tmp)
    os.replace(tmp, args.output)
    t2 = time.time()
    line = json.dumps({"config": config.to_dict(), "build_s": round(t1 - t0, 1),
                       "save_s": round(t2 - t1, 1)})
    if args.config_json:
        with open(args.config_json, "w") as f:
            f.write(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
