"""`lstmkit serve` (first cut): every route with valid and invalid input answers as the model does, with 4xx
(never 5xx) for bad input."""

from pathlib import Path

import pytest

import lstmkit

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from lstmkit.deploy.serve import ServeOptions, build_app
from lstmkit.errors import LstmkitError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "models" / "v0.4.0"


@pytest.fixture(scope="module")
def client():
    models = {t: lstmkit.load(FIXTURES / t) for t in ("forecast", "lm", "classify", "translate")}
    return TestClient(build_app(models, ServeOptions(max_records=50))), models


def test_health_and_models(client):
    c, models = client
    assert c.get("/health").json() == {"status": "ok", "models": list(models), "sessions": 0}
    listed = {m["name"]: m for m in c.get("/v1/models").json()}
    assert listed["lm"]["task"] == "lm" and listed["forecast"]["schema"]["stateful"] is True
    assert c.get("/openapi.json").status_code == 200


def test_predict_answers_as_the_model_does(client):
    c, models = client
    got = c.post("/v1/models/classify/predict", json={"data": [{"text": "good plot"}, {"text": "awful film"}]})
    assert got.status_code == 200
    assert got.json()["predictions"] == models["classify"].predict_records(
        [{"text": "good plot"}, {"text": "awful film"}]
    )
    got = c.post("/v1/models/translate/predict", json={"data": [{"text": "siebzehn"}]}).json()
    assert got["predictions"][0]["translation"] == models["translate"].translate("siebzehn")[0]
    rows = [
        {"unique_id": "a", "ds": str(d.date()), "y": float(v)}
        for d, v in zip(__import__("pandas").date_range("1949-01-01", periods=48, freq="MS"), range(100, 148))
    ]
    fc = c.post("/v1/models/forecast/predict", json={"data": rows})
    assert fc.status_code == 200 and len(fc.json()["predictions"]) == models["forecast"].config.horizon


def test_generate_and_stream_give_the_models_text(client):
    c, models = client
    want = models["lm"].generate("to be", 12, temperature=0)[0]
    assert c.post(
        "/v1/models/lm/generate", json={"prompt": "to be", "max_new_tokens": 12, "temperature": 0}
    ).json() == {"text": want}
    import json

    with c.stream(
        "POST",
        "/v1/models/lm/generate",
        json={"prompt": "to be", "max_new_tokens": 12, "temperature": 0, "stream": True},
    ) as r:
        events = [line for line in r.iter_lines() if line.startswith("data: ")]
    pieces = [json.loads(e[6:]).get("text", "") for e in events]
    assert "".join(pieces) == want


def test_bad_input_gets_4xx_with_a_message(client):
    c, _ = client
    assert c.post("/v1/models/nope/predict", json={"data": [{}]}).status_code == 404
    r = c.post("/v1/models/classify/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = c.post("/v1/models/classify/predict", json={"data": [{"txt": "x"}]})
    assert r.status_code == 400 and "text" in r.json()["detail"]
    assert c.post("/v1/models/classify/predict", json={"data": []}).status_code == 400
    assert c.post("/v1/models/classify/predict", json={"data": [{"text": "a"}] * 51}).status_code == 413
    assert c.post("/v1/models/classify/generate", json={"prompt": "x"}).status_code == 400
    assert c.post("/v1/models/lm/generate", json={"prompt": 3}).status_code == 422
    assert c.post("/v1/models/lm/generate", json={"prompt": "x", "max_new_tokens": 10**6}).status_code == 413


def test_api_key_and_non_loopback_hosts():
    with pytest.raises(LstmkitError, match="API key"):
        ServeOptions(host="0.0.0.0").check()
    c = TestClient(build_app({}, ServeOptions(api_key="s3cret")))
    assert c.get("/health").status_code == 200
    assert c.get("/v1/models").status_code == 401
    assert c.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_onnx_runtime_models_serve_like_the_torch_ones(client, tmp_path):
    """`lstmkit serve --runtime onnx`: the same routes and records from the torch-free runtimes (sessions are
    refused with a reason: the ONNX runtimes keep no carried state)."""
    from lstmkit.registry import export_model, load_onnx

    _, models = client
    onnx = {}
    for t in ("forecast", "classify", "translate", "lm"):
        export_model(models[t], tmp_path / t)
        onnx[t] = load_onnx(tmp_path / t)
    c = TestClient(build_app(onnx, ServeOptions()))
    assert {m["name"]: m["schema"]["stateful"] for m in c.get("/v1/models").json()} == dict.fromkeys(onnx, False)
    texts = [{"text": "good plot"}, {"text": "awful film"}]
    got = c.post("/v1/models/classify/predict", json={"data": texts}).json()["predictions"]
    want = models["classify"].predict_records(texts)
    assert [g["prediction"] for g in got] == [w["prediction"] for w in want]
    for g, w in zip(got, want):
        assert g["probabilities"] == pytest.approx(w["probabilities"], abs=1e-5)
    got = c.post("/v1/models/translate/predict", json={"data": [{"text": "siebzehn"}]}).json()["predictions"]
    assert got[0]["translation"] == models["translate"].translate("siebzehn")[0]
    rows = [
        {"unique_id": "a", "ds": str(d.date()), "y": float(v)}
        for d, v in zip(__import__("pandas").date_range("1949-01-01", periods=48, freq="MS"), range(100, 148))
    ]
    got = c.post("/v1/models/forecast/predict", json={"data": rows}).json()["predictions"]
    want = models["forecast"].predict_records(rows)
    assert [g["y_hat"] for g in got] == pytest.approx([w["y_hat"] for w in want], rel=1e-4)
    text = c.post("/v1/models/lm/generate", json={"prompt": "to be", "max_new_tokens": 12, "temperature": 0}).json()
    assert text == {"text": models["lm"].generate("to be", 12, temperature=0)[0]}
    refused = c.post("/v1/models/forecast/sessions", json={})
    assert refused.status_code == 400 and "--runtime torch" in refused.json()["detail"]


def test_streamed_sample_equals_lm_generate_with_the_same_seed(client, capsys):
    import json

    from lstmkit.cli import main

    c, _ = client
    assert (
        main(
            [
                "lm",
                "generate",
                "--model",
                str(FIXTURES / "lm"),
                "--prompt",
                "to be",
                "--max-new-tokens",
                "30",
                "--temperature",
                "0.9",
                "--seed",
                "7",
                "--json",
            ]
        )
        == 0
    )
    cli = json.loads(capsys.readouterr().out)
    want = cli["samples"][0]
    body = {"prompt": "to be", "max_new_tokens": 30, "temperature": 0.9, "seed": 7, "stream": True}
    with c.stream("POST", "/v1/models/lm/generate", json=body) as r:
        pieces = [json.loads(line[6:]).get("text", "") for line in r.iter_lines() if line.startswith("data: ")]
    assert "".join(pieces) == want
    assert c.post("/v1/models/lm/generate", json={**body, "stream": False}).json()["text"] == "".join(pieces)


def test_a_forecast_missing_its_known_future_covariates_is_a_400(tmp_path):
    """A model trained with a known-future covariate: predict and session requests without the horizon's
    values get a 400 naming the covariate (with them: 200)."""
    import numpy as np
    import pandas as pd

    from lstmkit.tasks.forecast import Forecaster

    n = 60
    ds = pd.date_range("2024-01-01", periods=n, freq="D")
    promo = (np.arange(n) % 7 == 0).astype(float)
    df = pd.DataFrame({"unique_id": "a", "ds": ds, "y": 10 + 3 * promo + np.sin(np.arange(n)), "promo": promo})
    f = Forecaster(
        horizon=3,
        future_covariates=("promo",),
        hidden_size=8,
        num_layers=1,
        max_steps=3,
        steps_per_epoch=3,
        progress=False,
        out=str(tmp_path / "run"),
    ).fit(df)
    c = TestClient(build_app({"promo": f}, ServeOptions()))
    rows = [
        {"unique_id": "a", "ds": str(d.date()), "y": float(y), "promo": float(p)}
        for d, y, p in zip(df.ds, df.y, df.promo)
    ]
    r = c.post("/v1/models/promo/predict", json={"data": rows})
    assert r.status_code == 400 and "promo" in r.json()["detail"]
    r = c.post("/v1/models/promo/sessions", json={"data": rows})
    assert r.status_code == 400 and "promo" in r.json()["detail"]
    future = [
        {"unique_id": "a", "ds": str(d.date()), "promo": 0.0} for d in pd.date_range(ds[-1], periods=4, freq="D")[1:]
    ]
    made = c.post("/v1/models/promo/sessions", json={"data": rows, "future": future})
    assert made.status_code == 201 and len(made.json()["forecast"]) == 3
