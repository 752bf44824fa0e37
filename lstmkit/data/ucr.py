"""The UCR/UEA time-series classification archive's `.ts` files, and the sets sktime ships with its wheel.

The `.ts` format (sktime/aeon's): `#` comments, `@key value` headers, then `@data` and one example per line:
dimensions separated by `:`, values by `,`, `?` for a missing value, the class label last. The built-in sets
are read from the installed sktime package's data folder without importing sktime (it is in the `data` extra).
Each keeps the archive's own train/test split: the test file is the default test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lstmkit.data.builtin_series import package_file
from lstmkit.data.timeseries import DataError

# built-in name -> (archive name, what it is); all are in sktime's wheel (sktime/datasets/data/<name>/)
UCR_SETS = {
    "gunpoint": ("GunPoint", "hand motion: drawing a gun or pointing (150 steps, 2 classes, 50 train / 150 test)"),
    "arrowhead": ("ArrowHead", "arrowhead outlines as 1-D shapes (251 steps, 3 classes, 36 / 175)"),
    "italy-power-demand": (
        "ItalyPowerDemand",
        "a day of Italian electricity demand: winter or summer (24 steps, 2 classes, 67 / 1029)",
    ),
    "osuleaf": ("OSULeaf", "leaf outlines (427 steps, 6 classes, 200 / 242)"),
    "basic-motions": (
        "BasicMotions",
        "smartwatch accelerometer + gyroscope: walking, resting, running, "
        "badminton (6 features, 100 steps, 4 classes, 40 / 40)",
    ),
    "japanese-vowels": (
        "JapaneseVowels",
        "12 LPC coefficients of a spoken vowel: which of 9 speakers (7-29 steps, 270 / 370)",
    ),
    "acsf1": (
        "ACSF1",
        "power consumption of home appliances: which of 10 kinds (1460 steps, 100 / 100)",
    ),
    "plaid": (
        "PLAID",
        "current drawn by a plugged-in appliance: which of 11 kinds (100-1344 steps, 537 / 537)",
    ),
}


def ts_file(name: str, split: str) -> Path:
    archive = UCR_SETS[name][0]
    return package_file("sktime", f"datasets/data/{archive}/{archive}_{split}.ts", "sktime")


def read_ts(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """A `.ts` file -> (sequences, each (T, F) float32; labels). Trailing `?`s of a dimension are padding."""
    if not path.is_file():
        raise DataError(f"no such .ts file: {path}")
    seqs, labels, labelled, in_data = [], [], True, False
    with path.open(encoding="utf-8", errors="replace") as lines:
        for n, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                key = line.lower().split()
                if key[0] == "@classlabel":
                    labelled = len(key) > 1 and key[1] == "true"
                elif key[0] == "@timestamps" and len(key) > 1 and key[1] == "true":
                    raise DataError(f"{path}: time-stamped .ts files are not supported; write plain values")
                in_data = key[0] == "@data"
                continue
            fields = line.split(":")
            if labelled:
                labels.append(fields.pop().strip())
            seqs.append(_example(fields, path, n))
    if not in_data or not seqs:
        raise DataError(f"{path} has no @data section with examples")
    return seqs, labels or [""] * len(seqs)


def _example(dims: list[str], path: Path, line: int) -> np.ndarray:
    """One line's dimensions -> (T, F); every dimension must have the same length once padding is cut."""
    try:
        cols = [np.array([np.nan if v.strip() == "?" else float(v) for v in d.split(",")], np.float32) for d in dims]
    except ValueError as err:
        raise DataError(f"{path} line {line}: a value is not a number ({err})") from None
    cols = [c[: int(np.isfinite(c).nonzero()[0].max()) + 1] if np.isfinite(c).any() else c[:0] for c in cols]
    lengths = {len(c) for c in cols}
    if len(lengths) != 1 or 0 in lengths:
        raise DataError(
            f"{path} line {line}: the dimensions have different lengths {sorted(lengths)}; "
            "each dimension of an example needs one value per step"
        )
    x = np.stack(cols, axis=1)  # (T, F)
    if not np.isfinite(x).all():
        raise DataError(f"{path} line {line}: a missing value (?) inside the sequence; fill it or drop the example")
    return x
