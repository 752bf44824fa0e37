"""`Tagger`: fit, evaluate, predict, save, load. Only `fit` touches the training engine; everything after it goes
through `TagPredictor` (predictor.py) over the PyTorch network, the same code the ONNX runtime drives."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lstmkit.deploy.protocol import Probe, RequestError
from lstmkit.engine.config import RunConfig, TrainConfig
from lstmkit.errors import UsageError
from lstmkit.tasks.spec import saved_run, saved_state
from lstmkit.tasks.tag import SPEC
from lstmkit.tasks.tag.config import TagConfig
from lstmkit.tasks.tag.data import Sequences, read_sequences, split
from lstmkit.tasks.tag.encoding import TagEncoding
from lstmkit.tasks.tag.model import TagNet
from lstmkit.tasks.tag.predictor import TagPredictor
from lstmkit.tasks.tag.task import build_model


class TorchTagNetwork:
    """The predictor's network interface over the PyTorch TagNet (numpy in, numpy out, no gradients)."""

    def __init__(self, net: TagNet) -> None:
        self.net = net.eval()

    @torch.no_grad()
    def emissions(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.net(torch.from_numpy(x), torch.from_numpy(lengths)).float().numpy()

    def crf(self) -> dict[str, np.ndarray] | None:
        if not self.net.has_crf:
            return None
        return {k: v.detach().float().numpy() for k, v in self.net.crf_scores().items()}


class Tagger:
    """A BiLSTM(-CRF) tagger: `Tagger(crf=True).fit("train.conll").predict(["John lives in Berlin"])`.

    Options are TagConfig fields (data, inputs, model) and TrainConfig fields (epochs, lr, out, ...)."""

    task = SPEC.name
    capabilities = SPEC.capabilities
    primary = True  # False after fit in a distributed run's extra processes (the first one reports)

    def __init__(self, *, config: TagConfig | None = None, train: TrainConfig | None = None, **options: Any) -> None:
        run = SPEC.resolve(config, train, options, where="Tagger")
        self.config, self.train_config = run.task, run.train
        self.net: TagNet | None = None
        self.encoding: TagEncoding | None = None
        self.run_dir: Path | None = None
        self.report: dict[str, Any] = {}

    # ---- training

    def splits(self, data: Any) -> tuple[Sequences, Sequences, Sequences]:
        """(train, validation, test): the given files, else seeded (tokens) or chronological (series) shares."""
        c = self.config
        full = read_sequences(data, c)
        val_f, test_f = (0 if c.val_data else c.val_fraction), (0 if c.test_data else c.test_fraction)
        parts = split(full, val_f, test_f, self.train_config.seed)
        train = full.take(parts[0])
        val = read_sequences(c.val_data, c) if c.val_data else full.take(parts[1], f"{full.source} (validation)")
        test = read_sequences(c.test_data, c) if c.test_data else full.take(parts[2], f"{full.source} (test)")
        return train, val, test

    def fit(self, data: Any = None) -> Tagger:
        """Train on `data` (default: the config's), select on its validation split, then score the test split
        beside the most-frequent-tag baseline fitted on the same training split (`self.report`)."""
        from lstmkit.engine.trainer import fit
        from lstmkit.tasks.tag.task import TagTask

        source = data if data is not None else self.config.data
        if source is None:
            raise UsageError("no data to train on: pass a CoNLL file, a series file or a built-in dataset (--data)")
        if isinstance(source, (str, Path)):
            self.config = dataclasses.replace(self.config, data=str(source))
        train, val, test = self.splits(source)
        self.encoding = TagEncoding.fit(train, self.config.min_freq, self.config.scale)
        result = fit(TagTask(self.config, train, val, self.encoding), self.train_config)
        self.run_dir, self.primary = result.run_dir, result.primary
        if not result.primary:
            return self  # a distributed run's extra process: the first one holds the model
        self.net, self.run_dir = result.model.eval(), result.run_dir
        self.report = self.evaluate(test) if len(test) else {}
        self.report["val"] = {k.removeprefix("val_"): v for k, v in result.metrics.items()}
        self.report["steps"] = result.steps
        return self

    # ---- inference: the predictor over the PyTorch network

    @property
    def predictor(self) -> TagPredictor:
        if self.net is None or self.encoding is None:
            raise UsageError("this Tagger is not trained: call fit(data) or lstmkit.load(path) first")
        return TagPredictor(TorchTagNetwork(self.net), self.encoding, self.config)

    def tag(self, data: Any) -> list[list[str]]:
        """The predicted tags of every sentence (or series window) of `data`."""
        return self.predictor.tag(data)

    def evaluate(self, data: Any) -> dict[str, Any]:
        return self.predictor.evaluate(data)

    def predict(self, data: Any) -> pd.DataFrame:
        return self.predictor.predict(data)

    def schema(self) -> dict[str, Any]:
        return self.predictor.schema()

    def predict_records(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.predictor.predict_records(records)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.predictor.predict_frame(frame)

    def probe(self, inputs: dict[str, Any] | None = None) -> Probe:
        """The LSTM reading one sentence (`inputs["text"]`) or window (`inputs["x"]`), steps labelled by their
        tokens; the loss is the cross-entropy of the predicted tags."""
        p = self.predictor
        if not inputs or not ({"text", "x"} & set(inputs)):
            raise RequestError("a tagger's probe reads one example: pass --text TEXT (or an input with x)")
        if "text" in inputs:
            seqs = Sequences("tokens", [inputs["text"].split()], [], "the probe")
        else:
            seqs = Sequences("numeric", [np.asarray(inputs["x"], np.float32)], [], "the probe", p.encoding.columns)
        x = torch.from_numpy(p.encoding.inputs(seqs)[0][None])
        net = self.net
        e = net.inputs(x).detach()  # (1, T, E)
        target = net(x, torch.tensor([x.shape[1]])).argmax(-1)[0].detach()  # (T,)

        def loss_of_output(out: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.cross_entropy(net.head(out)[0], target)

        labels = [seqs.seqs[0]] if seqs.kind == "tokens" else None
        return Probe(net.rnn, e, None, loss_of_output, labels, "the tags' cross-entropy")

    def save(self, path: str | Path) -> Path:
        from lstmkit.deploy.saved_model import save_model

        p = self.predictor
        resolved = RunConfig(self.config, self.train_config).to_dict()
        return save_model(
            path,
            task=SPEC.name,
            config=resolved,
            tensors=self.net.state_dict(),
            state={"encoding": p.encoding.to_dict()},
        )


def load_saved(saved: Any, device: torch.device) -> Tagger:
    """Rebuild a Tagger exactly as it was trained (the saved-model loader of this task)."""
    from lstmkit.deploy.saved_model import load_weights

    cfg, train = saved_run(saved, TagConfig)
    t = Tagger(config=cfg, train=train)
    t.encoding = TagEncoding.from_dict(saved_state(saved, "encoding", "the tags and vocabularies"))
    t.net = load_weights(build_model(cfg, t.encoding), saved).to(device).eval()
    return t
