"""Distributed data parallel (Lightning, gloo on CPU): every process gets its own share of each epoch (no
batch twice) and of validation, a language model's processes each carry their own contiguous stretch of the
stream, a 2-process run's reported validation equals `lm evaluate` of its saved weights, and a 2-process
run resumes in 1 process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lstmkit.config import ConfigError
from lstmkit.engine.config import TrainConfig
from lstmkit.engine.resume import ResumableBatches

pytestmark = pytest.mark.slow  # processes started and trained: minutes on 2 cores


class Numbers:
    """A task whose epoch e serves the batches e*100 + 0 .. e*100 + n-1 (in a seeded order)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def train_batches(self, batch_size: int, seed: int):
        task = self

        class Batches:
            def __len__(self) -> int:
                return task.n

            def epoch_batches(self, e: int):
                order = torch.randperm(task.n, generator=torch.Generator().manual_seed(seed + e)).tolist()
                return iter([e * 100 + i for i in order])

        return Batches()


def served(b: ResumableBatches, steps: int | None = None) -> list[int]:
    out = []
    for x in b:
        out.append(x)
        b.note_consumed()
        if steps is not None and len(out) == steps:
            break
    return out


def test_dealt_batches_cover_an_epoch_once_across_processes():
    shares = []
    for rank in range(3):
        b = ResumableBatches(Numbers(11), 4, 0)
        b.shard(rank, 3)
        assert len(b) == 3  # 11 // 3: the same number of steps in every process
        shares.append(served(b))
    seen = [x for s in shares for x in s]
    assert len(seen) == len(set(seen)) == 9 and set(seen) <= set(range(11))
    alone = served(ResumableBatches(Numbers(11), 4, 0))
    assert sorted(seen) == sorted(alone[:9])  # the first 9 of the one-process epoch, dealt out


def test_a_two_process_position_resumes_in_one_process():
    two = [ResumableBatches(Numbers(10), 4, 0) for _ in range(2)]
    for r, b in enumerate(two):
        b.shard(r, 2)
        served(b, steps=2)  # each process took 2 steps: 4 batches of the epoch are done
    state = two[0].state_dict()
    one = ResumableBatches(Numbers(10), 4, 0)
    one.load_state_dict(state)
    rest = served(one)
    done = {x for b in two for x in served_copy(b)}
    assert len(rest) == 6 and not (set(rest) & done) and len(set(rest) | done) == 10


def served_copy(b: ResumableBatches) -> list[int]:
    """The batches a process has consumed so far in its current epoch."""
    order = list(b.source.epoch_batches(b.current_epoch))
    return order[b.rank : b.consumed * b.world : b.world]


def test_validation_is_shared_out_and_each_batch_scored_once():
    from lstmkit.engine.resume import ValidationBatches

    class Val:
        def val_batches(self, batch_size):
            return list(range(7))

    shares = []
    for rank in range(2):
        v = ValidationBatches(Val(), 4)
        v.shard(rank, 2)
        shares.append(list(v))
        assert len(v) == len(shares[-1])
    assert sorted(shares[0] + shares[1]) == list(range(7))
    few = ValidationBatches(Val(), 4)
    few.shard(1, 8)  # fewer batches than processes: each scores all (the means are unchanged)
    assert list(few) == list(range(7))


def test_language_model_processes_read_disjoint_stretches():
    from lstmkit.data.text import Corpus
    from lstmkit.tasks.lm.config import LanguageConfig
    from lstmkit.tasks.lm.task import LanguageTask

    text = "".join(chr(97 + (i * 7) % 26) for i in range(4000))
    task = LanguageTask(LanguageConfig(bptt=8), Corpus(text, text[:400], text[:400], "t"), 4)
    parts = [task.shard_train_batches(4, 0, r, 2).data for r in range(2)]  # (B, width) each
    flat = [p.flatten().tolist() for p in parts]
    ids = task.train_ids.tolist()
    half = len(ids) // 2
    assert flat[0] == ids[: len(flat[0])] and flat[1] == ids[half : half + len(flat[1])]
    with pytest.raises(ConfigError, match="too few"):
        task.shard_train_batches(4, 0, 0, 200)
    val = [task.shard_val_batches(4, r, 2).data for r in range(2)]  # the evaluation streams, split
    whole = task.val_batches(4).data
    assert torch.equal(torch.cat([val[0], val[1]]).sort(0).values, whole.sort(0).values)
    assert task.shard_val_batches(4, 0, 100) is None


def test_many_processes_need_a_named_run():
    from lstmkit.engine.trainer import _prepare_run_dir

    with pytest.raises(ConfigError, match="--out DIR or --name"):
        _prepare_run_dir(None, TrainConfig(devices=2))


def lstmkit_cli(*args: str, cwd: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "lstmkit.cli", *args, "--json"], capture_output=True, text=True, cwd=cwd, timeout=600
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


TINY = [
    "--hidden-size",
    "32",
    "--num-layers",
    "1",
    "--embedding-size",
    "16",
    "--bptt",
    "16",
    "--batch-size",
    "4",
    "--epochs",
    "2",
    "--no-progress",
    "--precision",
    "32",
    "--checkpoint-every",
    "5",
]


def test_two_process_lm_run_reports_what_its_saved_model_scores(tmp_path):
    text = "".join(f"line {i % 97}: the quick brown fox jumps over the lazy dog.\n" for i in range(400))
    (tmp_path / "train.txt").write_text(text)
    (tmp_path / "val.txt").write_text(text[:3000])
    got = lstmkit_cli(
        "lm",
        "train",
        "--text",
        "train.txt",
        "--val-text",
        "val.txt",
        "--out",
        "two",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        *TINY,
        cwd=tmp_path,
    )
    from lstmkit.data.text import load_corpus

    # the validation part of --val-text (the rest of it is the held-out test text), as a file for lm evaluate
    (tmp_path / "val-part.txt").write_text(load_corpus(str(tmp_path / "train.txt"), str(tmp_path / "val.txt")).val)
    ev = lstmkit_cli("lm", "evaluate", "--model", "two", "--text", "val-part.txt", cwd=tmp_path)
    assert got["val_loss"] == pytest.approx(ev["loss"], rel=1e-6)
    one = lstmkit_cli(
        "lm", "train", "--text", "train.txt", "--val-text", "val.txt", "--out", "one", *TINY, cwd=tmp_path
    )
    assert got["val_loss"] != one["val_loss"]  # two processes trained differently (their own halves)
    assert (tmp_path / "two" / "metrics.csv").is_file() and (tmp_path / "two" / "checkpoints" / "last.ckpt").is_file()
    again = lstmkit_cli(
        "lm",
        "train",
        "--text",
        "train.txt",
        "--val-text",
        "val.txt",
        "--out",
        "two",
        "--resume",
        *TINY,
        "--epochs",
        "3",
        cwd=tmp_path,
    )
    assert again["val_loss"] < got["val_loss"] + 0.5 and (tmp_path / "two" / "model").is_dir()
