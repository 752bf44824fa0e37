"""The web page `lstmkit serve` serves at /: its script parses, the routes it calls exist, and in headless
Chromium (Debian's package, when installed) it draws a forecast with its interval from a real server."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from lstmkit.deploy.serve import ServeOptions, build_app
from tests.deploy.test_sessions import free_port, start_server

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


def test_the_page_is_served_and_calls_only_real_routes():
    c = TestClient(build_app({}, ServeOptions(api_key="k")))
    page = c.get("/")  # the page itself needs no key: it asks for one
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    paths = set(c.get("/openapi.json").json()["paths"])
    called = set(re.findall(r"`(/v1/[^`?]*)`", page.text)) | set(re.findall(r'"(/v1/[^"]*)"', page.text))
    called = {re.sub(r"\$\{[^}]*\}", "{name}", p) for p in called}
    assert called and called <= paths, called - paths
    node = shutil.which("node")
    if node:  # the script at least parses
        js = page.text.split("<script>")[1].split("</script>")[0]
        done = subprocess.run(
            [node, "-e", "new Function(require('fs').readFileSync(0, 'utf8'))"],
            input=js,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr


def chromium(*args: str) -> subprocess.CompletedProcess:
    cmd = [
        BROWSER,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--virtual-time-budget=15000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(
    BROWSER is None, reason="no headless browser: apt-get install chromium (Debian's package) to run it"
)
def test_the_page_draws_a_forecast_in_headless_chromium(tmp_path):
    port = free_port()
    proc = start_server(tmp_path, port)
    try:
        url = f"http://127.0.0.1:{port}/?model=forecast&example"
        dom = chromium("--dump-dom", url).stdout
        shot = tmp_path / "page.png"
        chromium("--window-size=1000,900", f"--screenshot={shot}", url)
    finally:
        proc.terminate()
        proc.wait()
    assert 'aria-label="forecast plot"' in dom and '"y_hat"' in dom and "interval (band)" in dom
    import matplotlib.image

    img = matplotlib.image.imread(shot)[..., :3]  # (H, W, 3) in [0, 1]
    blue = (img[..., 2] > 0.6) & (img[..., 0] < 0.3)  # the forecast line (#1f77b4)
    band = (img[..., 2] - img[..., 0] > 0.06) & (img[..., 0] > 0.7)  # the interval, pale blue
    dark = img.sum(-1) < 0.6  # the history line and the text
    assert (
        blue.sum() > 50
        and band.sum() > 1000
        and dark.sum() > 2000
        and np.unique(img.reshape(-1, 3), axis=0).shape[0] > 20
    )
