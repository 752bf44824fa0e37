"""Recurrent state helpers. State is passed in and returned, never stored on a module.

A state is a tensor h (L*D, B, H) for GRU/RNN or a tuple (h, c) for LSTM; batch is dim 1 throughout.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

State = Tensor | tuple[Tensor, ...]


def map_state(fn: Callable[[Tensor], Tensor], state: State) -> State:
    """Apply fn to every tensor of a state, keeping its structure."""
    if hasattr(state, "_fields"):  # a named state (the modern cells): keep its type
        return type(state)(*(fn(s) for s in state))
    if isinstance(state, (tuple, list)):
        return tuple(fn(s) for s in state)
    return fn(state)


def detach_state(state: State) -> State:
    """Cut the graph behind a state (truncated BPTT across batches)."""
    return map_state(Tensor.detach, state)


def select_state(state: State, index: Tensor | list[int]) -> State:
    """Pick or reorder batch entries (dim 1), e.g. the surviving beams in beam search."""

    def pick(s: Tensor) -> Tensor:
        return s.index_select(1, torch.as_tensor(index, device=s.device, dtype=torch.long))

    return map_state(pick, state)


def snapshot_state(state: State) -> State:
    """A detached copy that later updates to the live state cannot touch."""
    return map_state(lambda s: s.detach().clone(), state)


def restore_state(snapshot: State, device: torch.device | str | None = None) -> State:
    """A fresh copy of a snapshot (optionally on another device), so the snapshot stays reusable."""
    return map_state(lambda s: s.clone() if device is None else s.to(device, copy=True), snapshot)


def state_tensors(state: State) -> dict[str, Tensor]:
    """A state's tensors by name, for saving: a named state's fields, an LSTM's h and c, a GRU/RNN's h."""
    if hasattr(state, "_fields"):
        return dict(zip(state._fields, state))
    if isinstance(state, (tuple, list)):
        return dict(zip(("h", "c"), state))
    return {"h": state}


def state_from_tensors(layer: torch.nn.Module, tensors: dict[str, Tensor]) -> State:
    """The state `layer` takes, rebuilt from state_tensors' names (a KeyError names a missing one)."""
    kind = getattr(layer, "state_type", None)
    if kind is not None:
        return kind(*(tensors[f] for f in kind._fields))
    if getattr(layer, "mode", "") == "LSTM":
        return tensors["h"], tensors["c"]
    return tensors["h"]


def initial_state(layer: torch.nn.RNNBase, batch_size: int, like: Tensor | None = None) -> State:
    """The zero state a layer starts from, on the device and dtype of `like` (default: its weights)."""
    ref = next(layer.parameters()) if like is None else like
    dirs = 2 if layer.bidirectional else 1
    real = layer.proj_size if getattr(layer, "proj_size", 0) > 0 else layer.hidden_size
    h = torch.zeros(layer.num_layers * dirs, batch_size, real, dtype=ref.dtype, device=ref.device)
    if layer.mode != "LSTM":
        return h
    return h, torch.zeros(layer.num_layers * dirs, batch_size, layer.hidden_size, dtype=ref.dtype, device=ref.device)
