"""The quantization flow: prepare -> calibrate -> convert -> save_torchscript."""

from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from .config import LlamaConfig
from .model import (MASK_VALUE, QuantLlamaAttention, QuantLlamaDecoderLayer,
                    QuantLlamaForCausalLM, QuantRMSNorm, causal_mask, npu_export_options, rope_cos_sin,
                    set_npu_export)
from .quant import FakeQuant, iter_quantizers
from .recipes import Recipe, get_recipe


def prepare(model: nn.Module, recipe: Union[str, Recipe], per_head: bool = False,
            quantize_mask: bool = True, quantize_norm_internals: bool = True,
            npu_export: bool = False,
            fold_scaling_into_k_proj: Optional[bool] = None,
            negate_sin_half: Optional[bool] = None) -> nn.Module:
    """Configures every quantizer for `recipe` and puts the enabled ones in observing mode.

    Weights and embedding/lm_head tables are per output channel (axis 0), norm weights
    and activations per tensor.  With per_head, the quantizers of attention tensors
    laid out [B, heads, ...] (q/k after RoPE, K/V into and out of the cache, logits,
    logits + mask, softmax, probs @ V) keep one range per head: axis 1.

    quantize_mask: the attention mask's quantizer (each attention's mask_quant, an
    activation quantizer per tensor) follows the recipe; False leaves it disabled.
    quantize_norm_internals: the quantizers inside each RMSNorm (x^2, its mean, + eps,
    rsqrt, x * rsqrt) follow the recipe, so the chain is integer where the target has
    no RMSNorm kernel (TFLite); False leaves them disabled (Circle fuses the chain
    into RMS_NORM either way).
    npu_export: TICO's npu_export conventions, both of fold_scaling_into_k_proj
    (head_dim^-0.5 multiplied into k_proj's weight, no multiply after q @ k^T) and
    negate_sin_half (RoPE takes sin with its first half negated, no negation);
    either flag given explicitly overrides npu_export.  See set_npu_export().
    Works in place and returns the model.
    """
    recipe = get_recipe(recipe)
    fold = npu_export if fold_scaling_into_k_proj is None else fold_scaling_into_k_proj
    negate = npu_export if negate_sin_half is None else negate_sin_half
    set_npu_export(model, fold, negate)
    mask_quantizers = {id(m.mask_quant) for m in model.modules()
                       if isinstance(m, QuantLlamaAttention)}
    norm_internals = {id(q) for m in model.modules() if isinstance(m, QuantRMSNorm)
                      for q in (m.square_quant, m.variance_quant, m.shifted_quant,
                                m.rsqrt_quant, m.normed_quant)}
    for _, quantizer in iter_quantizers(model):
        spec = recipe.spec_for(quantizer.role)
        if id(quantizer) in mask_quantizers and not quantize_mask:
            quantizer.configure(None)
        elif id(quantizer) in norm_internals and not quantize_norm_internals:
            quantizer.configure(None)
        elif quantizer.role in ("weight", "embedding"):
            quantizer.configure(spec, per_channel=True, axis=0)
        elif per_head and quantizer.head_axis:
            quantizer.configure(spec, per_channel=True, axis=1)
        else:
            quantizer.configure(spec)
    model.eval()
    return model


def random_token_batches(config: LlamaConfig, num_batches: int = 4, batch_size: int = 1,
                         length: int = 20, seed: int = 0) -> List[Tensor]:
    """Deterministic uniformly random token ids: num_batches tensors [batch_size, length]."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(0, config.vocab_size, (batch_size, length), generator=gen)
            for _ in range(num_batches)]


def prefill_then_decode(model: nn.Module, input_ids: Tensor, prefill_len: int,
                        mask_value: float = MASK_VALUE) -> Tuple[Tensor, List[Tuple[Tensor, Tensor]]]:
    """Runs a causal LM (QuantLlamaForCausalLM or its scripted form) on input_ids [B, T].

    Prefills the first prefill_len tokens, then decodes the rest one token at a time
    with the cache.  The sin table follows the model's negate_sin_half.  Returns
    (logits [B, T, vocab], final per-layer cache).
    """
    config = _config_of(model)
    negate = npu_export_options(model)[1]
    total = input_ids.size(1)
    cos, sin = rope_cos_sin(config, torch.arange(prefill_len), negate)
    logits, cache, _ = model(input_ids[:, :prefill_len], causal_mask(prefill_len, 0, mask_value),
                             (cos, sin), None, True, False)
    all_logits = [logits]
    for pos in range(prefill_len, total):
        cos, sin = rope_cos_sin(config, [pos], negate)
        logits, cache, _ = model(input_ids[:, pos:pos + 1], causal_mask(1, pos, mask_value),
                                 (cos, sin), cache, True, False)
        all_logits.append(logits)
    return torch.cat(all_logits, dim=1), cache


@torch.no_grad()
def calibrate(model: QuantLlamaForCausalLM, batches: Iterable[Tensor], decode_steps: int = 4,
              mask_value: float = MASK_VALUE) -> nn.Module:
    """Feeds token batches ([B, T] int64) through a prepared model so observers see them.

    Each batch is prefilled over its first T - decode_steps tokens, then its last
    decode_steps tokens are decoded one by one, so the cache and decode-path observers
    see decode values.  Observers record float values (nothing is fake-quantized
    during calibration).  Returns the model.
    """
    model.eval()
    for batch in batches:
        prefill_len = batch.size(1) - decode_steps
        if prefill_len < 1:
            raise ValueError(f"batch length {batch.size(1)} leaves no prefill for {decode_steps} decode steps")
        prefill_then_decode(model, batch, prefill_len, mask_value)
    return model


@torch.no_grad()
def convert(model: nn.Module) -> nn.Module:
    """Freezes scales and zero points; afterwards forward is deterministic fake quant.

    Weight quantizers take their ranges from the current weights (not from
    calibration), so load weights before convert().  Works in place.
    """
    for module in model.modules():
        weight_quant = getattr(module, "weight_quant", None)
        if isinstance(weight_quant, FakeQuant) and weight_quant.enabled:
            weight_quant.reset()
            weight_quant.observe(module.weight)
    for name, quantizer in iter_quantizers(model):
        quantizer.freeze(name)
    return model.eval()


# ---------------------------------------------------------------------------
# TorchScript
# ---------------------------------------------------------------------------

class TracedLayer(nn.Module):
    """Plain-tensor entry points of a decoder layer, for tracing (use_cache=True).

    forward(hidden_states, attention_mask, cos, sin) -> (hidden, key, value): prefill.
    decode(hidden_states, attention_mask, cos, sin, past_key, past_value)
        -> (hidden, key, value): one step; key/value are the full updated cache.
    """

    def __init__(self, layer: QuantLlamaDecoderLayer):
        super().__init__()
        self.layer = layer

    def forward(self, hidden_states: Tensor, attention_mask: Tensor, cos: Tensor,
                sin: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        hidden, present, _ = self.layer(hidden_states, attention_mask, (cos, sin), None, True, False)
        assert present is not None
        return hidden, present[0], present[1]

    def decode(self, hidden_states: Tensor, attention_mask: Tensor, cos: Tensor, sin: Tensor,
               past_key: Tensor, past_value: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        hidden, present, _ = self.layer(hidden_states, attention_mask, (cos, sin),
                                        (past_key, past_value), True, False)
        assert present is not None
        return hidden, present[0], present[1]


class TracedCausalLM(nn.Module):
    """Plain-tensor entry points of a whole model, for tracing (use_cache=True).

    forward(input_ids, attention_mask, cos, sin)
        -> (logits, key.0, value.0, key.1, value.1, ...): prefill.
    decode(input_ids, attention_mask, cos, sin, past_key.0, past_value.0, ...)
        -> (logits, key.0, value.0, ...): one step; key/value are full updated caches.
    """

    def __init__(self, model: QuantLlamaForCausalLM):
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, attention_mask: Tensor, cos: Tensor,
                sin: Tensor) -> Tuple[Tensor, ...]:
        logits, presents, _ = self.model(input_ids, attention_mask, (cos, sin), None, True, False)
        return _flatten(logits, presents)

    def decode(self, input_ids: Tensor, attention_mask: Tensor, cos: Tensor, sin: Tensor,
               *past: Tensor) -> Tuple[Tensor, ...]:
        cache = [(past[i], past[i + 1]) for i in range(0, len(past), 2)]
        logits, presents, _ = self.model(input_ids, attention_mask, (cos, sin), cache, True, False)
        return _flatten(logits, presents)


def _flatten(first: Tensor, presents: Optional[List[Tuple[Tensor, Tensor]]]) -> Tuple[Tensor, ...]:
    assert presents is not None
    flat = [first]
    for key, value in presents:
        flat += [key, value]
    return tuple(flat)


def save_torchscript(module: nn.Module, path: str, scripted: bool = True,
                     example_inputs: Optional[Sequence[Tensor]] = None,
                     decode_example_inputs: Optional[Sequence[Tensor]] = None) -> torch.jit.ScriptModule:
    """Saves a decoder layer or causal LM as TorchScript and returns the saved module.

    scripted=True: torch.jit.script(module); forward keeps the HF-like signature and its
    `past_key_value is None`, `use_cache` and `output_attentions` branches.
    scripted=False: traces TracedLayer / TracedCausalLM around the module: `forward` on
    example_inputs (the prefill inputs as plain tensors) and `decode` on
    decode_example_inputs.  Without example inputs, random ones are made (8 tokens of
    prefill, then a decode step on that cache), and both methods are traced.
    No freezing either way.
    """
    module.eval()
    if scripted:
        saved = torch.jit.script(module)
    else:
        if example_inputs is None:
            example_inputs, decode_example_inputs = example_trace_inputs(module)
        if isinstance(module, QuantLlamaDecoderLayer):
            wrapper: nn.Module = TracedLayer(module)
        elif isinstance(module, QuantLlamaForCausalLM):
            wrapper = TracedCausalLM(module)
        else:
            raise TypeError(f"cannot trace a {type(module).__name__}")
        methods: Dict[str, Tuple[Tensor, ...]] = {"forward": tuple(example_inputs)}
        if decode_example_inputs is not None:
            methods["decode"] = tuple(decode_example_inputs)
        with torch.no_grad():
            saved = torch.jit.trace_module(wrapper, methods, check_trace=False)
    saved.save(path)
    return saved


@torch.no_grad()
def example_trace_inputs(module: nn.Module, seq_len: int = 8,
                         seed: int = 0) -> Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]:
    """Random (prefill, decode) plain-tensor inputs for tracing a layer or causal LM."""
    gen = torch.Generator().manual_seed(seed)
    if isinstance(module, QuantLlamaDecoderLayer):
        hidden_size = module.input_layernorm.weight.numel()
        head_dim = module.self_attn.head_dim
        # Only the shapes matter for tracing: use plain RoPE with the default theta.
        config = LlamaConfig(hidden_size=hidden_size, head_dim=head_dim,
                             num_attention_heads=1, num_key_value_heads=1)
        tokens = torch.randn(1, seq_len + 1, hidden_size, generator=gen)
    elif isinstance(module, QuantLlamaForCausalLM):
        config = _config_of(module)
        tokens = torch.randint(0, config.vocab_size, (1, seq_len + 1), generator=gen)
    else:
        raise TypeError(f"cannot trace a {type(module).__name__}")
    cos, sin = rope_cos_sin(config, torch.arange(seq_len + 1), npu_export_options(module)[1])
    prefill = (tokens[:, :seq_len], causal_mask(seq_len), cos[:, :seq_len], sin[:, :seq_len])
    _, cache, _ = module(prefill[0], prefill[1], (prefill[2], prefill[3]), None, True, False)
    if isinstance(cache, tuple):
        cache = [cache]
    past = tuple(t for kv in cache for t in kv)
    decode = (tokens[:, seq_len:], causal_mask(1, seq_len), cos[:, seq_len:], sin[:, seq_len:]) + past
    return prefill, decode


def _config_of(model: nn.Module) -> LlamaConfig:
    config = getattr(model, "config", None)
    if not isinstance(config, LlamaConfig):
        raise TypeError("expected a QuantLlamaForCausalLM (a module with a LlamaConfig .config)")
    return config


def load_hf_state_dict(model: QuantLlamaForCausalLM, state_dict: Dict[str, Tensor]) -> None:
    """Loads a Hugging Face LlamaForCausalLM state dict strictly.

    Two differences between HF checkpoints and state_dict() are bridged: old
    checkpoints carry `...rotary_emb.inv_freq` buffers (dropped: RoPE tables are
    inputs here), and tied checkpoints may omit `lm_head.weight` (taken from
    `model.embed_tokens.weight`).  Any other missing or unexpected key is an error.
    On a model prepared with fold_scaling_into_k_proj, the loaded (HF, unscaled)
    k_proj weights are folded again.
    Load weights before convert(): weight quantizers take their ranges at convert().
    """
    state = {k: v for k, v in state_dict.items() if not k.endswith("rotary_emb.inv_freq")}
    if _config_of(model).tie_word_embeddings and "lm_head.weight" not in state:
        if "model.embed_tokens.weight" in state:
            state["lm_head.weight"] = state["model.embed_tokens.weight"]
    folded = [m for m in model.modules() if isinstance(m, QuantLlamaAttention) and m.scaling_folded]
    for attn in folded:
        attn.scaling_folded = False     # the checkpoint's weights are unscaled
    model.load_state_dict(state, strict=True)
    for attn in folded:
        attn.set_scaling_folded(True)
