"""The attention-mask quantizer and TICO's npu_export conventions (issue #11, item 2)."""

import json
import os

import pytest
import torch

from conftest import QUANT_RECIPES, make_converted
from kiln_torch import (build_model, calibrate, causal_mask, convert, get_config,
                        iter_quantizers, load_hf_state_dict, negate_sin_first_half,
                        npu_export_options, prefill_then_decode, prepare, random_token_batches,
                        rope_cos_sin, save_torchscript)
from kiln_torch.make_model import main
from kiln_torch.model import MASK_VALUE
from kiln_torch.reference import read_reference

SEQ = 6


def _attentions(model):
    return [layer.self_attn for layer in model.model.layers]


def _run(model, length=10, prefill=7, seed=9):
    ids = random_token_batches(model.config, 1, 1, length, seed)[0]
    with torch.no_grad():
        return prefill_then_decode(model, ids, prefill)


def _rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def _inlined_graph(module):
    graph = module.graph.copy()
    torch._C._jit_pass_inline(graph)
    return graph


def _all_nodes(block):
    for node in block.nodes():
        yield node
        for sub in node.blocks():
            yield from _all_nodes(sub)


def _fake_quant_users(graph, value_name):
    """fake_quantize_* nodes whose input is the graph input named value_name."""
    inputs = [v for v in graph.inputs() if v.debugName().split(".")[0] == value_name]
    assert len(inputs) == 1, [v.debugName() for v in graph.inputs()]
    return [n for n in _all_nodes(graph)
            if n.kind().startswith("aten::fake_quantize_per_") and n.inputsAt(0) == inputs[0]]


# ---------------------------------------------------------------------------
# The mask quantizer
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("recipe", QUANT_RECIPES)
def test_mask_quantizer_is_on_in_quantized_recipes(recipe, converted):
    model = converted(recipe)
    for attn in _attentions(model):
        q = attn.mask_quant
        assert q.enabled and not q.observing and not q.per_channel and q.role == "activation"
        assert q.zero_point == 0 if q.symmetric else q.quant_min < q.zero_point <= q.quant_max
    # per_head leaves the mask ([B, 1, S, T]: no head axis) per tensor
    assert not converted(recipe, per_head=True).model.layers[0].self_attn.mask_quant.per_channel


def test_mask_quantizer_off_in_float_and_on_request(converted):
    assert not any(a.mask_quant.enabled for a in _attentions(converted("float")))
    model = build_model(get_config("tiny"), 0)
    prepare(model, "w8a16", quantize_mask=False)
    assert not any(a.mask_quant.enabled for a in _attentions(model))
    assert all(q.enabled for name, q in iter_quantizers(model) if not name.endswith(".mask_quant"))


@pytest.mark.parametrize("recipe", QUANT_RECIPES)
def test_quantized_mask_keeps_zero_and_mask_value(recipe, converted):
    q = converted(recipe).model.layers[0].self_attn.mask_quant
    for mask in (causal_mask(SEQ), causal_mask(1, SEQ), causal_mask(SEQ, 3)):
        y = q(mask)
        visible = mask == 0
        assert torch.equal(y[visible], mask[visible])          # 0 stays exactly 0
        assert torch.allclose(y[~visible], mask[~visible], atol=q.scale / 2 + 1e-6)
    if q.quant_max == 32767:
        assert q.scale == pytest.approx(-MASK_VALUE / 32767, rel=1e-6)   # a ~0.003 step


def test_mask_quantizer_leaves_pytorch_outputs_unchanged():
    # MASK_VALUE and 0 are both on the grid, so quantizing the mask is exact here
    # (it changes what an integer graph receives, not the values).
    for recipe in ("w8a16", "w8a8"):
        with_mask = _run(make_converted(recipe))[0]
        config = get_config("tiny")
        model = prepare(build_model(config, 0), recipe, quantize_mask=False)
        calibrate(model, random_token_batches(config, 3, 1, 12, 1), decode_steps=3)
        assert torch.equal(with_mask, _run(convert(model))[0]), recipe


def test_scripted_graphs_quantize_the_mask_once_per_use(converted):
    model = converted("w8a16")
    layer_graph = _inlined_graph(torch.jit.script(model.model.layers[0]))
    assert len(_fake_quant_users(layer_graph, "attention_mask")) == 1
    model_graph = _inlined_graph(torch.jit.script(model))
    assert len(_fake_quant_users(model_graph, "attention_mask")) == model.config.num_hidden_layers
    no_mask = prepare(build_model(get_config("tiny"), 0), "w8a16", quantize_mask=False)
    graph = _inlined_graph(torch.jit.script(no_mask.model.layers[0]))
    assert not _fake_quant_users(graph, "attention_mask")


# ---------------------------------------------------------------------------
# npu_export: head_dim^-0.5 folded into k_proj, first half of sin negated
# ---------------------------------------------------------------------------

def test_negated_sin_tables():
    config = get_config("tiny")
    cos, sin = rope_cos_sin(config, torch.arange(5))
    cos_n, sin_n = rope_cos_sin(config, torch.arange(5), negate_sin_half=True)
    half = config.head_dim // 2
    assert torch.equal(cos_n, cos)
    assert torch.equal(sin_n[..., :half], -sin[..., :half])
    assert torch.equal(sin_n[..., half:], sin[..., half:])
    assert torch.equal(negate_sin_first_half(sin), sin_n)


def test_prepare_sets_and_clears_the_options():
    config = get_config("tiny")
    model = build_model(config, 0)
    original = model.model.layers[0].self_attn.k_proj.weight.clone()
    assert npu_export_options(model) == (False, False)
    prepare(model, "w8a16", npu_export=True)
    attn = model.model.layers[0].self_attn
    assert npu_export_options(model) == (True, True)
    assert attn.scaling_folded and attn.q_rotary.negate_sin_half and attn.k_rotary.negate_sin_half
    assert torch.equal(attn.k_proj.weight, original * attn.scaling)
    prepare(model, "w8a16", npu_export=True)                  # folded once, not twice
    assert torch.equal(attn.k_proj.weight, original * attn.scaling)
    prepare(model, "w8a16", npu_export=True, negate_sin_half=False)
    assert npu_export_options(model) == (True, False)
    prepare(model, "w8a16")
    assert npu_export_options(model) == (False, False)
    assert torch.equal(attn.k_proj.weight, original)          # head_dim 16: exact
    prepare(model, "float", fold_scaling_into_k_proj=True)
    assert npu_export_options(model) == (True, False)


@pytest.mark.parametrize("fold,negate", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("head_dim", [16, 32])
def test_npu_export_float_model_computes_the_same(fold, negate, head_dim):
    # head_dim 32: head_dim^-0.5 is not a power of two, so folding rounds the weights.
    config = get_config("tiny", head_dim=head_dim)
    reference = build_model(config, 0)
    npu = prepare(build_model(config, 0), "float", fold_scaling_into_k_proj=fold,
                  negate_sin_half=negate)
    ref_logits, ref_cache = _run(reference)
    npu_logits, npu_cache = _run(npu)      # prefill_then_decode passes the negated sin
    assert _rel(npu_logits, ref_logits) < 1e-5
    scale = reference.model.layers[0].self_attn.scaling if fold else 1.0
    for (k, v), (nk, nv) in zip(ref_cache, npu_cache):
        assert _rel(nk, k * scale) < 1e-5 and _rel(nv, v) < 1e-5   # the K cache is scaled

    # a layer given the ordinary tables vs the npu layer given the negated sin
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(1, SEQ, config.hidden_size, generator=gen)
    cos, sin = rope_cos_sin(config, torch.arange(SEQ))
    with torch.no_grad():
        out, _, _ = reference.model.layers[1](hidden, causal_mask(SEQ), (cos, sin))
        sin_in = negate_sin_first_half(sin) if negate else sin
        npu_out, _, _ = npu.model.layers[1](hidden, causal_mask(SEQ), (cos, sin_in))
    assert _rel(npu_out, out) < 1e-5


def _scripted_ops(module):
    graph = _inlined_graph(torch.jit.script(module))
    return graph, [n.kind() for n in _all_nodes(graph)]


def _muls_after_matmul(graph):
    return [n for n in _all_nodes(graph) if n.kind() == "aten::mul"
            and any(i.node().kind() == "aten::matmul" for i in n.inputs())]


@pytest.mark.parametrize("recipe", ["float", "w8a16"])
def test_npu_export_graph_has_no_neg_and_no_scaling_multiply(recipe):
    config = get_config("tiny")
    default = prepare(build_model(config, 0), recipe)
    npu = prepare(build_model(config, 0), recipe, npu_export=True)
    for module, layers in ((default.model.layers[0], 1), (default, config.num_hidden_layers)):
        graph, kinds = _scripted_ops(module)
        assert kinds.count("aten::neg") == 2 * layers            # q and k RoPE
        assert len(_muls_after_matmul(graph)) == layers
    for module in (npu.model.layers[0], npu):
        graph, kinds = _scripted_ops(module)
        assert "aten::neg" not in kinds
        assert not _muls_after_matmul(graph)
        assert "aten::matmul" in kinds
    # the saved code holds only the chosen branch: no neg, no scaling constant
    code = torch.jit.script(npu.model.layers[0]).self_attn.code
    assert "scaling" not in code and "0.25" not in code
    assert "torch.neg" not in torch.jit.script(npu.model.layers[0]).self_attn.q_rotary.code


def _converted_npu(recipe, **overrides):
    config = get_config("tiny", **overrides)
    model = build_model(config, 0)
    prepare(model, recipe, npu_export=True)
    calibrate(model, random_token_batches(config, 3, 1, 12, 1), decode_steps=3)
    return convert(model)


@pytest.mark.parametrize("recipe", QUANT_RECIPES)
def test_quantized_npu_export_model_stays_close_to_the_default(recipe, converted):
    default = _run(converted(recipe))[0]
    npu = _run(_converted_npu(recipe))[0]
    reference = _run(build_model(get_config("tiny"), 0))[0]
    if recipe == "w8a8":
        # Asymmetric 8-bit: cat(x2, x1) and the negated sin have other ranges than
        # cat(-x2, x1) and sin, so other zero points and scales.
        assert _rel(npu, default) < 0.15
    else:
        # Symmetric: the same ranges, and head_dim^-0.5 = 1/4 scales K's quantizers
        # exactly, so the same codes.
        assert _rel(npu, default) < 1e-6
    assert _rel(npu, reference) < 0.5


def test_quantized_npu_export_with_inexact_scaling_stays_close():
    default = make_converted("w8a16", head_dim=32)
    npu = _converted_npu("w8a16", head_dim=32)
    assert _rel(_run(npu)[0], _run(default)[0]) < 2e-2


def test_npu_export_saved_module_reloads_exactly(tmp_path):
    model = _converted_npu("w8a16")
    layer = model.model.layers[0]
    cos, sin = rope_cos_sin(model.config, torch.arange(SEQ), negate_sin_half=True)
    hidden = torch.randn(1, SEQ, model.config.hidden_size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected, _, _ = layer(hidden, causal_mask(SEQ), (cos, sin), None, True)
    save_torchscript(layer, str(tmp_path / "s.pt"))
    loaded = torch.jit.load(str(tmp_path / "s.pt"))
    assert npu_export_options(loaded) == (True, True)
    assert torch.equal(loaded(hidden, causal_mask(SEQ), (cos, sin), None, True, False)[0], expected)
    # traced: example inputs are made with the negated sin too
    save_torchscript(model, str(tmp_path / "t.pt"), scripted=False)
    traced = torch.jit.load(str(tmp_path / "t.pt"))
    ids = random_token_batches(model.config, 1, 1, SEQ, 4)[0]
    with torch.no_grad():
        logits, _, _ = model(ids, causal_mask(SEQ), (cos, sin), None, True)
    assert torch.equal(traced(ids, causal_mask(SEQ), cos, sin)[0], logits)
    assert "aten::neg" not in str(_inlined_graph(traced))


def test_hf_state_dict_loads_into_a_folded_model():
    config = get_config("tiny")
    source = build_model(config, 1)
    model = prepare(build_model(config, 0), "float", npu_export=True)
    load_hf_state_dict(model, source.state_dict())
    attn, src = model.model.layers[0].self_attn, source.model.layers[0].self_attn
    assert attn.scaling_folded
    assert torch.equal(attn.k_proj.weight, src.k_proj.weight * attn.scaling)
    assert _rel(_run(model)[0], _run(source)[0]) < 1e-5


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------

def _make(tmp_path, name, *args):
    pt, ref_dir = str(tmp_path / f"{name}.pt"), str(tmp_path / f"{name}.ref")
    assert main(["--seed", "0", "--seq-len", "5", "--cache-len", "5", "-o", pt,
                 "--reference", ref_dir, *args]) == 0
    with open(os.path.join(ref_dir, "index.json")) as f:
        index = json.load(f)
    return pt, ref_dir, index


@pytest.mark.parametrize("whole", [False, True])
def test_cli_npu_export(whole, tmp_path):
    extra = ["--whole-model"] if whole else []
    pt, ref_dir, index = _make(tmp_path, "npu", "--recipe", "w8a16", "--npu-export", *extra)
    _, base_dir, base_index = _make(tmp_path, "base", "--recipe", "w8a16", *extra)
    info = index["model"]
    assert info["fold_scaling_into_k_proj"] and info["negate_sin_half"] and info["quantize_mask"]
    assert not base_index["model"]["fold_scaling_into_k_proj"]
    assert not base_index["model"]["negate_sin_half"]
    ref, base = read_reference(ref_dir), read_reference(base_dir)
    for step in ("prefill", "decode"):
        inputs, base_inputs = dict(ref[step]["inputs"]), dict(base[step]["inputs"])
        assert torch.equal(inputs["sin"], negate_sin_first_half(base_inputs["sin"]))
        assert torch.equal(inputs["cos"], base_inputs["cos"])
        first = "logits" if whole else "hidden"
        out, base_out = dict(ref[step]["outputs"]), dict(base[step]["outputs"])
        assert _rel(out[first], base_out[first]) < 1e-6       # tiny: head_dim^-0.5 = 1/4
    saved = torch.jit.load(pt)
    assert npu_export_options(saved) == (True, True)
    graph = _inlined_graph(saved)
    kinds = [n.kind() for n in _all_nodes(graph)]
    assert "aten::neg" not in kinds and not _muls_after_matmul(graph)
    # the reference is what the saved file computes on the written inputs
    t = [x for _, x in ref["prefill"]["inputs"]]
    out = saved(t[0], t[1], (t[2], t[3]), None, True, False)[0]
    assert torch.equal(out, ref["prefill"]["outputs"][0][1])


def test_cli_single_options_and_no_mask_quant(tmp_path):
    pt, ref_dir, index = _make(tmp_path, "sin", "--recipe", "w8a8", "--negate-sin-half",
                               "--no-mask-quant")
    info = index["model"]
    assert info["negate_sin_half"] and not info["fold_scaling_into_k_proj"]
    assert not info["quantize_mask"]
    saved = torch.jit.load(pt)
    assert npu_export_options(saved) == (False, True)
    assert not _fake_quant_users(_inlined_graph(saved), "attention_mask")
    _, _, index = _make(tmp_path, "fold", "--recipe", "w8a8", "--fold-scaling-into-k-proj")
    assert index["model"]["fold_scaling_into_k_proj"] and not index["model"]["negate_sin_half"]
    assert index["model"]["quantize_mask"]
