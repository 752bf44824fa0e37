"""Property-based requests generated from the server's own OpenAPI schema (schemathesis + hypothesis): bad
input never gets a 5xx."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("schemathesis")
import schemathesis
from hypothesis import HealthCheck, settings

import lstmkit
from lstmkit.deploy.serve import ServeOptions, build_app

FIXTURES = Path(__file__).parent.parent / "fixtures" / "models" / "v0.4.0"
# the same examples every run (a red CI must be reproducible); LSTMKIT_FUZZ_FRESH=1 draws fresh ones to explore
FIXED = not os.environ.get("LSTMKIT_FUZZ_FRESH")


@pytest.fixture(scope="module")
def api_schema():
    models = {t: lstmkit.load(FIXTURES / t) for t in ("forecast", "lm", "classify", "translate")}
    app = build_app(models, ServeOptions(max_records=20, max_new_tokens=8, batch_wait_ms=0))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.slow
def test_no_input_gets_a_server_error(api_schema):
    from hypothesis import given

    ops = [op.ok() for op in api_schema.get_all_operations()]
    assert len(ops) >= 8
    for op in ops:

        @given(op.as_strategy())
        @settings(
            max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=FIXED
        )
        def run(case):
            response = case.call()
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.body!r:.300} -> {response.text[:500]}"
            )

        run()


@pytest.mark.slow
def test_task_shaped_garbage_gets_4xx_not_5xx(api_schema):
    """Records shaped like each task's (right field names, wrong or odd values: unparsable timestamps, NaN
    and huge numbers, unseen characters, repeated rows, sequence numbers out of order)."""
    from fastapi.testclient import TestClient
    from hypothesis import given
    from hypothesis import strategies as st

    client = TestClient(api_schema.app)

    def post(path, body):  # NaN and Infinity as Python's json writes them (FastAPI's parser accepts them)
        return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})

    stamp = st.one_of(
        st.text(max_size=12),
        st.dates().map(str),
        st.integers().map(str),
        st.sampled_from(["1949-01-01", "1949-02-01", "1949-01-01T00:00:00", "NaT", ""]),
    )
    value = st.one_of(
        st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**30), 10**30), st.text(max_size=5)
    )
    row = st.fixed_dictionaries(
        {"ds": stamp, "y": value}, optional={"unique_id": st.one_of(st.text(max_size=4), st.integers())}
    )
    rows = st.lists(row, min_size=0, max_size=8)

    @given(rows, st.integers(-3, 5))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=FIXED)
    def forecast(data, seq):
        r = post("/v1/models/forecast/predict", {"data": data})
        assert r.status_code < 500, (data, r.text[:400])
        made = post("/v1/models/forecast/sessions", {"data": data})
        assert made.status_code < 500, (data, made.text[:400])
        if made.status_code == 201:
            sid = made.json()["id"]
            r = post(f"/v1/sessions/{sid}/observe", {"data": data or [{}], "seq": seq})
            assert r.status_code < 500, (data, seq, r.text[:400])
            client.delete(f"/v1/sessions/{sid}")

    @given(st.text(max_size=40), st.floats(allow_nan=True), st.integers(-5, 30), st.one_of(st.none(), st.integers()))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=FIXED)
    def texts(text, temperature, k, seed):
        for name in ("classify", "translate"):
            r = client.post(f"/v1/models/{name}/predict", json={"data": [{"text": text}]})
            assert r.status_code < 500, (name, text, r.text[:400])
        body = {
            "prompt": text,
            "max_new_tokens": max(1, k % 8),
            "temperature": temperature,
            "top_k": abs(k),
            "seed": seed,
        }
        r = post("/v1/models/lm/generate", body)
        assert r.status_code < 500, (body, r.text[:400])
        made = client.post("/v1/models/lm/sessions", json={"data": [{"text": text}]})
        assert made.status_code < 500, (text, made.text[:400])

    forecast()
    texts()
