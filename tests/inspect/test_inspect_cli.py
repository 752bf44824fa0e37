"""`lstmkit inspect` end to end on a tiny trained model."""

import numpy as np
import pytest

from lstmkit.cli import main
from tests.helpers import strict_json

TINY = [
    "--hidden-size",
    "8",
    "--steps-per-epoch",
    "3",
    "--epochs",
    "1",
    "--val-size",
    "16",
    "--test-size",
    "16",
    "--no-progress",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("inspect") / "run"
    assert main(["longrange", "train", "--task", "order", "--length", "24", "--out", str(out), *TINY]) == 0
    return out


def test_gradients_writes_the_plot_and_the_horizon(run_dir, capsys):
    capsys.readouterr()
    assert main(["inspect", "gradients", "--model", str(run_dir), "--json"]) == 0
    payload = strict_json(capsys.readouterr().out)
    assert payload["steps"] == 24 and payload["cell"] == "lstm"
    assert (run_dir / "gradient-flow.png").stat().st_size > 10_000


def test_gates_from_a_probe_and_from_a_file(run_dir, tmp_path, capsys):
    capsys.readouterr()
    assert main(["inspect", "gates", "--model", str(run_dir), "--gates", "forget", "cell", "--json"]) == 0
    payload = strict_json(capsys.readouterr().out)
    assert set(payload["mean"]) == {"forget", "cell"} and 0 < payload["mean"]["forget"] < 1
    seq = tmp_path / "seq.csv"
    np.savetxt(seq, np.eye(8)[np.random.default_rng(0).integers(0, 8, 30)], delimiter=",")
    out = tmp_path / "g.png"
    assert main(["inspect", "gates", "--model", str(run_dir / "model"), "--input", str(seq), "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000


def test_bad_requests_are_named(run_dir, tmp_path, capsys):
    assert main(["inspect", "gates", "--model", str(run_dir), "--gates", "reset"]) == 2
    assert "lstm has no reset" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    np.savetxt(bad, np.zeros((5, 3)), delimiter=",")
    assert main(["inspect", "gates", "--model", str(run_dir), "--input", str(bad)]) == 2
    assert "expected a (time, 8) array" in capsys.readouterr().err


FIXTURES = __import__("pathlib").Path(__file__).parent.parent / "fixtures" / "models" / "v0.1.0"


@pytest.mark.parametrize(
    "task, extra", [("forecast", ["--data", "air-passengers"]), ("lm", ["--text", "to be or not"])]
)
def test_every_task_is_inspected_through_its_probe(task, extra, tmp_path, capsys):
    capsys.readouterr()
    png = tmp_path / "g.png"
    assert main(["inspect", "gradients", "--model", str(FIXTURES / task), "--out", str(png), "--json", *extra]) == 0
    payload = strict_json(capsys.readouterr().out)
    assert payload["cell"] == "lstm" and payload["norm_max"] > 0 and png.stat().st_size > 10_000
    if task == "lm":
        assert payload["steps"] == len("to be or not")  # one step per character
    gates = tmp_path / "gates.png"
    assert main(["inspect", "gates", "--model", str(FIXTURES / task), "--out", str(gates), "--json", *extra]) == 0
    assert gates.stat().st_size > 5_000
    assert main(["inspect", "gradients", "--model", str(FIXTURES / "forecast")]) == 2  # no history given
    assert "pass --data" in capsys.readouterr().err
