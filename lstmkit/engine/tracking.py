"""Experiment tracking with MLflow (`--track URI` on every train): Lightning's MLFlowLogger logs the params
(the resolved run config) and the metrics as they are logged (per step and per validation); when training
ends, the final metrics and the run directory's files (config, curves, plots, the saved model) are logged as
artifacts. The MLflow run's id is kept in the run directory (mlflow.json), so a resumed run continues the same
MLflow run and a task that adds files to its run afterwards (a forecaster's plots) can log them too."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from lstmkit.config import ConfigError

log = logging.getLogger(__name__)
RUN_FILE = "mlflow.json"


def mlflow_logger(uri: str, task: str, run_dir: Path, resolved: dict[str, Any]) -> Any:
    """A Lightning MLFlowLogger for this run (the same MLflow run again when the run is resumed)."""
    try:
        import mlflow  # noqa: F401 -- Lightning's logger needs it
    except ImportError:
        raise ConfigError("--track needs MLflow: pip install 'lstmkit[track]' (or pip install mlflow)") from None
    from lightning.pytorch.loggers import MLFlowLogger

    known = run_dir / RUN_FILE
    run_id = json.loads(known.read_text())["run_id"] if known.is_file() else None
    logger = MLFlowLogger(
        experiment_name=f"lstmkit-{task}",
        run_name=run_dir.name,
        tracking_uri=uri,
        run_id=run_id,
        tags={"lstmkit.run_dir": str(run_dir.resolve())},
    )
    if run_id is None:
        known.write_text(json.dumps({"tracking_uri": uri, "run_id": logger.run_id}))
        logger.log_hyperparams(resolved)
    return logger


def log_run(run_dir: str | Path, metrics: dict[str, float] | None = None, files: list[str] | None = None) -> bool:
    """Log `metrics` and the run directory's files (not checkpoints or raw logs; only `files` when given) to the
    run's MLflow run; False when the run is not tracked."""
    run_dir = Path(run_dir)
    known = run_dir / RUN_FILE
    if not known.is_file():
        return False
    from mlflow.tracking import MlflowClient

    info = json.loads(known.read_text())
    client = MlflowClient(tracking_uri=info["tracking_uri"])
    for k, v in (metrics or {}).items():
        if isinstance(v, (int, float)):
            client.log_metric(info["run_id"], f"final_{k}", float(v))
    for p in sorted(run_dir.iterdir()):
        if p.name in ("checkpoints", "logs", RUN_FILE) or p.name.startswith("."):
            continue
        if files is not None and p.name not in files:
            continue
        if p.is_dir():
            client.log_artifacts(info["run_id"], str(p), p.name)
        else:
            client.log_artifact(info["run_id"], str(p))
    log.info("logged %s to MLflow run %s at %s", run_dir, info["run_id"], info["tracking_uri"])
    return True
