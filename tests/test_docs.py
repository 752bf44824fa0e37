"""The documentation site builds with MkDocs --strict (warnings are errors) from the repository's own text."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_documentation_builds(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is in the dev extra")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is in the dev extra")
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "build.py"), "--out", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cli = (tmp_path / "site" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "lstmkit tag train" in cli and "--threads" in cli
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    assert "mLSTM" in api and "Forecaster" in api
