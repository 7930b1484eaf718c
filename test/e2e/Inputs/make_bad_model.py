"""Writes a kiln_torch tiny w8a16 layer with one broken quantizer, for kiln-convert's negative tests.

usage: make_bad_model.py OUT.pt {negative-scale|zero-point|range}
"""
import sys

import torch

from kiln_torch import build_model, calibrate, convert, get_config, prepare, random_token_batches, save_torchscript

out, kind = sys.argv[1], sys.argv[2]
config = get_config("tiny")
model = build_model(config, seed=0)
prepare(model, "w8a16")
calibrate(model, random_token_batches(config, num_batches=1, batch_size=1, length=8, seed=1), decode_steps=1)
convert(model)
layer = model.model.layers[0]
quant = layer.self_attn.q_proj.output_quant
if kind == "negative-scale":
    quant.scale = -0.5
elif kind == "zero-point":
    quant.zero_point = 40000
elif kind == "range":
    quant.quant_min, quant.quant_max = -100, 100
else:
    raise SystemExit("unknown kind " + kind)
save_torchscript(layer, out)
