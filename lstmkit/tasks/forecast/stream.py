"""Training on forecasting data larger than memory: the file is read in chunks of whole series, never whole.

    pass 1  read every chunk: fit the preprocessor (per-series scalers and anchors; covariate statistics
            merged across chunks)
    pass 2  read every chunk again: featurise it and write its tensors to an on-disk cache (.npy files)
    train   each epoch draws its `steps` batches over the chunks in proportion to their forecast origins,
            visits the chosen chunks in a random order, loads one chunk's tensors at a time and gathers
            random windows from it by index (windows are never materialised)
    finish  the validation gate and the final anchors / interval widths, one chunk at a time

Memory is one chunk's frame and tensors plus the per-series state (the preprocessor's per-series entries and
each series' validation origin), whatever the number of series. Batches are deterministic in (seed, epoch),
so exact resume and the engine's distributed dealing work as for in-memory training.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lstmkit.config import ConfigError, to_dict
from lstmkit.data.chunks import series_chunks
from lstmkit.data.timeseries import Columns, DataError, Panel, check_lengths, to_panel
from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.features import Preprocessor
from lstmkit.tasks.forecast.model import ForecastNet
from lstmkit.tasks.forecast.outputs import NAME, build_model, decoded_steps, seasons_of, with_data_defaults
from lstmkit.tasks.forecast.task import (
    finalize,
    finished,
    forecast_loss,
    forecast_metrics,
    gate_of,
    run,
    split_validation,
)
from lstmkit.tasks.forecast.windows import Batch, PanelTensors, WindowSampler, build_tensors, origin_batches

log = logging.getLogger(__name__)

FIELDS = [f.name for f in dataclasses.fields(PanelTensors)]


def read_chunks(cfg: ForecastConfig, source: str, rows: int) -> Iterator[Panel]:
    """The data's chunks as validated panels (on the config's frequency once it is known)."""
    cols = [cfg.id_col, cfg.time_col, cfg.target, *cfg.past_covariates, *cfg.future_covariates, *cfg.static_covariates]
    columns = Columns(cfg.id_col, cfg.time_col, cfg.target)
    for frame in series_chunks(source, cfg.id_col, rows, cols):
        yield to_panel(frame, columns, cfg.freq, cfg.past_covariates, cfg.future_covariates, cfg.static_covariates)


@dataclass
class _Moments:
    """Count, mean and sum of squared deviations of the finite values seen (merged chunk by chunk, Chan et al.)."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, values: np.ndarray) -> None:
        obs = np.asarray(values, np.float64)
        obs = obs[np.isfinite(obs)]
        if not len(obs):
            return
        n, mean, m2 = len(obs), float(obs.mean()), float(((obs - obs.mean()) ** 2).sum())
        delta, total = mean - self.mean, self.n + n
        self.mean += delta * n / total
        self.m2 += m2 + delta**2 * self.n * n / total
        self.n = total

    def stats(self) -> list[float]:
        """[mean, std] as the in-memory preprocessor computes them (std 1 when constant or empty)."""
        if self.n == 0:
            return [0.0, 1.0]
        std = float(np.sqrt(self.m2 / self.n))
        return [self.mean, std if std > 1e-8 else 1.0]


@dataclass
class _Statics:
    """A static column's values across chunks: numeric moments and the text vocabulary."""

    moments: _Moments = field(default_factory=_Moments)
    vocab: set[str] = field(default_factory=set)
    numeric: bool = True


def fit_streaming(cfg: ForecastConfig, chunks: Iterator[Panel]) -> tuple[Preprocessor, int]:
    """The preprocessor of every chunk's training part, merged (pass 1); also the number of series."""
    pre: Preprocessor | None = None
    covs = {c: _Moments() for c in (*cfg.past_covariates, *cfg.future_covariates)}
    statics = {c: _Statics() for c in cfg.static_covariates}
    ids: list[str] = []
    for panel in chunks:
        train = split_validation(panel, cfg.horizon, cfg.validation)  # type: ignore[arg-type]
        check_lengths(train, 2, "training")
        part = Preprocessor.fit(train, cfg.scaler, cfg.calendar, cfg.transform, cfg.anchor, cfg.horizon or 0)
        if pre is None:
            pre = part
        else:
            pre.scalers.update(part.scalers)
            pre.theta.update(part.theta)
            pre.train_end.update(part.train_end)
        ids += part.ids
        for j, c in enumerate(train.past_cols):
            covs[c].add(np.concatenate([s.past[:, j] for s in train.series]))
        for j, c in enumerate(train.future_cols):
            covs[c].add(np.concatenate([s.future[:, j] for s in train.series]))
        for c, st in statics.items():
            values = [s.static[c] for s in train.series]
            st.numeric &= all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            st.vocab.update(str(v) for v in values)
            if st.numeric:
                st.moments.add(np.asarray(values, np.float64))
    if pre is None:
        raise DataError("no series to train on")
    pre.ids = ids
    pre.cov_stats = {c: m.stats() for c, m in covs.items()}
    pre.static_num = {c: st.moments.stats() for c, st in statics.items() if st.numeric}
    pre.static_vocab = {c: sorted(st.vocab) for c, st in statics.items() if not st.numeric}
    return pre, len(ids)


@dataclass
class Chunk:
    """One chunk's featurised tensors in the cache: `train` (training parts) and `val` (validation) buffers."""

    path: Path
    train_origins: int  # forecast origins of its training parts
    val_origins: list[tuple[int, int]]  # (series index in the chunk, origin row) per series

    def save(self, kind: str, pt: PanelTensors) -> None:
        for name in FIELDS:
            np.save(self.path / f"{kind}-{name}.npy", getattr(pt, name).numpy(), allow_pickle=False)

    def load(self, kind: str) -> PanelTensors:
        return PanelTensors(**{n: torch.from_numpy(np.load(self.path / f"{kind}-{n}.npy")) for n in FIELDS})


class ChunkWindowSampler:
    """An epoch of `steps` random training windows over every chunk's forecast origins, one chunk in memory."""

    def __init__(
        self,
        chunks: list[Chunk],
        window: int,
        hz: int,
        origins: int,
        season: int | tuple[int, ...],
        batch_size: int,
        steps: int,
        seed: int,
    ) -> None:
        self.chunks, self.window, self.hz, self.origins, self.season = chunks, window, hz, origins, season
        self.batch_size, self.steps, self.seed = batch_size, steps, seed
        self.weights = torch.tensor([float(c.train_origins) for c in chunks])  # (C,)
        if float(self.weights.sum()) < 1:
            raise DataError("no training window: every series has a single row")

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[Batch]:
        return self.epoch_batches(0)

    def epoch_batches(self, epoch: int) -> Iterator[Batch]:
        """Epoch `epoch`'s batches, drawn from (seed, epoch): which chunk serves each batch, then the windows."""
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        counts = torch.bincount(
            torch.multinomial(self.weights, self.steps, replacement=True, generator=gen), minlength=len(self.chunks)
        )  # (C,) batches per chunk
        for k in torch.randperm(len(self.chunks), generator=gen).tolist():
            if int(counts[k]) == 0:
                continue
            pt = self.chunks[k].load("train")
            sampler = WindowSampler(
                pt,
                self.window,
                self.hz,
                self.origins,
                self.season,
                self.batch_size,
                int(counts[k]),
                self.seed * 7_919 + k,
            )
            yield from sampler.epoch_batches(epoch)


class ChunkOriginBatches:
    """The validation batches of every chunk in turn, one chunk in memory."""

    def __init__(self, chunks: list[Chunk], window: int, hz: int, season: int | tuple[int, ...], size: int) -> None:
        self.chunks, self.window, self.hz, self.season, self.size = chunks, window, hz, season, size

    def __len__(self) -> int:
        return sum(-(-len(c.val_origins) // self.size) for c in self.chunks)

    def __iter__(self) -> Iterator[Batch]:
        for c in self.chunks:
            yield from origin_batches(c.load("val"), c.val_origins, self.window, self.hz, self.season, self.size)


class StreamingForecastTask:
    """The forecasting task over a file read in chunks of about `rows` rows (see the module docstring).
    `close()` removes the window cache."""

    name = NAME
    monitor, monitor_mode = "loss", "min"

    def __init__(self, cfg: ForecastConfig, source: str, rows: int) -> None:
        first = next(read_chunks(cfg, source, rows))
        self.cfg = cfg = with_data_defaults(cfg, first, cfg.horizon)
        self.source, self.rows = source, rows
        self.pre, n = fit_streaming(cfg, read_chunks(cfg, source, rows))
        self._dir = Path(tempfile.mkdtemp(prefix="lstmkit-windows-"))
        try:
            self.chunks = self._featurise()
        except BaseException:
            self.close()
            raise
        log.info("%d series in %d chunks of about %d rows; window cache %s", n, len(self.chunks), rows, self._dir)
        self._final: Preprocessor | None = None
        self.calibration: list[list[float]] = []

    def _featurise(self) -> list[Chunk]:
        """Pass 2: every chunk's training and validation tensors, written to the cache."""
        cfg = self.cfg
        assert cfg.lookback is not None and cfg.horizon is not None
        chunks = []
        for k, panel in enumerate(read_chunks(cfg, self.source, self.rows)):
            train = split_validation(panel, cfg.horizon, cfg.validation)
            back = 0 if cfg.validation else cfg.horizon
            path = self._dir / f"chunk-{k:05d}"
            path.mkdir()
            chunk = Chunk(
                path,
                sum(len(s) - 1 for s in train.series),
                [(i, max(1, len(s) - back)) for i, s in enumerate(train.series)],
            )
            chunk.save("train", build_tensors(train.series, self.pre, cfg.lookback, decoded_steps(cfg)))
            chunk.save(
                "val", build_tensors((panel if cfg.validation else train).series, self.pre, cfg.lookback, cfg.horizon)
            )
            chunks.append(chunk)
        return chunks

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def build_model(self) -> nn.Module:
        return build_model(self.cfg, self.pre)

    def train_batches(self, batch_size: int, seed: int) -> ChunkWindowSampler:
        origins = sum(c.train_origins for c in self.chunks)
        steps = self.cfg.steps_per_epoch or int(np.clip(-(-origins // batch_size), 10, 100))
        assert self.cfg.lookback is not None
        return ChunkWindowSampler(
            self.chunks,
            self.cfg.lookback,
            decoded_steps(self.cfg),
            self.cfg.forking,
            seasons_of(self.cfg),
            batch_size,
            steps,
            seed,
        )

    def val_batches(self, batch_size: int) -> ChunkOriginBatches:
        assert self.cfg.lookback is not None and self.cfg.horizon is not None
        return ChunkOriginBatches(
            self.chunks, self.cfg.lookback, self.cfg.horizon, seasons_of(self.cfg), max(batch_size, 256)
        )

    def test_batches(self, batch_size: int) -> None:
        return None

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        return forecast_loss(self.cfg, run(model, batch), batch["y"])

    def metrics(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        return forecast_metrics(self.cfg, self.pre, model, batch)

    def config_dict(self) -> dict[str, Any]:
        return to_dict(self.cfg)

    def saved_state(self) -> dict[str, Any]:
        return {"preprocessor": self.final_preprocessor().to_dict(), "calibration": self.calibration}

    def finalize(self, model: ForecastNet) -> dict[str, Any]:
        return finalize(self, model)

    def validation_gate(self, model: ForecastNet) -> dict[str, float]:
        """As ForecastTask's, one chunk at a time."""
        if self.pre.layout.gate is None or not self.cfg.validation:
            return {}
        gate: dict[str, float] = {}
        for panel, chunk in zip(read_chunks(self.cfg, self.source, self.rows), self.chunks):
            train = split_validation(panel, self.cfg.horizon, True)  # type: ignore[arg-type]
            gate.update(gate_of(self.cfg, model, self.pre, panel, train, chunk.val_origins))
        return gate

    def set_gate(self, gate: dict[str, float]) -> None:
        self.pre = dataclasses.replace(self.pre, gate=gate)
        self._final = None

    def final_preprocessor(self) -> Preprocessor:
        """As ForecastTask's, one chunk at a time."""
        if self._final is None:
            final = self.pre
            for panel in read_chunks(self.cfg, self.source, self.rows):
                final = finished(self.cfg, final, final, panel.series)
            self._final = final
        return self._final


def check_streamable(data: Any, rows: int | None) -> str:
    """The file path to read in chunks of `rows` rows, or a clear error."""
    if rows is None or rows < 1:
        raise ConfigError(f"chunk_rows must be a positive number of rows, got {rows!r}")
    from lstmkit.data.chunks import chunk_files

    if not isinstance(data, (str, Path)):
        raise ConfigError(
            "--chunk-rows reads a file in chunks: pass --data as a CSV or Parquet path (or glob), "
            "not a DataFrame; an in-memory frame trains without it"
        )
    chunk_files(data)  # the files exist and are CSV/Parquet
    return str(data)
