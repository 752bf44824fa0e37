"""The CLI end to end on tiny budgets: train, evaluate, compare, datasets, errors."""

import json
import subprocess
import sys

from lstmkit.cli import main
from tests.helpers import strict_json

TINY = [
    "--length",
    "8",
    "--hidden-size",
    "8",
    "--steps-per-epoch",
    "5",
    "--epochs",
    "1",
    "--val-size",
    "32",
    "--test-size",
    "32",
    "--no-progress",
    "--json",
]


def _json(capsys):
    return strict_json(capsys.readouterr().out)


def test_train_then_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["longrange", "train", "--cell", "gru", "--out", str(out), *TINY]) == 0
    row = _json(capsys)
    assert row["cell"] == "gru" and row["steps"] == 5 and row["baseline"] > 0.16
    assert (out / "model" / "model.safetensors").is_file() and (out / "curves.png").is_file()
    assert main(["longrange", "evaluate", "--model", str(out), "--json"]) == 0
    ev = _json(capsys)
    assert abs(ev["test_mse"] - row["test_mse"]) < 1e-6  # the saved model reproduces the reported figure


def test_yaml_config_and_flags(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task:\n  cell: rnn\n  hidden_size: 4\ntrain:\n  max_steps: 3\n")
    assert (
        main(["longrange", "train", "--config", str(cfg), "--out", str(tmp_path / "r"), *TINY, "--hidden-size", "6"])
        == 0
    )
    row = _json(capsys)
    assert row["cell"] == "rnn" and row["steps"] == 3
    saved = json.loads((tmp_path / "r" / "model" / "config.json").read_text())
    assert saved["config"]["task"]["hidden_size"] == 6 and saved["config"]["train"]["max_steps"] == 3
    assert saved["config"]["train"]["lr"] == 5e-3  # the task's recommended default, recorded


def test_compare_prints_one_table(tmp_path, capsys):
    assert main(["longrange", "compare", "--cells", "lstm", "rnn", "--out", str(tmp_path / "c"), *TINY]) == 0
    rows = _json(capsys)
    assert [r["cell"] for r in rows] == ["lstm", "rnn"]
    assert (tmp_path / "c" / "compare.md").read_text().count("\n") == 4
    assert (tmp_path / "c" / "gradient-flow.png").is_file() and (tmp_path / "c" / "compare.csv").is_file()


def test_errors_are_clear_and_exit_2(tmp_path, capsys):
    assert main(["longrange", "train", "--max-time", "soon", "--out", str(tmp_path / "x"), *TINY]) == 2
    assert "not a duration" in capsys.readouterr().err
    assert main(["longrange", "train", "--resume", *TINY]) == 2
    assert "--resume needs --out" in capsys.readouterr().err
    assert main(["longrange", "evaluate", "--model", str(tmp_path / "none")]) == 2
    assert "not a saved-model directory" in capsys.readouterr().err


def test_datasets_and_version(capsys):
    assert main(["datasets", "--json"]) == 0
    assert any(d["name"] == "adding" for d in _json(capsys))
    out = subprocess.run([sys.executable, "-m", "lstmkit.cli", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("lstmkit ")


def test_length_sweep_writes_table_and_plots(tmp_path, capsys):
    args = [
        "longrange",
        "compare",
        "--cells",
        "lstm-chrono",
        "rnn",
        "--lengths",
        "6",
        "12",
        "--out",
        str(tmp_path / "s"),
    ]
    assert main([*args, *TINY]) == 0
    rows = _json(capsys)
    assert [(r["length"], r["cell"]) for r in rows] == [
        (6, "lstm-chrono"),
        (6, "rnn"),
        (12, "lstm-chrono"),
        (12, "rnn"),
    ]
    for name in (
        "compare.csv",
        "compare.md",
        "metric-vs-length.png",
        "gradient-flow.png",
        "memory-horizon.png",
        "T12-rnn/model/config.json",
    ):
        assert (tmp_path / "s" / name).is_file(), name
