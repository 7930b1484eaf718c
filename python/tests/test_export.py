"""kiln_torch.export (the Python API over kiln-convert) and the contract references."""

import os

import pytest
import torch

from conftest import make_converted
from kiln_torch import (KilnError, contract_steps, export, find_kiln_convert, ring_slots,
                        rope_cos_sin, save_torchscript, window_mask)


def _kiln_convert():
    try:
        return find_kiln_convert()
    except FileNotFoundError:
        return None


needs_kiln = pytest.mark.skipif(_kiln_convert() is None,
                                reason="kiln-convert not built (set KILN_CONVERT)")


@pytest.fixture(scope="module")
def layer():
    return make_converted("w8a16").model.layers[0]


@needs_kiln
def test_export_module_buckets(layer, tmp_path):
    out = tmp_path / "layer.circle"
    summary = export(layer, out, mode="prefill+decode", seq_lens=[8, 16], cache_len=16,
                     recipe="w8a16")
    names = [s["name"] for s in summary["signatures"]]
    assert names == ["prefill_8", "prefill_16", "decode"]
    assert summary["file_bytes"] == os.path.getsize(out)
    prefill_16 = summary["signatures"][1]
    assert prefill_16["inputs"][0] == {"name": "hidden_states", "shape": [1, 16, 64],
                                       "dtype": "f32", "quantized": False}
    assert [o["name"] for o in prefill_16["outputs"]] == ["hidden", "key", "value"]
    assert all(s["float_ops"] == 0 for s in summary["signatures"])
    contract = summary["contract"]
    assert [(s["name"], s["tokens"], s["past"]) for s in contract["signatures"]] == [
        ("prefill_8", 8, 0), ("prefill_16", 16, 0), ("decode", 1, 16)]
    assert contract["recipe"] == "w8a16"

    # Each weight once: the two-bucket file stores the int8 weight bytes of a
    # one-bucket file (only the int32 shape constants of the second bucket add).
    single = export(layer, tmp_path / "one.circle", mode="prefill+decode", seq_lens=16,
                    cache_len=16)
    by_type, single_by_type = summary["constant_bytes_by_type"], single["constant_bytes_by_type"]
    assert by_type["int8"] == single_by_type["int8"] > 30000
    assert summary["constant_bytes"] - single["constant_bytes"] < 200


@needs_kiln
def test_export_path_append_window(layer, tmp_path):
    pt = tmp_path / "layer.pt"
    save_torchscript(layer, str(pt))
    summary = export(str(pt), tmp_path / "w.tflite", mode="append+decode", append_lens=[4, 8],
                     sliding_window=8, format="tflite", key_layout="bhds")
    sigs = {s["name"]: s for s in summary["signatures"]}
    assert list(sigs) == ["append_4", "append_8", "decode"]
    inputs = {t["name"]: t["shape"] for t in sigs["append_4"]["inputs"]}
    assert inputs["attention_mask"] == [1, 1, 4, 12]
    assert inputs["past_key"] == [1, 2, 16, 8]      # bhds: head_dim before positions
    assert inputs["past_value"] == [1, 2, 8, 16]
    assert summary["contract"]["sliding_window"] == 8
    assert summary["contract"]["key_layout"] == "bhds"
    assert summary["format"] == "tflite"


@needs_kiln
def test_export_failure_raises_with_diagnostics(layer, tmp_path):
    out = tmp_path / "bad.circle"
    with pytest.raises(KilnError) as info:
        export(layer, out, mode="append", cache_len=16)     # no append_lens
    assert "--append-len" in str(info.value)
    assert info.value.returncode == 1
    assert not out.exists()

    class Unsupported(torch.nn.Module):
        def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
            return torch.fft.fft(hidden_states).real

    with pytest.raises(KilnError) as info:
        export(Unsupported(), out, seq_lens=4)
    assert "error:" in info.value.diagnostics
    assert "fft" in info.value.diagnostics
    assert not out.exists()


def test_export_without_kiln_convert(layer, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("KILN_CONVERT", raising=False)
    with pytest.raises(FileNotFoundError):
        export(layer, tmp_path / "x.circle", seq_lens=4)


# --- contract references (kiln_torch.contracts) ------------------------------

def test_ring_slots_and_window_mask():
    assert ring_slots(11, 8).tolist() == [8, 9, 10, 3, 4, 5, 6, 7]
    assert ring_slots(3, 4).tolist() == [0, 1, 2, -1]
    mask = window_mask(torch.tensor([10]), torch.tensor([2, 3, 9, 10, 11, -1]), 7)
    assert (mask[0, 0, 0] == 0).tolist() == [False, True, True, True, False, False]


@torch.no_grad()
def test_sliding_window_decode_matches_windowed_prefill(layer):
    """Decode over a ring buffer of W slots gives the last row of a prefill whose
    mask keeps each query's W previous positions (the contract's meaning)."""
    model = make_converted("w8a16")
    config = model.config
    window, history = 6, 9
    x = torch.randn(1, history + 1, config.hidden_size, generator=torch.Generator().manual_seed(3))

    def call(inputs):
        t = [tensor for _, tensor in inputs]
        past = (t[4], t[5]) if len(t) == 6 else None
        hidden, present, _ = layer(t[0], t[1], (t[2], t[3]), past, True, False)
        return hidden, [present[0], present[1]]

    def rope(positions):
        return rope_cos_sin(config, positions)

    steps = contract_steps(call, x, "hidden_states", 0, "hidden", rope, [history + 1], [], 0,
                           window=window, with_decode=True)
    full = steps["prefill"][1][0][1]
    decode_inputs = dict(steps["decode"][0])
    assert decode_inputs["past_key"].shape[2] == window
    decode = steps["decode"][1][0][1]
    # The same fake-quant graph on the same visible positions: equal up to the
    # order of the softmax sums.
    assert torch.allclose(decode[0, 0], full[0, history], atol=1e-5)
    # Without the window the last row differs (it sees every position).
    plain = contract_steps(call, x, "hidden_states", 0, "hidden", rope, [history + 1], [], 0,
                           with_decode=False)["prefill"][1][0][1]
    assert not torch.allclose(plain[0, history], full[0, history], atol=1e-3)
