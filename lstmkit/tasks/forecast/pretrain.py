"""Training the pretrained forecaster (zeroshot.py) with the shared engine: random windows from pools of series
(synthetic draws, real training parts), a context of random length before a random origin, the next Hm steps
as the target, each window standardised by its own context. Pretraining and fine-tuning (`forecast train
--init-from pretrained`) are the same task with different pools.

Notation as in zeroshot.py: B windows, C context, Hm horizon, Q levels.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lstmkit.engine.config import TrainConfig
from lstmkit.tasks.forecast.patchnet import PatchNet, pinball
from lstmkit.tasks.forecast.zeroshot import ZeroShotConfig, anchor_paths, contexts, standardise

MIN_CONTEXT = 8  # the shortest history a window gives the model
FINETUNE_STEPS = 20  # steps per fine-tuning epoch (each epoch ends with a validation)
FINETUNE_TRAIN = TrainConfig(epochs=5, lr=1e-4, batch_size=64, early_stopping=2)  # fine-tuning's own defaults
# Weight-space mixes of the base and fine-tuned weights tried after fine-tuning (WiSE-FT, Wortsman et al. 2022:
# interpolating a fine-tuned model towards its zero-shot base keeps the base's robustness on what the few
# fine-tuning series do not show); 0 is the base, 1 the fine-tuned model; validation picks one.
MIX_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
CLIP = 100.0  # scaled targets beyond this many context standard deviations are clipped (a flat context's jump)


@dataclass(frozen=True)
class Pool:
    """Series to draw windows from (each a 1-D array, NaN where missing) and the share of windows they give."""

    name: str
    series: Sequence[np.ndarray]
    weight: float


def windows(pools: Sequence[Pool], cfg: ZeroShotConfig, n: int, rng: np.random.Generator) -> dict[str, Tensor]:
    """n random windows: x, mask (n, C) scaled context; target (n, Hm) scaled, tmask (n, Hm) where it exists."""
    p = np.array([pl.weight for pl in pools], dtype=np.float64)
    which = rng.choice(len(pools), size=n, p=p / p.sum())
    ctx, fut = [], np.full((n, cfg.horizon), np.nan)
    for i, k in enumerate(which):
        series = pools[k].series
        y = series[rng.integers(len(series))]
        end = int(rng.integers(MIN_CONTEXT, len(y)))  # the origin: the context ends before it
        length = int(np.exp(rng.uniform(np.log(MIN_CONTEXT), np.log(cfg.context + 1))))  # log-uniform length
        ctx.append(y[max(0, end - length) : end])
        part = y[end : end + cfg.horizon]
        fut[i, : len(part)] = part
    return scaled_batch(ctx, fut, cfg)


def scaled_batch(ctx: Sequence[np.ndarray], fut: np.ndarray, cfg: ZeroShotConfig) -> dict[str, Tensor]:
    """Contexts (each 1-D) and their futures (n, Hm) (NaN: none) -> the tensors a batch holds, each window
    standardised by its own context: x, mask (n, C); target, tmask (n, Hm); base (n, Hm), an anchored model's
    statistical path."""
    x, mask, loc, scale = standardise(contexts(ctx, cfg.context))
    target = np.clip((fut - loc[:, None]) / scale[:, None], -CLIP, CLIP)
    tmask = np.isfinite(target)
    batch = {
        "x": torch.from_numpy(x),
        "mask": torch.from_numpy(mask),
        "target": torch.from_numpy(np.where(tmask, target, 0.0).astype(np.float32)),
        "tmask": torch.from_numpy(tmask.astype(np.float32)),
    }
    base = anchor_paths(cfg, x, mask)
    return batch if base is None else {**batch, "base": torch.from_numpy(base)}


class WindowBatches:
    """One epoch: `steps` batches of random windows, reproducible from (seed, epoch)."""

    def __init__(self, pools: Sequence[Pool], cfg: ZeroShotConfig, batch_size: int, steps: int, seed: int) -> None:
        self.pools, self.cfg, self.batch_size, self.steps, self.seed = pools, cfg, batch_size, steps, seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps

    def epoch_batches(self, epoch: int) -> Iterator[dict[str, Tensor]]:
        rng = np.random.default_rng([self.seed, epoch])
        for _ in range(self.steps):
            yield windows(self.pools, self.cfg, self.batch_size, rng)

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        yield from self.epoch_batches(self.epoch)
        self.epoch += 1


class ZeroShotTask:
    """The engine's task for the pretrained forecaster (pretraining or fine-tuning): pinball loss on random
    windows of the training pools; validation on fixed windows of the validation pools."""

    name = "forecast"
    monitor, monitor_mode = "loss", "min"

    def __init__(
        self,
        cfg: ZeroShotConfig,
        train: Sequence[Pool],
        val: Sequence[Pool],
        steps_per_epoch: int = 200,
        val_windows: int = 2048,
        init: dict[str, Tensor] | None = None,
        val_batch: dict[str, Tensor] | None = None,
    ) -> None:
        self.cfg, self.train, self.val = cfg, list(train), list(val)
        self.steps, self.init = steps_per_epoch, init
        self.levels = torch.tensor(cfg.levels)
        fixed = np.random.default_rng(12345)  # the same validation windows in every run
        self._val = val_batch if val_batch is not None else windows(self.val, cfg, val_windows, fixed)

    def build_model(self) -> nn.Module:
        net = PatchNet(self.cfg)
        if self.init is not None:  # fine-tuning starts from the pretrained weights
            net.load_state_dict(self.init)
        return net

    def train_batches(self, batch_size: int, seed: int) -> WindowBatches:
        return WindowBatches(self.train, self.cfg, batch_size, self.steps, seed)

    def val_batches(self, batch_size: int) -> list[dict[str, Tensor]]:
        n = len(self._val["x"])
        return [{k: v[i : i + batch_size] for k, v in self._val.items()} for i in range(0, n, batch_size)]

    def test_batches(self, batch_size: int) -> None:
        return None

    def loss(self, model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        q = model(batch["x"], batch["mask"], batch.get("base"))  # (B, Hm, Q)
        return pinball(q, batch["target"], batch["tmask"], self.levels.to(q.device))

    def metrics(self, model: nn.Module, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        q = model(batch["x"], batch["mask"], batch.get("base"))
        mid = q[..., list(self.cfg.levels).index(0.5)]  # (B, Hm)
        w = batch["tmask"]
        mae = ((mid - batch["target"]).abs() * w).sum() / w.sum().clamp(min=1)
        return {"loss": pinball(q, batch["target"], w, self.levels.to(q.device)), "mae": mae}

    def config_dict(self) -> dict[str, Any]:
        return {"model": "pretrained", **asdict(self.cfg)}

    def saved_state(self) -> dict[str, Any]:
        return {}


def last_windows(series: Sequence[np.ndarray], cfg: ZeroShotConfig, horizon: int) -> dict[str, Tensor]:
    """Each series' last `horizon` values as the target of the context before them (fine-tuning's validation)."""
    fut = np.full((len(series), cfg.horizon), np.nan)
    for i, y in enumerate(series):
        fut[i, :horizon] = y[-horizon:]
    return scaled_batch([y[:-horizon] for y in series], fut, cfg)


def mix_states(base: dict[str, Tensor], tuned: dict[str, Tensor], weight: float) -> dict[str, Tensor]:
    """(1 - weight) * base + weight * tuned for every floating tensor (others from tuned)."""
    return {k: base[k].lerp(v, weight) if v.is_floating_point() else v for k, v in tuned.items()}


def spread_factors(base: Any, tuned: Any, series: Sequence[np.ndarray], horizon: int) -> tuple[float, ...]:
    """Per level, how much wider the base's quantiles lie from its median than the tuned model's, on average
    over the series' next `horizon` steps (each series in units of its context's spread); at least 1. Fine-tuning
    on a few series narrows the quantiles to what those windows showed (80 % intervals of models fine-tuned on one
    series covered 67 % of the next horizon, BENCHMARKS.md `pretrained-single-val-mix-each`), the base's spread
    was learned on thousands."""
    scale = standardise(contexts(series, base.arch.context))[3][:, None, None]  # (S, 1, 1)
    mid = list(base.arch.levels).index(0.5)

    def offsets(model: Any) -> np.ndarray:
        q = model.forecast_values(series, horizon)  # (S, horizon, Q)
        return (np.abs(q - q[..., mid : mid + 1]) / scale).mean(axis=(0, 1))  # (Q,)

    b, t = offsets(base), offsets(tuned)
    f = np.where(t > 0, np.maximum(1.0, b / np.where(t > 0, t, 1.0)), 1.0)
    f[mid] = 1.0
    return tuple(round(float(v), 4) for v in f)


def finetune(base: Any, series: Sequence[np.ndarray], horizon: int, train: Any) -> tuple[Any, dict[str, Any]]:
    """The pretrained forecaster `base` trained further on windows of `series` (each without its last
    `horizon` values, which validate), with the engine under `train`; then the weight-space mix of base and
    fine-tuned weights (MIX_WEIGHTS: 0 = the base, 1 = fine-tuned) that validates best is kept. Returns that
    model and what was measured (`mix`, `kept`: pretrained, mixed or finetuned; `spread`: the interval factors).
    Series too short to give a window are left out; when none is left, the base is kept and `note` says why."""
    from lstmkit.engine.evaluate import evaluate
    from lstmkit.engine.trainer import fit, run_directory
    from lstmkit.tasks.forecast.patchnet import TorchPatchNetwork
    from lstmkit.tasks.forecast.pretrained import PretrainedForecaster

    cfg = base.arch
    # a window needs MIN_CONTEXT values of context and at least one after it, all before the validation horizon
    usable = [np.asarray(y, np.float64) for y in series if len(y) - horizon > MIN_CONTEXT]
    usable = [y for y in usable if np.isfinite(y[:-horizon]).sum() >= MIN_CONTEXT]
    if not usable:  # nothing to fine-tune on: the base forecasts, said in the report
        run = run_directory(ZeroShotTask.name, train)
        model_dir = base.save(run / "model", asdict(train))
        note = (
            f"no series has more than {MIN_CONTEXT} values before its last {horizon} (the validation horizon): "
            "nothing to fine-tune on, so the pretrained weights forecast zero-shot"
        )
        return base, {"kept": "pretrained", "mix": 0.0, "note": note, "run": str(run), "model": str(model_dir)}
    heads = [Pool("data", [y[:-horizon] for y in usable], 1.0)]
    val = last_windows(usable, cfg, horizon)
    task = ZeroShotTask(cfg, heads, [], steps_per_epoch=FINETUNE_STEPS, init=base.net.state_dict(), val_batch=val)
    batches = task.val_batches(train.batch_size)
    before = evaluate(task.metrics, base.net, batches)["loss"]
    result = fit(task, train)
    tuned_state = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
    base_state = base.net.state_dict()
    losses = {0.0: before}
    for w in MIX_WEIGHTS[1:]:
        result.model.load_state_dict(mix_states(base_state, tuned_state, w))
        losses[w] = evaluate(task.metrics, result.model, batches)["loss"]
    mix = min(losses, key=lambda w: (losses[w], w))  # ties: the one nearer the base
    kept = "pretrained" if mix == 0 else "finetuned" if mix == 1 else "mixed"
    report = {
        "val_loss_pretrained": before,
        "val_loss_finetuned": losses[1.0],
        "val_loss_by_mix": {str(w): v for w, v in losses.items()},
        "mix": mix,
        "kept": kept,
        "run": str(result.run_dir),
    }
    if mix == 0:  # fine-tuning did not help on these series' validation horizons: keep the base
        base.save(result.model_dir, asdict(train))
        return base, {**report, "model": str(result.model_dir)}
    result.model.load_state_dict(mix_states(base_state, tuned_state, mix))
    tuned = PretrainedForecaster(TorchPatchNetwork(result.model), cfg, base.config)
    spread = spread_factors(base, tuned, usable, horizon)
    old = cfg.spread or (1.0,) * len(spread)
    tuned.arch = replace(cfg, spread=tuple(round(a * b, 4) for a, b in zip(old, spread)))
    report["spread"] = dict(zip(map(str, cfg.levels), tuned.arch.spread))
    tuned.save(result.model_dir, asdict(train))  # the kept weights and their spread are the run's model
    return tuned, {**report, "model": str(result.model_dir)}
