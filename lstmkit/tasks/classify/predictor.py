"""Classification inference, written once for every runtime: `ClassifyPredictor` encodes examples (encoding.py),
runs a network in padded batches, decides (the likeliest class, or every class over the threshold) and answers
the inference protocol's records. The PyTorch Classifier and the ONNX runtime both drive it. Imports no torch.

A network is anything with
    probabilities(x, lengths) -> (B, C)    x: (B, T) int64 token ids or (B, T, F) float32 numbers, 0-padded
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from lstmkit.data.labelled import Labelled, read_labelled
from lstmkit.deploy.records import frame_of, records_of
from lstmkit.tasks.classify import SPEC, records
from lstmkit.tasks.classify.config import ClassifyConfig
from lstmkit.tasks.classify.encoding import Encoding

BATCH = 256
Data = str | Path | pd.DataFrame | list[str] | Labelled


class ClassifyNetwork(Protocol):
    def probabilities(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray: ...


def padded(xs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Examples (T_i,) or (T_i, F) -> zero-padded (B, T[, F]) and lengths (B,)."""
    lengths = np.asarray([len(x) for x in xs], np.int64)
    out = np.zeros((len(xs), int(lengths.max()), *xs[0].shape[1:]), xs[0].dtype)
    for k, x in enumerate(xs):
        out[k, : len(x)] = x
    return out, lengths


def read_examples(config: ClassifyConfig, data: Data, need_labels: bool = True) -> Labelled:
    """`data` as examples, read with the config's column names (a list: texts)."""
    if isinstance(data, Labelled):
        return data
    if isinstance(data, (list, tuple)):
        return Labelled([""] * len(data), texts=[str(t) for t in data], source="the given texts")
    return read_labelled(data, config.text_col, config.label_spec(), need_labels)


class ClassifyPredictor:
    """A trained classifier's prediction over any network."""

    task = SPEC.name
    capabilities = SPEC.capabilities

    def __init__(self, network: ClassifyNetwork, encoding: Encoding, config: ClassifyConfig) -> None:
        self.network, self.encoding, self.config = network, encoding, config

    @property
    def classes(self) -> list[str]:
        return self.encoding.classes

    def examples(self, data: Data, need_labels: bool = True) -> Labelled:
        return read_examples(self.config, data, need_labels)

    def probabilities(self, ex: Labelled) -> np.ndarray:
        """(N, C) class probabilities, in the order of `classes` (multi-label: one independent one per class)."""
        xs = self.encoding.arrays(ex)
        parts = [self.network.probabilities(*padded(xs[i : i + BATCH])) for i in range(0, len(xs), BATCH)]
        probs = np.concatenate(parts)
        ngram = self.encoding.ngram_model()  # texts: the n-gram model's share, chosen on validation
        return probs if ngram is None else ngram.mixed(probs, ex.texts).astype(probs.dtype)

    def decide(self, probs: np.ndarray) -> list[str]:
        """Each row's prediction: the likeliest class, or (multi-label) the classes at or over the threshold,
        joined by --label-sep (or '|')."""
        if not self.encoding.multi_label:
            return [self.classes[i] for i in probs.argmax(1)]
        sep = self.config.label_sep or "|"
        return [sep.join(c for c, p in zip(self.classes, row) if p >= self.config.threshold) for row in probs]

    def predict(self, data: Data) -> pd.DataFrame:
        """The input's columns (a label column is left alone) plus `prediction` and one `p_<class>` per class."""
        ex = self.examples(data, need_labels=False)
        probs = self.probabilities(ex)
        frame = (
            ex.frame.copy()
            if ex.frame is not None
            else pd.DataFrame({"text": ex.texts} if ex.texts is not None else {"length": [len(s) for s in ex.seqs]})
        )
        frame["prediction"] = self.decide(probs)
        for j, c in enumerate(self.classes):
            frame[f"p_{c}"] = probs[:, j]
        return frame

    # ---- the inference protocol (deploy.protocol)

    def schema(self) -> dict[str, Any]:
        enc = self.encoding
        return records.schema(enc.kind, enc.classes, enc.multi_label, enc.n_features)

    def predict_records(self, records_: list[dict[str, Any]]) -> list[dict[str, Any]]:
        probs = self.probabilities(records.examples(records_, self.schema()))
        return records.answers(probs, self.classes, self.encoding.multi_label, self.config.threshold)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame_of(self.predict_records(records_of(frame)))
