"""A translator exported to ONNX, run with onnxruntime and numpy only (no torch): the encoder graph once per
batch, the decoder-step graph per token, driven by the same greedy/beam search (decode.py) as the PyTorch
model, so both give the same translations."""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmkit.config import from_dict, to_dict
from lstmkit.deploy.records import frame_of, records_of
from lstmkit.tasks.translate import SPEC, records
from lstmkit.tasks.translate.config import DecodeConfig, decoding_with
from lstmkit.tasks.translate.decode import Hypothesis, decode_texts
from lstmkit.tasks.translate.vocab import Vocabularies


class OnnxStepper:
    """decode.py's Stepper over the exported encoder and decoder step (state and memory as numpy arrays)."""

    def __init__(self, runner: Any) -> None:
        self.runner, self.A = runner, runner.meta["feed_size"]
        self.names = runner.meta.get("state", ["h", "c"])  # exports before modern cells: the LSTM's h, c

    def start(self, src: np.ndarray, lengths: np.ndarray) -> None:
        enc = self.runner.run("encoder", {"src": np.asarray(src), "src_lengths": np.asarray(lengths)})
        self.values, self.keys, self.lengths = enc["values"], enc["keys"], np.asarray(lengths, np.int64)
        self.state = {n: enc[f"{n}0"] for n in self.names}
        self.feed = enc.get("feed0", np.zeros((len(self.lengths), self.A), np.float32))  # older exports: zeros

    def step(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feeds = {"y": y, **self.state, "feed": self.feed, "values": self.values, "keys": self.keys}
        out = self.runner.run("decoder_step", {**feeds, "src_lengths": self.lengths})
        self.state, self.feed = {n: out[f"{n}_out"] for n in self.names}, out["feed_out"]
        return out["logp"], out["attention"]

    def select(self, rows: np.ndarray, memory_rows: np.ndarray | None = None) -> None:
        self.state, self.feed = {n: v[:, rows] for n, v in self.state.items()}, self.feed[rows]
        if memory_rows is not None:
            self.values, self.keys = self.values[memory_rows], self.keys[memory_rows]
            self.lengths = self.lengths[memory_rows]


class OnnxTranslator:
    task = SPEC.name
    capabilities = SPEC.capabilities

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.vocab = Vocabularies.from_dict(runner.asset("vocab"))
        self.decoding = from_dict(DecodeConfig, runner.meta.get("decoding", {}), where=f"{runner.root} decoding")

    def options(self, **overrides: Any) -> DecodeConfig:
        return decoding_with(self.decoding, **overrides)

    def hypotheses(self, texts: list[str], opts: DecodeConfig | None = None) -> list[list[Hypothesis]]:
        return decode_texts(OnnxStepper(self.runner), self.vocab, list(texts), opts or self.decoding)

    def translate(self, texts: str | list[str], **decode: Any) -> list[str]:
        texts = [texts] if isinstance(texts, str) else list(texts)
        return [self.vocab.decode_tgt(h[0].tokens) for h in self.hypotheses(texts, self.options(**decode))]

    # ---- the inference protocol (serving)

    def schema(self) -> dict[str, Any]:
        return records.schema(to_dict(self.decoding))

    def predict_records(self, records_: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return records.predict_records(self, records_)

    def predict_frame(self, frame: Any) -> Any:
        return frame_of(self.predict_records(records_of(frame)))


def load(runner: Any) -> OnnxTranslator:
    return OnnxTranslator(runner)
