"""Language models: character or BPE tokens, an AWD-style LSTM, carried-state training and evaluation,
cached-state generation.

    from lstmkit.tasks.language import LanguageModel
    lm = LanguageModel(epochs=1).fit("shakespeare")
    print(lm.generate("ROMEO:", max_new_tokens=200, temperature=0.8, top_p=0.95)[0])
"""

from __future__ import annotations

from typing import Any

from lstmkit.engine.config import TrainConfig
from lstmkit.tasks.spec import TaskSpec

SPEC = TaskSpec(
    name="lm",
    summary="language models: train on text, evaluate held-out perplexity, generate",
    config="lstmkit.tasks.language.config:LanguageConfig",
    api="lstmkit.tasks.language.lm:LanguageModel",
    loader="lstmkit.tasks.language.lm:load_saved",
    cli="lstmkit.tasks.language.cli:register_cli",
    train_defaults=TrainConfig(epochs=10, lr=2e-3, batch_size=32, grad_clip=1.0),
)

_LAZY = {"LanguageConfig": "config", "LanguageModel": "lm", "load_saved": "lm"}
__all__ = ["SPEC", *_LAZY]


def __getattr__(name: str) -> Any:
    """The task's pieces, imported on first use (the registry reads SPEC without importing torch)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
