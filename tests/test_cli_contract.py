"""What every command promises: stdout is results only (one strict JSON document under --json, progress
bars on stderr), any budget ends in a saved model, lstmkit's errors are one line and exit 2 while bugs keep
their traceback, run names never collide, output fits a 100-column terminal."""

import argparse
import subprocess
import sys

import pytest
import torch

from lstmkit.cli import main
from tests.helpers import strict_json

strict = strict_json  # rejects NaN and Infinity, as jq and JavaScript do


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "lstmkit.cli", *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.slow
def test_compare_json_with_progress_bars_is_one_document_on_stdout(tmp_path):
    r = _run(
        "longrange",
        "compare",
        "--cells",
        "lstm",
        "rnn",
        "--length",
        "8",
        "--hidden-size",
        "8",
        "--steps-per-epoch",
        "5",
        "--epochs",
        "2",
        "--val-size",
        "32",
        "--test-size",
        "32",
        "--out",
        "c",
        "--json",
        cwd=tmp_path,
    )  # progress on (the default); stderr is a pipe here, so plain lines rather than bars
    assert r.returncode == 0, r.stderr[-2000:]
    rows = strict(r.stdout)
    assert [row["cell"] for row in rows] == ["lstm", "rnn"]
    assert "epoch 2/2" in r.stderr and "validation" in r.stderr  # progress went to stderr
    assert "\x1b[" not in r.stderr  # no cursor escapes in a log


@pytest.mark.slow
def test_backtest_with_a_tiny_step_budget_saves_a_model_and_writes_strict_json(tmp_path):
    r = _run(
        "forecast",
        "backtest",
        "--data",
        "air-passengers",
        "--windows",
        "1",
        "--max-steps",
        "30",
        "--no-statistical",
        "--out",
        "bt",
        "--json",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = strict(r.stdout)
    table = {row["method"]: row for row in out["table"]}
    assert table["naive"]["coverage"] is None  # no interval: null, not NaN
    assert 0 <= table["lstmkit"]["coverage"] <= 1
    assert (tmp_path / "bt" / "fit" / "model" / "model.safetensors").is_file()
    assert (tmp_path / "bt" / "backtest.csv").is_file()
    # a trained model backtested with --out writes there, and leaves its own run directory alone
    before = sorted(p.name for p in (tmp_path / "bt" / "fit").iterdir())
    r = _run(
        "forecast",
        "backtest",
        "--data",
        "air-passengers",
        "--windows",
        "1",
        "--model",
        "bt/fit",
        "--no-statistical",
        "--out",
        "again",
        "--json",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert strict(r.stdout)["out"] == "again" and (tmp_path / "again" / "backtest.md").is_file()
    assert sorted(p.name for p in (tmp_path / "bt" / "fit").iterdir()) == before


def test_lstmkit_errors_are_one_line_and_bugs_keep_their_traceback(tmp_path, capsys, monkeypatch):
    assert main(["forecast", "train", "--data", str(tmp_path / "missing.csv"), "--horizon", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstmkit: error:") and "missing.csv" in err and err.count("\n") == 1
    assert main(["lm", "train", "--text", str(tmp_path / "none.txt"), "--hidden-size", "8"]) == 2
    assert "no such text file or folder" in capsys.readouterr().err

    import lstmkit.cli

    def broken(args):
        raise RuntimeError("a bug inside lstmkit")

    monkeypatch.setattr(lstmkit.cli, "_datasets", broken)
    with pytest.raises(RuntimeError, match="a bug inside lstmkit"):  # not swallowed into exit 2
        main(["datasets"])
    r = _run("longrange", "evaluate", "--model", "nowhere", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "not a saved-model directory" in r.stderr


def test_datasets_fit_a_100_column_terminal(capsys):
    assert main(["datasets"]) == 0
    text = capsys.readouterr().out
    assert "air-passengers" in text and "shakespeare" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert main(["datasets", "--json"]) == 0
    assert any(
        d["name"] == "adding" and d["use"].startswith("lstmkit longrange") for d in strict(capsys.readouterr().out)
    )


def test_run_names_never_collide(tmp_path, monkeypatch):
    from lstmkit.engine import TrainConfig
    from lstmkit.engine.trainer import run_directory

    names = {run_directory("forecast", TrainConfig()) for _ in range(50)}  # all within the same second
    assert len(names) == 50


def test_lm_train_reports_held_out_metrics_only(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("".join(f"line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(300)))
    held = tmp_path / "held.txt"
    held.write_text("a different text, never trained on. " * 40)
    tiny = [
        "--hidden-size",
        "16",
        "--embedding-size",
        "8",
        "--bptt",
        "16",
        "--batch-size",
        "4",
        "--max-steps",
        "5",
        "--no-progress",
        "--json",
    ]
    assert main(["lm", "train", "--text", str(text), "--out", str(tmp_path / "a"), *tiny]) == 0
    out = strict(capsys.readouterr().out)
    total = len(text.read_text())
    assert out["test_chars"] < 0.06 * total and "last 5 %" in out["test_split"]  # not the training text
    assert main(["lm", "train", "--text", str(text), "--val-text", str(held), "--out", str(tmp_path / "b"), *tiny]) == 0
    out = strict(capsys.readouterr().out)
    second_half = len(held.read_text()) - len(held.read_text()) // 2
    assert out["test_chars"] == second_half - 1 and "held.txt" in out["test_split"]  # (the first is not scored)
    # and the text view of its gates
    assert (
        main(
            [
                "inspect",
                "gates",
                "--model",
                str(tmp_path / "a"),
                "--text",
                "the quick brown fox",
                "--unit",
                "3",
                "--json",
            ]
        )
        == 0
    )
    g = strict(capsys.readouterr().out)
    from pathlib import Path

    assert g["state"] == "cell" and "<span" in Path(g["html"]).read_text()
    assert Path(g["png"]).read_bytes()[:4] == b"\x89PNG"


def test_threads_on_every_command_that_computes(capsys, monkeypatch):
    from pathlib import Path

    from lstmkit.cli import build_parser
    from lstmkit.clitools import threads_of

    parser = build_parser()
    for argv in (["forecast", "train"], ["lm", "generate"], ["tag", "predict"], ["serve"], ["export"]):
        with pytest.raises(SystemExit):
            parser.parse_args([*argv, "--help"])
        assert "--threads N" in capsys.readouterr().out, argv
    assert threads_of(argparse.Namespace(threads=None), {}) == 1  # the default: one thread
    assert threads_of(argparse.Namespace(threads=None), {"LSTMKIT_THREADS": "2"}) == 2
    assert threads_of(argparse.Namespace(threads=3), {"LSTMKIT_THREADS": "2"}) == 3
    with pytest.raises(ValueError, match="LSTMKIT_THREADS"):
        threads_of(argparse.Namespace(threads=None), {"LSTMKIT_THREADS": "many"})
    model = str(Path(__file__).parent / "fixtures" / "models" / "v0.4.0" / "longrange")
    assert main(["longrange", "evaluate", "--model", model, "--threads", "2", "--json"]) == 0
    assert torch.get_num_threads() == 2
    assert main(["longrange", "evaluate", "--model", model, "--threads", "0"]) == 2
    assert "--threads must be" in capsys.readouterr().err


def test_predict_and_evaluate_take_the_data_flags_of_train(tmp_path, capsys):
    from pathlib import Path

    import pandas as pd

    model = str(Path(__file__).parent / "fixtures" / "models" / "v0.4.0" / "classify")
    pd.DataFrame({"review": ["good plot", "awful film"], "stars": ["pos", "neg"]}).to_csv(
        tmp_path / "r.csv", index=False
    )
    args = ["--model", model, "--data", str(tmp_path / "r.csv"), "--text-col", "review"]
    assert main(["classify", "predict", *args, "--out", str(tmp_path / "p.csv")]) == 0
    assert pd.read_csv(tmp_path / "p.csv")["prediction"].notna().all()
    capsys.readouterr()
    assert main(["classify", "evaluate", *args, "--label-col", "stars", "--json"]) == 0
    assert strict(capsys.readouterr().out)["test"]["n"] == 2
    assert main(["classify", "predict", "--model", model, "--data", str(tmp_path / "r.csv")]) == 2  # no 'text'
    assert "text" in capsys.readouterr().err


def test_progress_lines_when_stderr_is_not_a_terminal(capsys):
    from lstmkit.clitools import progress

    report = progress("tokens read", every=0.0)
    for done in (10, 20, 30):
        report(done, 30)
    err = capsys.readouterr().err
    assert "tokens read: 30/30 (100 %" in err and "\x1b[" not in err
    quiet = progress("tokens read", every=60.0)
    quiet(30, 30)  # finished within the interval: nothing shown
    assert capsys.readouterr().err == ""
