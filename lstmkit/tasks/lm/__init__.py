"""Language models: character or BPE tokens, an AWD-style LSTM, carried-state training and evaluation,
cached-state generation.

    from lstmkit.tasks.lm import LanguageModel
    lm = LanguageModel(epochs=1).fit("shakespeare")
    print(lm.generate("ROMEO:", max_new_tokens=200, temperature=0.8, top_p=0.95)[0])
"""

from __future__ import annotations

from lstmkit.engine.config import TrainConfig
from lstmkit.tasks.spec import Capabilities, TaskSpec, lazy_exports

SPEC = TaskSpec(
    name="lm",
    summary="language models: train on text, evaluate held-out perplexity, generate",
    config="lstmkit.tasks.lm.config:LanguageConfig",
    api="lstmkit.tasks.lm.lm:LanguageModel",
    loader="lstmkit.tasks.lm.lm:load_saved",
    cli="lstmkit.tasks.lm.cli:register_cli",
    capabilities=Capabilities(stateful=True, generates_text=True, inputs="prompt"),
    datasets="lstmkit.tasks.lm.datasets:datasets",
    examples="lstmkit.tasks.lm.examples",
    train_defaults=TrainConfig(epochs=10, lr=2e-3, batch_size=32, grad_clip=1.0),
    data_flag="text",
    exporter="lstmkit.tasks.lm.onnx:export_plan",
    onnx_runtime="lstmkit.tasks.lm.onnx_runtime:load",
)

_LAZY = {"LanguageConfig": "config", "LanguageModel": "lm", "load_saved": "lm"}
__all__ = ["SPEC", *_LAZY]

__getattr__ = lazy_exports(__name__, _LAZY)  # the pieces, imported on first use (SPEC needs no torch)
