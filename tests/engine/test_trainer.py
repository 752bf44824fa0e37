"""The engine with a toy task it knows nothing about: trains, writes the run directory, resumes."""

import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lstmkit import nn as lnn
from lstmkit.deploy.saved_model import read_saved
from lstmkit.engine import TrainConfig
from lstmkit.engine.config import parse_duration
from lstmkit.engine.trainer import fit


class MeanModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = lnn.GRU(1, 8, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


class MeanTask:
    """Predict the mean of a short sequence: a task defined only in this test."""

    name = "toy-mean"
    monitor = "mse"
    monitor_mode = "min"

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(5)
        self.val = torch.rand(64, 6, 1, generator=g)

    def build_model(self):
        return MeanModel()

    def train_batches(self, batch_size, seed):
        g = torch.Generator().manual_seed(seed)
        return _Once([(x, x.mean(1)) for x in torch.rand(10, batch_size, 6, 1, generator=g)])

    def val_batches(self, batch_size):
        return _Once([(self.val, self.val.mean(1))])

    def test_batches(self, batch_size):
        return None

    def loss(self, model, batch):
        return F.mse_loss(model(batch[0]), batch[1])

    def metrics(self, model, batch):
        return {"mse": F.mse_loss(model(batch[0]), batch[1])}

    def config_dict(self):
        return {}

    def saved_state(self):
        return {"note": {"hello": 1}}


class _Once:
    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)


def _cfg(tmp_path, **kw):
    base = dict(out=str(tmp_path / "run"), epochs=3, progress=False, precision="32", lr=1e-2)
    return TrainConfig(**{**base, **kw})


def test_fit_trains_and_writes_the_run_directory(tmp_path):
    task = MeanTask()
    untrained = task.metrics(task.build_model(), next(iter(task.val_batches(8))))["mse"].item()
    result = fit(task, _cfg(tmp_path))
    assert result.steps == 30
    assert result.metrics["val_mse"] < untrained / 2
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.csv", "curves.png", "checkpoints/last.ckpt", "model/config.json"):
        assert (run / name).is_file(), name
    saved = read_saved(run / "model")
    assert saved.task == "toy-mean" and saved.state == {"note": {"hello": 1}}
    model = MeanModel()
    model.load_state_dict(saved.tensors)
    x = torch.rand(3, 6, 1)
    torch.testing.assert_close(model(x), result.model(x))


def test_resume_continues_and_refuses_to_overwrite(tmp_path):
    fit(MeanTask(), _cfg(tmp_path, epochs=1))
    with pytest.raises(FileExistsError, match="already holds a trained model"):
        fit(MeanTask(), _cfg(tmp_path, epochs=2))
    resumed = fit(MeanTask(), _cfg(tmp_path, epochs=2, resume=True))
    assert resumed.steps == 20  # 10 from the first attempt + 10 more
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step") and len(rows) > 2
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        fit(MeanTask(), _cfg(tmp_path / "other", resume=True))


def test_max_steps_and_seed_are_honoured(tmp_path):
    a = fit(MeanTask(), _cfg(tmp_path / "a", max_steps=7, seed=3))
    b = fit(MeanTask(), _cfg(tmp_path / "b", max_steps=7, seed=3))
    assert a.steps == 7
    for (k, v), w in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        torch.testing.assert_close(v, w, msg=k)


def test_durations():
    assert parse_duration("10m").total_seconds() == 600
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_duration("90").total_seconds() == 90
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("ten minutes")


def test_loading_a_model_does_not_import_lightning(tmp_path):
    from lstmkit.deploy.saved_model import save_model
    from lstmkit.tasks.longrange import LongRangeConfig, build_model

    cfg = LongRangeConfig(length=5, hidden_size=4)
    save_model(tmp_path / "m", task="longrange", config={"task": cfg.__dict__}, tensors=build_model(cfg).state_dict())
    code = (
        "import sys, torch, lstmkit; m = lstmkit.load(sys.argv[1]); "
        "m.predict(torch.rand(2, 5, 2)); m.evaluate(); "
        "bad = [k for k in sys.modules if k.split('.')[0] in ('lightning', 'pytorch_lightning')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "m")], check=True)


class StalledTask(MeanTask):
    """A validation metric that never improves."""

    def metrics(self, model, batch):
        return {"mse": torch.tensor(1.0)}


def test_early_stopping_stops_when_validation_stalls(tmp_path):
    result = fit(StalledTask(), _cfg(tmp_path, epochs=20, early_stopping=2))
    # validation after epochs 1, 2, 3 (10 batches each): no improvement twice after the first -> stop at 30
    assert result.steps == 30


def test_a_budget_too_small_for_any_validation_still_saves_a_model(tmp_path):
    result = fit(MeanTask(), _cfg(tmp_path, epochs=20, early_stopping=2, max_steps=4))
    assert result.steps == 4 and (result.model_dir / "model.safetensors").is_file()
    assert math.isfinite(result.metrics["val_mse"])  # measured on the validation set after training


def test_learning_rate_schedule():
    from lstmkit.engine.trainer import _schedule

    f = _schedule(TrainConfig(warmup_steps=10, lr_schedule="cosine"), total=110)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(60) == pytest.approx(0.55) and f(110) == pytest.approx(0.1)
    assert _schedule(TrainConfig(lr_schedule="constant"), total=100)(50) == 1.0
    assert _schedule(TrainConfig(), total=float("inf"))(50) == 1.0  # no step budget, no time budget: constant
    # a time budget: the cosine follows the fraction of wall time used when that runs out before the steps
    spent = [0.0]
    g = _schedule(TrainConfig(lr_schedule="cosine"), total=1000, time_spent=lambda: spent[0])
    assert g(100) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 0.1)))  # steps ahead of time
    spent[0] = 0.5
    assert g(100) == pytest.approx(0.55)  # half the time gone: half-way down, whatever the step
    spent[0] = 1.2
    assert g(100) == pytest.approx(0.1)
    assert _schedule(TrainConfig(), total=float("inf"), time_spent=lambda: 0.5)(7) == pytest.approx(0.55)
