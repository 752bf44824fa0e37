"""`lstmkit register`: a saved model becomes an MLflow pyfunc model in the registry, loadable in a fresh
process with MLflow alone and predicting as lstmkit does; `serve --model models:/NAME@ALIAS` serves it."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("mlflow")

import lstmkit
from lstmkit.cli import _served_models, main
from lstmkit.deploy.registry import RegistryError, fetch

FIXTURES = Path(__file__).parent.parent / "fixtures" / "models" / "v0.4.0"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    return uri, root


def history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": "a",
            "ds": pd.date_range("1949-01-01", periods=48, freq="MS"),
            "y": [float(v) for v in range(100, 148)],
        }
    )


@pytest.mark.slow
def test_registered_model_loads_as_pyfunc_in_a_fresh_process(registry, capsys):
    uri, root = registry
    assert (
        main(
            [
                "register",
                "--model",
                str(FIXTURES / "forecast"),
                "--name",
                "sales",
                "--alias",
                "champion",
                "--tracking-uri",
                uri,
                "--json",
            ]
        )
        == 0
    )
    done = json.loads(capsys.readouterr().out)
    assert done["uri"] == "models:/sales@champion" and done["version"] == 1
    history().to_csv(root / "history.csv", index=False)
    code = (
        "import mlflow, pandas as pd, sys; "
        "m = mlflow.pyfunc.load_model('models:/sales@champion'); "
        f"df = pd.read_csv({str(root / 'history.csv')!r}, parse_dates=['ds']); "
        "m.predict(df).to_json(sys.stdout, orient='records')"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "type hint" not in out.stderr, out.stderr[-3000:]  # MLflow's advice that a user cannot act on
    got = pd.DataFrame(json.loads(out.stdout))
    want = lstmkit.load(FIXTURES / "forecast").predict(history())
    assert got["y_hat"].tolist() == pytest.approx(want["y_hat"].tolist(), rel=1e-6)


def test_serve_reads_registry_uris(registry):
    uri, _ = registry
    main(
        [
            "register",
            "--model",
            str(FIXTURES / "classify"),
            "--name",
            "reviews",
            "--alias",
            "champion",
            "--tracking-uri",
            uri,
        ]
    )
    main(["register", "--model", str(FIXTURES / "classify"), "--name", "reviews", "--tracking-uri", uri])
    args = argparse.Namespace(
        model=["models:/reviews@champion", "second=models:/reviews/2"], runtime="torch", tracking_uri=uri
    )
    models = _served_models(args)
    assert set(models) == {"reviews", "second"} and models["reviews"].task == "classify"
    texts = [{"text": "a fine film"}]
    assert models["reviews"].predict_records(texts) == lstmkit.load(FIXTURES / "classify").predict_records(texts)
    with pytest.raises(RegistryError, match="not in the registry"):
        fetch("models:/reviews@nope", uri)


def test_the_tracking_uri_is_said_in_full(tmp_path, monkeypatch):
    from lstmkit.deploy.registry import resolved_uri

    monkeypatch.chdir(tmp_path)

    class FakeMlflow:
        @staticmethod
        def get_tracking_uri() -> str:
            return "mlruns"

    assert resolved_uri("sqlite:///reg.db", FakeMlflow) == f"sqlite:///{tmp_path / 'reg.db'}"
    assert resolved_uri("sqlite:////abs/reg.db", FakeMlflow) == "sqlite:////abs/reg.db"
    assert resolved_uri(None, FakeMlflow) == (tmp_path / "mlruns").as_uri()
    assert resolved_uri("http://mlflow:5000", FakeMlflow) == "http://mlflow:5000"
