"""Compares kiln-run's outputs with a kiln_torch reference in quantization steps.

    %python quant_steps.py MODEL.pt REF_DIR OUT_DIR STEP [--max-steps 1]

Each output is matched with the quantizer that produces it in the saved
model (layer: mlp_residual_quant / k_cache_out_quant / v_cache_out_quant;
whole model: lm_head.output_quant and each layer's cache quantizers), and its
max abs error is divided by that quantizer's scale (the largest scale for a
per-head quantizer). Prints one line per output; exits 1 when an output is
off by more than --max-steps steps.
"""
import argparse
import sys

import torch

from kiln_torch.reference import read_reference


def scale_of(quant):
    if bool(quant.per_channel):
        return float(quant.scales.max())
    return float(quant.scale)


def quantizer_for(model, name, whole):
    base, _, index = name.partition(".")
    base = base.replace("new_", "")
    if not whole:
        layer = model
    elif base == "logits":
        return model.lm_head.output_quant
    else:
        layer = getattr(model.model.layers, index)
    if base == "hidden":
        return layer.mlp_residual_quant
    attn = layer.self_attn
    return attn.k_cache_out_quant if base == "key" else attn.v_cache_out_quant


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("ref")
    p.add_argument("out")
    p.add_argument("step")
    p.add_argument("--max-steps", type=float, default=1.0)
    a = p.parse_args()
    model = torch.jit.load(a.model)
    ref = read_reference(a.ref)
    whole = bool(ref["model"]["whole_model"])
    expected = ref[a.step]["outputs"]
    actual = dict(read_reference(a.out)[a.step]["outputs"])
    bad = False
    for name, want in expected:
        got = actual[name]
        if got.shape != want.shape:  # the full cache for new_key / new_value
            got = got.narrow(2, got.size(2) - want.size(2), want.size(2))
        err = (got - want).abs()
        scale = scale_of(quantizer_for(model, name, whole))
        steps = err.max().item() / scale
        print(f"{a.step} {name}: max_abs {err.max().item():.3e} = {steps:.3f} steps of {scale:.3e}, "
              f"{int((err > 0).sum())}/{err.numel()} elements differ")
        bad |= steps > a.max_steps * 1.01  # the dequantized grid is float32
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
