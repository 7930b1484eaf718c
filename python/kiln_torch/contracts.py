"""Reference steps for Kiln's export contracts: prefill buckets, append-prefill,
sliding-window decode, cache outputs and key layouts (docs/export-contracts.md).

Every step is one call of the saved (scripted, unified) module with the inputs a
runtime would give the exported signature of the same name:

- ``prefill`` / ``prefill_<S>``: S tokens from position 0, a causal mask (banded to
  the window when there is one and S exceeds it).
- ``append_<Q>``: Q new tokens after a past of P positions (W with a window),
  mask [B,1,Q,P+Q]: the past as far as each query may see it, causal inside the
  Q block. Outputs as decode: this call's Q keys and values (or the updated
  cache with cache_out="full").
- ``decode``: one token after the same past.

With a sliding window the past is a ring buffer of W slots: the key and value of
position p sit in slot p mod W, so slot order is not position order (attention
does not depend on the order of keys; the mask says which slots a query sees).
A query at position i sees positions i - W .. i: W past positions and itself.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .model import MASK_VALUE, causal_mask

NamedTensors = List[Tuple[str, Tensor]]
# call(inputs) -> (first output, [key.0, value.0, key.1, ...]): the full present
# (past ++ new) of every layer.
Call = Callable[[NamedTensors], Tuple[Tensor, List[Tensor]]]


def window_mask(query_positions: Tensor, key_positions: Tensor, window: Optional[int],
                mask_value: float = MASK_VALUE, batch: int = 1) -> Tensor:
    """Additive mask [batch, 1, Q, K]: 0 where key position j is visible to query
    position i (j <= i, and i - j <= window when there is a window), else mask_value.
    A key position below 0 marks an empty slot (never visible)."""
    q = query_positions.view(-1, 1)
    k = key_positions.view(1, -1)
    visible = (k <= q) & (k >= 0)
    if window is not None:
        visible &= (q - k) <= window
    mask = torch.full((q.size(0), k.size(1)), mask_value, dtype=torch.float32)
    mask = mask.masked_fill(visible, 0.0)
    return mask.expand(batch, 1, q.size(0), k.size(1)).contiguous()


def ring_slots(history: int, window: int) -> Tensor:
    """Position held by each of the W slots after `history` positions were written
    (slot p mod W holds position p; -1 for a slot not written yet)."""
    slots = torch.full((window,), -1, dtype=torch.int64)
    for p in range(max(0, history - window), history):
        slots[p % window] = p
    return slots


def contract_steps(call: Call, x: Tensor, x_name: str, layers: int, out_name: str,
                   rope: Callable[[Sequence[int]], Tuple[Tensor, Tensor]],
                   seq_lens: Sequence[int], append_lens: Sequence[int], cache_len: int,
                   window: Optional[int] = None, mask_value: float = MASK_VALUE,
                   key_layout: str = "bhsd", cache_out: str = "delta",
                   with_decode: bool = True) -> Dict[str, Tuple[NamedTensors, NamedTensors]]:
    """Reference steps for the contract, keyed by signature name.

    x: the token ids [B, T] (a whole model) or the hidden states [B, T, hidden]
    (one layer) of a sequence long enough for every step (T >= max(seq_lens) and
    T >= history + max(append_lens, 1) with history = cache_len, or window + 3 with
    a window). layers: 0 for one layer (inputs past_key, past_value), else the
    number of layers (past_key.<i>, ...).
    """
    if key_layout not in ("bhsd", "bhds"):
        raise ValueError(f"key_layout must be bhsd or bhds, not {key_layout!r}")
    if cache_out not in ("delta", "full"):
        raise ValueError(f"cache_out must be delta or full, not {cache_out!r}")

    def layout(key: Tensor) -> Tensor:
        return key.transpose(-1, -2).contiguous() if key_layout == "bhds" else key

    def kv_names(prefix_k: str, prefix_v: str) -> List[Tuple[str, str]]:
        if layers == 0:
            return [(prefix_k, prefix_v)]
        return [(f"{prefix_k}.{i}", f"{prefix_v}.{i}") for i in range(layers)]

    def run(positions: Sequence[int], mask: Tensor,
            past: Optional[List[Tensor]] = None) -> Tuple[NamedTensors, Tensor, List[Tensor]]:
        start, end = positions[0], positions[-1] + 1
        cos, sin = rope(list(range(start, end)))
        common = [(x_name, x[:, start:end].contiguous()), ("attention_mask", mask),
                  ("cos", cos), ("sin", sin)]
        # The module takes keys as it computes them; the step's inputs are in
        # the contract's layout.
        call_inputs, inputs = list(common), list(common)
        if past is not None:
            for (kn, vn), k, v in zip(kv_names("past_key", "past_value"), past[0::2], past[1::2]):
                call_inputs += [(kn, k.contiguous()), (vn, v.contiguous())]
                inputs += [(kn, layout(k)), (vn, v.contiguous())]
        first, present = call(call_inputs)
        return inputs, first, present

    steps: Dict[str, Tuple[NamedTensors, NamedTensors]] = {}
    for s in seq_lens:
        positions = list(range(s))
        mask = window_mask(torch.arange(s), torch.arange(s), window, mask_value)
        inputs, first, present = run(positions, mask)
        outputs = [(out_name, first)]
        for (kn, vn), k, v in zip(kv_names("key", "value"), present[0::2], present[1::2]):
            outputs += [(kn, layout(k)), (vn, v)]
        steps[f"prefill_{s}" if len(seq_lens) > 1 else "prefill"] = (inputs, outputs)

    if not append_lens and not with_decode:
        return steps
    # The past: a prefill of `history` positions (banded to the window), kept in
    # position order, or in ring-buffer slots with a window.
    history = cache_len if window is None else window + 3
    slots = torch.arange(history) if window is None else ring_slots(history, window)
    _, _, full = run(list(range(history)),
                     window_mask(torch.arange(history), torch.arange(history), window,
                                 mask_value))
    past = [t[:, :, slots.clamp(min=0), :].contiguous() for t in full]

    def continue_with(q: int) -> Tuple[NamedTensors, NamedTensors]:
        query = torch.arange(history, history + q)
        keys = torch.cat((slots, query))
        inputs, first, present = run(list(range(history, history + q)),
                                     window_mask(query, keys, window, mask_value), past)
        outputs = [(out_name, first)]
        for (kn, vn), k, v in zip(kv_names("new_key", "new_value"), present[0::2],
                                  present[1::2]):
            if cache_out == "delta":
                k, v = k[:, :, -q:, :], v[:, :, -q:, :]
            outputs += [(kn, layout(k.contiguous())), (vn, v.contiguous())]
        return inputs, outputs

    for q in append_lens:
        steps[f"append_{q}"] = continue_with(q)
    if with_decode:
        steps["decode"] = continue_with(1)
    return steps


def tokens_needed(seq_lens: Sequence[int], append_lens: Sequence[int], cache_len: int,
                  window: Optional[int]) -> int:
    """Sequence length contract_steps reads."""
    history = cache_len if window is None else window + 3
    return max(max(seq_lens, default=1), history + max(list(append_lens) + [1]))


def contract_info(seq_lens: Sequence[int], append_lens: Sequence[int], cache_len: int,
                  window: Optional[int], key_layout: str, cache_out: str) -> Dict[str, Any]:
    return {"seq_lens": list(seq_lens), "append_lens": list(append_lens),
            "cache_len": window if window is not None else cache_len,
            "sliding_window": window, "key_layout": key_layout, "cache_out": cache_out,
            "history": cache_len if window is None else window + 3}
