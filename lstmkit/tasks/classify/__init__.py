"""Sequence classification: sentiment and other text labels, and numeric sequences (sensors, ECG, motion).

from lstmkit.tasks.classify import Classifier
c = Classifier(epochs=3).fit("trump-tweets")
c.predict(["Make America great again!"])
"""

from __future__ import annotations

from lstmkit.engine.config import TrainConfig
from lstmkit.tasks.spec import Capabilities, TaskSpec, lazy_exports

SPEC = TaskSpec(
    name="classify",
    summary="classify texts or numeric sequences: sentiment, topics, sensor traces",
    config="lstmkit.tasks.classify.config:ClassifyConfig",
    api="lstmkit.tasks.classify.classifier:Classifier",
    loader="lstmkit.tasks.classify.classifier:load_saved",
    cli="lstmkit.tasks.classify.cli:register_cli",
    capabilities=Capabilities(inputs="text"),
    datasets="lstmkit.tasks.classify.datasets:datasets",
    examples="lstmkit.tasks.classify.examples",
    exporter="lstmkit.tasks.classify.onnx:export_plan",
    onnx_runtime="lstmkit.tasks.classify.onnx_runtime:load",
    train_defaults=TrainConfig(epochs=5, lr=2e-3, batch_size=32, early_stopping=3),
)

_LAZY = {"ClassifyConfig": "config", "Classifier": "classifier", "load_saved": "classifier"}
__all__ = ["SPEC", *_LAZY]
__getattr__ = lazy_exports(__name__, _LAZY)  # the pieces, imported on first use (SPEC needs no torch)
