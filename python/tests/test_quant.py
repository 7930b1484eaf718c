"""Tests of the quantizers: recipe ranges, integer codes, per-head ranges, convert()."""

import pytest
import torch

from conftest import ALL_RECIPES, QUANT_RECIPES, make_converted
from kiln_torch import (FakeQuant, build_model, calibrate, convert, get_config, get_recipe,
                        iter_quantizers, prefill_then_decode, prepare, random_token_batches)

EXPECTED_RANGES = {
    # recipe: (weight, activation, embedding) as (quant_min, quant_max)
    "w8a16": ((-128, 127), (-32768, 32767), (0, 255)),
    "w4a16": ((-8, 7), (-32768, 32767), (0, 255)),
    "w4a16-asym": ((0, 15), (-32768, 32767), (0, 255)),
    "w8a8": ((-128, 127), (-128, 127), (0, 255)),
}


def _run(model, length=10, prefill=7, seed=9):
    ids = random_token_batches(model.config, 1, 1, length, seed)[0]
    with torch.no_grad():
        return prefill_then_decode(model, ids, prefill)


def _capture(model):
    """Runs prefill + decode and returns [(name, quantizer, output)] for every enabled quantizer call."""
    seen = []
    hooks = [q.register_forward_hook(lambda mod, inp, out, name=name: seen.append((name, mod, out)))
             for name, q in iter_quantizers(model) if q.enabled]
    _run(model)
    for hook in hooks:
        hook.remove()
    return seen


def _codes(quantizer, y):
    """Integer codes of a fake-quantized y, computed independently: y / scale + zero_point."""
    scale, zero_point = quantizer.qparams()
    if quantizer.per_channel:
        shape = [1] * y.dim()
        shape[quantizer.axis] = -1
        scale, zero_point = scale.view(shape), zero_point.view(shape)
    exact = y.double() / scale.double() + zero_point.double()
    return exact, torch.round(exact)


@pytest.mark.parametrize("recipe", QUANT_RECIPES)
def test_recipe_ranges(recipe, converted):
    weight, act, emb = EXPECTED_RANGES[recipe]
    model = converted(recipe)
    ranges = {}
    for name, q in iter_quantizers(model):
        assert q.enabled and not q.observing, name
        ranges.setdefault(q.role, set()).add((q.quant_min, q.quant_max))
    assert ranges["weight"] == {weight}
    assert ranges["activation"] == {act}
    assert ranges["embedding"] == {emb}
    spec = get_recipe(recipe)
    assert 2 ** spec.weight.bits == weight[1] - weight[0] + 1


@pytest.mark.parametrize("per_head", [False, True])
@pytest.mark.parametrize("recipe", QUANT_RECIPES)
def test_fake_quantized_values_are_integer_codes_in_range(recipe, per_head, converted):
    model = converted(recipe, per_head)
    seen = _capture(model)
    assert len(seen) > 100
    per_channel_seen = False
    for name, q, y in seen:
        exact, codes = _codes(q, y)
        assert torch.allclose(exact, codes, atol=1e-3), name
        assert int(codes.min()) >= q.quant_min and int(codes.max()) <= q.quant_max, name
        levels = q.quant_max - q.quant_min + 1
        if q.per_channel:
            per_channel_seen = True
            rows = y.transpose(0, q.axis).reshape(y.size(q.axis), -1)
            assert max(torch.unique(r).numel() for r in rows) <= levels, name
        else:
            assert torch.unique(y).numel() <= levels, name
        if q.symmetric:
            assert int(q.qparams()[1].abs().max()) == 0, name
    assert per_channel_seen
    # weight-only low-bit tensors really are low-bit: at most 16 values per output row
    if recipe.startswith("w4"):
        weight = model.model.layers[0].self_attn.q_proj
        w = weight.weight_quant(weight.weight)
        assert max(torch.unique(row).numel() for row in w) <= 16


def test_float_recipe_quantizes_nothing(converted):
    model = converted("float")
    assert not any(q.enabled for _, q in iter_quantizers(model))
    reference = build_model(get_config("tiny"), 0)
    assert torch.equal(_run(model)[0], _run(reference)[0])


def test_quantization_changes_outputs_but_stays_close(converted):
    reference = _run(build_model(get_config("tiny"), 0))[0]
    for recipe in QUANT_RECIPES:
        out = _run(converted(recipe))[0]
        assert not torch.equal(out, reference), recipe
        assert ((out - reference).norm() / reference.norm()).item() < 0.5, recipe


def test_weights_stay_float_after_convert(converted):
    model = converted("w4a16")
    float_model = build_model(get_config("tiny"), 0)
    assert torch.equal(model.model.layers[0].mlp.up_proj.weight,
                       float_model.model.layers[0].mlp.up_proj.weight)


def test_per_head_quantizers_are_per_channel_on_axis_1(converted):
    model = converted("w8a16", per_head=True)
    attn = model.model.layers[0].self_attn
    heads, kv_heads = model.config.num_attention_heads, model.config.num_key_value_heads
    for q, count in [(attn.logits_quant, heads), (attn.masked_quant, heads), (attn.probs_quant, heads),
                     (attn.context_quant, heads), (attn.q_rotary.result_quant, heads),
                     (attn.k_rotary.result_quant, kv_heads), (attn.v_cache_in_quant, kv_heads)]:
        assert q.per_channel and q.axis == 1 and q.scales.shape == (count,)
        assert q.scales.dtype == torch.float32 and q.zero_points.dtype == torch.int32
    assert not attn.q_rotary.x1_quant.per_channel
    assert not model.model.layers[0].mlp.act_quant.per_channel


def _calibrated(per_head):
    config = get_config("tiny")
    model = build_model(config, 0)
    prepare(model, "w8a16", per_head=per_head)
    return calibrate(model, random_token_batches(config, 3, 1, 12, 1), decode_steps=3)


def test_per_head_with_equal_ranges_equals_per_tensor():
    per_tensor = convert(_calibrated(False))
    per_head = _calibrated(True)
    per_head_names = []
    for name, q in iter_quantizers(per_head):
        if q.per_channel and q.axis == 1:
            per_head_names.append(name)
            heads = q.min_val.numel()
            q.set_range(q.min_val.min().expand(heads), q.max_val.max().expand(heads))
    assert len(per_head_names) == 10 * per_tensor.config.num_hidden_layers
    convert(per_head)
    tensor_scales = {name: q.scale for name, q in iter_quantizers(per_tensor)}
    for name in per_head_names:
        scales = per_head.get_submodule(name).scales
        assert torch.equal(scales, torch.full_like(scales, tensor_scales[name])), name
    assert torch.equal(_run(per_head)[0], _run(per_tensor)[0])


def test_per_head_with_different_ranges_differs():
    per_tensor = convert(_calibrated(False))
    per_head = convert(_calibrated(True))
    scales = per_head.model.layers[0].self_attn.logits_quant.scales
    assert scales.unique().numel() > 1
    assert not torch.equal(_run(per_head)[0], _run(per_tensor)[0])


def test_qparams_symmetric_and_asymmetric():
    q = FakeQuant("activation")
    from kiln_torch.recipes import INT8_ASYM, INT16_SYM
    q.configure(INT16_SYM)
    q(torch.tensor([-3.0, 1.5]))
    q.freeze()
    assert q.zero_point == 0 and q.scale == pytest.approx(3.0 / 32767, rel=1e-6)
    q.configure(INT8_ASYM)
    q(torch.tensor([0.5, 2.55]))           # range is widened to include 0: [0, 2.55]
    q.freeze()
    assert q.scale == pytest.approx(0.01, rel=1e-6) and q.zero_point == -128
    y = q(torch.tensor([0.0, 1.0, 9.0, -1.0]))
    assert torch.allclose(y, torch.tensor([0.0, 1.0, 2.55, 0.0]), atol=1e-6)


def test_convert_without_calibration_fails():
    model = build_model(get_config("tiny"), 0)
    prepare(model, "w8a8")
    with pytest.raises(RuntimeError, match="calibrate"):
        convert(model)


def test_observing_does_not_change_outputs():
    reference = _run(build_model(get_config("tiny"), 0))[0]
    config = get_config("tiny")
    model = prepare(build_model(config, 0), "w4a16")
    assert torch.equal(_run(model)[0], reference)
    assert all(q.min_val.numel() > 0 for _, q in iter_quantizers(model) if q.role == "activation")


@pytest.mark.parametrize("recipe", ALL_RECIPES)
def test_calibration_is_deterministic(recipe):
    a, b = make_converted(recipe), make_converted(recipe)
    assert torch.equal(_run(a)[0], _run(b)[0])
