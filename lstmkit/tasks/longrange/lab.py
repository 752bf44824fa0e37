"""`LongRangeModel`: the long-range lab's Python face: fit, evaluate, predict, save, load, and `compare`
(several cells and lengths under one budget, with gradient-flow pictures).

    from lstmkit.tasks.longrange import LongRangeModel, compare
    m = LongRangeModel(problem="adding", length=100, cell="lstm").fit()
    m.evaluate()                    # test metric beside the trivial baseline
    compare(LongRangeModel(problem="adding", length=50), cells=["lstm", "rnn"], lengths=[50, 100])

Only `fit` touches the training engine; loading, predicting and inspecting import no training framework.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lstmkit.data import synthetic
from lstmkit.deploy.protocol import Probe, RequestError, check_records, frame_of, records_of
from lstmkit.engine.config import RunConfig, TrainConfig
from lstmkit.errors import UsageError
from lstmkit.tasks.longrange import SPEC
from lstmkit.tasks.longrange.config import NAME, LongRangeConfig
from lstmkit.tasks.longrange.model import SequenceModel, build_model, hidden_size_for
from lstmkit.tasks.spec import saved_run

# what `compare --cells` accepts: a cell, or an LSTM variant from the core
CELL_CHOICES: dict[str, dict[str, Any]] = {
    "lstm": {"cell": "lstm"},
    "gru": {"cell": "gru"},
    "rnn": {"cell": "rnn"},
    "lstm-ln": {"cell": "lstm", "layer_norm": True},
    "lstm-chrono": {"cell": "lstm", "chrono_init": True},
    "lstm-fb0": {"cell": "lstm", "forget_bias": 0.0},
    "gru-chrono": {"cell": "gru", "chrono_init": True},
    "slstm": {"cell": "slstm"},
    "mlstm": {"cell": "mlstm"},
    "minlstm": {"cell": "minlstm"},
    "mingru": {"cell": "mingru"},
}


class LongRangeModel:
    """A recurrent model on a long-range problem: `LongRangeModel(problem="adding", length=100).fit()`.

    Options are LongRangeConfig fields (problem, cell, size) and TrainConfig fields (epochs, lr, out, ...)."""

    task = SPEC.name
    capabilities = SPEC.capabilities
    primary = True  # False after fit in a distributed run's extra processes (the first one reports)

    def __init__(
        self, *, config: LongRangeConfig | None = None, train: TrainConfig | None = None, **options: Any
    ) -> None:
        run = SPEC.resolve(config, train, options, where="LongRangeModel")
        self.config, self.train_config = run.task, run.train
        self.net: SequenceModel | None = None
        self.run_dir: Path | None = None
        self.fit_metrics: dict[str, float] = {}
        self.steps, self.seconds = 0, 0.0

    # ---- training and evaluation

    def fit(self) -> LongRangeModel:
        """Train on the configured problem; the selected weights are measured on the fixed-seed test set."""
        from lstmkit.engine.trainer import fit
        from lstmkit.tasks.longrange.task import LongRangeTask

        result = fit(LongRangeTask(self.config), self.train_config)
        self.run_dir, self.primary = result.run_dir, result.primary
        if not result.primary:
            return self  # a distributed run's extra process: the first one holds the model
        self.net, self.run_dir, self.fit_metrics = result.model.eval(), result.run_dir, result.metrics
        self.steps, self.seconds = result.steps, result.seconds
        return self

    def _ready(self) -> SequenceModel:
        if self.net is None:
            raise UsageError("this LongRangeModel is not trained: call fit() or lstmkit.load(path) first")
        return self.net

    def evaluate(self, batch_size: int = 256) -> dict[str, float]:
        """Metrics on the config's fixed-seed test set, with the trivial baseline beside the headline one."""
        from lstmkit.engine.evaluate import evaluate
        from lstmkit.tasks.longrange.task import LongRangeTask

        task = LongRangeTask(self.config)
        metrics = evaluate(task.metrics, self._ready(), task.test_batches(batch_size))
        p = self.config.problem_spec
        return {**{f"test_{k}": v for k, v in metrics.items()}, f"baseline_{p.metric}": p.baseline}

    def row(self, metrics: dict[str, float] | None = None) -> dict[str, Any]:
        """One table row: the headline test metric beside the baseline, and whether it counts as learned."""
        p, cfg = self.config.problem_spec, self.config
        metrics = metrics if metrics is not None else self.fit_metrics
        value = metrics[f"test_{p.metric}"]
        return {
            "problem": cfg.problem,
            "cell": cfg.cell,
            "length": cfg.length_label,
            "metric": p.metric,
            "test": value,
            "baseline": p.baseline,
            "baseline_is": p.baseline_is,
            "learned": "yes" if p.learned(value) else "no",
            "hidden": hidden_size_for(cfg),
            "params": sum(q.numel() for q in self._ready().parameters()),
            **metrics,
        }

    # ---- inference protocol

    @torch.no_grad()
    def predict(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """(B, T, I) -> (B, O), or (B, T, O) for per-step problems."""
        size = self.config.problem_spec.input_size
        if x.dim() != 3 or x.shape[-1] != size:
            raise RequestError(
                f"expected inputs of shape (batch, time, {size}) for {self.config.problem}, got {tuple(x.shape)}"
            )
        model = self._ready().eval()
        return model(x.to(next(model.parameters()).device), lengths)

    def schema(self) -> dict[str, Any]:
        p = self.config.problem_spec
        step = {"type": "array", "items": {"type": "number"}, "minItems": p.input_size}
        out = {"type": "array", "items": {"type": "number"}}
        return {
            "task": NAME,
            "stateful": False,
            "per_record": True,
            "input": {
                "type": "object",
                "required": ["x"],
                "additionalProperties": False,
                "properties": {
                    "x": {
                        "type": "array",
                        "items": step,
                        "minItems": 1,
                        "description": f"the sequence: steps of {p.input_size} numbers",
                    }
                },
            },
            "output": {
                "type": "object",
                "properties": {"output": out if not p.per_step else {"type": "array", "items": out}},
            },
        }

    def predict_records(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each record's sequence {"x": [[...], ...]} -> {"output": the head's values (per step if per-step)}."""
        out = []
        for r in check_records(records, self.schema()):
            try:
                x = torch.tensor(r["x"], dtype=torch.float32)[None]  # (1, T, I)
            except (ValueError, TypeError) as err:
                raise RequestError(f"x must be a rectangular (time, features) array of numbers ({err})") from None
            out.append({"output": self.predict(x)[0].tolist()})
        return out

    def predict_frame(self, frame: Any) -> Any:
        return frame_of(self.predict_records(records_of(frame)))

    def probe(self, inputs: dict[str, Any] | None = None, n: int = 64) -> Probe:
        """The recurrent layer, n test inputs (or the given {"x": ...}), and the task loss of its output."""
        model = self._ready()
        device = next(model.parameters()).device
        p = self.config.problem_spec
        if inputs is not None:
            x = torch.as_tensor(inputs["x"], dtype=torch.float32, device=device)
            x = x[None] if x.dim() == 2 else x
            if x.shape[-1] != p.input_size:
                raise RequestError(f"expected a (time, {p.input_size}) array, got shape {tuple(x.shape[1:])}")
            return Probe(model.rnn, x, None, None)
        data = p.load(self.config.data)["test"] if p.load else p.make(n, self.config.length, _probe_gen())
        batch = {k: v.to(device) for k, v in synthetic.take(data, 0, n).items()}
        lengths = batch.get("lengths")

        def loss_of_output(out: Tensor) -> Tensor:
            return p.loss(model.readout(out, lengths), batch)

        return Probe(model.rnn, batch["x"], lengths, loss_of_output)

    def save(self, path: str | Path) -> Path:
        from lstmkit.deploy.saved_model import save_model

        config = RunConfig(self.config, self.train_config).to_dict()  # the same document the engine saves
        return save_model(path, task=NAME, config=config, tensors=self._ready().state_dict(), state={})


def _probe_gen() -> torch.Generator:
    return torch.Generator().manual_seed(4321)  # fixed: the same probe inputs every time


def load_saved(saved: Any, device: torch.device) -> LongRangeModel:
    """Rebuild the model exactly as configured at training time (the saved-model loader for this task)."""
    from lstmkit.deploy.saved_model import load_weights

    cfg, train = saved_run(saved, LongRangeConfig)
    m = LongRangeModel(config=cfg, train=train)
    m.net = load_weights(build_model(cfg), saved).to(device).eval()
    return m


# ----------------------------------------------------------------------------------------------------------
# comparisons: several cells (and lengths) under one budget


@dataclass
class Comparison:
    """Rows (one per length x cell), each model's gradient flow, and the files written."""

    rows: list[dict[str, Any]]
    flows: dict[tuple[int, str], Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def compare(
    base: LongRangeModel, cells: list[str], lengths: list[int] | None = None, out: str | Path | None = None
) -> Comparison:
    """Train every cell (a CELL_CHOICES name) at every length with the same budget as `base`; write
    compare.csv/.md, the gradient-flow plot and, for sweeps, metric-vs-length and memory-horizon plots."""
    from lstmkit.engine.config import unique_name
    from lstmkit.inspect.gradients import gradient_flow
    from lstmkit.tasks.longrange import plots

    cfg, train = base.config, base.train_config
    if lengths and cfg.problem_spec.steps:
        raise UsageError(f"--lengths sweeps generated tasks; {cfg.problem} has a fixed length of {cfg.steps}")
    unknown = sorted(set(cells) - set(CELL_CHOICES))
    if unknown:
        raise UsageError(f"unknown cell(s) {unknown}; choose from {', '.join(CELL_CHOICES)}")
    lengths = lengths or [cfg.length]
    span = f"T{lengths[0]}" if len(lengths) == 1 else f"T{lengths[0]}-{lengths[-1]}"
    root = Path(out or train.out or Path("runs") / NAME / (train.name or unique_name(f"compare-{cfg.problem}-{span}-")))
    result = Comparison([])
    for length in lengths:
        for cell in cells:
            run = root / (cell if len(lengths) == 1 else f"T{length}-{cell}")
            m = LongRangeModel(
                config=dataclasses.replace(cfg, length=length, **CELL_CHOICES[cell]),
                train=dataclasses.replace(train, out=str(run), name=None),
            ).fit()
            probe = m.probe()
            flow = gradient_flow(probe.layer, probe.x, probe.loss_of_output, lengths=probe.lengths)
            horizon = flow.horizon()
            result.rows.append(
                {
                    **m.row(),
                    "cell": cell,
                    "steps": m.steps,
                    "seconds": round(m.seconds, 1),
                    "run": str(m.run_dir),
                    "model": str(m.run_dir / "model"),
                    "horizon": "full" if horizon is None else horizon,
                }
            )
            result.flows[(length, cell)] = flow
    root.mkdir(parents=True, exist_ok=True)
    result.files = plots.write_comparison(root, result.rows, result.flows, cfg)
    return result
