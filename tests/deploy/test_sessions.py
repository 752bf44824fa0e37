"""Serving sessions: a session's answers equal the model's own update/step on the same data, replays are
ignored and gaps refused, idle sessions expire, a server killed with SIGKILL continues every session, and
concurrent predict requests batched together get the answers they would get alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lstmkit

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from lstmkit.deploy.serve import ServeOptions, build_app
from lstmkit.deploy.sessions import SessionStore

FIXTURES = Path(__file__).parent.parent / "fixtures" / "models" / "v0.4.0"


def rows(n: int, start: int = 0, uid: str = "a") -> list[dict]:
    """Monthly history rows (what the forecast fixture was trained on looks like: air passengers)."""
    ds = pd.date_range("1949-01-01", periods=start + n, freq="MS")[start:]
    y = 120 + 2.0 * np.arange(start, start + n) + 15 * np.sin(np.arange(start, start + n) * np.pi / 6)
    return [{"unique_id": uid, "ds": str(d.date()), "y": float(v)} for d, v in zip(ds, y)]


@pytest.fixture(scope="module")
def models():
    return {t: lstmkit.load(FIXTURES / t) for t in ("forecast", "lm", "classify")}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(models, **store) -> TestClient:
    return TestClient(build_app(models, ServeOptions(), SessionStore(**store)))


def test_forecast_session_equals_update_then_predict(models):
    c = client(models)
    made = c.post("/v1/models/forecast/sessions", json={"data": rows(36)})
    assert made.status_code == 201 and made.json()["seq"] == 0
    sid = made.json()["id"]
    for k in range(1, 5):
        got = c.post(f"/v1/sessions/{sid}/observe", json={"data": rows(1, 35 + k), "seq": k}).json()
        assert got["seq"] == k
    fresh = lstmkit.load(FIXTURES / "forecast")
    want = fresh.update(pd.DataFrame(rows(36))).update(pd.DataFrame(rows(4, 36))).predict()
    assert [r["ds"][:10] for r in got["forecast"]] == [str(d.date()) for d in want["ds"]]
    np.testing.assert_allclose([r["y_hat"] for r in got["forecast"]], want["y_hat"], rtol=1e-6)
    assert c.get(f"/v1/sessions/{sid}").json()["forecast"] == got["forecast"]


def test_replays_are_ignored_and_gaps_refused(models):
    c = client(models)
    sid = c.post("/v1/models/forecast/sessions", json={"data": rows(36)}).json()["id"]
    first = c.post(f"/v1/sessions/{sid}/observe", json={"data": rows(1, 36), "seq": 1}).json()
    again = c.post(f"/v1/sessions/{sid}/observe", json={"data": rows(1, 36), "seq": 1}).json()
    assert again["replayed"] is True and again["forecast"] == first["forecast"] and again["seq"] == 1
    gap = c.post(f"/v1/sessions/{sid}/observe", json={"data": rows(1, 38), "seq": 3})
    assert gap.status_code == 409 and "send seq 2" in gap.json()["detail"]
    second = c.post(f"/v1/sessions/{sid}/observe", json={"data": rows(1, 37), "seq": 2}).json()
    # an unseen series is scaled by the rows it first came with: the session's history, then the updates
    want = (
        lstmkit.load(FIXTURES / "forecast").update(pd.DataFrame(rows(36))).update(pd.DataFrame(rows(2, 36))).predict()
    )
    np.testing.assert_allclose([r["y_hat"] for r in second["forecast"]], want["y_hat"], rtol=1e-6)


def test_language_model_session_reads_like_step(models):
    c = client(models)
    lm = models["lm"]
    sid = c.post("/v1/models/lm/sessions", json={"data": [{"text": "to be"}]}).json()["id"]
    got = c.post(f"/v1/sessions/{sid}/observe", json={"data": [{"text": " or"}, {"text": " not"}], "seq": 1}).json()
    out, state = lm.step(lm.initial_state(), {"text": "to be"})
    out, state = lm.step(state, {"text": " or not"})
    assert got["next"] == out["next"] and got["logprob"] == pytest.approx(out["logprob"], rel=1e-6)


def test_session_errors_are_4xx(models):
    c = client(models, max_sessions=2)
    assert c.post("/v1/models/classify/sessions", json={}).status_code == 400  # keeps no state
    assert c.post("/v1/models/nope/sessions", json={}).status_code == 404
    assert c.get("/v1/sessions/unknown").status_code == 404
    sid = c.post("/v1/models/forecast/sessions", json={}).json()["id"]
    assert c.post(f"/v1/sessions/{sid}/observe", json={"data": rows(1)}).status_code == 422  # no seq
    assert c.post(f"/v1/sessions/{sid}/observe", json={"data": [], "seq": 1}).status_code == 422
    bad = c.post(f"/v1/sessions/{sid}/observe", json={"data": [{"unique_id": "a", "y": 1.0}], "seq": 1})
    assert bad.status_code == 400 and "ds" in bad.json()["detail"]
    assert c.post("/v1/models/lm/sessions", json={"data": [{"txt": "x"}]}).status_code == 400
    c.post("/v1/models/forecast/sessions", json={})
    full = c.post("/v1/models/forecast/sessions", json={})
    assert full.status_code == 429 and "--max-sessions" in full.json()["detail"]
    assert c.delete(f"/v1/sessions/{sid}").json() == {"deleted": sid}
    assert c.delete(f"/v1/sessions/{sid}").status_code == 404
    assert c.post("/v1/models/forecast/sessions", json={}).status_code == 201


def test_idle_sessions_expire(models):
    clock = Clock()
    c = client(models, ttl_s=60, clock=clock)
    sid = c.post("/v1/models/forecast/sessions", json={"data": rows(30)}).json()["id"]
    clock.now += 59
    assert c.get(f"/v1/sessions/{sid}").status_code == 200
    assert c.post(f"/v1/sessions/{sid}/observe", json={"data": rows(1, 30), "seq": 1}).status_code == 200
    clock.now += 59  # the observation refreshed it
    assert c.get(f"/v1/sessions/{sid}").status_code == 200
    clock.now += 61
    gone = c.get(f"/v1/sessions/{sid}")
    assert gone.status_code == 404 and "expired" in gone.json()["detail"]
    assert c.get("/health").json()["sessions"] == 0


def test_concurrent_predicts_are_batched_and_answered_as_alone(models):
    app = build_app(models, ServeOptions(batch_wait_ms=50))
    c = TestClient(app)
    forecast_bodies = [rows(40, uid=u) for u in ("a", "b", "a", "c")]  # "a" twice: not in one pass
    texts = [[{"text": t}] for t in ("good plot", "awful film", "fine", "a dull mess of a movie")]
    answers: dict = {}

    def call(key, name, data):
        answers[key] = c.post(f"/v1/models/{name}/predict", json={"data": data}).json()["predictions"]

    threads = [threading.Thread(target=call, args=(("f", i), "forecast", b)) for i, b in enumerate(forecast_bodies)]
    threads += [threading.Thread(target=call, args=(("c", i), "classify", t)) for i, t in enumerate(texts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, b in enumerate(forecast_bodies):
        alone = models["forecast"].predict_records(b)
        assert [r["unique_id"] for r in answers["f", i]] == [r["unique_id"] for r in alone]
        np.testing.assert_allclose([r["y_hat"] for r in answers["f", i]], [r["y_hat"] for r in alone], rtol=1e-5)
    for i, t in enumerate(texts):
        alone = models["classify"].predict_records(t)[0]
        assert answers["c", i][0]["prediction"] == alone["prediction"]
    batcher = app.state.batchers["classify"]
    assert batcher.requests == 4 and batcher.batches < 4  # at least two shared a forward


def test_a_bad_request_in_a_batch_fails_alone(models):
    app = build_app(models, ServeOptions(batch_wait_ms=50))
    c = TestClient(app)
    codes: dict = {}

    def call(i, data):
        codes[i] = c.post("/v1/models/classify/predict", json={"data": data}).status_code

    threads = [
        threading.Thread(target=call, args=(i, d))
        for i, d in enumerate([[{"text": "good"}], [{"txt": "bad"}], [{"text": "fine"}]])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == {0: 200, 1: 400, 2: 200}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(state_dir: Path, port: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "lstmkit.cli",
        "serve",
        "--model",
        f"forecast={FIXTURES / 'forecast'}",
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read().decode()[-2000:]}")
    proc.kill()
    raise AssertionError("the server did not answer /health within 120 s")


@pytest.mark.slow
def test_sigkill_mid_stream_loses_nothing(tmp_path):
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(tmp_path, port)
    try:
        sid = httpx.post(f"{url}/v1/models/forecast/sessions", json={"data": rows(36)}).json()["id"]
        for k in (1, 2, 3):
            assert (
                httpx.post(f"{url}/v1/sessions/{sid}/observe", json={"data": rows(1, 35 + k), "seq": k}).status_code
                == 200
            )
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    proc = start_server(tmp_path, port)
    try:
        assert httpx.get(f"{url}/v1/sessions/{sid}").json()["seq"] == 3
        replay = httpx.post(f"{url}/v1/sessions/{sid}/observe", json={"data": rows(1, 38), "seq": 3}).json()
        assert replay["replayed"] is True  # the client resent its last one: applied once
        got = httpx.post(f"{url}/v1/sessions/{sid}/observe", json={"data": rows(1, 39), "seq": 4}).json()
    finally:
        proc.terminate()
        proc.wait()
    want = (
        lstmkit.load(FIXTURES / "forecast").update(pd.DataFrame(rows(36))).update(pd.DataFrame(rows(4, 36))).predict()
    )
    np.testing.assert_allclose([r["y_hat"] for r in got["forecast"]], want["y_hat"], rtol=1e-6)
