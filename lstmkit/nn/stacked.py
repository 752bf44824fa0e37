"""What the modern cells (sLSTM, mLSTM, minLSTM, minGRU) share as torch.nn.LSTM-style layers: layers stacked with
dropout between them, both directions, batch_first, padded batches with `lengths`, the state as a named tuple
of tensors stacked layer-major over (layer, direction), and gate tracing.

Notation: B batch, T time, I input size, H hidden size, L layers, D directions. A cell is one direction of one
layer: `cell(x (B, T, I), state or None, valid (B, T) bool or None, collect) -> (y (B, T, H), state, traces)`,
where its state is a named tuple of (B, ...) tensors, and past a sequence's length the cell keeps its state and
outputs zeros. The layer stacks the cells' states to (L*D, B, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn


def check_lengths(lengths: Tensor | Any, batch: int, T: int) -> Tensor:
    lengths = torch.as_tensor(lengths, dtype=torch.long).cpu()
    if lengths.shape != (batch,):
        raise ValueError(f"lengths must have shape ({batch},) (one per sequence), got {tuple(lengths.shape)}")
    if int(lengths.min()) < 1 or int(lengths.max()) > T:
        raise ValueError(f"lengths must be in [1, {T}] (the padded length), got {lengths.tolist()}")
    return lengths


def reverse_index(lengths: Tensor, T: int) -> Tensor:
    """(B, T) indices that reverse each sequence's real steps and leave its padding in place."""
    t = torch.arange(T)[None]  # (1, T)
    return torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (B, T)


def gather_time(x: Tensor, index: Tensor) -> Tensor:
    """x (B, T, ...) reordered in time per sequence by index (B, T)."""
    shape = index.shape + (1,) * (x.dim() - 2)
    return x.gather(1, index.to(x.device).view(shape).expand_as(x))


def stack_states(states: list[NamedTuple], kind: type) -> NamedTuple:
    """Per-cell states of (B, ...) tensors -> one state of (L*D, B, ...) tensors."""
    return kind(*(torch.stack([getattr(s, f) for s in states]) for f in kind._fields))


def cell_state(state: NamedTuple, k: int, kind: type) -> NamedTuple:
    return kind(*(getattr(state, f)[k] for f in kind._fields))


class Stacked(nn.Module):
    """Layers of cells, torch.nn.LSTM-style. Subclasses give `state_type` and build each cell with
    `make_cell(input_size, hidden_size)`."""

    state_type: type
    cell_kind: str

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        batch_first: bool,
        dropout: float,
        bidirectional: bool,
        make_cell: Callable[[int, int], nn.Module],
    ) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1 or num_layers < 1:
            raise ValueError("input_size, hidden_size and num_layers must be >= 1")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.dropout, self.bidirectional = batch_first, dropout, bidirectional
        dirs = 2 if bidirectional else 1
        self.cells = nn.ModuleList(
            make_cell(input_size if layer == 0 else hidden_size * dirs, hidden_size)
            for layer in range(num_layers)
            for _ in range(dirs)
        )

    @property
    def cell(self) -> str:
        """The cell's name (what `lstmkit.inspect.trace` reports as the trace's kind)."""
        return self.cell_kind

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, batch_first={self.batch_first}"
            + (f", dropout={self.dropout}" if self.dropout else "")
            + (", bidirectional=True" if self.bidirectional else "")
        )

    def forward(self, input: Tensor, state: Any = None, lengths: Tensor | None = None) -> tuple[Tensor, Any]:
        """input (B, T, I) with batch_first, else (T, B, I), or unbatched (T, I); state as `state_type` with
        (L*D, B, ...) tensors or None (zeros). -> (output (..., D*H), the state after each sequence's last
        real step)."""
        out, state, _ = self.run(input, state, lengths, collect=False)
        return out, state

    def run(self, input: Tensor, state: Any, lengths: Tensor | None, collect: bool) -> tuple[Tensor, Any, list]:
        """`forward`, and with `collect` each cell's traced values {name: (B, T, H)} in (layer, direction) order,
        with "carried": the per-step tensors that feed the next step (what gradient flow differentiates)."""
        unbatched = input.dim() == 2
        if input.dim() not in (2, 3) or input.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__}: expected input of shape (T, B, {self.input_size}), (B, T, "
                f"{self.input_size}) with batch_first, or (T, {self.input_size}); got {tuple(input.shape)}"
            )
        x = input[None] if unbatched else (input if self.batch_first else input.transpose(0, 1))  # (B, T, I)
        B, T = x.shape[:2]
        if state is not None and not isinstance(state, self.state_type):
            state = self.state_type(*state) if isinstance(state, (tuple, list)) else self.state_type(state)
        if state is not None and unbatched:
            state = self.state_type(*(s[:, None] for s in state))
        lengths = None if lengths is None else check_lengths(lengths, B, T)
        valid = None if lengths is None else torch.arange(T)[None] < lengths[:, None]  # (B, T)
        valid = None if valid is None else valid.to(x.device)
        dirs = 2 if self.bidirectional else 1
        finals, traces = [], []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout and self.training:
                x = nn.functional.dropout(x, self.dropout, True)
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                s0 = None if state is None else cell_state(state, k, self.state_type)
                xd = x if d == 0 else self._reversed(x, lengths)
                y, s, tr = self.cells[k](xd, s0, valid, collect)
                if d == 1:
                    y = self._reversed(y, lengths)
                    tr = {n: v if n == "carried" else self._reversed(v, lengths) for n, v in (tr or {}).items()}
                outs.append(y)
                finals.append(s)
                traces.append(tr)
            x = torch.cat(outs, -1) if dirs == 2 else outs[0]  # (B, T, D*H)
        if valid is not None:
            x = x * valid[..., None]
        out = x[0] if unbatched else (x if self.batch_first else x.transpose(0, 1))
        final = stack_states(finals, self.state_type)
        if unbatched:
            final = self.state_type(*(s[:, 0] for s in final))
        return out, final, traces

    def _reversed(self, x: Tensor, lengths: Tensor | None) -> Tensor:
        if lengths is None:
            return x.flip(1)
        return gather_time(x, reverse_index(lengths, x.shape[1]))

    def export_form(self) -> nn.Module:
        """This layer for ONNX export, called (x, lengths, *state) -> (y, *state): the same arithmetic with the
        time loops as TorchScript functions, which the exporter writes as ONNX Loop (nn/export.py)."""
        from lstmkit.nn.export import OnnxStacked

        return OnnxStacked(self)

    def initial_state(self, batch: int, device: Any = None, dtype: torch.dtype | None = None) -> Any:
        """The zero state for `batch` sequences, stacked (L*D, B, ...)."""
        zeros = [c.zero_state(batch, device, dtype or torch.get_default_dtype()) for c in self.cells]
        return stack_states(zeros, self.state_type)
