"""Exact resume, for every task, with a real `kill -9`: a run killed mid-training and restarted with
--resume ends with the same weights as the same run left alone (--deterministic)."""

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

TEXT = "to be or not to be, that is the question. " * 200
RUNS = {
    "longrange": [
        "longrange",
        "train",
        "--task",
        "adding",
        "--length",
        "20",
        "--hidden-size",
        "16",
        "--steps-per-epoch",
        "40",
        "--epochs",
        "3",
        "--val-size",
        "64",
        "--test-size",
        "64",
    ],
    "lm": [
        "lm",
        "train",
        "--text",
        "tiny.txt",
        "--hidden-size",
        "32",
        "--embedding-size",
        "16",
        "--bptt",
        "16",
        "--batch-size",
        "4",
        "--epochs",
        "2",
    ],  # dropout on, state carried across batches
    "forecast": [
        "forecast",
        "train",
        "--data",
        "air-passengers",
        "--hidden-size",
        "16",
        "--steps-per-epoch",
        "20",
        "--epochs",
        "3",
    ],  # dropout on, random windows
}


def _cmd(args, out, *extra):
    return [
        sys.executable,
        "-m",
        "lstmkit.cli",
        *args,
        "--deterministic",
        "--checkpoint-every",
        "3",
        "--no-progress",
        "--out",
        out,
        *extra,
    ]


def _kill_mid_run(cmd, cwd: Path, out: Path) -> None:
    """Start the run, wait for its first checkpoint and the first lines of its curve (on a loaded machine the
    CSV logger may flush after the checkpoint), then kill -9 it at a random moment before it ends."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not ((out / "checkpoints" / "last.ckpt").exists() and (out / "metrics.csv").exists()):
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(random.Random(len(cmd)).uniform(0.0, 0.4))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "model").exists(), "the kill came after the run had finished: nothing was resumed"
    assert (out / "metrics.csv").read_text().startswith("step"), "a killed run keeps its curve so far"


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(RUNS))
def test_killed_and_resumed_run_ends_with_the_same_weights(task, tmp_path):
    (tmp_path / "tiny.txt").write_text(TEXT, encoding="utf-8")
    args = RUNS[task]
    subprocess.run(_cmd(args, "alone"), cwd=tmp_path, check=True, capture_output=True)
    _kill_mid_run(_cmd(args, "killed"), tmp_path, tmp_path / "killed")
    done = subprocess.run(_cmd(args, "killed", "--resume"), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    alone = load_file(tmp_path / "alone" / "model" / "model.safetensors")
    resumed = load_file(tmp_path / "killed" / "model" / "model.safetensors")
    assert alone.keys() == resumed.keys()
    diff = max(float((alone[k] - resumed[k]).abs().max()) for k in alone)
    assert diff <= 1e-6, f"{task}: resumed weights differ by {diff}"
    logs = sorted(p.name for p in (tmp_path / "killed" / "logs").iterdir())
    assert logs == ["attempt-0", "attempt-1"]  # it really was two processes
    assert (tmp_path / "killed" / "metrics.csv").read_text().count("\n") > 3  # the curve of both attempts
