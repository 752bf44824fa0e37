"""Sequence labelling: one label per step. Part-of-speech tags and named entities over tokens (CoNLL-style files:
a token and its tag per line, a blank line between sentences), and per-step flags over numeric series (e.g.
anomalies in a sensor series): a BiLSTM tagger, optionally with a CRF layer.

    from lstmkit.tasks.tag import Tagger
    t = Tagger(crf=True).fit("ner-train.conll")
    t.predict(["John lives in Berlin ."])
"""

from __future__ import annotations

from lstmkit.engine.config import TrainConfig
from lstmkit.tasks.spec import Capabilities, TaskSpec, lazy_exports

SPEC = TaskSpec(
    name="tag",
    summary="sequence labelling: a tag per token (POS, NER) or a flag per step of a series (anomalies)",
    config="lstmkit.tasks.tag.config:TagConfig",
    api="lstmkit.tasks.tag.tagger:Tagger",
    loader="lstmkit.tasks.tag.tagger:load_saved",
    cli="lstmkit.tasks.tag.cli:register_cli",
    capabilities=Capabilities(inputs="text"),
    datasets="lstmkit.tasks.tag.datasets:datasets",
    examples="lstmkit.tasks.tag.examples",
    train_defaults=TrainConfig(epochs=60, lr=3e-3, batch_size=16, grad_clip=5.0, early_stopping=15),
    exporter="lstmkit.tasks.tag.onnx:export_plan",
    onnx_runtime="lstmkit.tasks.tag.onnx_runtime:load",
)

_LAZY = {"TagConfig": "config", "Tagger": "tagger", "load_saved": "tagger", "TagPredictor": "predictor"}
__all__ = ["SPEC", *_LAZY]

__getattr__ = lazy_exports(__name__, _LAZY)  # the pieces, imported on first use (SPEC needs no torch)
