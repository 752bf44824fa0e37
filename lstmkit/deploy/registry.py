"""The model registry through MLflow: `lstmkit register` logs a saved model as an MLflow pyfunc model
(lstmkit/pyfunc.py; the safetensors + JSON directory is its artifact) and registers a version under a
name, optionally with an alias; `lstmkit serve --model models:/NAME@ALIAS` fetches it back. Everything goes
through an explicit `MlflowClient` (no process-wide tracking URI is set); without `tracking_uri`, MLflow's
own convention applies (MLFLOW_TRACKING_URI, else ./mlruns)."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

from lstmkit import __version__
from lstmkit.errors import LstmkitError

EXPERIMENT = "lstmkit-registry"


class RegistryError(LstmkitError):
    """MLflow is missing, or the registry refused a request; the message says which and what to do."""


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise RegistryError("the registry needs MLflow: pip install 'lstmkit[track]' (or pip install mlflow)") from None
    return mlflow


def saved_dir(path: str | Path) -> Path:
    """The saved-model directory of a run (its model/) or the directory itself."""
    from lstmkit.deploy.saved_model import CONFIG, saved_model_dir

    p = saved_model_dir(path)
    if not (p / CONFIG).exists():
        raise RegistryError(f"{path} is neither a saved model nor a run holding one in model/ (no {CONFIG})")
    return p


def resolved_uri(uri: str | None, mlflow: Any) -> str:
    """The tracking URI MLflow will use, said in full: MLflow's default when none is given (MLFLOW_TRACKING_URI,
    else ./mlruns), and a relative sqlite:/// or file path made absolute (it would land wherever the command ran)."""
    uri = uri or mlflow.get_tracking_uri()
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    if "://" not in uri:  # a plain directory
        return Path(uri).resolve().as_uri()
    return uri


def register(
    model: str | Path, name: str, alias: str | None = None, tracking_uri: str | None = None, *, python_model: str | Path
) -> dict[str, Any]:
    """Log `model` as a pyfunc model in a new MLflow run and register it as a new version of `name`; `python_model`
    is the models-from-code file MLflow runs at load time (lstmkit/pyfunc.py: it loads through the registry)."""
    mlflow = _mlflow()
    from mlflow.tracking import MlflowClient

    src = saved_dir(model)
    tracking_uri = resolved_uri(tracking_uri, mlflow)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    exp_id = exp.experiment_id if exp else client.create_experiment(EXPERIMENT)
    run = client.create_run(exp_id, tags={"mlflow.runName": f"register-{name}", "lstmkit.source": str(src)})
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model"
        with warnings.catch_warnings():  # predict takes any frame on purpose: no type-hint schema
            warnings.filterwarnings("ignore", ".*type hint.*", UserWarning)
            mlflow.pyfunc.save_model(
                out,
                python_model=str(python_model),
                artifacts={"model": str(src)},
                pip_requirements=[f"lstmkit=={__version__}", "torch==2.13.0", "mlflow"],
            )
        client.log_artifacts(run.info.run_id, str(out), "model")
    client.set_terminated(run.info.run_id)
    try:
        client.get_registered_model(name)
    except Exception:  # MLflow raises its RestException for a missing name: create it
        client.create_registered_model(name)
    version = client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id)
    if alias:
        client.set_registered_model_alias(name, alias, version.version)
    return {
        "name": name,
        "version": int(version.version),
        "alias": alias,
        "run_id": run.info.run_id,
        "uri": f"models:/{name}@{alias}" if alias else f"models:/{name}/{version.version}",
        "tracking_uri": tracking_uri,
    }


def fetch(uri: str, tracking_uri: str | None = None, dst: str | Path | None = None) -> Path:
    """The saved-model directory behind a registry URI (models:/NAME@ALIAS or models:/NAME/VERSION)."""
    mlflow = _mlflow()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name, _, ref = uri.removeprefix("models:/").partition("@")
    try:
        if ref:
            version = client.get_model_version_by_alias(name, ref)
        else:
            name, _, number = uri.removeprefix("models:/").rpartition("/")
            version = client.get_model_version(name, number)
    except Exception as err:  # MLflow's RestException: unknown name, alias or version
        raise RegistryError(
            f"{uri}: not in the registry at {tracking_uri or 'the default tracking URI'} ({err})"
        ) from None
    dst = Path(dst or tempfile.mkdtemp(prefix="lstmkit-registry-"))
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=version.source, dst_path=str(dst), tracking_uri=tracking_uri
    )
    return saved_dir(Path(local) / _artifact_path(Path(local)))


def _artifact_path(model_dir: Path) -> str:
    """Where the pyfunc model keeps the saved lstmkit model (MLmodel: flavors.python_function.artifacts)."""
    import yaml

    try:
        meta = yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8"))
        return meta["flavors"]["python_function"]["artifacts"]["model"]["path"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as err:
        raise RegistryError(f"{model_dir} is not a model `lstmkit register` logged (MLmodel: {err!r})") from None
