"""`lstmkit forecast train|predict|backtest` end to end on a tiny budget, and a Lightning-free inference path."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from lstmkit.cli import main
from tests.helpers import strict_json
from tests.tasks.test_forecast import future_frame, panel_frame

TINY = ["--epochs", "1", "--steps-per-epoch", "3", "--hidden-size", "8", "--num-layers", "1", "--no-progress"]


def test_train_predict_backtest(tmp_path, capsys):
    data = tmp_path / "sales.csv"
    df = panel_frame().rename(columns={"unique_id": "store", "ds": "date", "y": "sales"})
    df.to_csv(data, index=False)
    future = tmp_path / "future.csv"
    future_frame(panel_frame(), 5).rename(columns={"unique_id": "store", "ds": "date"}).to_csv(future, index=False)
    names = ["--id-col", "store", "--time-col", "date", "--target", "sales", "--future-covariates", "promo"]
    run = tmp_path / "run"
    assert (
        main(
            [
                "forecast",
                "train",
                "--data",
                str(data),
                "--horizon",
                "5",
                *names,
                "--out",
                str(run),
                *TINY,
                "--future",
                str(future),
                "--json",
            ]
        )
        == 0
    )
    info = strict_json(capsys.readouterr().out)
    assert info["horizon"] == 5 and (run / "forecast.png").is_file() and (run / "model" / "config.json").is_file()

    out = tmp_path / "fc.csv"
    assert (
        main(
            [
                "forecast",
                "predict",
                "--model",
                str(run),
                "--data",
                str(data),
                "--future",
                str(future),
                "--out",
                str(out),
                "--plot",
                str(tmp_path / "fc.png"),
            ]
        )
        == 0
    )
    fc = pd.read_csv(out)
    assert list(fc.columns) == ["store", "date", "y_hat", "y_hat_q10", "y_hat_q90"] and len(fc) == 15
    assert (tmp_path / "fc.png").is_file()
    capsys.readouterr()

    bt = tmp_path / "bt"
    assert (
        main(
            [
                "forecast",
                "backtest",
                "--data",
                str(data),
                "--horizon",
                "5",
                *names,
                "--windows",
                "2",
                "--out",
                str(bt),
                *TINY,
                "--json",
            ]
        )
        == 0
    )
    res = strict_json(capsys.readouterr().out)
    methods = [r["method"] for r in res["table"]]
    assert methods[:3] == ["lstmkit", "naive", "seasonal_naive"] and res["info"]["windows"] == 2
    for name in ("backtest.csv", "backtest.md", "last-window.csv", "forecast.png", "error-by-horizon.png"):
        assert (bt / name).is_file(), name


def test_bad_input_exits_2_with_a_message(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"ds": ["2024-01-01", "2024-01-01"], "y": [1, 2]}).to_csv(bad, index=False)
    assert main(["forecast", "train", "--data", str(bad), "--horizon", "2", *TINY]) == 2
    assert "duplicate timestamp" in capsys.readouterr().err
    assert main(["forecast", "train", "--data", "no-such-dataset", *TINY]) == 2
    assert "unknown built-in dataset" in capsys.readouterr().err
    assert main(["forecast", "predict", "--model", str(tmp_path), "--data", str(bad)]) == 2
    assert "is not a complete lstmkit saved model" in capsys.readouterr().err


@pytest.mark.slow
def test_predict_does_not_import_lightning(tmp_path):
    from lstmkit.tasks.forecast import Forecaster
    from tests.tasks.test_forecast import COVS, FAST

    f = Forecaster(horizon=3, lookback=9, out=str(tmp_path / "run"), **COVS, **FAST).fit(panel_frame(40))
    panel_frame(40).to_csv(tmp_path / "d.csv", index=False)
    future_frame(panel_frame(40), 3).to_csv(tmp_path / "f.csv", index=False)
    code = (
        "import sys, pandas as pd, lstmkit; f = lstmkit.load(sys.argv[1]); "
        "fc = f.predict(sys.argv[2], futr_df=pd.read_csv(sys.argv[3])); f.update(sys.argv[2]); "
        "bad = [k for k in sys.modules if k.split('.')[0] in ('lightning', 'pytorch_lightning')]; "
        "assert not bad, bad; assert len(fc) == 9"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(f.run_dir), str(tmp_path / "d.csv"), str(tmp_path / "f.csv")], check=True
    )
