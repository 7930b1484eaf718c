"""Quantization recipes: which integer type each kind of tensor is fake-quantized to."""

from dataclasses import dataclass
from typing import Dict, Optional, Union


@dataclass(frozen=True)
class QSpec:
    """One integer type: its name, range and whether its zero point is fixed at 0."""
    dtype: str
    quant_min: int
    quant_max: int
    symmetric: bool

    @property
    def bits(self) -> int:
        return (self.quant_max - self.quant_min + 1).bit_length() - 1


# Symmetric types use scale = max|x| / quant_max and zero point 0, so the most
# negative code (-128 for int8, -8 for int4, -32768 for int16) is never produced
# by a symmetric quantizer; the full range is still what the graph records.
INT16_SYM = QSpec("int16", -32768, 32767, True)
INT8_SYM = QSpec("int8", -128, 127, True)
INT8_ASYM = QSpec("int8", -128, 127, False)
UINT8_ASYM = QSpec("uint8", 0, 255, False)
INT4_SYM = QSpec("int4", -8, 7, True)
UINT4_ASYM = QSpec("uint4", 0, 15, False)


@dataclass(frozen=True)
class Recipe:
    """What each role is quantized to; None means that role stays float.

    weight:      q/k/v/o and gate/up/down projection weights, per output channel.
    activation:  every activation quantizer, per tensor (or per head, see prepare()).
    norm_weight: RMSNorm weights, per tensor.
    embedding:   embed_tokens and lm_head weights, per row (vocabulary entry).
    """
    name: str
    weight: Optional[QSpec]
    activation: Optional[QSpec]
    norm_weight: Optional[QSpec]
    embedding: Optional[QSpec]

    def spec_for(self, role: str) -> Optional[QSpec]:
        return getattr(self, role)


RECIPES: Dict[str, Recipe] = {
    "float": Recipe("float", None, None, None, None),
    "w8a16": Recipe("w8a16", INT8_SYM, INT16_SYM, INT16_SYM, UINT8_ASYM),
    "w4a16": Recipe("w4a16", INT4_SYM, INT16_SYM, INT16_SYM, UINT8_ASYM),
    "w4a16-asym": Recipe("w4a16-asym", UINT4_ASYM, INT16_SYM, INT16_SYM, UINT8_ASYM),
    "w8a8": Recipe("w8a8", INT8_SYM, INT8_ASYM, INT8_SYM, UINT8_ASYM),
}


def get_recipe(recipe: Union[str, Recipe]) -> Recipe:
    if isinstance(recipe, Recipe):
        return recipe
    if recipe not in RECIPES:
        raise KeyError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    return RECIPES[recipe]
