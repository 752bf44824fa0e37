"""lstmkit: Long Short-Term Memory networks as a practical, fast, trustworthy tool for sequence data.

`import lstmkit` is light (no torch): `lstmkit.load` is imported on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.4.0"

__all__ = ["__version__", "load"]


def __getattr__(name: str) -> Any:
    if name == "load":
        from lstmkit.registry import load

        return load
    raise AttributeError(f"module 'lstmkit' has no attribute {name!r}")
