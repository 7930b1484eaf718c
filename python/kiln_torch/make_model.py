"""Command line: build, quantize and save a Llama layer or model, with reference data.

    python3 -m kiln_torch.make_model --preset tiny --recipe w8a16 --seed 0 \
        --seq-len 16 --cache-len 16 -o tiny.pt --reference tiny.ref/

See docs/kiln_torch.md for the options and the reference format.
"""

import argparse
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .config import PRESETS, get_config
from .contracts import contract_info, contract_steps, tokens_needed
from .flow import calibrate, convert, prepare, random_token_batches, save_torchscript
from .model import (MASK_VALUE, QuantLlamaForCausalLM, build_model, causal_mask,
                    npu_export_options, rope_cos_sin)
from .recipes import RECIPES
from .reference import write_reference

NamedTensors = List[Tuple[str, Tensor]]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 -m kiln_torch.make_model", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    parser.add_argument("--recipe", default="w8a16", choices=sorted(RECIPES))
    parser.add_argument("--per-head", action="store_true",
                        help="one quantization range per head for attention tensors")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--layer", type=int, default=0, help="save decoder layer N (default 0)")
    which.add_argument("--whole-model", action="store_true",
                       help="save the whole causal LM (input_ids -> logits)")
    parser.add_argument("--num-heads", type=int, help="override num_attention_heads")
    parser.add_argument("--num-kv-heads", type=int, help="override num_key_value_heads")
    parser.add_argument("--num-layers", type=int, help="override num_hidden_layers")
    parser.add_argument("--traced", action="store_true", help="save a traced module instead of a scripted one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seq-len", type=_lengths, default=[16],
                        help="prefill length; several (8,16,32): one prefill_<S> step each")
    parser.add_argument("--cache-len", type=int, default=16,
                        help="cache length before the decode (and append) step")
    parser.add_argument("--append-len", type=_lengths, default=[],
                        help="append-prefill lengths: one append_<Q> step each (Q new tokens "
                             "after --cache-len past positions)")
    parser.add_argument("--sliding-window", type=int,
                        help="sliding-window contract: decode and append take a ring buffer "
                             "of W past positions; prefill masks to the window")
    parser.add_argument("--key-layout", choices=["bhsd", "bhds"], default="bhsd",
                        help="keys in the reference's cache inputs and outputs (bhds: transposed)")
    parser.add_argument("--cache-out", choices=["delta", "full"], default="delta",
                        help="decode/append outputs: this call's keys and values, or the "
                             "updated cache")
    parser.add_argument("--calib-batches", type=int, default=4)
    parser.add_argument("--calib-decode-steps", type=int, default=4)
    parser.add_argument("--mask-value", type=float, default=MASK_VALUE)
    parser.add_argument("--no-mask-quant", action="store_true",
                        help="leave the attention mask unquantized (for comparison)")
    parser.add_argument("--no-norm-quant", action="store_true",
                        help="leave the RMSNorm intermediates (x^2, mean, + eps, rsqrt, "
                             "x * rsqrt) unquantized (for comparison)")
    parser.add_argument("--npu-export", action="store_true",
                        help="TICO's npu_export conventions: both --fold-scaling-into-k-proj "
                             "and --negate-sin-half")
    parser.add_argument("--fold-scaling-into-k-proj", action="store_true",
                        help="head_dim^-0.5 multiplied into k_proj's weight; no multiply "
                             "after q @ k^T (the K cache holds scaled keys)")
    parser.add_argument("--negate-sin-half", action="store_true",
                        help="RoPE takes sin with its first half negated (the reference "
                             "sin inputs are written so); no negation in the graph")
    parser.add_argument("-o", "--output", required=True, help="TorchScript file to write")
    parser.add_argument("--reference", help="folder for reference inputs/outputs")
    args = parser.parse_args(argv)
    args.fold_scaling_into_k_proj = args.fold_scaling_into_k_proj or args.npu_export
    args.negate_sin_half = args.negate_sin_half or args.npu_export
    if min(args.seq_len + args.append_len) < 1 or args.cache_len < 1:
        parser.error("--seq-len, --append-len and --cache-len must be at least 1")
    if args.sliding_window is not None and args.sliding_window < 1:
        parser.error("--sliding-window must be at least 1")
    args.seq_lens = args.seq_len
    args.seq_len = args.seq_lens[0]
    # Anything beyond one prefill and one decode step: the contract steps
    # (kiln_torch.contracts), for the scripted unified module.
    args.contract = (len(args.seq_lens) > 1 or bool(args.append_len)
                     or args.sliding_window is not None or args.key_layout != "bhsd"
                     or args.cache_out != "delta")
    if args.contract and args.traced:
        parser.error("--append-len, --sliding-window, --key-layout, --cache-out and several "
                     "--seq-len need the scripted module (not --traced)")
    return args


def _lengths(text: str) -> List[int]:
    try:
        return [int(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of lengths: {text!r}")


def _rope(model: QuantLlamaForCausalLM, positions) -> Tuple[Tensor, Tensor]:
    """cos, sin for positions, sin in the layout the model takes (negate_sin_half)."""
    return rope_cos_sin(model.config, positions, npu_export_options(model)[1])


def _layer_inputs(model: QuantLlamaForCausalLM, input_ids: Tensor, layer: int,
                  mask_value: float) -> Tensor:
    """Hidden states entering decoder layer `layer` for input_ids (a cache-less prefill)."""
    length = input_ids.size(1)
    cos, sin = _rope(model, torch.arange(length))
    mask = causal_mask(length, 0, mask_value)
    hidden = model.model.embed_tokens(input_ids)
    for block in model.model.layers[:layer]:
        hidden, _, _ = block(hidden, mask, (cos, sin))
    return hidden


def _call_layer(module: Any, scripted: bool, inputs: NamedTensors) -> Tuple[Tensor, Tensor, Tensor]:
    """Runs a saved layer (scripted: HF signature; traced: forward/decode) with use_cache."""
    t = [tensor for _, tensor in inputs]
    if scripted:
        past = (t[4], t[5]) if len(t) == 6 else None
        hidden, present, _ = module(t[0], t[1], (t[2], t[3]), past, True, False)
        return hidden, present[0], present[1]
    return module(*t) if len(t) == 4 else module.decode(*t)


def _call_model(module: Any, scripted: bool, inputs: NamedTensors) -> Tuple[Tensor, List[Tensor]]:
    """Runs a saved causal LM; returns (logits, [key.0, value.0, key.1, ...])."""
    t = [tensor for _, tensor in inputs]
    if scripted:
        past = [(t[i], t[i + 1]) for i in range(4, len(t), 2)] if len(t) > 4 else None
        logits, presents, _ = module(t[0], t[1], (t[2], t[3]), past, True, False)
        return logits, [x for kv in presents for x in kv]
    out = module(*t) if len(t) == 4 else module.decode(*t)
    return out[0], list(out[1:])


def make_model(args: argparse.Namespace) -> Dict[str, Any]:
    """Does the work of the CLI; returns the reference index (or {} without --reference)."""
    torch.manual_seed(args.seed)
    config = get_config(args.preset, num_attention_heads=args.num_heads,
                        num_key_value_heads=args.num_kv_heads, num_hidden_layers=args.num_layers)
    if not args.whole_model and not 0 <= args.layer < config.num_hidden_layers:
        raise SystemExit(f"--layer {args.layer} out of range (0..{config.num_hidden_layers - 1})")
    seq_len, cache_len, mask_value = args.seq_len, args.cache_len, args.mask_value
    scripted = not args.traced

    # Seeds: weights from seed, calibration tokens from seed + 1, reference tokens from seed + 2.
    model = build_model(config, args.seed)
    prepare(model, args.recipe, per_head=args.per_head, quantize_mask=not args.no_mask_quant,
            quantize_norm_internals=not args.no_norm_quant,
            fold_scaling_into_k_proj=args.fold_scaling_into_k_proj,
            negate_sin_half=args.negate_sin_half)
    batches = random_token_batches(config, args.calib_batches, 1,
                                   max(args.seq_lens) + args.calib_decode_steps, args.seed + 1)
    with torch.no_grad():
        calibrate(model, batches, args.calib_decode_steps, mask_value)
        convert(model)
        length = max(seq_len, cache_len) + 1
        if args.contract:
            length = max(length, tokens_needed(args.seq_lens, args.append_len, cache_len,
                                               args.sliding_window))
        tokens = random_token_batches(config, 1, 1, length, args.seed + 2)[0]
        cos_p, sin_p = _rope(model, torch.arange(seq_len))
        cos_d, sin_d = _rope(model, [cache_len])
        prefill_common = [("attention_mask", causal_mask(seq_len, 0, mask_value)),
                          ("cos", cos_p), ("sin", sin_p)]
        decode_common = [("attention_mask", causal_mask(1, cache_len, mask_value)),
                         ("cos", cos_d), ("sin", sin_d)]
        if args.contract:
            steps = _contract(model, args, tokens, mask_value)
        elif args.whole_model:
            steps = _whole_model_steps(model, tokens, seq_len, cache_len, mask_value, scripted,
                                       args.output, prefill_common, decode_common)
        else:
            steps = _layer_steps(model, args.layer, tokens, seq_len, cache_len, mask_value, scripted,
                                 args.output, prefill_common, decode_common)

    if not args.reference:
        return {}
    info = {
        "preset": args.preset,
        "recipe": args.recipe,
        "per_head": bool(args.per_head),
        "layer": None if args.whole_model else args.layer,
        "whole_model": bool(args.whole_model),
        "scripted": scripted,
        "config": config.to_dict(),
        "seed": args.seed,
        "seq_len": seq_len,
        "cache_len": cache_len,
        "mask_value": mask_value,
        "quantize_mask": not args.no_mask_quant and args.recipe != "float",
        "quantize_norm_internals": not args.no_norm_quant and args.recipe != "float",
        "fold_scaling_into_k_proj": bool(args.fold_scaling_into_k_proj),
        "negate_sin_half": bool(args.negate_sin_half),
        "torchscript": os.path.relpath(os.path.abspath(args.output), os.path.abspath(args.reference)),
        "torch_version": torch.__version__,
    }
    if args.contract:
        info["contract"] = contract_info(args.seq_lens, args.append_len, cache_len,
                                         args.sliding_window, args.key_layout, args.cache_out)
    return write_reference(args.reference, info, steps)


def _layer_steps(model, layer, tokens, seq_len, cache_len, mask_value, scripted, output,
                 prefill_common, decode_common):
    block = model.model.layers[layer]
    hidden = _layer_inputs(model, tokens, layer, mask_value)
    prefill_in = [("hidden_states", hidden[:, :seq_len].contiguous())] + prefill_common

    def cache_for_decode(module, is_scripted):
        # The decode step continues a prefill of cache_len tokens: the reference prefill
        # itself when cache_len == seq_len.
        if cache_len == seq_len:
            return _call_layer(module, is_scripted, prefill_in)
        cos, sin = _rope(model, torch.arange(cache_len))
        inputs = [("hidden_states", hidden[:, :cache_len].contiguous()),
                  ("attention_mask", causal_mask(cache_len, 0, mask_value)), ("cos", cos), ("sin", sin)]
        return _call_layer(module, is_scripted, inputs)

    def decode_inputs(past):
        return ([("hidden_states", hidden[:, cache_len:cache_len + 1].contiguous())] + decode_common
                + [("past_key", past[1].contiguous()), ("past_value", past[2].contiguous())])

    example_decode = None
    if not scripted:
        # The eager layer has the scripted signature.
        example_decode = [t for _, t in decode_inputs(cache_for_decode(block, True))]
    save_torchscript(block, output, scripted, [t for _, t in prefill_in], example_decode)
    saved = torch.jit.load(output)

    prefill_out = _call_layer(saved, scripted, prefill_in)
    decode_in = decode_inputs(cache_for_decode(saved, scripted))
    decode_out = _call_layer(saved, scripted, decode_in)
    return {
        "prefill": (prefill_in, [("hidden", prefill_out[0]), ("key", prefill_out[1]),
                                 ("value", prefill_out[2])]),
        "decode": (decode_in, [("hidden", decode_out[0]),
                               ("new_key", decode_out[1][:, :, -1:, :]),
                               ("new_value", decode_out[2][:, :, -1:, :])]),
    }


def _contract(model, args, tokens, mask_value):
    """Saves the scripted module and runs kiln_torch.contracts' steps on the saved one."""
    if args.whole_model:
        module, x, x_name, layers, out_name = model, tokens, "input_ids", \
            model.config.num_hidden_layers, "logits"
    else:
        module = model.model.layers[args.layer]
        x = _layer_inputs(model, tokens, args.layer, mask_value)
        x_name, layers, out_name = "hidden_states", 0, "hidden"
    save_torchscript(module, args.output, True)
    saved = torch.jit.load(args.output)

    def call(inputs):
        if args.whole_model:
            return _call_model(saved, True, inputs)
        hidden, key, value = _call_layer(saved, True, inputs)
        return hidden, [key, value]

    return contract_steps(call, x, x_name, layers, out_name, lambda p: _rope(model, p),
                          args.seq_lens, args.append_len, args.cache_len, args.sliding_window,
                          mask_value, args.key_layout, args.cache_out)


def _whole_model_steps(model, tokens, seq_len, cache_len, mask_value, scripted, output,
                       prefill_common, decode_common):
    layers = model.config.num_hidden_layers
    prefill_in = [("input_ids", tokens[:, :seq_len].contiguous())] + prefill_common

    def cache_for_decode(run):
        if cache_len == seq_len:
            return run(prefill_in)[1]
        cos, sin = _rope(model, torch.arange(cache_len))
        inputs = [("input_ids", tokens[:, :cache_len].contiguous()),
                  ("attention_mask", causal_mask(cache_len, 0, mask_value)), ("cos", cos), ("sin", sin)]
        return run(inputs)[1]

    def decode_inputs(past):
        named = [("input_ids", tokens[:, cache_len:cache_len + 1].contiguous())] + decode_common
        for i in range(layers):
            named += [(f"past_key.{i}", past[2 * i].contiguous()),
                      (f"past_value.{i}", past[2 * i + 1].contiguous())]
        return named

    example_decode = None
    if not scripted:
        eager_past = cache_for_decode(lambda inp: _call_model(model, True, inp))
        example_decode = [t for _, t in decode_inputs(eager_past)]
    save_torchscript(model, output, scripted, [t for _, t in prefill_in], example_decode)
    saved = torch.jit.load(output)

    logits, cache = _call_model(saved, scripted, prefill_in)
    prefill_out = [("logits", logits)]
    for i in range(layers):
        prefill_out += [(f"key.{i}", cache[2 * i]), (f"value.{i}", cache[2 * i + 1])]
    decode_in = decode_inputs(cache_for_decode(lambda inp: _call_model(saved, scripted, inp)))
    logits, cache = _call_model(saved, scripted, decode_in)
    decode_out = [("logits", logits)]
    for i in range(layers):
        decode_out += [(f"new_key.{i}", cache[2 * i][:, :, -1:, :]),
                       (f"new_value.{i}", cache[2 * i + 1][:, :, -1:, :])]
    return {"prefill": (prefill_in, prefill_out), "decode": (decode_in, decode_out)}


def main(argv: Optional[Sequence[str]] = None) -> int:
    start = time.time()
    args = parse_args(argv)
    make_model(args)
    kind = "model" if args.whole_model else f"layer {args.layer}"
    print(f"wrote {args.output} ({args.preset} {kind}, {args.recipe}"
          f"{', per-head' if args.per_head else ''}"
          f"{', no mask quant' if args.no_mask_quant else ''}"
          f"{', scaling folded into k_proj' if args.fold_scaling_into_k_proj else ''}"
          f"{', sin half negated' if args.negate_sin_half else ''}"
          f", {'traced' if args.traced else 'scripted'})"
          f"{' and ' + args.reference if args.reference else ''} in {time.time() - start:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
