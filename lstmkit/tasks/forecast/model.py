"""The forecasting network: a recurrent encoder over the history (an LSTM by default, any cell of lstmkit.nn),
a decoder that reads every horizon at once.

Notation: B windows (series × origins), T encoder steps, Hz decoded horizon steps (the horizon for direct
decoding, 1 for recursive), F encoder features per step, K known-future features per step, S static width,
P outputs per horizon step (one per quantile, or 2 for a normal: mean and scale), D hidden size, L layers.
Recurrent state (the LSTM's (h, c) is (L, B, D); the other cells' as lstmkit.nn documents, batch on dim 1) is
passed in and returned, never kept on the module.

Every encoder step t emits a forecast of t+1..t+Hz (MQ-RNN's "forking sequences"): one pass over a window
trains T forecasts, and one pass over a series gives the forecast from every origin.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lstmkit.nn import recurrent_layer
from lstmkit.nn.state import State
from lstmkit.tasks.forecast.config import SMOOTH


def embedding_dim(cardinality: int) -> int:
    return min(16, max(2, (cardinality + 1) // 2))


class HorizonDropout(nn.Module):
    """Dropout whose mask is shared by the horizon steps of one forecast: (B, T, Hz, D) draws (B, T, 1, D)
    random numbers, not B·T·Hz·D. Random numbers dominate a CPU training step otherwise (a 64 x 16 x 48 x 64
    decoder tensor: ~40 ms of dropout against ~1 ms of ReLU)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, z: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return z
        keep = torch.empty_like(z[..., :1, :]).bernoulli_(1 - self.p)  # (B, T, 1, D)
        return z * keep.div_(1 - self.p)  # scale the small mask, not the big tensor


def _damp_sum(phi: Tensor, ahead: Tensor) -> Tensor:
    """D_k(phi) = phi + ... + phi^k: phi (B, T, 1), ahead k (Hz,) -> (B, T, Hz); k where phi = 1."""
    one = (phi - 1).abs() < 1e-6
    safe = torch.where(one, torch.full_like(phi, 0.5), phi)
    return torch.where(one, ahead, safe * (1 - safe**ahead) / (1 - safe))


class ForecastNet(nn.Module):
    """Global forecaster: static embeddings + recurrent encoder + MLP decoder shared across horizon steps."""

    def __init__(
        self,
        n_features: int,
        n_known: int,
        horizon: int,
        n_outputs: int,
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.1,
        n_ids: int = 0,
        cat_sizes: Sequence[int] = (),
        n_static_num: int = 0,
        anchored: int = 0,
        seasonal: bool = False,
        anchor: str = "last",
        n_seasons: int = 1,
        theta_cols: tuple[int | None, ...] | None = None,
        cell: str = "lstm",
    ) -> None:
        super().__init__()
        # the first `anchored` outputs are offsets from a base forecast: the step's last observed target
        # (anchor "last"), the value one season before each forecast step (anchor "season"), or the theta
        # method's forecast from features the preprocessor adds (anchor "theta": see theta.py)
        self.anchored, self.anchor = anchored, anchor
        # (level, trend) in the encoder row, the seasonal index in the known row, then (ets/auto) the damping and
        # the seasonal-naive flag in the encoder row (None: theta's undamped drift, never naive)
        self.theta_cols = theta_cols
        self.id_emb = nn.Embedding(n_ids + 1, embedding_dim(n_ids)) if n_ids else None  # row 0: unseen series
        self.cat_embs = nn.ModuleList(nn.Embedding(n + 1, embedding_dim(n)) for n in cat_sizes)
        static = (embedding_dim(n_ids) if n_ids else 0) + sum(embedding_dim(n) for n in cat_sizes) + n_static_num
        self.static_size = static
        self.rnn = recurrent_layer(
            cell,
            n_features + static,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.context = nn.Linear(hidden_size + static, hidden_size)
        self.known = nn.Linear(n_known, hidden_size, bias=False) if n_known else None
        self.step = nn.Embedding(horizon, hidden_size)
        self.lag = nn.Linear(n_seasons, hidden_size) if seasonal else None  # the values a season before, as features
        self.head = nn.Sequential(
            nn.ReLU(),
            HorizonDropout(dropout),
            nn.Linear(hidden_size, hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, n_outputs),
        )
        if anchor in SMOOTH:  # start from the statistical forecast itself: training moves away only where it pays
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)

    def static(self, ids: Tensor, cats: Tensor, nums: Tensor) -> Tensor:
        """(B,), (B, Sc), (B, Sn) -> (B, S)."""
        parts = [] if self.id_emb is None else [self.id_emb(ids)]
        parts += [emb(cats[:, j]) for j, emb in enumerate(self.cat_embs)]
        parts.append(nums)
        return torch.cat(parts, dim=-1) if parts else nums

    def rnn_inputs(self, x: Tensor, s: Tensor) -> Tensor:
        """(B, T, F) and static (B, S) -> what the LSTM reads (B, T, F + S). The gate column reads 1, as in
        training: a series' correction weight scales the decoder's output only."""
        gate = self._gate_col()
        if gate is not None:
            x = torch.where(torch.arange(x.shape[-1], device=x.device) == gate, torch.ones_like(x), x)  # (B, T, F)
        if not self.static_size:
            return x
        return torch.cat([x, s[:, None, :].expand(-1, x.shape[1], -1)], dim=-1)  # (B, T, F + S)

    def encode(self, x: Tensor, s: Tensor, hx: State | None = None) -> tuple[Tensor, State]:
        """(B, T, F) and static (B, S) -> top-layer outputs (B, T, D) and the state after the last step."""
        return self.rnn(self.rnn_inputs(x, s), hx)

    def decode(self, out: Tensor, known: Tensor, s: Tensor, rows: Tensor, lags: Tensor) -> Tensor:
        """Encoder outputs (B, T, D), known-future features (B, T, Hz, K), the origins' input rows (B, T, F),
        seasonal lags (B, T, Hz, E), the data's own season first -> (B, T, Hz, P)."""
        level = rows[..., 0]  # (B, T) last observed target (the layout's first column)
        ctx = torch.cat([out, s[:, None, :].expand(-1, out.shape[1], -1)], dim=-1) if self.static_size else out
        z = self.context(ctx)[:, :, None, :]  # (B, T, 1, D)
        hz = known.shape[2]
        z = z + self.step.weight[:hz]  # (B, T, Hz, D)
        if self.known is not None:
            z = z + self.known(known)  # (B, T, Hz, D)
        if self.lag is not None:
            z = z + self.lag(lags - level[:, :, None, None])  # (B, T, Hz, D)
        y = self.head(z)  # (B, T, Hz, P)
        gate = self._gate_col()
        if gate is not None:  # the series' correction weight: 0 where the anchor alone won validation
            y = y * rows[..., gate, None, None]  # (B, T, Hz, P)
        if self.anchored:
            shift = torch.zeros(y.shape[-1], device=y.device, dtype=y.dtype)
            shift[: self.anchored] = 1.0
            y = y + self.base(rows, known, lags)[..., None] * shift  # (B, T, Hz, P)
        return y

    def _gate_col(self) -> int | None:
        """The encoder column holding each series' correction weight (smoothing anchors since v0.3)."""
        return self.theta_cols[5] if self.theta_cols is not None and len(self.theta_cols) > 5 else None

    def base(self, rows: Tensor, known: Tensor, lags: Tensor) -> Tensor:
        """The anchor's forecast (B, T, Hz) from the origins' rows (B, T, F), known (B, T, Hz, K), lags."""
        season = lags[..., 0]  # (B, T, Hz)
        if self.anchor == "season":
            return season
        if self.anchor in SMOOTH:  # level + trend x D_k(phi) + the step's seasonal index (anchors.py)
            ahead = torch.arange(1, known.shape[2] + 1, device=rows.device, dtype=rows.dtype)  # (Hz,)
            assert self.theta_cols is not None, "a smoothing anchor needs theta_cols (from the preprocessor's layout)"
            level, drift, season_index, phi, naive = (tuple(self.theta_cols) + (None, None))[:5]  # gate: decode
            damp = ahead if phi is None else _damp_sum(rows[..., phi, None], ahead)  # (Hz,) or (B, T, Hz)
            smooth = rows[..., level, None] + rows[..., drift, None] * damp + known[..., season_index]  # (B, T, Hz)
            if naive is None:
                return smooth
            flag = rows[..., naive, None]  # (B, T, 1)
            return flag * season + (1 - flag) * smooth
        return rows[..., 0, None].expand_as(season)

    def forward(
        self,
        x: Tensor,
        known: Tensor,
        lags: Tensor,
        ids: Tensor,
        cats: Tensor,
        nums: Tensor,
        hx: State | None = None,
    ) -> tuple[Tensor, State]:
        """Forecasts from the last T' steps of x: (B, T, F), (B, T', Hz, K), (B, T', Hz, E) -> (B, T', Hz, P)."""
        s = self.static(ids, cats, nums)
        out, hx = self.encode(x, s, hx)  # (B, T, D)
        n = known.shape[1]
        return self.decode(out[:, -n:], known, s, x[:, -n:], lags), hx
