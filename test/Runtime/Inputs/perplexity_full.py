"""Mean next-token loss of a kiln_torch whole model from one causal forward per
sequence (no cache, no padding): an independent check of kiln-run
--perplexity's prefill + static-cache decode steps.

    perplexity_full.py MODEL.pt REFERENCE_DIR TOKENS CACHE_LEN
"""
import json
import sys

import torch
from kiln_torch import LlamaConfig
from kiln_torch.model import causal_mask, rope_cos_sin

model_path, ref, tokens_path, cache_len = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(f"{ref}/index.json") as f:
    info = json.load(f)["model"]
config = LlamaConfig(**info["config"])
model = torch.jit.load(model_path)
losses = []
with torch.no_grad():
    for line in open(tokens_path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        tok = [int(t) for t in line.replace(",", " ").replace("[", " ").replace("]", " ").split()]
        tok = tok[:cache_len + 2]   # as kiln-run: the last decode position is cache_len
        n = len(tok) - 1
        cos, sin = rope_cos_sin(config, torch.arange(n), info["negate_sin_half"])
        logits, _, _ = model(torch.tensor([tok[:n]]), causal_mask(n, 0, info["mask_value"]),
                             (cos, sin), None, False, False)
        lp = torch.log_softmax(logits[0].double(), -1)
        losses += (-lp[torch.arange(n), torch.tensor(tok[1:])]).tolist()
print(f"full forward: {len(losses)} tokens, mean loss {sum(losses) / len(losses):.6f}")
