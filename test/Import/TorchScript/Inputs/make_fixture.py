"""Small TorchScript fixtures for the importer's tests.

usage: make_fixture.py KIND OUT

Each KIND scripts a tiny module (or writes a broken file) to OUT. The
`# LINE-...` comments mark source lines the tests check locations against.
"""
import sys
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Unsupported(nn.Module):
    def forward(self, x: Tensor, flag: bool) -> Tensor:
        y = F.gelu(x)  # LINE-GELU
        z = torch.exp(y)  # LINE-EXP
        w = F.gelu(z)  # a second gelu: reported once, at the first
        if flag:
            w = torch.erf(w)  # LINE-ERF
        return torch.tanh(w) + x  # LINE-TANH


class ScaleArgument(nn.Module):
    def forward(self, x: Tensor, scale: float) -> Tensor:
        return torch.fake_quantize_per_tensor_affine(x, scale, 0, -128, 127)  # LINE-FQ


class ScalesComputed(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("scales", torch.tensor([0.5, 0.25]))
        self.register_buffer("zero_points", torch.zeros(2, dtype=torch.int32))

    def forward(self, x: Tensor) -> Tensor:
        return torch.fake_quantize_per_channel_affine(
            x, self.scales * 2.0, self.zero_points, 0, -128, 127)  # LINE-FQC


class NoForward(nn.Module):
    @torch.jit.export
    def run(self, x: Tensor) -> Tensor:
        return x * 2.0


class Loop(nn.Module):
    def forward(self, x: Tensor, n: int) -> Tensor:
        for i in range(n):
            x = x * 2.0 + float(i)
        return x


class WhileLoop(nn.Module):
    def forward(self, x: Tensor, n: int) -> Tensor:
        while n > 1:  # LINE-WHILE
            n = n // 2
            x = x * 2.0
        return x


class EscapingList(nn.Module):
    def forward(self, x: Tensor, flag: bool) -> List[Tensor]:
        items: List[Tensor] = []
        if flag:
            out = items  # an alias taken before the append
        else:
            out = [x, x]
        items.append(x)  # LINE-APPEND
        return out


class Ops(nn.Module):
    """ATen ops kiln_torch's Llama does not use, and scalar arithmetic."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.arange(12.0).reshape(3, 4))
        self.register_buffer("table", torch.arange(20.0).reshape(5, 4))
        self.eps = 0.5
        self.heads = 2

    def forward(self, x: Tensor, mask: Tensor, ids: Tensor) -> Tuple[Tensor, Tensor, int]:
        n = x.size(-1)
        half = n // 2
        y = x.view(x.size(0), self.heads, n // self.heads)
        y = y.permute(0, 2, 1).contiguous().reshape(-1, n)
        y = torch.narrow(y, 1, half - 1, 2)
        y = y.expand(2, -1, -1).select(0, 1)
        z = torch.sigmoid(x) / 3 - 1.0
        z = torch.rsub(z, 2.0, alpha=3)
        z = z.masked_fill(mask, -100.0)
        z = torch.where(mask, z, x)
        z = z.unsqueeze(0).squeeze(0).to(torch.float64).type_as(x)
        e = F.embedding(ids, self.table)
        w = F.linear(x, self.weight)
        rank = x.dim() * 2 - (n % 3) + int(-half > 0)
        return z + y.mean(-1, keepdim=True) * 0 + w.mean(-1, keepdim=True), e, rank


class TracedGlue(nn.Module):
    """Traced shape glue (aten::Int, prim::NumToTensor have no source range;
    `//` on a tensor is located in torch/_tensor.py) next to errors."""

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        half = x.shape[-1] // 2
        y = x[..., :half] * 2.0
        z = (h // 2) + h  # LINE-TRACED-FLOORDIV
        return torch.cat([y, z], -1)


class TracedUnsupported(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        half = x.shape[-1] // 2
        y = x[..., :half] * 2.0
        return torch.cat([torch.erf(y), torch.erf(y), x], -1)  # LINE-TRACED-ERF


class OddNames(nn.Module):
    """A traced layer-like module whose argument names are no role."""

    def __init__(self):
        super().__init__()
        self.q = nn.Linear(8, 8, bias=False)
        self.k = nn.Linear(8, 4, bias=False)

    def forward(self, foo: Tensor) -> Tensor:
        b, l, _ = foo.shape
        q = self.q(foo).view(b, l, 2, 4)
        k = self.k(foo).view(b, l, 1, 4)
        return (q * k).reshape(b, l, 8) + foo


TRACED = {
    "traced-glue": (TracedGlue, lambda: (torch.randn(1, 3, 8), torch.randn(1, 3, 8))),
    "traced-unsupported": (TracedUnsupported, lambda: (torch.randn(1, 3, 8),)),
    "odd-names": (OddNames, lambda: (torch.randn(1, 3, 8),)),
}

KINDS = {
    "unsupported": Unsupported,
    "scale-argument": ScaleArgument,
    "scales-computed": ScalesComputed,
    "no-forward": NoForward,
    "loop": Loop,
    "while-loop": WhileLoop,
    "escaping-list": EscapingList,
    "ops": Ops,
}


def main():
    kind, out = sys.argv[1], sys.argv[2]
    if kind == "text":
        with open(out, "w") as f:
            f.write("this is not a TorchScript file\n")
        return
    if kind == "state-dict":
        torch.save({"weight": torch.ones(2)}, out)
        return
    if kind == "truncated":
        torch.jit.save(torch.jit.script(Loop()), out)
        data = open(out, "rb").read()
        with open(out, "wb") as f:
            f.write(data[: len(data) // 2])
        return
    if kind in TRACED:
        cls, example = TRACED[kind]
        torch.jit.save(torch.jit.trace(cls().eval(), example()), out)
        return
    torch.jit.save(torch.jit.script(KINDS[kind]()), out)


if __name__ == "__main__":
    main()
