"""kiln_torch: quantized Llama models in PyTorch, saved as TorchScript for Kiln."""

from .config import PRESETS, LlamaConfig, get_config
from .contracts import contract_steps, ring_slots, window_mask
from .export import KilnError, export, find_kiln_convert
from .flow import (TracedCausalLM, TracedLayer, calibrate, convert, example_trace_inputs,
                   load_hf_state_dict,
                   prefill_then_decode, prepare, random_token_batches, save_torchscript)
from .model import (MASK_VALUE, QuantEmbedding, QuantLinear, QuantLlamaAttention,
                    QuantLlamaDecoderLayer, QuantLlamaForCausalLM, QuantLlamaMLP,
                    QuantLlamaModel, QuantRMSNorm, QuantRotary, build_model, causal_mask,
                    init_weights, negate_sin_first_half, npu_export_options, rope_cos_sin,
                    set_npu_export)
from .quant import FakeQuant, iter_quantizers, qparams_from_range
from .recipes import RECIPES, QSpec, Recipe, get_recipe

__all__ = [
    "PRESETS", "LlamaConfig", "get_config",
    "contract_steps", "ring_slots", "window_mask",
    "KilnError", "export", "find_kiln_convert",
    "TracedCausalLM", "TracedLayer", "calibrate", "convert", "example_trace_inputs",
    "load_hf_state_dict",
    "prefill_then_decode", "prepare", "random_token_batches", "save_torchscript",
    "MASK_VALUE", "QuantEmbedding", "QuantLinear", "QuantLlamaAttention",
    "QuantLlamaDecoderLayer", "QuantLlamaForCausalLM", "QuantLlamaMLP", "QuantLlamaModel",
    "QuantRMSNorm", "QuantRotary", "build_model", "causal_mask", "init_weights",
    "negate_sin_first_half", "npu_export_options", "rope_cos_sin", "set_npu_export",
    "FakeQuant", "iter_quantizers", "qparams_from_range",
    "RECIPES", "QSpec", "Recipe", "get_recipe",
]
