"""A scripted module with __getstate__/__setstate__ (code that runs while
LibTorch loads it): the mapped load must fall back to LibTorch's copy."""
import sys
from typing import Tuple

import torch
from torch import Tensor, nn


class Stateful(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.arange(64, dtype=torch.float32).reshape(8, 8) / 10

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.weight

    @torch.jit.export
    def __getstate__(self) -> Tuple[Tensor, bool]:
        return (self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[Tensor, bool]) -> None:
        self.weight = state[0] * 1.0
        self.training = state[1]


torch.jit.script(Stateful()).save(sys.argv[1])
