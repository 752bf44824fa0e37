"""The translation task's built-in corpora (`lstmkit datasets`): numbers written in words by num2words."""

from __future__ import annotations

from lstmkit.data.registry import DatasetInfo


def datasets() -> list[DatasetInfo]:
    from lstmkit.data.parallel import NUMBER_LANGS

    pairs = [("en", "de"), ("en", "fr"), ("de", "en"), ("fr", "en")]
    return [
        DatasetInfo(
            f"numbers-{a}-{b}",
            f"30,000 numbers (0-999,999) in words, {a} -> {b} (--corpus-size); disjoint splits; any pair of "
            f"{', '.join(NUMBER_LANGS)} works",
            "written by num2words (pip: num2words)",
            "LGPL-2.1 (num2words); the pairs are generated",
        )
        for a, b in pairs
    ]
