"""Tests of the make_model CLI and the reference folder it writes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from kiln_torch.make_model import main
from kiln_torch.reference import read_reference

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ITEM_SIZE = {"float32": 4, "int32": 4, "int64": 8}


def _entries(index, step, kind):
    return [(e["name"], e["shape"], e["dtype"]) for e in index[step][kind]]


def _check_files(folder, index):
    for step in ("prefill", "decode"):
        for kind in ("inputs", "outputs"):
            for entry in index[step][kind]:
                assert set(entry) == {"name", "file", "shape", "dtype"}
                assert entry["file"] == f"{step}.{entry['name']}.bin"
                size = os.path.getsize(os.path.join(folder, entry["file"]))
                assert size == int(np.prod(entry["shape"])) * ITEM_SIZE[entry["dtype"]], entry


def _layer_schema(seq, cache, hidden, kv_heads, head_dim):
    f = "float32"
    return {
        ("prefill", "inputs"): [("hidden_states", [1, seq, hidden], f),
                                ("attention_mask", [1, 1, seq, seq], f),
                                ("cos", [1, seq, head_dim], f), ("sin", [1, seq, head_dim], f)],
        ("prefill", "outputs"): [("hidden", [1, seq, hidden], f),
                                 ("key", [1, kv_heads, seq, head_dim], f),
                                 ("value", [1, kv_heads, seq, head_dim], f)],
        ("decode", "inputs"): [("hidden_states", [1, 1, hidden], f),
                               ("attention_mask", [1, 1, 1, cache + 1], f),
                               ("cos", [1, 1, head_dim], f), ("sin", [1, 1, head_dim], f),
                               ("past_key", [1, kv_heads, cache, head_dim], f),
                               ("past_value", [1, kv_heads, cache, head_dim], f)],
        ("decode", "outputs"): [("hidden", [1, 1, hidden], f),
                                ("new_key", [1, kv_heads, 1, head_dim], f),
                                ("new_value", [1, kv_heads, 1, head_dim], f)],
    }


def _replay_layer(pt, ref):
    """Runs the saved scripted layer on the reference inputs; returns outputs per step."""
    module = torch.jit.load(pt)
    results = {}
    for step in ("prefill", "decode"):
        t = [x for _, x in ref[step]["inputs"]]
        past = (t[4], t[5]) if step == "decode" else None
        hidden, cache, _ = module(t[0], t[1], (t[2], t[3]), past, True, False)
        results[step] = (hidden, cache)
    return results


def test_cli_subprocess_writes_model_and_reference(tmp_path):
    out, ref_dir = tmp_path / "tiny.pt", tmp_path / "tiny.ref"
    cmd = [sys.executable, "-m", "kiln_torch.make_model", "--preset", "tiny", "--recipe", "w8a16",
           "--seed", "0", "--seq-len", "16", "--cache-len", "16", "-o", str(out),
           "--reference", str(ref_dir)]
    subprocess.run(cmd, cwd=PYTHON_DIR, check=True, capture_output=True)
    assert out.stat().st_size > 0
    index = json.loads((ref_dir / "index.json").read_text())
    assert set(index) == {"model", "prefill", "decode"}
    info = index["model"]
    assert {k: info[k] for k in ("preset", "recipe", "per_head", "layer", "scripted")} == {
        "preset": "tiny", "recipe": "w8a16", "per_head": False, "layer": 0, "scripted": True}
    assert info["config"]["hidden_size"] == 64 and info["config"]["num_key_value_heads"] == 2
    schema = _layer_schema(16, 16, 64, 2, 16)
    for (step, kind), expected in schema.items():
        assert _entries(index, step, kind) == expected, (step, kind)
    _check_files(str(ref_dir), index)

    ref = read_reference(str(ref_dir))
    prefill_out = dict(ref["prefill"]["outputs"])
    decode_in, decode_out = dict(ref["decode"]["inputs"]), dict(ref["decode"]["outputs"])
    # decode continues the reference prefill
    assert torch.equal(decode_in["past_key"], prefill_out["key"])
    assert torch.equal(decode_in["past_value"], prefill_out["value"])
    # the saved module reproduces the reference exactly
    replay = _replay_layer(str(out), ref)
    assert torch.equal(replay["prefill"][0], prefill_out["hidden"])
    assert torch.equal(replay["prefill"][1][0], prefill_out["key"])
    assert torch.equal(replay["decode"][0], decode_out["hidden"])
    assert torch.equal(replay["decode"][1][0][:, :, :16], decode_in["past_key"])
    assert torch.equal(replay["decode"][1][0][:, :, 16:], decode_out["new_key"])
    assert torch.equal(replay["decode"][1][1][:, :, 16:], decode_out["new_value"])


def _make(tmp_path, name, *args):
    pt, ref_dir = str(tmp_path / f"{name}.pt"), str(tmp_path / f"{name}.ref")
    assert main(["--seed", "0", "-o", pt, "--reference", ref_dir, *args]) == 0
    with open(os.path.join(ref_dir, "index.json")) as f:
        index = json.load(f)
    _check_files(ref_dir, index)
    return pt, ref_dir, index


@pytest.mark.parametrize("heads,kv_heads", [(4, 4), (4, 2), (8, 2)])
@pytest.mark.parametrize("recipe", ["float", "w4a16-asym", "w8a8"])
def test_cli_layer_variants(recipe, heads, kv_heads, tmp_path):
    pt, ref_dir, index = _make(tmp_path, "m", "--recipe", recipe, "--layer", "1", "--per-head",
                               "--num-heads", str(heads), "--num-kv-heads", str(kv_heads),
                               "--seq-len", "8", "--cache-len", "5")
    assert index["model"]["layer"] == 1 and index["model"]["per_head"] is True
    assert index["model"]["config"]["num_attention_heads"] == heads
    for (step, kind), expected in _layer_schema(8, 5, 64, kv_heads, 16).items():
        assert _entries(index, step, kind) == expected
    ref = read_reference(ref_dir)
    replay = _replay_layer(pt, ref)
    assert torch.equal(replay["prefill"][0], dict(ref["prefill"]["outputs"])["hidden"])
    assert torch.equal(replay["decode"][0], dict(ref["decode"]["outputs"])["hidden"])


def test_cli_traced_layer(tmp_path):
    pt, ref_dir, index = _make(tmp_path, "t", "--traced", "--seq-len", "8", "--cache-len", "8")
    assert index["model"]["scripted"] is False
    ref = read_reference(ref_dir)
    module = torch.jit.load(pt)
    hidden, key, value = module(*[x for _, x in ref["prefill"]["inputs"]])
    assert torch.equal(hidden, dict(ref["prefill"]["outputs"])["hidden"])
    hidden, key, value = module.decode(*[x for _, x in ref["decode"]["inputs"]])
    assert torch.equal(hidden, dict(ref["decode"]["outputs"])["hidden"])
    assert torch.equal(value[:, :, -1:], dict(ref["decode"]["outputs"])["new_value"])


@pytest.mark.parametrize("traced", [False, True])
def test_cli_whole_model(traced, tmp_path):
    extra = ["--traced"] if traced else []
    pt, ref_dir, index = _make(tmp_path, "w", "--whole-model", "--recipe", "w4a16",
                               "--seq-len", "6", "--cache-len", "6", *extra)
    assert index["model"]["layer"] is None and index["model"]["whole_model"] is True
    layers, kv, d, vocab = 2, 2, 16, 256
    names = [e["name"] for e in index["prefill"]["inputs"]]
    assert names == ["input_ids", "attention_mask", "cos", "sin"]
    assert index["prefill"]["inputs"][0]["dtype"] == "int64"
    assert index["prefill"]["inputs"][0]["shape"] == [1, 6]
    outs = _entries(index, "prefill", "outputs")
    assert outs[0] == ("logits", [1, 6, vocab], "float32")
    assert outs[1:] == [(f"{kind}.{i}", [1, kv, 6, d], "float32")
                        for i in range(layers) for kind in ("key", "value")]
    dec_in = _entries(index, "decode", "inputs")
    assert [n for n, _, _ in dec_in] == ["input_ids", "attention_mask", "cos", "sin"] + [
        f"past_{kind}.{i}" for i in range(layers) for kind in ("key", "value")]
    dec_out = _entries(index, "decode", "outputs")
    assert dec_out[0] == ("logits", [1, 1, vocab], "float32")
    assert dec_out[1:] == [(f"new_{kind}.{i}", [1, kv, 1, d], "float32")
                           for i in range(layers) for kind in ("key", "value")]
    ref = read_reference(ref_dir)
    prefill_out, decode_in = dict(ref["prefill"]["outputs"]), dict(ref["decode"]["inputs"])
    for i in range(layers):
        assert torch.equal(decode_in[f"past_key.{i}"], prefill_out[f"key.{i}"])


def test_cli_is_deterministic(tmp_path):
    _, first, _ = _make(tmp_path, "a", "--recipe", "w8a8", "--seq-len", "5", "--cache-len", "5")
    _, second, _ = _make(tmp_path, "b", "--recipe", "w8a8", "--seq-len", "5", "--cache-len", "5")
    _, other, _ = _make(tmp_path, "c", "--recipe", "w8a8", "--seq-len", "5", "--cache-len", "5",
                        "--seed", "1")
    name = "decode.hidden.bin"
    read = lambda folder: open(os.path.join(folder, name), "rb").read()  # noqa: E731
    assert read(first) == read(second)
    assert read(first) != read(other)


def test_cli_rejects_bad_layer(tmp_path):
    with pytest.raises(SystemExit):
        main(["--layer", "2", "-o", str(tmp_path / "x.pt")])
