"""The engine: fit any TrainingTask with Lightning.

Gives every task the same progress bars, early stopping, gradient clipping, LR schedule, seeding,
deterministic mode, checkpoint/resume, bf16 autocast where the hardware has it, and a run directory:

    runs/<task>/<name>/
      config.yaml        the resolved run config ({"task": ..., "train": ...}), written by the engine
      metrics.csv        every logged value by step (all attempts, when resumed), rewritten as training goes
      curves.png         training curves
      checkpoints/last.ckpt   Lightning's resume checkpoint (optimiser state included)
      model/             the saved model (safetensors + JSON), what `lstmkit.load` reads
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, Timer, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only
from torch import nn

from lstmkit.config import ConfigError, to_dict
from lstmkit.deploy.saved_model import save_model
from lstmkit.engine.config import TrainConfig, parse_duration, unique_name
from lstmkit.engine.evaluate import batch_size_of, evaluate
from lstmkit.engine.protocol import TrainingTask
from lstmkit.engine.report import merge_metrics, plot_curves
from lstmkit.engine.resume import AtomicCheckpointIO, RandomState, ResumableBatches, TaskState, ValidationBatches
from lstmkit.engine.tracking import log_run, mlflow_logger

log = logging.getLogger(__name__)


@dataclass
class FitResult:
    """What a finished training run produced."""

    run_dir: Path
    model_dir: Path
    model: nn.Module
    metrics: dict[str, float]  # val_* and test_* metrics of the selected (best) weights, in fp32
    steps: int
    seconds: float
    report: dict[str, Any] = field(default_factory=dict)  # what the task's finalize hook said
    primary: bool = True  # False in a distributed run's extra processes: their part ended with training
    early_stop: dict[str, Any] = field(default_factory=dict)  # when early stopping ended the run: step, best score


class _LitTask(pl.LightningModule):
    """Adapts a TrainingTask to Lightning; holds no task logic of its own."""

    def __init__(
        self, task: TrainingTask, model: nn.Module, cfg: TrainConfig, batches: ResumableBatches, val: ValidationBatches
    ) -> None:
        super().__init__()
        self.task, self.model, self.cfg, self.batches, self.val = task, model, cfg, batches, val

    def setup(self, stage: str) -> None:
        """Once the processes exist: each trains on its own share of the batches, with its own dropout stream."""
        if self.trainer.world_size > 1:
            self.batches.shard(self.global_rank, self.trainer.world_size)
            self.val.shard(self.global_rank, self.trainer.world_size)
            seed_everything(self.cfg.seed + 7919 * self.global_rank)  # after the weights: those are rank 0's

    def training_step(self, batch: Any, batch_idx: int):
        self.batches.note_consumed()
        loss = self.task.loss(self.model, batch)
        self.log("train_loss", loss, prog_bar=True, batch_size=batch_size_of(batch))
        return loss

    def on_train_epoch_start(self) -> None:
        hook = getattr(self.task, "on_epoch_start", None)  # optional: e.g. gradual unfreezing
        if hook:
            hook(self.model, self.current_epoch)

    def on_validation_epoch_start(self) -> None:
        self._sums: dict[str, float] = {}
        self._count = 0

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        n = batch_size_of(batch)
        for k, v in self.task.metrics(self.model, batch).items():
            self._sums[k] = self._sums.get(k, 0.0) + float(v) * n
        self._count += n

    def on_validation_epoch_end(self) -> None:
        """Batch-size-weighted means, as `evaluate` computes them: sums and counts added over the processes
        (each scored its share of validation, or all of it: the means are the same)."""
        keys = sorted(self._sums)
        totals = torch.tensor([self._sums[k] for k in keys] + [float(self._count)], dtype=torch.float64)
        if self.trainer.world_size > 1:
            totals = self.trainer.strategy.reduce(totals.to(self.device), reduce_op="sum").cpu()
        for k, v in zip(keys, (totals[:-1] / totals[-1]).tolist()):
            self.log(f"val_{k}", v, prog_bar=True)

    def configure_optimizers(self):
        groups = getattr(self.task, "param_groups", None)  # optional: a task's own learning rates per layer
        params = groups(self.model, self.cfg.lr) if groups else self.model.parameters()
        opt = torch.optim.AdamW(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        total = _total_steps(self.cfg, self.batches)  # not trainer.estimated_stepping_batches: that sets up the
        # data before a resumed run's loop state is restored, so the resumed epoch would restart from batch 0
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(self.cfg, total, self._time_spent))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def _time_spent(self) -> float:
        """The fraction of --max-time used so far (resumed runs included); 0 without a time budget."""
        timer = next((c for c in self.trainer.callbacks if isinstance(c, Timer)), None)
        if not self.cfg.max_time or timer is None:
            return 0.0
        return timer.time_elapsed("train") / parse_duration(self.cfg.max_time).total_seconds()


def _total_steps(cfg: TrainConfig, batches: ResumableBatches) -> float:
    """Optimiser steps the run will take at most: --max-steps, else epochs x batches per epoch."""
    per_epoch = len(batches) if hasattr(batches.source, "__len__") else math.inf
    by_epochs = cfg.epochs * per_epoch
    return float(min(cfg.max_steps, by_epochs) if cfg.max_steps > 0 else by_epochs)


def _schedule(cfg: TrainConfig, total: float, time_spent: Callable[[], float] | None = None):
    """Linear warm-up, then constant or cosine decay to 10 % of the peak over whichever budget runs out first:
    the steps, or (when `time_spent` reports the fraction of --max-time used) the wall time, so a run cut by
    time still ends annealed."""
    warm = max(cfg.warmup_steps, 0)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if cfg.lr_schedule == "constant":
            return 1.0
        by_steps = (step - warm) / (total - warm) if math.isfinite(total) and total > warm else 0.0
        progress = min(max(by_steps, time_spent() if time_spent else 0.0), 1.0)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class _BestWeights(Callback):
    """Keeps the weights of the best validation so far (in memory and in the resume checkpoint)."""

    def __init__(self, key: str, mode: str) -> None:
        self.key, self.mode = key, mode
        self.best_score: float | None = None
        self.best: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.key not in trainer.callback_metrics:
            return
        score = float(trainer.callback_metrics[self.key])
        better = self.best_score is None or (score < self.best_score if self.mode == "min" else score > self.best_score)
        if better and math.isfinite(score):
            self.best_score = score
            self.best = {k: v.detach().to("cpu", copy=True) for k, v in module.model.state_dict().items()}

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.best is not None:  # the module leaves training with the best weights (spawned processes
            module.model.load_state_dict(self.best)  # hand back the module's weights, not this callback)

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score, "best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_score, self.best = state.get("best_score"), state.get("best")


def pick_device(requested: str) -> str:
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is visible; use --device auto or cpu")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def pick_precision(requested: str, device: str) -> str:
    """Lightning precision string: bf16 autocast only where the hardware runs bf16 natively."""
    if requested == "32":
        return "32-true"
    if device == "cuda":
        supported = torch.cuda.is_bf16_supported()
    else:
        supported = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    if requested == "bf16" and not supported:
        raise ConfigError(f"--precision bf16 was asked for but this {device} has no native bf16; use auto or 32")
    return "bf16-mixed" if supported else "32-true"


def run_directory(task_name: str, cfg: TrainConfig) -> Path:
    """--out, or runs/<task>/<name>; a default name is the time plus a random suffix (never collides)."""
    if cfg.out:
        return Path(cfg.out)
    return Path("runs") / task_name / (cfg.name or unique_name())


class _StderrBar(TQDMProgressBar):
    """Lightning's progress bars, on stderr: stdout carries results only (one JSON document under --json)."""

    def init_train_tqdm(self) -> Tqdm:
        return Tqdm(
            desc=self.train_description,
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stderr,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    def init_validation_tqdm(self) -> Tqdm:
        has_main_bar = self.trainer.state.fn != "validate"
        return Tqdm(
            desc=self.validation_description,
            position=2 * self.process_position + has_main_bar,
            disable=self.is_disabled,
            leave=not has_main_bar,
            dynamic_ncols=True,
            file=sys.stderr,
            bar_format=self.BAR_FORMAT,
        )


class _PlainProgress(Callback):
    """Progress as plain lines on stderr, at most one every `every` seconds and after each validation: what a log
    file or a CI console gets instead of a bar (no cursor escapes when stderr is not a terminal)."""

    def __init__(self, every: float = 10.0) -> None:
        self.every, self.last, self.start = every, 0.0, 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = self.last = time.perf_counter()

    def _line(self, trainer: pl.Trainer, what: str) -> None:
        if trainer.is_global_zero:
            steps = f"/{trainer.max_steps}" if trainer.max_steps and trainer.max_steps > 0 else ""
            epochs = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
            elapsed = time.perf_counter() - self.start
            sys.stderr.write(  # the progress channel, as the terminal's bar (stdout carries results only)
                f"epoch {trainer.current_epoch + 1}{epochs}, step {trainer.global_step}{steps}, "
                f"{elapsed:.0f} s: {what}\n"
            )
            sys.stderr.flush()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            loss = trainer.callback_metrics.get("train_loss")
            self._line(trainer, "training" + (f", loss {float(loss):.4g}" if loss is not None else ""))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        shown = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val_") and v.numel() == 1}
        self._line(trainer, "validation " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(shown.items())))


class _LiveMetrics(Callback):
    """metrics.csv (all attempts merged) rewritten after every validation and every checkpoint, so a killed
    run keeps its curve up to its resume point."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def _write(self, trainer: pl.Trainer) -> None:
        if not trainer.is_global_zero:
            return
        if trainer.logger is not None:
            trainer.logger.save()
        merge_metrics(self.run_dir / "logs", self.run_dir / "metrics.csv")

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._write(trainer)

    def on_save_checkpoint(self, trainer: pl.Trainer, *args: Any) -> None:
        self._write(trainer)  # the curve is always at least as fresh as the resume checkpoint


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch RNGs (no environment variables are written)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _callbacks(task: TrainingTask, cfg: TrainConfig, run_dir: Path) -> tuple[list[Callback], _BestWeights]:
    key = f"val_{task.monitor}"
    best = _BestWeights(key, task.monitor_mode)
    steps, interval = cfg.checkpoint_schedule()
    ckpt = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="last",
        save_top_k=0,
        save_last=True,
        every_n_train_steps=steps,
        train_time_interval=interval,
        save_on_train_epoch_end=True,
    )
    callbacks: list[Callback] = [best, RandomState(), TaskState(task), ckpt, _LiveMetrics(run_dir)]
    if cfg.progress:  # a bar on a terminal; plain periodic lines in a log file or a CI console
        callbacks.append(_StderrBar() if sys.stderr.isatty() else _PlainProgress())
    if cfg.early_stopping > 0:
        # a budget too small for any validation ends the run rather than crashing it
        callbacks.append(EarlyStopping(key, patience=cfg.early_stopping, mode=task.monitor_mode, strict=False))
    return callbacks, best


def _trainer(
    task: TrainingTask,
    cfg: TrainConfig,
    run_dir: Path,
    attempt: int,
    device: str,
    log_every: int,
    resolved: dict[str, Any],
) -> tuple[pl.Trainer, _BestWeights]:
    callbacks, best = _callbacks(task, cfg, run_dir)
    loggers: list[Any] = [
        CSVLogger(run_dir / "logs", name="", version=f"attempt-{attempt}", flush_logs_every_n_steps=log_every)
    ]
    if cfg.track and rank_zero_only.rank == 0:  # one MLflow run, written by the first process
        loggers.append(mlflow_logger(cfg.track, task.name, run_dir, resolved))
    trainer = pl.Trainer(
        accelerator=device,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=_strategy(cfg, device),
        precision=pick_precision(cfg.precision, device),
        max_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        max_time=parse_duration(cfg.max_time) if cfg.max_time else None,
        gradient_clip_val=cfg.grad_clip or None,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        logger=loggers,
        enable_progress_bar=cfg.progress and sys.stderr.isatty(),  # else _PlainProgress prints lines
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=log_every,
        default_root_dir=run_dir,
    )
    return trainer, best


def _strategy(cfg: TrainConfig, device: str) -> Any:
    """One process, or distributed data parallel: gloo between CPU processes, NCCL between GPUs."""
    if cfg.world_size == 1 and cfg.strategy == "auto":
        return "auto"
    from lightning.pytorch.strategies import DDPStrategy

    backend = "nccl" if device == "cuda" else "gloo"
    # ddp_spawn: processes started from this one (forked on CPU, so the task needs no pickling; CUDA needs spawn)
    start = ("spawn" if device == "cuda" else "fork") if cfg.strategy == "ddp_spawn" else "popen"
    return DDPStrategy(process_group_backend=backend, start_method=start, find_unused_parameters=False)


def _prepare_run_dir(task: TrainingTask, cfg: TrainConfig) -> tuple[Path, Path, dict[str, Any]]:
    """The run directory, its resume checkpoint, and the run config the engine saves there (config.yaml):
    the task's resolved config and this TrainConfig, one document built here for every task."""
    if cfg.world_size > 1 and not (cfg.out or cfg.name):
        raise ConfigError(
            f"training in {cfg.world_size} processes needs --out DIR or --name NAME: every process "
            "must write to the same run"
        )
    run_dir = run_directory(task.name, cfg)
    last = run_dir / "checkpoints" / "last.ckpt"
    if cfg.resume and not last.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {last}; start without --resume or point --out at the run")
    if not cfg.resume and (run_dir / "model").exists():
        raise FileExistsError(f"{run_dir} already holds a trained model; choose another --out/--name or pass --resume")
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = {"task": task.config_dict(), "train": {**to_dict(cfg), "resume": False}}
    tmp = run_dir / ".config.yaml.tmp"
    tmp.write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
    tmp.replace(run_dir / "config.yaml")
    return run_dir, last, resolved


def fit(task: TrainingTask, cfg: TrainConfig) -> FitResult:
    """Train `task` under `cfg`. The run config saved with the run and the model is built here, from
    `task.config_dict()` and `cfg`: every task's runs record the same document."""
    run_dir, last, resolved = _prepare_run_dir(task, cfg)
    device = pick_device(cfg.device)
    seed_everything(cfg.seed)
    model = task.build_model()
    attempt = len(list((run_dir / "logs").glob("attempt-*"))) if (run_dir / "logs").exists() else 0
    train = ResumableBatches(task, cfg.batch_size, cfg.seed)
    log_every = max(1, min(10, len(train))) if hasattr(train.source, "__len__") else 10
    trainer, best = _trainer(task, cfg, run_dir, attempt, device, log_every, resolved)
    val = ValidationBatches(task, cfg.batch_size)
    lit = _LitTask(task, model, cfg, train, val)
    start = time.perf_counter()
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(cfg.deterministic, warn_only=True)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*does not have many workers.*")
            warnings.filterwarnings("ignore", ".*too few batches.*")
            warnings.filterwarnings("ignore", ".*LeafSpec.*")
            trainer.fit(
                lit,
                train_dataloaders=train,
                val_dataloaders=val,
                ckpt_path=str(last) if cfg.resume else None,
            )
    finally:
        torch.use_deterministic_algorithms(previous)
    seconds = time.perf_counter() - start
    if not trainer.is_global_zero:
        # Lightning's ddp launcher runs the whole command again in each extra process: their part ends with
        # training (the first process finalizes, measures and saves the model, and reports); the caller sees
        # primary=False and returns without reporting
        return FitResult(run_dir, run_dir / "model", model, {}, int(trainer.global_step), seconds, primary=False)
    return _finish(task, model, best, trainer, run_dir, resolved, cfg, seconds)


def _finish(task, model, best, trainer, run_dir, resolved, cfg, seconds) -> FitResult:
    """Select the best weights, let the task finalize them (post-training steps such as a validation gate or
    interval calibration), measure them in fp32, then save the model once and log the run once."""
    if best.best is not None:
        model.load_state_dict(best.best)
    model = model.to("cpu").float().eval()
    finalize = getattr(task, "finalize", None)
    report = finalize(model) if finalize is not None else {}
    metrics = {f"val_{k}": v for k, v in evaluate(task.metrics, model, task.val_batches(cfg.batch_size)).items()}
    test = task.test_batches(cfg.batch_size)
    if test is not None:
        metrics.update({f"test_{k}": v for k, v in evaluate(task.metrics, model, test).items()})
    model_dir = save_model(
        run_dir / "model",
        task=task.name,
        config=resolved,
        tensors=model.state_dict(),
        state=task.saved_state(),
    )
    csv_path = merge_metrics(run_dir / "logs", run_dir / "metrics.csv")
    if csv_path is not None:
        plot_curves(csv_path, run_dir / "curves.png", title=f"{task.name}: {run_dir.name}")
    log.info("saved model to %s (%s)", model_dir, metrics)
    if cfg.track:
        log_run(run_dir, metrics)
    stop = _early_stop(trainer, task)
    if stop:
        log.info("early stopping ended training at step %d: %s", stop["step"], stop)
    return FitResult(run_dir, model_dir, model, metrics, int(trainer.global_step), seconds, report, early_stop=stop)


def _early_stop(trainer: pl.Trainer, task: TrainingTask) -> dict[str, Any]:
    """When early stopping ended the run: at which step and epoch, and the best validation score it kept."""
    for cb in trainer.callbacks:
        if isinstance(cb, EarlyStopping) and cb.stopped_epoch > 0:
            best = float(cb.best_score) if cb.best_score is not None else float("nan")
            return {
                "step": int(trainer.global_step),
                "epoch": int(cb.stopped_epoch),
                f"best_val_{task.monitor}": best,
                "patience": int(cb.patience),
            }
    return {}
