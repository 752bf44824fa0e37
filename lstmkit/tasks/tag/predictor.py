"""Tagging, written once for every runtime: `TagPredictor` drives a `TagNetwork` (the PyTorch model in
tagger.py, or the ONNX graph in onnx_runtime.py) with numpy arrays, decodes (argmax, or Viterbi with the CRF),
scores against the baselines and answers the inference protocol's records. Imports no torch.

A network is anything with
    emissions(x, lengths) -> (B, T, K) scores    x: (B, T, 3) int64 ids or (B, T, F) float32 values
    crf() -> {"transitions", "start", "end"} numpy arrays, or None
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from lstmkit.deploy.records import RequestError, check_records, frame_of, records_of
from lstmkit.tasks.tag import SPEC
from lstmkit.tasks.tag.config import TagConfig
from lstmkit.tasks.tag.data import Sequences, read_sequences
from lstmkit.tasks.tag.encoding import TagEncoding, pad
from lstmkit.tasks.tag.metrics import tag_scores, viterbi

BATCH = 128


class TagNetwork(Protocol):
    def emissions(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray: ...

    def crf(self) -> dict[str, np.ndarray] | None: ...


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class TagPredictor:
    """A trained tagger's inference: tags, probabilities, evaluation, records."""

    task = SPEC.name
    capabilities = SPEC.capabilities

    def __init__(self, network: TagNetwork, encoding: TagEncoding, config: TagConfig) -> None:
        self.network, self.encoding, self.config = network, encoding, config

    def sequences(self, data: Any, need_tags: bool = False) -> Sequences:
        """`data` read with this model's settings (a file, a dataset name, a DataFrame, texts or token lists)."""
        return read_sequences(data, self.config, need_tags)

    def scores(self, seqs: Sequences) -> list[np.ndarray]:
        """Emissions (T_i, K) per sequence, in batches of similar length."""
        xs = self.encoding.inputs(seqs)
        order = np.argsort([len(x) for x in xs], kind="stable")
        out: list[np.ndarray] = [np.empty(0)] * len(xs)
        for i in range(0, len(order), BATCH):
            idx = order[i : i + BATCH]
            x, lengths = pad([xs[j] for j in idx])
            em = self.network.emissions(x, lengths)  # (B, T, K)
            for k, j in enumerate(idx):
                out[j] = em[k, : lengths[k]]
        return out

    def decode(self, emissions: list[np.ndarray]) -> list[list[str]]:
        """The tag sequence of each: Viterbi with the CRF's transitions, else the best tag per step."""
        crf, tags = self.network.crf(), self.encoding.tags
        if crf is None:
            return [[tags[k] for k in e.argmax(-1)] for e in emissions]
        return [[tags[k] for k in viterbi(e, len(e), crf)] for e in emissions]

    def tag(self, data: Any) -> list[list[str]]:
        """The predicted tags of every sequence of `data`."""
        return self.decode(self.scores(self.sequences(data)))

    def evaluate(self, data: Any) -> dict[str, Any]:
        """Scores on labelled `data`: lstmkit beside the most-frequent-tag baseline on the same sequences."""
        seqs = self.sequences(data, need_tags=True)
        self.encoding.targets(seqs)  # unknown tags: a clear error
        enc = self.encoding
        mine = tag_scores(seqs.tags, self.tag(seqs), enc.scheme, enc.positive)
        base = tag_scores(seqs.tags, enc.baseline(seqs), enc.scheme, enc.positive)
        row = lambda name, s: {"method": name, "accuracy": s["accuracy"], "f1": s["f1"]}  # noqa: E731
        rows = [row("lstmkit", mine), row("most_frequent_tag" if enc.kind == "tokens" else "majority_flag", base)]
        if enc.kind == "numeric":
            rows.append(row("robust_z", tag_scores(seqs.tags, enc.robust_z(seqs), enc.scheme, enc.positive)))
        return {
            "test": mine,
            "table": rows,
            "scheme": enc.scheme,
            "f1_is": {"bio": "entity-level F1 (BIO spans)", "flags": f"F1 of the {enc.positive!r} flag"}.get(
                enc.scheme, "macro F1 over tags"
            ),
            "sequences": len(seqs),
            "split": seqs.source,
        }

    def predict(self, data: Any) -> pd.DataFrame:
        """One row per step: where it is (sequence, position), the token (or values), the predicted tag and each
        tag's probability; the file's own tag is kept as `tag` when it has one."""
        seqs = self.sequences(data)
        em = self.scores(seqs)
        pred = self.decode(em)
        frames = []
        for i, (s, p, e) in enumerate(zip(seqs.seqs, pred, em)):
            uid, start = seqs.origin[i] if seqs.origin else (str(i), 0)
            f = pd.DataFrame({"sequence": uid, "position": np.arange(start, start + len(p))})
            if seqs.kind == "tokens":
                f["token"] = s
            else:
                for j, c in enumerate(seqs.columns or self.encoding.columns):
                    f[c] = s[:, j]
            if seqs.tags:
                f["tag"] = seqs.tags[i]
            f["prediction"] = p
            probs = softmax(e.astype(np.float64))
            for k, t in enumerate(self.encoding.tags):
                f[f"p_{t}"] = probs[:, k]
            frames.append(f)
        return pd.concat(frames, ignore_index=True)

    # ---- the inference protocol (deploy.protocol)

    def schema(self) -> dict[str, Any]:
        """One input record is a sentence ({"tokens": [...]} or {"text": "..."}, split at spaces) or a series
        window ({"x": [[values], ...]}); one output record its tags, one per step."""
        enc = self.encoding
        if enc.kind == "tokens":
            words = {"type": "array", "items": {"type": "string"}, "minItems": 1}
            props = {"tokens": words, "text": {"type": "string"}}
            inp = {"type": "object", "properties": props, "description": "tokens, or a text split at spaces"}
        else:
            step = {"type": "array", "items": {"type": "number"}, "minItems": enc.n_features}
            inp = {"type": "object", "required": ["x"], "properties": {"x": {"type": "array", "items": step}}}
        tags = {"type": "array", "items": {"type": "string", "enum": enc.tags}}
        out = {"type": "object", "properties": {"tags": tags}}
        return {"stateful": False, "per_record": True, "tags": enc.tags, "input": inp, "output": out}

    def predict_records(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        records = check_records(records, self.schema())
        if self.encoding.kind == "tokens":
            seqs = [r["tokens"] if "tokens" in r else r.get("text", "").split() for r in records]
            empty = [i for i, s in enumerate(seqs) if not s]
            if empty:
                raise RequestError(f"records[{empty[0]}] has no tokens to tag: give tokens [...] or a non-empty text")
            data = Sequences("tokens", seqs, [], "the records")
        else:
            try:
                arrays = [np.asarray(r["x"], dtype=np.float32).reshape(len(r["x"]), -1) for r in records]
            except ValueError as err:
                raise RequestError(f"x must be a rectangular (time, values) array ({err})") from None
            if any(a.shape[1] != self.encoding.n_features or len(a) == 0 for a in arrays):
                raise RequestError(f"each x needs at least one step of {self.encoding.n_features} value(s)")
            data = Sequences("numeric", arrays, [], "the records", columns=self.encoding.columns)
        return [{"tags": t} for t in self.tag(data)]

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame_of(self.predict_records(records_of(frame)))
