"""The quantizers inside RMSNorm (issue #11): x^2, mean, + eps, rsqrt, x * rsqrt."""

import pytest
import torch

from conftest import QUANT_RECIPES
from kiln_torch import (build_model, calibrate, convert, get_config, prefill_then_decode,
                        prepare, random_token_batches)
from kiln_torch.model import QuantRMSNorm

INTERNALS = ("square_quant", "variance_quant", "shifted_quant", "rsqrt_quant", "normed_quant")


def _norms(model):
    return [m for m in model.modules() if isinstance(m, QuantRMSNorm)]


def _converted(recipe, **options):
    config = get_config("tiny")
    model = build_model(config, 0)
    prepare(model, recipe, **options)
    calibrate(model, random_token_batches(config, 3, 1, 12, 1), decode_steps=3)
    return convert(model)


def _logits(model):
    ids = random_token_batches(model.config, 1, 1, 10, 9)[0]
    with torch.no_grad():
        return prefill_then_decode(model, ids, 7)[0]


@pytest.mark.parametrize("recipe", QUANT_RECIPES)
def test_norm_internals_quantized_by_default(recipe, converted):
    norms = _norms(converted(recipe))
    assert len(norms) == 2 * get_config("tiny").num_hidden_layers + 1
    for norm in norms:
        for name in INTERNALS:
            q = getattr(norm, name)
            assert q.enabled and not q.observing and not q.per_channel, name


def test_norm_internals_off_in_float_and_on_request(converted):
    assert not any(getattr(n, q).enabled for n in _norms(converted("float")) for q in INTERNALS)
    model = build_model(get_config("tiny"), 0)
    prepare(model, "w8a16", quantize_norm_internals=False)
    for norm in _norms(model):
        assert not any(getattr(norm, q).enabled for q in INTERNALS)
        assert norm.input_quant.enabled and norm.output_quant.enabled


def test_scripted_norm_has_a_fake_quant_per_intermediate(converted):
    norm = _norms(converted("w8a16"))[0]
    graph = torch.jit.script(norm).inlined_graph
    kinds = [n.kind() for n in graph.nodes()]
    # input, weight, the five intermediates, output
    assert kinds.count("aten::fake_quantize_per_tensor_affine") == 8


@pytest.mark.parametrize("recipe,bound", [("w8a16", 2e-2), ("w8a8", 2e-1)])
def test_norm_internals_stay_close(recipe, bound):
    on = _logits(_converted(recipe))
    off = _logits(_converted(recipe, quantize_norm_internals=False))
    rel = ((on - off).norm() / off.norm()).item()
    assert 0 < rel < bound, rel
