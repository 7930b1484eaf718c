"""Shared pytest fixtures: small converted models for each recipe."""

import copy
import os
import sys
import warnings

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kiln_torch import (build_model, calibrate, convert, get_config, prepare,  # noqa: E402
                        random_token_batches)

# Tracing warns about Python asserts and bool conversions; irrelevant here.
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)

QUANT_RECIPES = ["w8a16", "w4a16", "w4a16-asym", "w8a8"]
ALL_RECIPES = ["float"] + QUANT_RECIPES


def make_converted(recipe, per_head=False, preset="tiny", seed=0, **overrides):
    """A tiny causal LM, prepared for `recipe`, calibrated on seeded tokens, converted."""
    config = get_config(preset, **overrides)
    model = build_model(config, seed)
    prepare(model, recipe, per_head=per_head)
    calibrate(model, random_token_batches(config, 3, 1, 12, seed + 1), decode_steps=3)
    return convert(model)


_CACHE = {}


@pytest.fixture
def converted():
    """converted(recipe, per_head=False) -> a fresh copy of a cached converted tiny model."""
    def get(recipe, per_head=False):
        key = (recipe, per_head)
        if key not in _CACHE:
            _CACHE[key] = make_converted(recipe, per_head)
        return copy.deepcopy(_CACHE[key])
    return get
