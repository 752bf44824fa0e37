"""Shared by the benchmarks: write a section of BENCHMARKS.md between markers, describe the machine."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads{gpu}"


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section `name` of BENCHMARKS.md."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = BENCHMARKS_MD.read_text(encoding="utf-8") if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS_MD.write_text(text, encoding="utf-8")


def typed_options(pairs: list[str], *configs: type) -> dict:
    """`--set KEY=VALUE` pairs typed by the fields of the given config dataclasses (the CLI's own coercion)."""
    import typing

    from lstmkit.config import coerce

    hints = {k: v for cfg in configs for k, v in typing.get_type_hints(cfg).items()}
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in hints:
            raise SystemExit(f"--set {key}: not an option of {', '.join(c.__name__ for c in configs)}")
        out[key] = coerce(value, hints[key], key)
    return out
