"""Tests of the float model: unified prefill/decode forward, helpers, HF state dicts."""

import math

import pytest
import torch

from conftest import make_converted
from kiln_torch import (MASK_VALUE, build_model, causal_mask, get_config, load_hf_state_dict,
                        prefill_then_decode, random_token_batches, rope_cos_sin)
from kiln_torch.config import PRESETS


def test_presets_have_the_published_shapes():
    one_b = PRESETS["llama-3.2-1b"]
    assert (one_b.hidden_size, one_b.intermediate_size, one_b.num_attention_heads,
            one_b.num_key_value_heads, one_b.head_dim, one_b.num_hidden_layers,
            one_b.vocab_size, one_b.tie_word_embeddings) == (2048, 8192, 32, 8, 64, 16, 128256, True)
    three_b = PRESETS["llama-3.2-3b"]
    assert (three_b.hidden_size, three_b.num_attention_heads, three_b.num_key_value_heads,
            three_b.head_dim, three_b.num_hidden_layers) == (3072, 24, 8, 128, 28)
    tiny = PRESETS["tiny"]
    assert (tiny.hidden_size, tiny.num_attention_heads, tiny.num_key_value_heads,
            tiny.head_dim, tiny.num_hidden_layers, tiny.vocab_size) == (64, 4, 2, 16, 2, 256)
    with pytest.raises(ValueError):
        get_config("tiny", num_attention_heads=4, num_key_value_heads=3)


def test_causal_mask_values():
    mask = causal_mask(3, 2)
    assert mask.shape == (1, 1, 3, 5) and mask.dtype == torch.float32
    expected = torch.tensor([[0, 0, 0, 1, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]) * MASK_VALUE
    assert torch.equal(mask[0, 0], expected.float())
    assert torch.equal(causal_mask(1, 7), torch.zeros(1, 1, 1, 8))


def test_rope_tables_rotate_half_layout():
    config = get_config("tiny")
    cos, sin = rope_cos_sin(config, torch.arange(5))
    assert cos.shape == (1, 5, config.head_dim) and cos.dtype == torch.float32
    half = config.head_dim // 2
    assert torch.equal(cos[..., :half], cos[..., half:])
    assert torch.equal(cos[0, 0], torch.ones(config.head_dim))
    # position 1, pair 1: angle = theta^(-2/D)
    angle = config.rope_theta ** (-2.0 / config.head_dim)
    assert sin[0, 1, 1].item() == pytest.approx(math.sin(angle), abs=1e-7)


def test_llama3_rope_scaling_bands():
    config = get_config("llama-3.2-1b")
    plain = config.replace(rope_scaling=None)
    from kiln_torch.model import rope_inv_freq
    scaled, base = rope_inv_freq(config), rope_inv_freq(plain)
    assert torch.equal(scaled[0], base[0])                       # highest frequency kept
    assert scaled[-1].item() == pytest.approx(base[-1].item() / 32.0)  # lowest slowed by factor
    assert bool((scaled <= base).all())


def _rotate_half_reference(x, cos, sin):
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def test_float_attention_matches_naive_formula():
    """A float layer's attention equals softmax(q k^T / sqrt(d) + mask) v with repeated KV heads."""
    config = get_config("tiny")
    attn = build_model(config, 3).model.layers[0].self_attn
    seq = 6
    x = torch.randn(1, seq, config.hidden_size, generator=torch.Generator().manual_seed(0))
    cos, sin = rope_cos_sin(config, torch.arange(seq))
    mask = causal_mask(seq)
    out, present, weights = attn(x, mask, (cos, sin), None, True, True)

    d, h, hkv = config.head_dim, config.num_attention_heads, config.num_key_value_heads
    q = (x @ attn.q_proj.weight.T).view(1, seq, h, d).transpose(1, 2)
    k = (x @ attn.k_proj.weight.T).view(1, seq, hkv, d).transpose(1, 2)
    v = (x @ attn.v_proj.weight.T).view(1, seq, hkv, d).transpose(1, 2)
    q = _rotate_half_reference(q, cos[:, None], sin[:, None])
    k = _rotate_half_reference(k, cos[:, None], sin[:, None])
    assert torch.allclose(present[0], k, atol=1e-6) and torch.allclose(present[1], v, atol=1e-6)
    group = h // hkv
    k_rep = k[:, [i // group for i in range(h)]]
    v_rep = v[:, [i // group for i in range(h)]]
    probs = torch.softmax(q @ k_rep.transpose(2, 3) / math.sqrt(d) + mask, dim=-1)
    expected = (probs @ v_rep).transpose(1, 2).reshape(1, seq, h * d) @ attn.o_proj.weight.T
    assert torch.allclose(weights, probs, atol=1e-6)
    assert torch.allclose(out, expected, atol=1e-5)


def test_use_cache_and_output_attentions_select_outputs():
    config = get_config("tiny")
    layer = build_model(config, 0).model.layers[0]
    x = torch.randn(1, 4, config.hidden_size)
    cos, sin = rope_cos_sin(config, torch.arange(4))
    hidden, present, weights = layer(x, causal_mask(4), (cos, sin))
    assert present is None and weights is None
    hidden2, present, weights = layer(x, causal_mask(4), (cos, sin), None, True, True)
    assert torch.equal(hidden, hidden2)
    assert present[0].shape == (1, config.num_key_value_heads, 4, config.head_dim)
    assert weights.shape == (1, config.num_attention_heads, 4, 4)


@pytest.mark.parametrize("num_heads,num_kv_heads", [(4, 4), (4, 2), (4, 1)])
def test_layer_prefill_then_decode_equals_longer_prefill(num_heads, num_kv_heads):
    config = get_config("tiny", num_attention_heads=num_heads, num_key_value_heads=num_kv_heads)
    layer = build_model(config, 1).model.layers[0]
    total, prefix = 9, 6
    x = torch.randn(1, total, config.hidden_size, generator=torch.Generator().manual_seed(2))
    cos, sin = rope_cos_sin(config, torch.arange(total))
    with torch.no_grad():
        full, full_cache, _ = layer(x, causal_mask(total), (cos, sin), None, True)
        hidden, cache, _ = layer(x[:, :prefix], causal_mask(prefix), (cos[:, :prefix], sin[:, :prefix]),
                                 None, True)
        steps = [hidden]
        for pos in range(prefix, total):
            hidden, cache, _ = layer(x[:, pos:pos + 1], causal_mask(1, pos),
                                     (cos[:, pos:pos + 1], sin[:, pos:pos + 1]), cache, True)
            steps.append(hidden)
    assert cache[0].shape == (1, num_kv_heads, total, config.head_dim)
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)
    assert torch.allclose(cache[0], full_cache[0], atol=1e-5)
    assert torch.allclose(cache[1], full_cache[1], atol=1e-5)


@pytest.mark.parametrize("scripted", [False, True])
def test_model_prefill_then_decode_equals_longer_prefill(scripted):
    config = get_config("tiny", num_key_value_heads=1)
    model = build_model(config, 0)
    runner = torch.jit.script(model) if scripted else model
    ids = random_token_batches(config, 1, 2, 10, 4)[0]
    with torch.no_grad():
        stepped, cache = prefill_then_decode(runner, ids, 7)
        full, full_cache = prefill_then_decode(runner, ids, 10)
    assert len(cache) == config.num_hidden_layers
    assert torch.allclose(stepped, full, atol=1e-5)
    for (k, v), (fk, fv) in zip(cache, full_cache):
        assert torch.allclose(k, fk, atol=1e-5) and torch.allclose(v, fv, atol=1e-5)


def hf_state_dict(config, gen):
    """A state dict written from Hugging Face's LlamaForCausalLM key names and shapes."""
    def rand(*shape):
        return torch.randn(*shape, generator=gen)
    hidden, d = config.hidden_size, config.head_dim
    q_out, kv_out = config.num_attention_heads * d, config.num_key_value_heads * d
    state = {"model.embed_tokens.weight": rand(config.vocab_size, hidden)}
    for i in range(config.num_hidden_layers):
        p = f"model.layers.{i}."
        state[p + "self_attn.q_proj.weight"] = rand(q_out, hidden)
        state[p + "self_attn.k_proj.weight"] = rand(kv_out, hidden)
        state[p + "self_attn.v_proj.weight"] = rand(kv_out, hidden)
        state[p + "self_attn.o_proj.weight"] = rand(hidden, q_out)
        state[p + "mlp.gate_proj.weight"] = rand(config.intermediate_size, hidden)
        state[p + "mlp.up_proj.weight"] = rand(config.intermediate_size, hidden)
        state[p + "mlp.down_proj.weight"] = rand(hidden, config.intermediate_size)
        state[p + "input_layernorm.weight"] = rand(hidden)
        state[p + "post_attention_layernorm.weight"] = rand(hidden)
    state["model.norm.weight"] = rand(hidden)
    state["lm_head.weight"] = rand(config.vocab_size, hidden)
    return state


@pytest.mark.parametrize("stage", ["float", "converted"])
def test_hf_state_dict_round_trips_strictly(stage):
    config = get_config("tiny", num_attention_heads=8, num_key_value_heads=2)
    model = build_model(config, 0) if stage == "float" else make_converted(
        "w8a16", per_head=True, num_attention_heads=8, num_key_value_heads=2)
    state = hf_state_dict(config, torch.Generator().manual_seed(0))
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    out = model.state_dict()
    assert list(out) == list(state)
    for key, value in state.items():
        assert torch.equal(out[key], value), key


def test_tied_hf_checkpoint_without_lm_head_loads():
    config = get_config("tiny", tie_word_embeddings=True)
    model = build_model(config, 0)
    state = hf_state_dict(config, torch.Generator().manual_seed(1))
    del state["lm_head.weight"]
    state["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(config.head_dim // 2)
    with pytest.raises(RuntimeError):
        model.load_state_dict(state, strict=True)
    load_hf_state_dict(model, state)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert torch.equal(model.lm_head.weight, state["model.embed_tokens.weight"])
    assert sorted(model.state_dict()) == sorted(list(state)[:-1] + ["lm_head.weight"])


def test_weights_are_seeded():
    config = get_config("tiny")
    a, b, c = build_model(config, 5), build_model(config, 5), build_model(config, 6)
    wa, wb, wc = (m.model.layers[1].mlp.up_proj.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
