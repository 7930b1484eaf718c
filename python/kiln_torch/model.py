"""Llama modules with fake-quantization points, Hugging Face names, and RoPE/mask helpers."""

import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import LlamaConfig
from .quant import FakeQuant

# Additive attention-mask value for masked positions.  Large enough that
# exp(MASK_VALUE) is 0 for the softmax output quantizer (and ~4e-44 in float32), small
# enough that the mask-add quantizer keeps a useful step: with int16 activations a
# range of ~[-105, 5] gives a step of ~0.003.  -inf or finfo.min would make that
# quantizer's range (and so its scale) infinite.
MASK_VALUE = -100.0

KVCache = Tuple[Tensor, Tensor]
LayerOutput = Tuple[Tensor, Optional[Tuple[Tensor, Tensor]], Optional[Tensor]]
ModelOutput = Tuple[Tensor, Optional[List[Tuple[Tensor, Tensor]]], Optional[List[Tensor]]]


# ---------------------------------------------------------------------------
# Reference inputs: rotary tables and attention masks
# ---------------------------------------------------------------------------

def rope_inv_freq(config: LlamaConfig) -> Tensor:
    """Per-pair rotation frequencies (float64, [head_dim/2]), with Llama-3 scaling if set."""
    dim = config.head_dim
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    scaling = config.rope_scaling
    if not scaling:
        return inv_freq
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind != "llama3":
        raise ValueError(f"unsupported rope_scaling type {kind!r}")
    factor = float(scaling["factor"])
    low = float(scaling["low_freq_factor"])
    high = float(scaling["high_freq_factor"])
    old_len = float(scaling["original_max_position_embeddings"])
    wavelen = 2 * math.pi / inv_freq
    # Long wavelengths are slowed down by `factor`, short ones kept, and the band in
    # between interpolated linearly in old_len / wavelen.
    slowed = inv_freq / factor
    smooth = ((old_len / wavelen - low) / (high - low)).clamp(0.0, 1.0)
    blended = (1.0 - smooth) * slowed + smooth * inv_freq
    result = torch.where(wavelen > old_len / low, slowed, blended)
    return torch.where(wavelen < old_len / high, inv_freq, result)


def rope_cos_sin(config: LlamaConfig, positions: Union[Tensor, Sequence[int]],
                 negate_sin_half: bool = False) -> Tuple[Tensor, Tensor]:
    """cos and sin tables (float32, [B, S, head_dim]) for positions [S] or [B, S].

    Computed in float64 and rounded once, so they are reproducible.  Both halves of
    the last axis repeat the same frequencies (the rotate-half layout).  With
    negate_sin_half (TICO's npu_export RoPE convention, see QuantRotary) the first
    half of sin is negated: cat(-sin[..., :D/2], sin[..., D/2:]).
    """
    pos = torch.as_tensor(positions).to(torch.float64)
    if pos.dim() == 1:
        pos = pos.unsqueeze(0)
    freqs = pos.unsqueeze(-1) * rope_inv_freq(config)
    emb = torch.cat((freqs, freqs), dim=-1)
    sin = emb.sin()
    if negate_sin_half:
        sin = negate_sin_first_half(sin)
    return emb.cos().float(), sin.float()


def negate_sin_first_half(sin: Tensor) -> Tensor:
    """cat(-sin[..., :D/2], sin[..., D/2:]): the sin table a negate_sin_half model takes.

    Exact (a sign flip), so negating rope_cos_sin's float32 table gives the same
    values as rope_cos_sin(..., negate_sin_half=True).
    """
    half = sin.size(-1) // 2
    return torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)


def causal_mask(seq_len: int, cache_len: int = 0, mask_value: float = MASK_VALUE,
                batch: int = 1) -> Tensor:
    """Additive causal mask [batch, 1, seq_len, cache_len + seq_len] (float32).

    Query i sits at position cache_len + i and sees keys 0 .. cache_len + i (value 0);
    later keys get mask_value.
    """
    total = cache_len + seq_len
    query_pos = torch.arange(seq_len).unsqueeze(1) + cache_len
    key_pos = torch.arange(total).unsqueeze(0)
    mask = torch.zeros(seq_len, total, dtype=torch.float32)
    mask = mask.masked_fill(key_pos > query_pos, mask_value)
    return mask.expand(batch, 1, seq_len, total).contiguous()


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------

class QuantLinear(nn.Module):
    """nn.Linear with input, weight (per output channel) and output quantizers."""

    def __init__(self, in_features: int, out_features: int, weight_role: str = "weight"):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))
        self.input_quant = FakeQuant("activation")
        self.weight_quant = FakeQuant(weight_role)
        self.output_quant = FakeQuant("activation")

    def forward(self, x: Tensor) -> Tensor:
        x = self.input_quant(x)
        y = F.linear(x, self.weight_quant(self.weight))
        return self.output_quant(y)


class QuantEmbedding(nn.Module):
    """Token embedding; the table is fake-quantized per row, then the looked-up rows."""

    def __init__(self, vocab_size: int, hidden_size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(vocab_size, hidden_size))
        self.weight_quant = FakeQuant("embedding")
        self.output_quant = FakeQuant("activation")

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.output_quant(F.embedding(input_ids, self.weight_quant(self.weight)))


class QuantRMSNorm(nn.Module):
    """RMSNorm with input, weight (per tensor) and output quantizers."""

    __constants__ = ["eps"]

    def __init__(self, hidden_size: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.input_quant = FakeQuant("activation")
        self.weight_quant = FakeQuant("norm_weight")
        self.output_quant = FakeQuant("activation")
        # The intermediates, so that a target without an RMSNorm kernel (TFLite)
        # runs the chain in integers; prepare(quantize_norm_internals=False)
        # leaves them disabled.
        self.square_quant = FakeQuant("activation")     # x^2
        self.variance_quant = FakeQuant("activation")   # mean(x^2)
        self.shifted_quant = FakeQuant("activation")    # mean(x^2) + eps
        self.rsqrt_quant = FakeQuant("activation")      # rsqrt(mean(x^2) + eps)
        self.normed_quant = FakeQuant("activation")     # x * rsqrt(...)

    def forward(self, x: Tensor) -> Tensor:
        x = self.input_quant(x)
        variance = self.variance_quant(self.square_quant(x.pow(2)).mean(-1, keepdim=True))
        inv = self.rsqrt_quant(torch.rsqrt(self.shifted_quant(variance + self.eps)))
        x = self.normed_quant(x * inv)
        return self.output_quant(self.weight_quant(self.weight) * x)


class QuantRotary(nn.Module):
    """Rotate-half RoPE on q or k ([B, H, S, D]) with a quantizer after every step.

    x * cos + cat(-x2, x1) * sin.  With negate_sin_half (TICO's npu_export
    convention, set by prepare()) the caller passes sin with its first half negated,
    sin_n = cat(-sin[..., :D/2], sin[..., D/2:]), and the rotation is
    x * cos + cat(x2, x1) * sin_n: the same values, without a negation in the graph.
    negate_sin_half is a TorchScript constant, so a scripted module holds one branch.
    """

    __constants__ = ["half", "negate_sin_half"]

    def __init__(self, head_dim: int):
        super().__init__()
        self.half = head_dim // 2
        self.negate_sin_half = False
        self.x1_quant = FakeQuant("activation")          # x[..., :D/2]
        self.x2_quant = FakeQuant("activation")          # x[..., D/2:]
        self.cat_quant = FakeQuant("activation")         # cat(-x2, x1) (cat(x2, x1))
        self.cos_quant = FakeQuant("activation")         # cos table
        self.sin_quant = FakeQuant("activation")         # sin table (sin_n)
        self.x_cos_quant = FakeQuant("activation")       # x * cos
        self.rotated_quant = FakeQuant("activation")     # cat(-x2, x1) * sin (cat(x2, x1) * sin_n)
        self.result_quant = FakeQuant("activation", head_axis=True)  # sum

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        x1 = self.x1_quant(x[..., :self.half])
        x2 = self.x2_quant(x[..., self.half:])
        if self.negate_sin_half:
            rotated = self.cat_quant(torch.cat((x2, x1), dim=-1))
        else:
            rotated = self.cat_quant(torch.cat((-x2, x1), dim=-1))
        cos = self.cos_quant(cos)
        sin = self.sin_quant(sin)
        x_cos = self.x_cos_quant(x * cos)
        rotated_sin = self.rotated_quant(rotated * sin)
        return self.result_quant(x_cos + rotated_sin)


class QuantLlamaMLP(nn.Module):
    """SiLU-gated MLP: down(silu(gate(x)) * up(x))."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.gate_proj = QuantLinear(config.hidden_size, config.intermediate_size)
        self.up_proj = QuantLinear(config.hidden_size, config.intermediate_size)
        self.down_proj = QuantLinear(config.intermediate_size, config.hidden_size)
        self.act_quant = FakeQuant("activation")   # silu(gate)
        self.mul_quant = FakeQuant("activation")   # silu(gate) * up

    def forward(self, x: Tensor) -> Tensor:
        gate = self.gate_proj(x)
        up = self.up_proj(x)
        act = self.act_quant(F.silu(gate))
        return self.down_proj(self.mul_quant(act * up))


# ---------------------------------------------------------------------------
# The unified (prefill and decode) attention, decoder layer and model
# ---------------------------------------------------------------------------

class QuantLlamaAttention(nn.Module):
    """Grouped-query attention with RoPE and a KV cache; one forward for prefill and decode.

    past_key_value None is prefill, otherwise decode: this step's k, v are appended to
    the cache along the sequence axis.  The returned cache ([B, H_kv, S_total, D], k
    after RoPE) is the full cache after this step.

    The additive attention_mask is fake-quantized (mask_quant) where it is added to
    the logits.  With scaling_folded (TICO's npu_export convention, set by
    prepare()), k_proj's weight already holds the factor head_dim^-0.5 and the
    logits are q @ k^T without a multiply; the K cache then holds scaled keys.
    scaling_folded is a TorchScript constant, so a scripted module holds one branch.
    """

    __constants__ = ["num_heads", "num_key_value_heads", "num_key_value_groups",
                     "head_dim", "scaling", "scaling_folded"]

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.num_key_value_heads = config.num_key_value_heads
        self.num_key_value_groups = config.num_key_value_groups
        self.head_dim = config.head_dim
        self.scaling = config.head_dim ** -0.5
        self.scaling_folded = False
        hidden = config.hidden_size
        self.q_proj = QuantLinear(hidden, self.num_heads * self.head_dim)
        self.k_proj = QuantLinear(hidden, self.num_key_value_heads * self.head_dim)
        self.v_proj = QuantLinear(hidden, self.num_key_value_heads * self.head_dim)
        self.o_proj = QuantLinear(self.num_heads * self.head_dim, hidden)
        self.q_rotary = QuantRotary(self.head_dim)
        self.k_rotary = QuantRotary(self.head_dim)
        self.k_cache_in_quant = FakeQuant("activation", head_axis=True)
        self.v_cache_in_quant = FakeQuant("activation", head_axis=True)
        self.k_cache_out_quant = FakeQuant("activation", head_axis=True)
        self.v_cache_out_quant = FakeQuant("activation", head_axis=True)
        self.logits_quant = FakeQuant("activation", head_axis=True)    # q @ k^T * scaling
        self.mask_quant = FakeQuant("activation")                      # the additive mask
        self.masked_quant = FakeQuant("activation", head_axis=True)    # logits + mask
        self.probs_quant = FakeQuant("activation", head_axis=True)     # softmax
        self.context_quant = FakeQuant("activation", head_axis=True)   # probs @ v

    def forward(self, hidden_states: Tensor, attention_mask: Tensor,
                position_embeddings: Tuple[Tensor, Tensor],
                past_key_value: Optional[Tuple[Tensor, Tensor]] = None,
                use_cache: bool = False,
                output_attentions: bool = False) -> LayerOutput:
        bsz = hidden_states.size(0)
        q_len = hidden_states.size(1)
        query = self.q_proj(hidden_states).view(bsz, q_len, self.num_heads, self.head_dim)
        key = self.k_proj(hidden_states).view(bsz, q_len, self.num_key_value_heads, self.head_dim)
        value = self.v_proj(hidden_states).view(bsz, q_len, self.num_key_value_heads, self.head_dim)
        query = query.transpose(1, 2)
        key = key.transpose(1, 2)
        value = value.transpose(1, 2)

        cos, sin = position_embeddings
        cos = cos.unsqueeze(1)
        sin = sin.unsqueeze(1)
        query = self.q_rotary(query, cos, sin)
        key = self.k_rotary(key, cos, sin)

        key = self.k_cache_in_quant(key)
        value = self.v_cache_in_quant(value)
        if past_key_value is None:
            key_states = key
            value_states = value
        else:
            past_key, past_value = past_key_value
            key_states = torch.cat((past_key, key), dim=2)
            value_states = torch.cat((past_value, value), dim=2)
        key_states = self.k_cache_out_quant(key_states)
        value_states = self.v_cache_out_quant(value_states)

        present: Optional[Tuple[Tensor, Tensor]] = None
        if use_cache:
            present = (key_states, value_states)

        if self.num_key_value_groups > 1:
            key_states = torch.repeat_interleave(key_states, self.num_key_value_groups, dim=1)
            value_states = torch.repeat_interleave(value_states, self.num_key_value_groups, dim=1)

        scores = torch.matmul(query, key_states.transpose(2, 3))
        if not self.scaling_folded:
            scores = scores * self.scaling
        logits = self.logits_quant(scores)
        masked = self.masked_quant(logits + self.mask_quant(attention_mask))
        probs = self.probs_quant(torch.softmax(masked, dim=-1))
        context = self.context_quant(torch.matmul(probs, value_states))
        context = context.transpose(1, 2).reshape(bsz, q_len, self.num_heads * self.head_dim)
        output = self.o_proj(context)

        attn_weights: Optional[Tensor] = None
        if output_attentions:
            attn_weights = probs
        return output, present, attn_weights

    @torch.no_grad()
    def set_scaling_folded(self, folded: bool) -> None:
        """Folds head_dim^-0.5 into k_proj's weight (and bias, if any), or unfolds it.

        Python only (prepare() calls it before calibration; the weight quantizer takes
        its range at convert()).  Unfolding divides by the same factor: exact when
        head_dim^-0.5 is a power of two (head_dim 16, 64, 256), else within 1 ulp.
        """
        if folded == self.scaling_folded:
            return
        for name in ("weight", "bias"):
            param = getattr(self.k_proj, name, None)
            if param is None:
                continue
            if folded:
                param.mul_(self.scaling)
            else:
                param.div_(self.scaling)
        self.scaling_folded = folded


class QuantLlamaDecoderLayer(nn.Module):
    """One Llama block: x + attn(norm(x)), then x + mlp(norm(x)).

    forward returns (hidden, present_key_value, attn_weights); present_key_value is the
    full cache when use_cache else None, attn_weights the softmax output
    [B, H, S, S_total] when output_attentions else None.
    """

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.self_attn = QuantLlamaAttention(config)
        self.mlp = QuantLlamaMLP(config)
        self.input_layernorm = QuantRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = QuantRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.input_quant = FakeQuant("activation")          # layer input (first residual)
        self.attn_residual_quant = FakeQuant("activation")  # x + attn
        self.mlp_residual_quant = FakeQuant("activation")   # x + mlp

    def forward(self, hidden_states: Tensor, attention_mask: Tensor,
                position_embeddings: Tuple[Tensor, Tensor],
                past_key_value: Optional[Tuple[Tensor, Tensor]] = None,
                use_cache: bool = False,
                output_attentions: bool = False) -> LayerOutput:
        hidden_states = self.input_quant(hidden_states)
        attn_out, present, attn_weights = self.self_attn(
            self.input_layernorm(hidden_states), attention_mask, position_embeddings,
            past_key_value, use_cache, output_attentions)
        hidden_states = self.attn_residual_quant(hidden_states + attn_out)
        mlp_out = self.mlp(self.post_attention_layernorm(hidden_states))
        hidden_states = self.mlp_residual_quant(hidden_states + mlp_out)
        return hidden_states, present, attn_weights


class QuantLlamaModel(nn.Module):
    """Embedding, decoder layers and final norm (Hugging Face's LlamaModel).

    forward(input_ids [B, S] int64, attention_mask [B|1, 1, S, P+S],
            position_embeddings (cos, sin) each [B|1, S, D],
            past_key_values: one (k, v) per layer or None, use_cache, output_attentions)
    returns (hidden [B, S, hidden], per-layer caches or None, per-layer attention
    weights or None).
    """

    __jit_ignored_attributes__ = ["config"]

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.config = config
        self.embed_tokens = QuantEmbedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(
            [QuantLlamaDecoderLayer(config) for _ in range(config.num_hidden_layers)])
        self.norm = QuantRMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, input_ids: Tensor, attention_mask: Tensor,
                position_embeddings: Tuple[Tensor, Tensor],
                past_key_values: Optional[List[Tuple[Tensor, Tensor]]] = None,
                use_cache: bool = False,
                output_attentions: bool = False) -> ModelOutput:
        hidden_states = self.embed_tokens(input_ids)
        presents: List[Tuple[Tensor, Tensor]] = []
        attentions: List[Tensor] = []
        for i, layer in enumerate(self.layers):
            past: Optional[Tuple[Tensor, Tensor]] = None
            if past_key_values is not None:
                past = past_key_values[i]
            hidden_states, present, attn_weights = layer(
                hidden_states, attention_mask, position_embeddings, past,
                use_cache, output_attentions)
            if present is not None:
                presents.append(present)
            if attn_weights is not None:
                attentions.append(attn_weights)
        hidden_states = self.norm(hidden_states)

        all_presents: Optional[List[Tuple[Tensor, Tensor]]] = None
        if use_cache:
            all_presents = presents
        all_attentions: Optional[List[Tensor]] = None
        if output_attentions:
            all_attentions = attentions
        return hidden_states, all_presents, all_attentions


class QuantLlamaForCausalLM(nn.Module):
    """QuantLlamaModel plus lm_head (Hugging Face's LlamaForCausalLM).

    forward takes the arguments of QuantLlamaModel.forward and returns
    (logits [B, S, vocab], per-layer caches or None, per-layer attention weights or None).
    With tie_word_embeddings, lm_head.weight is the same Parameter as
    model.embed_tokens.weight (state_dict() lists it under both names, like HF).
    """

    __jit_ignored_attributes__ = ["config"]

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.config = config
        self.model = QuantLlamaModel(config)
        self.lm_head = QuantLinear(config.hidden_size, config.vocab_size, weight_role="embedding")
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(self, input_ids: Tensor, attention_mask: Tensor,
                position_embeddings: Tuple[Tensor, Tensor],
                past_key_values: Optional[List[Tuple[Tensor, Tensor]]] = None,
                use_cache: bool = False,
                output_attentions: bool = False) -> ModelOutput:
        hidden_states, presents, attentions = self.model(
            input_ids, attention_mask, position_embeddings, past_key_values,
            use_cache, output_attentions)
        return self.lm_head(hidden_states), presents, attentions


# ---------------------------------------------------------------------------
# TICO npu_export conventions
# ---------------------------------------------------------------------------

def set_npu_export(model: nn.Module, fold_scaling_into_k_proj: bool = False,
                   negate_sin_half: bool = False) -> nn.Module:
    """Sets TICO's npu_export conventions on every attention of `model` (in place).

    fold_scaling_into_k_proj: k_proj's weight is multiplied by head_dim^-0.5 (divided
    back when turned off again) and the attention computes q @ k^T without `* scaling`.
    negate_sin_half: RoPE computes cat(x2, x1) * sin_n and callers pass sin_n, the sin
    table with its first half negated (rope_cos_sin(..., negate_sin_half=True)).
    prepare() calls this before resetting the quantizers; calling it on a converted
    model would leave k_proj's weight scales stale.
    """
    for module in model.modules():
        if isinstance(module, QuantLlamaAttention):
            module.set_scaling_folded(fold_scaling_into_k_proj)
        elif isinstance(module, QuantRotary):
            module.negate_sin_half = negate_sin_half
    return model


def npu_export_options(module: nn.Module) -> Tuple[bool, bool]:
    """(fold_scaling_into_k_proj, negate_sin_half) of a layer or model.

    Works on eager modules and scripted or loaded TorchScript ones (the flags are
    TorchScript constants of the attention and rotary modules).  (False, False) when
    the module has no attention.
    """
    folded = negated = None
    for _, sub in module.named_modules():
        if folded is None and hasattr(sub, "scaling_folded"):
            folded = bool(sub.scaling_folded)
        if negated is None and hasattr(sub, "negate_sin_half"):
            negated = bool(sub.negate_sin_half)
        if folded is not None and negated is not None:
            break
    return bool(folded), bool(negated)


# ---------------------------------------------------------------------------
# Construction
# ---------------------------------------------------------------------------

def init_weights(model: nn.Module, seed: int) -> None:
    """Deterministic random weights: every parameter is drawn from one seeded generator.

    Linear weights ~ N(0, 1/in_features), embedding rows ~ N(0, 1), norm weights
    ~ 1 + N(0, 0.1^2), in named_parameters() order (a tied weight is drawn once).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen)
            if param.dim() == 1:
                param.copy_(1.0 + 0.1 * noise)
            elif name.endswith("embed_tokens.weight"):
                param.copy_(noise)
            else:
                param.copy_(noise / math.sqrt(param.shape[1]))


def build_model(config: LlamaConfig, seed: int = 0) -> QuantLlamaForCausalLM:
    """A float QuantLlamaForCausalLM (all quantizers disabled) with seeded random weights."""
    model = QuantLlamaForCausalLM(config)
    init_weights(model, seed)
    return model.eval()
