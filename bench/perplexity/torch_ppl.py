#!/usr/bin/python3
"""PyTorch's side of bench/perplexity: the .pt run on the same tokens in Python.

    torch_ppl.py MODEL.pt TOKENS --config CONFIG.json --seq-len S --cache-len C [--full]

Default: the steps kiln-run --perplexity takes (prefill of min(S, n-1) tokens
padded to S, then decode one token at a time with a static past of C slots, the
hidden slots masked), so the loss is comparable token for token.  --full: one
causal forward over each whole sequence instead (no cache, dynamic shapes), a
check that the static-cache steps compute the model's own loss.
Prints one JSON line: mean loss, perplexity, tokens, seconds, tokens/s.
"""

import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "python"))


def read_tokens(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            rows.append([int(t) for t in line.replace(",", " ").replace("[", " ")
                         .replace("]", " ").split()])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("tokens")
    parser.add_argument("--config", required=True,
                        help="JSON with the kiln_torch config (build_model.py's output line, "
                             "or a reference index.json)")
    parser.add_argument("--seq-len", type=int, required=True)
    parser.add_argument("--cache-len", type=int, required=True)
    parser.add_argument("--mask-value", type=float, default=-100.0)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    args = parser.parse_args()

    import torch
    from kiln_torch import LlamaConfig
    from kiln_torch.model import causal_mask, rope_cos_sin

    with open(args.config) as f:
        root = json.load(f)
    cfg = root.get("model", root).get("config", root)
    config = LlamaConfig(**cfg)
    torch.set_num_threads(args.threads or max(1, os.cpu_count() or 1))
    t0 = time.time()
    model = torch.jit.load(args.model)
    load_s = time.time() - t0
    seqs = read_tokens(args.tokens)
    S, C, mv = args.seq_len, args.cache_len, args.mask_value
    losses = []

    def score(logits, targets):
        lp = torch.log_softmax(logits.double(), -1)
        losses.extend((-lp[torch.arange(len(targets)), torch.tensor(targets)]).tolist())

    t0 = time.time()
    with torch.no_grad():
        for tok in seqs:
            tok = tok[:C + 2]
            n = len(tok)
            if args.full:
                ids = torch.tensor([tok[:n - 1]])
                cos, sin = rope_cos_sin(config, torch.arange(n - 1))
                logits, _, _ = model(ids, causal_mask(n - 1, 0, mv), (cos, sin), None, False, False)
                score(logits[0], tok[1:])
                continue
            P = min(S, n - 1)
            if P < n - 1:
                P = min(P, C)
            ids = torch.zeros(1, S, dtype=torch.long)
            ids[0, :P] = torch.tensor(tok[:P])
            cos, sin = rope_cos_sin(config, torch.arange(S))
            logits, presents, _ = model(ids, causal_mask(S, 0, mv), (cos, sin), None, True, False)
            score(logits[0, :P], tok[1:P + 1])
            past = []
            for k, v in presents:
                shape = list(v.shape)
                shape[2] = C
                pk, pv = torch.zeros(shape), torch.zeros(shape)
                keep = min(P, C)
                pk[:, :, :keep] = k[:, :, :keep]
                pv[:, :, :keep] = v[:, :, :keep]
                past.append((pk, pv))
            for p in range(P, n - 1):
                mask = torch.zeros(1, 1, 1, C + 1)
                mask[..., p:C] = mv
                cos, sin = rope_cos_sin(config, [p])
                logits, presents, _ = model(torch.tensor([[tok[p]]]), mask, (cos, sin), past,
                                            True, False)
                score(logits[0, -1:], [tok[p + 1]])
                if p < C:
                    for (pk, pv), (k, v) in zip(past, presents):
                        pk[:, :, p] = k[:, :, -1]
                        pv[:, :, p] = v[:, :, -1]
    seconds = time.time() - t0
    mean = sum(losses) / len(losses)
    print(json.dumps({"mean_loss": mean, "perplexity": math.exp(mean), "tokens": len(losses),
                      "seconds": seconds, "tokens_per_s": len(losses) / seconds,
                      "load_s": load_s, "mode": "full" if args.full else "steps"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
