"""LlamaConfig: the shape of a Llama-family model, plus named presets."""

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional


@dataclass
class LlamaConfig:
    hidden_size: int = 64
    intermediate_size: int = 128
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 16
    num_hidden_layers: int = 2
    vocab_size: int = 256
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_position_embeddings: int = 2048
    tie_word_embeddings: bool = False
    # Hugging Face's "rope_scaling" dict; only rope_type "llama3" is supported.
    rope_scaling: Optional[Dict[str, Any]] = None

    def __post_init__(self) -> None:
        if self.num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(
                f"num_attention_heads ({self.num_attention_heads}) must be a multiple "
                f"of num_key_value_heads ({self.num_key_value_heads})")
        if self.head_dim % 2 != 0:
            raise ValueError(f"head_dim must be even for RoPE, got {self.head_dim}")

    @property
    def num_key_value_groups(self) -> int:
        return self.num_attention_heads // self.num_key_value_heads

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "LlamaConfig":
        return dataclasses.replace(self, **changes)


# Llama 3.x frequency scaling as published in the Llama-3.2 config.json files.
_LLAMA3_ROPE_SCALING = {
    "rope_type": "llama3",
    "factor": 32.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}

PRESETS: Dict[str, LlamaConfig] = {
    "tiny": LlamaConfig(
        hidden_size=64, intermediate_size=128, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, num_hidden_layers=2, vocab_size=256,
        rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=2048,
        tie_word_embeddings=False),
    "small": LlamaConfig(
        hidden_size=256, intermediate_size=512, num_attention_heads=8,
        num_key_value_heads=2, head_dim=32, num_hidden_layers=4, vocab_size=1024,
        rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=2048,
        tie_word_embeddings=False),
    "llama-3.2-1b": LlamaConfig(
        hidden_size=2048, intermediate_size=8192, num_attention_heads=32,
        num_key_value_heads=8, head_dim=64, num_hidden_layers=16, vocab_size=128256,
        rms_norm_eps=1e-5, rope_theta=500000.0, max_position_embeddings=131072,
        tie_word_embeddings=True, rope_scaling=dict(_LLAMA3_ROPE_SCALING)),
    "llama-3.2-3b": LlamaConfig(
        hidden_size=3072, intermediate_size=8192, num_attention_heads=24,
        num_key_value_heads=8, head_dim=128, num_hidden_layers=28, vocab_size=128256,
        rms_norm_eps=1e-5, rope_theta=500000.0, max_position_embeddings=131072,
        tie_word_embeddings=True, rope_scaling=dict(_LLAMA3_ROPE_SCALING)),
}


def get_config(name: str, **overrides: Any) -> LlamaConfig:
    """Returns a fresh copy of preset `name`, with fields replaced by `overrides`."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    base = PRESETS[name]
    fields = dataclasses.asdict(base)
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return LlamaConfig(**fields)
