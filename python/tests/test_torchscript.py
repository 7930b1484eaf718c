"""Tests of saved TorchScript: exact reload, graph branches, and the fake-quant node form."""

import pytest
import torch

from conftest import QUANT_RECIPES
from kiln_torch import (causal_mask, get_config, iter_quantizers,
                        random_token_batches, rope_cos_sin, save_torchscript)

SEQ, CACHE = 6, 6


def _layer_inputs(config, seed=0):
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(1, SEQ, config.hidden_size, generator=gen)
    step = torch.randn(1, 1, config.hidden_size, generator=gen)
    cos, sin = rope_cos_sin(config, torch.arange(SEQ))
    cos1, sin1 = rope_cos_sin(config, [CACHE])
    return (hidden, causal_mask(SEQ), cos, sin), (step, causal_mask(1, CACHE), cos1, sin1)


def _inlined_graph(module):
    graph = module.graph.copy()
    torch._C._jit_pass_inline(graph)
    return graph


def _nodes(graph, kind):
    return [n for n in graph.nodes() if n.kind() == kind]


def _all_nodes(block):
    for node in block.nodes():
        yield node
        for sub in node.blocks():
            yield from _all_nodes(sub)


@pytest.mark.parametrize("recipe,per_head", [("float", False)] + [
    (recipe, per_head) for recipe in QUANT_RECIPES for per_head in (False, True)])
def test_scripted_and_traced_layer_reload_exactly(recipe, per_head, converted, tmp_path):
    model = converted(recipe, per_head)
    layer = model.model.layers[1]
    prefill, step = _layer_inputs(model.config)
    with torch.no_grad():
        hidden, (key, value), _ = layer(prefill[0], prefill[1], (prefill[2], prefill[3]), None, True)
        step_hidden, (step_key, step_value), _ = layer(step[0], step[1], (step[2], step[3]),
                                                       (key, value), True)

    save_torchscript(layer, str(tmp_path / "s.pt"), scripted=True)
    scripted = torch.jit.load(str(tmp_path / "s.pt"))
    s_hidden, s_cache, _ = scripted(prefill[0], prefill[1], (prefill[2], prefill[3]), None, True, False)
    assert torch.equal(s_hidden, hidden) and torch.equal(s_cache[0], key) and torch.equal(s_cache[1], value)
    s_hidden, s_cache, _ = scripted(step[0], step[1], (step[2], step[3]), s_cache, True, False)
    assert torch.equal(s_hidden, step_hidden)
    assert torch.equal(s_cache[0], step_key) and torch.equal(s_cache[1], step_value)

    save_torchscript(layer, str(tmp_path / "t.pt"), scripted=False, example_inputs=prefill,
                     decode_example_inputs=step + (key, value))
    traced = torch.jit.load(str(tmp_path / "t.pt"))
    t_hidden, t_key, t_value = traced(*prefill)
    assert torch.equal(t_hidden, hidden) and torch.equal(t_key, key) and torch.equal(t_value, value)
    t_hidden, t_key, t_value = traced.decode(*step, t_key, t_value)
    assert torch.equal(t_hidden, step_hidden) and torch.equal(t_key, step_key)
    assert torch.equal(t_value, step_value)


@pytest.mark.parametrize("recipe", ["float", "w8a8"])
def test_scripted_and_traced_model_reload_exactly(recipe, converted, tmp_path):
    model = converted(recipe)
    config = model.config
    ids = random_token_batches(config, 1, 1, SEQ + 1, 3)[0]
    cos, sin = rope_cos_sin(config, torch.arange(SEQ))
    cos1, sin1 = rope_cos_sin(config, [SEQ])
    prefill = (ids[:, :SEQ], causal_mask(SEQ), cos, sin)
    step = (ids[:, SEQ:], causal_mask(1, SEQ), cos1, sin1)
    with torch.no_grad():
        logits, cache, _ = model(prefill[0], prefill[1], (cos, sin), None, True)
        step_logits, step_cache, _ = model(step[0], step[1], (cos1, sin1), cache, True)
    flat_cache = [t for kv in cache for t in kv]

    scripted = save_torchscript(model, str(tmp_path / "s.pt"))
    scripted = torch.jit.load(str(tmp_path / "s.pt"))
    s_logits, s_cache, _ = scripted(prefill[0], prefill[1], (cos, sin), None, True, False)
    assert torch.equal(s_logits, logits)
    s_logits, s_cache, _ = scripted(step[0], step[1], (cos1, sin1), s_cache, True, False)
    assert torch.equal(s_logits, step_logits)
    assert all(torch.equal(a, b) for kv, skv in zip(step_cache, s_cache) for a, b in zip(kv, skv))

    save_torchscript(model, str(tmp_path / "t.pt"), scripted=False, example_inputs=prefill,
                     decode_example_inputs=step + tuple(flat_cache))
    traced = torch.jit.load(str(tmp_path / "t.pt"))
    out = traced(*prefill)
    assert len(out) == 1 + 2 * config.num_hidden_layers and torch.equal(out[0], logits)
    out = traced.decode(*step, *out[1:])
    assert torch.equal(out[0], step_logits)
    assert torch.equal(out[-1], step_cache[-1][1])


def _branch_conditions(graph):
    """Names of what each prim::If in the graph (nested ones too) is conditioned on."""
    inputs = {v.debugName(): v for v in graph.inputs()}
    conditions = []
    for node in _all_nodes(graph):
        if node.kind() != "prim::If":
            continue
        cond = node.input()
        producer = cond.node()
        if cond in inputs.values():
            conditions.append(cond.debugName().split(".")[0])
        elif producer.kind() in ("aten::__is__", "aten::__isnot__"):
            conditions.append(producer.kind() + ":" + producer.inputsAt(0).debugName().split(".")[0])
        else:
            conditions.append(producer.kind())
    return conditions


@pytest.mark.parametrize("recipe", ["float", "w8a16"])
def test_scripted_layer_keeps_exactly_the_three_forward_branches(recipe, converted):
    layer = torch.jit.script(converted(recipe, per_head=True).model.layers[0])
    conditions = _branch_conditions(_inlined_graph(layer))
    assert sorted(conditions) == sorted(["aten::__is__:past_key_value", "use_cache", "output_attentions"])


def test_scripted_model_keeps_cache_branches(converted):
    model = torch.jit.script(converted("w8a16"))
    conditions = _branch_conditions(_inlined_graph(model))
    layers = model.model.layers
    assert conditions.count("aten::__isnot__:past_key_values") == len(layers)
    assert conditions.count("use_cache") >= len(layers)
    assert "output_attentions" in conditions


def test_float_graph_has_no_quantizer_left(converted):
    graph = _inlined_graph(torch.jit.script(converted("float").model.layers[0]))
    text = str(graph)
    assert "fake_quantize" not in text
    assert not _nodes(graph, "prim::CallMethod")


def _fake_quant_nodes(graph):
    return [n for n in _all_nodes(graph) if n.kind().startswith("aten::fake_quantize_per_")]


@pytest.mark.parametrize("per_head", [False, True])
@pytest.mark.parametrize("recipe", QUANT_RECIPES)
def test_fake_quant_nodes_have_the_importer_form(recipe, per_head, converted):
    model = converted(recipe, per_head)
    layer = model.model.layers[0]
    graph = _inlined_graph(torch.jit.script(layer))
    nodes = _fake_quant_nodes(graph)
    enabled = sum(1 for _, q in iter_quantizers(layer) if q.enabled)
    per_channel = sum(1 for _, q in iter_quantizers(layer) if q.enabled and q.per_channel)
    # every quantizer is called once per forward except the shared cos/sin tables: none are
    assert len(nodes) == enabled
    assert sum(n.kind() == "aten::fake_quantize_per_channel_affine" for n in nodes) == per_channel
    weight_inputs = 0
    for node in nodes:
        args = list(node.inputs())
        if node.kind() == "aten::fake_quantize_per_tensor_affine":
            assert len(args) == 5
            assert str(args[1].type()) == "float" and str(args[2].type()) == "int"
            assert args[1].node().kind() in ("prim::GetAttr", "prim::Constant")
            assert args[2].node().kind() in ("prim::GetAttr", "prim::Constant")
        else:
            assert len(args) == 6
            assert args[1].node().kind() == "prim::GetAttr" and args[2].node().kind() == "prim::GetAttr"
            assert args[3].node().kind() == "prim::Constant"
        for bound in args[-2:]:
            assert bound.node().kind() == "prim::Constant" and str(bound.type()) == "int"
        source = args[0].node()
        if source.kind() == "prim::GetAttr" and source.s("name") == "weight":
            weight_inputs += 1
    # 7 projections + 2 norms take the float weight straight from the module
    assert weight_inputs == 9


def test_traced_graph_has_the_same_fake_quant_calls(converted, tmp_path):
    layer = converted("w8a16").model.layers[0]
    prefill, _ = _layer_inputs(get_config("tiny"))
    traced = save_torchscript(layer, str(tmp_path / "t.pt"), scripted=False, example_inputs=prefill)
    scripted = torch.jit.script(layer)
    t_nodes = _fake_quant_nodes(_inlined_graph(traced))
    s_nodes = _fake_quant_nodes(_inlined_graph(scripted))
    assert sorted(n.kind() for n in t_nodes) == sorted(n.kind() for n in s_nodes)


@pytest.mark.parametrize("part", ["layer", "model"])
def test_traced_save_without_example_inputs(part, converted, tmp_path):
    model = converted("w8a8")
    module = model.model.layers[0] if part == "layer" else model
    path = str(tmp_path / "t.pt")
    save_torchscript(module, path, scripted=False)
    traced = torch.jit.load(path)
    if part == "layer":
        prefill, step = _layer_inputs(model.config)
        with torch.no_grad():
            hidden, cache, _ = module(prefill[0], prefill[1], (prefill[2], prefill[3]), None, True)
            step_hidden, _, _ = module(step[0], step[1], (step[2], step[3]), cache, True)
        out = traced(*prefill)
        assert torch.equal(out[0], hidden)
        assert torch.equal(traced.decode(*step, out[1], out[2])[0], step_hidden)
    else:
        ids = random_token_batches(model.config, 1, 1, SEQ, 7)[0]
        cos, sin = rope_cos_sin(model.config, torch.arange(SEQ))
        with torch.no_grad():
            logits, _, _ = module(ids, causal_mask(SEQ), (cos, sin), None, True)
        assert torch.equal(traced(ids, causal_mask(SEQ), cos, sin)[0], logits)
        assert hasattr(traced, "decode")
