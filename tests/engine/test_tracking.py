"""--track: a training run's params, per-validation metrics and files land in MLflow (one run, continued on
resume), read back through MLflow's own client."""

from __future__ import annotations

import pytest

pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient

from lstmkit.tasks.forecast import Forecaster

FAST = {"epochs": 3, "steps_per_epoch": 3, "batch_size": 8, "hidden_size": 8, "num_layers": 1, "progress": False}


def test_a_tracked_run_logs_params_metrics_and_files(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    f = Forecaster(horizon=4, out=str(tmp_path / "run"), track=uri, **FAST).fit("air-passengers")
    client = MlflowClient(tracking_uri=uri)
    (exp,) = [e for e in client.search_experiments() if e.name == "lstmkit-forecast"]
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    params = run.data.params
    assert any(k.endswith("lr") and float(v) == f.train_config.lr for k, v in params.items())
    assert any(k.endswith("horizon") and v == "4" for k, v in params.items())
    val = [k for k in run.data.metrics if k.startswith("val_") and not k.startswith("final_")]
    assert val, run.data.metrics
    history = client.get_metric_history(run.info.run_id, val[0])
    assert len(history) == FAST["epochs"]  # one point per validation (every epoch here)
    assert f"final_{val[0]}" in run.data.metrics  # the best weights, measured again in fp32
    files = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "metrics.csv", "curves.png", "model"} <= files
    model_files = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert {"model/config.json", "model/model.safetensors", "model/calibration.json"} <= model_files
