"""FakeQuant: the observer and fake quantizer placed at every quantization point."""

from typing import Iterator, Optional, Tuple

import torch
from torch import Tensor, nn

from .recipes import QSpec

# Smallest scale a quantizer is given (exactly representable in float32); a tensor
# that was all zeros during calibration gets this scale.
SCALE_MIN = 2.0 ** -40

ROLES = ("weight", "activation", "norm_weight", "embedding")


class FakeQuant(nn.Module):
    """Observes a tensor's range during calibration, then fake-quantizes it.

    States, chosen by prepare() and convert():
      disabled   (enabled=False)                  forward returns its input;
      observing  (enabled=True, observing=True)   records min/max, returns its input;
      quantizing (enabled=True, observing=False)  returns the fake-quantized input.
    The state flags, the axis and quant_min/quant_max are TorchScript constants, so a
    scripted quantizer's forward holds only the branch of its state: nothing at all when
    disabled, one fake_quantize_* call when quantizing.  The per-tensor scale and zero
    point are float/int attributes (prim::GetAttr in the graph); the per-channel ones are
    float32/int32 buffers.  All buffers are non-persistent, so they stay out of
    state_dict() and a plain Hugging Face state dict loads strictly.
    """

    __constants__ = ["enabled", "observing", "per_channel", "axis", "quant_min", "quant_max"]

    scale: float
    zero_point: int

    def __init__(self, role: str, head_axis: bool = False):
        super().__init__()
        if role not in ROLES:
            raise ValueError(f"unknown quantizer role {role!r}")
        self.role = role
        # True for attention tensors laid out [B, heads, ...]: per_head may apply.
        self.head_axis = head_axis
        self.enabled = False
        self.observing = False
        self.per_channel = False
        self.symmetric = True
        self.axis = 0
        self.quant_min = 0
        self.quant_max = 0
        self.scale = 1.0
        self.zero_point = 0
        self.register_buffer("scales", torch.ones(0), persistent=False)
        self.register_buffer("zero_points", torch.zeros(0, dtype=torch.int32), persistent=False)
        self.register_buffer("min_val", torch.zeros(0), persistent=False)
        self.register_buffer("max_val", torch.zeros(0), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if not self.enabled:
            return x
        if self.observing:
            self.observe(x)
            return x
        if self.per_channel:
            return torch.fake_quantize_per_channel_affine(
                x, self.scales, self.zero_points, self.axis, self.quant_min, self.quant_max)
        return torch.fake_quantize_per_tensor_affine(
            x, self.scale, self.zero_point, self.quant_min, self.quant_max)

    def observe(self, x: Tensor) -> None:
        """Widens the recorded [min, max] range (one per channel when per_channel)."""
        x = x.detach().float()
        if self.per_channel:
            channels = x.size(self.axis)
            flat = x.transpose(0, self.axis).reshape(channels, -1)
            lo = flat.amin(dim=1)
            hi = flat.amax(dim=1)
        else:
            lo = x.min()
            hi = x.max()
        if self.min_val.numel() == 0:
            self.min_val = lo
            self.max_val = hi
        else:
            self.min_val = torch.minimum(self.min_val, lo)
            self.max_val = torch.maximum(self.max_val, hi)

    # ----- Python-only helpers, used by prepare() / convert() and tests -----

    def configure(self, spec: Optional[QSpec], per_channel: bool = False, axis: int = 0) -> None:
        """Sets the integer type (None disables) and starts observing from scratch."""
        self.reset()
        if spec is None:
            self.enabled = False
            self.observing = False
            self.per_channel = False
            self.axis = 0
            self.quant_min = 0
            self.quant_max = 0
            return
        self.enabled = True
        self.observing = True
        self.per_channel = per_channel
        self.axis = axis
        self.quant_min = spec.quant_min
        self.quant_max = spec.quant_max
        self.symmetric = spec.symmetric

    def reset(self) -> None:
        self.min_val = torch.zeros(0)
        self.max_val = torch.zeros(0)
        self.scales = torch.ones(0)
        self.zero_points = torch.zeros(0, dtype=torch.int32)
        self.scale = 1.0
        self.zero_point = 0

    def set_range(self, lo: Tensor, hi: Tensor) -> None:
        """Replaces the observed range (per channel when per_channel)."""
        self.min_val = lo.detach().float().clone()
        self.max_val = hi.detach().float().clone()

    def freeze(self, name: str = "") -> None:
        """Turns the observed range into scale and zero point and stops observing."""
        if not self.enabled:
            return
        if self.min_val.numel() == 0:
            raise RuntimeError(f"quantizer {name or self.role} saw no data: calibrate before convert")
        scale, zero_point = qparams_from_range(
            self.min_val, self.max_val, self.quant_min, self.quant_max, self.symmetric)
        if self.per_channel:
            self.scales = scale
            self.zero_points = zero_point
        else:
            self.scale = float(scale.item())
            self.zero_point = int(zero_point.item())
        self.observing = False

    def qparams(self) -> Tuple[Tensor, Tensor]:
        """(scale float32, zero_point int32), per channel or 0-dim, of a converted quantizer."""
        if self.per_channel:
            return self.scales, self.zero_points
        return (torch.tensor(self.scale, dtype=torch.float32),
                torch.tensor(self.zero_point, dtype=torch.int32))

    def extra_repr(self) -> str:
        if not self.enabled:
            return f"role={self.role}, disabled"
        state = "observing" if self.observing else "quantizing"
        kind = f"per_channel(axis={self.axis})" if self.per_channel else "per_tensor"
        return f"role={self.role}, {state}, {kind}, range=[{self.quant_min}, {self.quant_max}]"


def qparams_from_range(lo: Tensor, hi: Tensor, quant_min: int, quant_max: int,
                       symmetric: bool) -> Tuple[Tensor, Tensor]:
    """Min/max to (scale float32, zero_point int32); the range always includes 0.

    Symmetric: scale = max(|lo|, |hi|) / quant_max, zero point 0.
    Asymmetric: scale = (hi - lo) / (quant_max - quant_min),
                zero point = quant_min - round(lo / scale), clamped to the range.
    """
    lo = torch.clamp(lo.double(), max=0.0)
    hi = torch.clamp(hi.double(), min=0.0)
    if symmetric:
        scale = torch.maximum(-lo, hi) / quant_max
        scale = torch.clamp(scale, min=SCALE_MIN).float()
        zero_point = torch.zeros_like(scale, dtype=torch.int32)
    else:
        scale = (hi - lo) / (quant_max - quant_min)
        scale = torch.clamp(scale, min=SCALE_MIN).float()
        zero_point = quant_min - torch.round(lo / scale.double())
        zero_point = torch.clamp(zero_point, quant_min, quant_max).to(torch.int32)
    return scale, zero_point


def iter_quantizers(model: nn.Module) -> Iterator[Tuple[str, FakeQuant]]:
    for name, module in model.named_modules():
        if isinstance(module, FakeQuant):
            yield name, module
