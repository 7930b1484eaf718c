"""TorchScript files that call operators LibTorch 1.13 does not define.

usage: make_extra_ops.py KIND OUT.pt [REF_DIR]

PyTorch 2.x files call aten::scaled_dot_product_attention and TICO files
circle_custom::rms_norm; LibTorch 1.13 has neither. This script defines the
same schemas in Python (torch.library), scripts a module that calls them, and
saves it; Kiln must load the file with its own registrations. With REF_DIR it
also writes a reference folder (step "forward": inputs and out0 computed by
plain PyTorch ops, not by the custom op) for kiln-run --inputs-from.

KINDs: traced-attention-H-KV-L (a traced attention block around sdpa with
is_causal and enable_gqa, H heads on KV heads, length L, with NAME.ref.pt
beside it), sdpa-mask (explicit additive mask, explicit scale), sdpa-causal-gqa
(is_causal=True, enable_gqa=True, 4 query heads on 2 KV heads, default
scale), rms-norm (circle_custom::rms_norm with its default eps), unknown (a
call of an operator nobody registers at load time).
"""
import json
import math
import os
import sys

import torch
from torch import Tensor, nn

# torch 1.13's torch.library cannot add to the aten namespace: the module is
# scripted against a stand-in with PyTorch 2.x's schema, and the saved code
# is then rewritten to call torch.scaled_dot_product_attention, as PyTorch 2.x
# writes it (same length, so the debug info's source ranges stay valid).
_sdpa = torch.library.Library("kiln_sdpa", "DEF")
_sdpa.define("scaled_dot_product_attention(Tensor query, Tensor key, Tensor value, "
             "Tensor? attn_mask=None, float dropout_p=0.0, bool is_causal=False, *, "
             "float? scale=None, bool enable_gqa=False) -> Tensor")


def _stand_in(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, *,
              scale=None, enable_gqa=False):
    return sdpa_reference(query, key, value, attn_mask, is_causal, scale, enable_gqa)


STAND_IN = b"ops.kiln_sdpa.scaled_dot_product_attention("
PYTORCH2 = b"torch.scaled_dot_product_attention"
PYTORCH2 += b" " * (len(STAND_IN) - len(PYTORCH2) - 1) + b"("


def sdpa_reference(q, k, v, mask=None, causal=False, scale=None, gqa=False):
    if gqa:
        k = k.repeat_interleave(q.shape[-3] // k.shape[-3], -3)
        v = v.repeat_interleave(q.shape[-3] // v.shape[-3], -3)
    s = (q @ k.transpose(-2, -1)) * (scale if scale is not None else 1 / math.sqrt(q.shape[-1]))
    if causal:
        keep = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
        s = s.masked_fill(~keep, float("-inf"))
    if mask is not None:
        s = s + mask
    return torch.softmax(s, -1) @ v


_sdpa.impl("scaled_dot_product_attention", _stand_in, "CompositeImplicitAutograd")
_circle = torch.library.Library("circle_custom", "DEF")
_circle.define("rms_norm(Tensor hidden_states, Tensor weight, float eps=1e-06) -> Tensor")
_test = torch.library.Library("kiln_test", "DEF")
_test.define("mystery(Tensor x) -> Tensor")


class SdpaMask(nn.Module):
    def forward(self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor) -> Tensor:
        return torch.ops.kiln_sdpa.scaled_dot_product_attention(
            query, key, value, mask, 0.0, False, scale=0.3)  # LINE-SDPA


class SdpaCausalGqa(nn.Module):
    def forward(self, query: Tensor, key: Tensor, value: Tensor) -> Tensor:
        return torch.ops.kiln_sdpa.scaled_dot_product_attention(
            query, key, value, None, 0.0, True, enable_gqa=True)  # LINE-SDPA-GQA


class RmsNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.linspace(0.5, 1.5, 8))

    def forward(self, x: Tensor) -> Tensor:
        return torch.ops.circle_custom.rms_norm(x, self.weight)  # LINE-RMS


class TracedAttention(nn.Module):
    """Attention around sdpa(is_causal, enable_gqa), traced as HF code is."""

    def __init__(self, hidden, heads, kv_heads):
        super().__init__()
        self.heads, self.kv_heads, self.dim = heads, kv_heads, hidden // heads
        self.q = nn.Linear(hidden, heads * self.dim, bias=False)
        self.k = nn.Linear(hidden, kv_heads * self.dim, bias=False)
        self.v = nn.Linear(hidden, kv_heads * self.dim, bias=False)
        self.o = nn.Linear(heads * self.dim, hidden, bias=False)

    def split(self, x, n):
        b, l, _ = x.shape
        return x.view(b, l, n, self.dim).transpose(1, 2)

    def forward(self, hidden_states: Tensor, sdpa=None) -> Tensor:
        b, l, _ = hidden_states.shape
        q = self.split(self.q(hidden_states), self.heads)
        k = self.split(self.k(hidden_states), self.kv_heads)
        v = self.split(self.v(hidden_states), self.kv_heads)
        if sdpa is None:
            o = torch.ops.kiln_sdpa.scaled_dot_product_attention(
                q, k, v, None, 0.0, True, enable_gqa=True)  # LINE-TRACED-SDPA
        else:
            o = sdpa(q, k, v, causal=True, gqa=True)
        return self.o(o.transpose(1, 2).reshape(b, l, -1))


class Unknown(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.ops.kiln_test.mystery(x) + x  # LINE-MYSTERY


def rewrite_stand_in(path):
    import zipfile
    with zipfile.ZipFile(path) as z:
        entries = [(info, z.read(info.filename)) for info in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for info, data in entries:
            if info.filename.endswith(".py"):
                data = data.replace(STAND_IN, PYTORCH2)
            z.writestr(info, data)


def write_reference(directory, inputs, output):
    os.makedirs(directory, exist_ok=True)
    index = {"forward": {"inputs": [], "outputs": []}}
    for kind, items in (("inputs", inputs.items()), ("outputs", [("out0", output)])):
        for name, t in items:
            a = t.detach().contiguous().numpy()
            f = "forward.%s.bin" % name
            a.tofile(os.path.join(directory, f))
            index["forward"][kind].append(
                {"name": name, "file": f, "shape": list(a.shape), "dtype": str(a.dtype)})
    with open(os.path.join(directory, "index.json"), "w") as fh:
        json.dump(index, fh)


def main():
    kind, out = sys.argv[1], sys.argv[2]
    ref = sys.argv[3] if len(sys.argv) > 3 else None
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g)
    if kind == "sdpa-mask":
        module = SdpaMask()
        inputs = {"query": r(1, 2, 5, 8), "key": r(1, 2, 5, 8), "value": r(1, 2, 5, 8),
                  "mask": torch.triu(torch.full((5, 5), -100.0), 1).expand(1, 1, 5, 5)}
        expected = sdpa_reference(*inputs.values(), scale=0.3)
    elif kind == "sdpa-causal-gqa":
        module = SdpaCausalGqa()
        inputs = {"query": r(1, 4, 6, 8), "key": r(1, 2, 6, 8), "value": r(1, 2, 6, 8)}
        expected = sdpa_reference(*inputs.values(), causal=True, gqa=True)
    elif kind == "rms-norm":
        module = RmsNorm()
        x = r(1, 3, 8)
        inputs = {"x": x}
        w = module.weight.detach()
        expected = w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))
    elif kind.startswith("traced-attention"):
        # traced-attention-H-KV-L: a traced file and its NAME.ref.pt (inputs
        # by argument name, out0), the fixtures' format.
        _, _, heads, kv, length = kind.split("-")
        torch.manual_seed(0)
        module = TracedAttention(32, int(heads), int(kv)).eval()
        x = torch.randn(1, int(length), 32)
        traced = torch.jit.trace(module, (x,))
        traced.save(out)
        rewrite_stand_in(out)
        with torch.no_grad():
            torch.save({"hidden_states": x, "out0": module(x, sdpa_reference)},
                       out[:-3] + ".ref.pt")
        return
    elif kind == "unknown":
        module, inputs, expected = Unknown(), None, None
    else:
        raise SystemExit("unknown kind " + kind)
    torch.jit.script(module).save(out)
    if kind.startswith("sdpa"):
        rewrite_stand_in(out)
    if ref and inputs is not None:
        write_reference(ref, inputs, expected)


if __name__ == "__main__":
    main()
