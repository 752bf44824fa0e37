"""Series laid end to end as tensors, and windows gathered from them by index arithmetic (no copies per window).

Notation: N rows of the padded buffer, S series, B windows, W encoder steps, Hz horizon steps, F/K features.
Each series is stored as [W padding rows] + its T rows + [right padding rows]; a window that starts before the
series' first row reads padding (mask 0), so short series and early origins need no special case.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from lstmkit.data.timeseries import DataError, Series
from lstmkit.tasks.forecast.features import Preprocessor

Batch = dict[str, Tensor]
Seasons = tuple[int, ...]


@dataclass
class PanelTensors:
    """Featurised series in one buffer."""

    x: Tensor  # (N, F) encoder features
    known: Tensor  # (N, K) known-future features of each row
    y: Tensor  # (N,) scaled target, NaN where missing or padding
    starts: Tensor  # (S,) buffer row of each series' first real row
    lengths: Tensor  # (S,) real rows per series
    ids: Tensor  # (S,)
    cats: Tensor  # (S, Sc)
    nums: Tensor  # (S, Sn)


def build_tensors(series: list[Series], pre: Preprocessor, pad_left: int, pad_right: int) -> PanelTensors:
    xs, ks, ys, starts, lengths, ids, cats, nums = [], [], [], [], [], [], [], []
    row = 0
    for s in series:
        x, y = pre.encoder(s)  # (T, F), (T,)
        known = x[:, pre.layout.known]  # (T, K): the known features
        xs += [np.zeros((pad_left, x.shape[1]), np.float32), x, np.zeros((pad_right, x.shape[1]), np.float32)]
        ks += [
            np.zeros((pad_left, known.shape[1]), np.float32),
            known,
            np.zeros((pad_right, known.shape[1]), np.float32),
        ]
        ys += [np.full(pad_left, np.nan, np.float32), y, np.full(pad_right, np.nan, np.float32)]
        starts.append(row + pad_left)
        lengths.append(len(s))
        row += pad_left + len(s) + pad_right
        i, c, n = pre.static_row(s)
        ids.append(i)
        cats.append(c)
        nums.append(n)
    return PanelTensors(
        torch.from_numpy(np.concatenate(xs)),
        torch.from_numpy(np.concatenate(ks)),
        torch.from_numpy(np.concatenate(ys)),
        torch.tensor(starts),
        torch.tensor(lengths),
        torch.tensor(ids),
        torch.from_numpy(np.stack(cats)).long(),
        torch.from_numpy(np.stack(nums)).float(),
    )


def gather(
    pt: PanelTensors, series: Tensor, ends: Tensor, window: int, hz: int, origins: int, season: int | Seasons
) -> Batch:
    """Windows whose encoder reads rows [end - window, end) of each chosen series, with the targets,
    known-future features and seasonal lags (the scaled value one season before, for each of the E seasons;
    the first is the data's own) of the Hz steps after each of the last `origins` encoder steps."""
    seasons = torch.tensor((season,) if isinstance(season, int) else season)  # (E,)
    base = pt.starts[series] + ends - window  # (B,)
    rows = base[:, None] + torch.arange(window)  # (B, W)
    origin = rows[:, -min(origins, window) :]  # (B, W') the steps that forecast
    ahead = origin[:, :, None] + torch.arange(1, hz + 1)  # (B, W', Hz)
    k = torch.arange(hz)[:, None]  # (Hz, 1)
    lag = origin[:, :, None, None] + 1 + k % seasons - seasons  # (B, W', Hz, E): observed rows only
    lag = torch.maximum(lag, (pt.starts[series] - 1)[:, None, None, None])  # before the series: a padding row
    return {
        "x": pt.x[rows],  # (B, W, F)
        "known": pt.known[ahead],  # (B, W', Hz, K)
        "y": pt.y[ahead],  # (B, W', Hz)
        "lags": pt.x[lag, 0],  # (B, W', Hz, E)
        "ids": pt.ids[series],
        "cats": pt.cats[series],
        "nums": pt.nums[series],
        "series": series,
        "ends": ends,
    }


class WindowSampler:
    """An epoch of `steps` random training windows: (series, end) drawn uniformly over every forecast origin."""

    def __init__(
        self,
        pt: PanelTensors,
        window: int,
        hz: int,
        origins: int,
        season: int | Seasons,
        batch_size: int,
        steps: int,
        seed: int,
    ) -> None:
        self.pt, self.window, self.hz, self.origins, self.season = pt, window, hz, origins, season
        self.batch_size, self.steps, self.seed = batch_size, steps, seed
        self.counts = pt.lengths - 1  # origins per series: ends 1 .. T-1 leave at least one target
        if int(self.counts.sum()) < 1:
            raise DataError("no training window: every series has a single row")
        self.cum = torch.cumsum(self.counts, 0)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[Batch]:
        return self.epoch_batches(0)

    def epoch_batches(self, epoch: int) -> Iterator[Batch]:
        """Epoch `epoch`'s random windows, drawn from (seed, epoch): any epoch, on demand."""
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        total = int(self.cum[-1])
        for _ in range(self.steps):
            flat = torch.randint(total, (self.batch_size,), generator=gen)
            series = torch.searchsorted(self.cum, flat, right=True)  # (B,)
            before = torch.where(series > 0, self.cum[series - 1], torch.zeros_like(flat))
            ends = flat - before + 1  # (B,) in 1 .. T-1
            yield gather(self.pt, series, ends, self.window, self.hz, self.origins, self.season)


class OriginBatches:
    """Fixed batches forecasting from given (series index, end) origins, from the last encoder step only.
    (An iterable rather than a list: the engine reads a list as several validation sets.)"""

    def __init__(
        self, pt: PanelTensors, origins: list[tuple[int, int]], window: int, hz: int, season: int | Seasons, size: int
    ) -> None:
        self.pt, self.origins, self.window, self.hz, self.season, self.size = pt, origins, window, hz, season, size

    def __len__(self) -> int:
        return -(-len(self.origins) // self.size)

    def __iter__(self) -> Iterator[Batch]:
        for i in range(0, len(self.origins), self.size):
            chunk = torch.tensor(self.origins[i : i + self.size])
            yield gather(self.pt, chunk[:, 0], chunk[:, 1], self.window, self.hz, 1, self.season)


def origin_batches(
    pt: PanelTensors, origins: list[tuple[int, int]], window: int, hz: int, season: int | Seasons, size: int
) -> OriginBatches:
    return OriginBatches(pt, origins, window, hz, season, size)
