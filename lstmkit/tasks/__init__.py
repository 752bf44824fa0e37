"""Tasks: one module per task (a model + its data + its metrics), plugged into the shared engine.

The registry maps a saved model's task name to its module, imported only when needed.
"""

from __future__ import annotations

import importlib
from types import ModuleType

TASKS: dict[str, str] = {
    "longrange": "lstmkit.tasks.longrange",
    "forecast": "lstmkit.tasks.forecast",
    "lm": "lstmkit.tasks.language",
}


def task_module(name: str) -> ModuleType:
    """The module of a registered task; KeyError for an unknown name (never imports a name from a file)."""
    return importlib.import_module(TASKS[name])
