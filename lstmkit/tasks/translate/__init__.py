"""Machine translation: a bidirectional LSTM encoder, an LSTM decoder with attention, beam search.

from lstmkit.tasks.translate import Translator
t = Translator(epochs=1, vocab_size=300).fit("numbers-de-en")
t.translate(["dreihundertzweiundvierzig"], beam_size=5)
"""

from __future__ import annotations

from lstmkit.engine.config import TrainConfig
from lstmkit.tasks.spec import Capabilities, TaskSpec, lazy_exports

SPEC = TaskSpec(
    name="translate",
    summary="translate sentences: attentional LSTM encoder-decoder, beam search, sacreBLEU",
    config="lstmkit.tasks.translate.config:TranslateConfig",
    api="lstmkit.tasks.translate.translator:Translator",
    loader="lstmkit.tasks.translate.translator:load_saved",
    cli="lstmkit.tasks.translate.cli:register_cli",
    capabilities=Capabilities(inputs="text"),
    datasets="lstmkit.tasks.translate.datasets:datasets",
    examples="lstmkit.tasks.translate.examples",
    exporter="lstmkit.tasks.translate.onnx:export_plan",
    onnx_runtime="lstmkit.tasks.translate.onnx_runtime:load",
    train_defaults=TrainConfig(epochs=10, lr=2e-3, batch_size=64, early_stopping=3),
)

_LAZY = {"TranslateConfig": "config", "DecodeConfig": "config", "Translator": "translator", "load_saved": "translator"}
__all__ = ["SPEC", *_LAZY]
__getattr__ = lazy_exports(__name__, _LAZY)  # the pieces, imported on first use (SPEC needs no torch)
