"""A classifier exported to ONNX, run with onnxruntime and numpy only (no torch): the same encoding as the
PyTorch model (tokens shifted by one, 0 pads; or standardised numbers), the same `predict` frame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstmkit.data.labelled import Labelled, LabelSpec, read_labelled
from lstmkit.data.timeseries import DataError
from lstmkit.data.tokenizers import tokenizer_from_dict
from lstmkit.deploy.records import frame_of, records_of
from lstmkit.tasks.classify import SPEC, records

BATCH = 256


class OnnxClassifier:
    task = SPEC.name
    capabilities = SPEC.capabilities

    def __init__(self, runner: Any) -> None:
        self.runner, self.meta = runner, runner.meta
        self.enc = runner.asset("encoding")
        self.classes: list[str] = self.enc["classes"]
        self.tok = tokenizer_from_dict(self.enc["tokenizer"]) if self.enc["kind"] == "text" else None

    def examples(self, data: str | Path | pd.DataFrame | list[str]) -> Labelled:
        if isinstance(data, (list, tuple)):
            return Labelled([""] * len(data), texts=[str(t) for t in data], source="the given texts")
        m = self.meta
        cols = tuple(x.strip() for x in m["label_cols"].split(",") if x.strip()) if m.get("label_cols") else ()
        return read_labelled(data, m["text_col"], LabelSpec(m["label_col"], m.get("label_sep"), cols), False)

    def _inputs(self, ex: Labelled) -> list[np.ndarray]:
        if self.tok is not None:
            if ex.texts is None:
                raise DataError(f"{ex.source}: the model reads texts, but these examples are numeric sequences")
            n = self.enc["max_length"]
            return [np.asarray([i + 1 for i in self.tok.encode(t)][:n] or [1], np.int64) for t in ex.texts]
        if ex.seqs is None:
            raise DataError(f"{ex.source}: the model reads numeric sequences, but these examples are texts")
        mean, std = np.asarray(self.enc["mean"], np.float32), np.asarray(self.enc["std"], np.float32)
        bad = [i for i, s in enumerate(ex.seqs) if s.shape[1] != len(mean)]
        if bad:
            raise DataError(
                f"{ex.source} row {bad[0] + 1} has {ex.seqs[bad[0]].shape[1]} features per step; the "
                f"model was trained on {len(mean)}"
            )
        return [((s - mean) / std).astype(np.float32) for s in ex.seqs]

    def probabilities(self, ex: Labelled) -> np.ndarray:
        xs = self._inputs(ex)
        out = []
        for i in range(0, len(xs), BATCH):
            part = xs[i : i + BATCH]
            lengths = np.asarray([len(x) for x in part], np.int64)
            pad = np.zeros((len(part), int(lengths.max()), *part[0].shape[1:]), part[0].dtype)
            for k, x in enumerate(part):
                pad[k, : len(x)] = x
            out.append(self.runner.run("model", {"x": pad, "lengths": lengths})["probabilities"])
        return np.concatenate(out)

    def predict(self, data: str | Path | pd.DataFrame | list[str]) -> pd.DataFrame:
        """The input's columns plus `prediction` and one `p_<class>` per class (as Classifier.predict)."""
        ex = self.examples(data)
        probs = self.probabilities(ex)
        frame = (
            ex.frame.copy()
            if ex.frame is not None
            else pd.DataFrame({"text": ex.texts} if ex.texts is not None else {"length": [len(s) for s in ex.seqs]})
        )
        if self.meta["multi_label"]:
            sep, th = self.meta.get("label_sep") or "|", self.meta["threshold"]
            frame["prediction"] = [sep.join(c for c, p in zip(self.classes, row) if p >= th) for row in probs]
        else:
            frame["prediction"] = [self.classes[i] for i in probs.argmax(1)]
        for j, c in enumerate(self.classes):
            frame[f"p_{c}"] = probs[:, j]
        return frame

    # ---- the inference protocol (serving)

    def schema(self) -> dict[str, Any]:
        return records.schema(self.enc["kind"], self.classes, self.meta["multi_label"], len(self.enc.get("mean") or []))

    def predict_records(self, records_: list[dict[str, Any]]) -> list[dict[str, Any]]:
        probs = self.probabilities(records.examples(records_, self.schema()))
        return records.answers(probs, self.classes, self.meta["multi_label"], self.meta["threshold"])

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame_of(self.predict_records(records_of(frame)))


def load(runner: Any) -> OnnxClassifier:
    return OnnxClassifier(runner)
