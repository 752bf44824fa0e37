"""The MLflow pyfunc model that `lstmkit register` logs (MLflow's "models from code": this file is copied
into the logged model and run at load time, so nothing is pickled). `mlflow.pyfunc.load_model(uri)
.predict(frame)` answers as the saved model's `predict_frame` (the inference protocol): a forecaster takes
history rows and returns the forecast frame, a classifier texts, a translator sentences, a language model
prompts. The saved model (safetensors + JSON) travels as the artifact `model`.

It sits above the tasks (it loads any task's model through the registry); deploy/registry.py logs it by path."""

from __future__ import annotations

import warnings
from typing import Any

import mlflow
import pandas as pd

# MLflow warns when the class is made (and about its own hints when importing it); the advice is dropped where
# lstmkit triggers it. predict's DataFrame hint keeps the warning away where the user loads the model.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", ".*type hint.*")
    from mlflow.pyfunc import PythonModel  # (importing it warns about MLflow's own type hints too)

    class LstmkitPyfunc(PythonModel):
        """A saved lstmkit model behind MLflow's pyfunc interface."""

        def load_context(self, context: Any) -> None:
            import lstmkit

            if getattr(lstmkit, "__file__", None) is None:  # a folder named lstmkit in the working directory
                where = ", ".join(getattr(lstmkit, "__path__", [])) or "?"
                raise ImportError(
                    f"'lstmkit' resolves to a plain folder ({where}), not the installed package: run from another "
                    "directory (or rename that folder) so that the installed lstmkit is imported"
                )
            from lstmkit.registry import load

            self.model = load(context.artifacts["model"])

        def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
            """MLflow reads a DataFrame hint as "no schema to infer" (so it neither validates nor warns)."""
            frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
            return self.model.predict_frame(frame)

    mlflow.models.set_model(LstmkitPyfunc())
