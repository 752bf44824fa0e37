"""Exact resume: everything a run needs to continue as if it had never stopped, kept in the checkpoint.

A killed run (even `kill -9`) restarted with `--resume` must end with the same weights as the run left alone
(with --deterministic). Lightning checkpoints the weights, optimiser, schedule and loop counters; this module
adds what it does not know about:

- the data position: which epoch's batches are being served and how many of them training consumed
  (`ResumableBatches`; a task's training iterable serves any epoch on demand, so epochs are never replayed);
- the random streams (torch, NumPy, Python) that dropout and friends draw from (`RandomState`);
- the task's own training-time state, e.g. a language model's carried recurrent state (`TaskState`);
- checkpoints written atomically (`AtomicCheckpointIO`), so a kill during a write leaves the previous one.
"""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback


class ResumableBatches:
    """The engine's view of a task's training batches: counts the batches training consumed, so a checkpoint
    records the exact position and a resumed run continues from the next batch of the same epoch.

    The task's iterable serves epoch e through `epoch_batches(e)` (deterministic in its seed and e); a plain iterable
    without it is served as is (resume then restarts the epoch).

    Under distributed training (`shard(rank, world)`), a task with `shard_train_batches` serves each process its
    own part (a language model: its own contiguous stretch of the token stream); any other task's epoch is
    dealt out in turn, batch i to process i mod world, the last few dropped so that every process takes the
    same number of steps: no batch is seen twice per epoch. The position is kept in batches of the whole
    epoch, so a run resumed with another number of processes continues where it was (a task-sharded stream
    restarts its epoch: its stretches change with the number of processes)."""

    def __init__(self, task: Any, batch_size: int, seed: int) -> None:
        self.task, self.batch_size, self.seed = task, batch_size, seed
        self.source = task.train_batches(batch_size, seed)
        self.rank, self.world, self.dealt = 0, 1, False
        self.current_epoch, self.consumed = 0, 0
        self._started = False

    def shard(self, rank: int, world: int) -> None:
        """Serve process `rank`'s share of every epoch (called once the processes exist)."""
        if world == self.world:
            return
        own = getattr(self.task, "shard_train_batches", None)
        if own is not None:
            self.source, self.dealt = own(self.batch_size, self.seed, rank, world), False
        else:
            self.dealt = True
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        n = len(self.source)  # type: ignore[arg-type]
        return n // self.world if self.dealt else n

    def __iter__(self) -> Iterator[Any]:
        if self._started and self.consumed >= len(self):
            self.current_epoch, self.consumed = self.current_epoch + 1, 0  # the previous epoch is done
        self._started = True
        serve = getattr(self.source, "epoch_batches", None)
        if serve is None:
            return iter(self.source)
        if not self.dealt:
            return itertools.islice(serve(self.current_epoch), self.consumed, None)
        start, stop = self.consumed * self.world + self.rank, len(self) * self.world
        return itertools.islice(serve(self.current_epoch), start, stop, self.world)

    def note_consumed(self) -> None:
        """Called by the training step: one more batch of this epoch has been trained on."""
        self.consumed += 1

    def state_dict(self) -> dict[str, int]:
        return {
            "epoch": self.current_epoch,
            "consumed": self.consumed,
            "world": self.world,
            "task_sharded": int(self.world > 1 and not self.dealt),
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        world, consumed = int(state.get("world", 1)), int(state["consumed"])
        if world != self.world:  # another number of processes: the same place in the epoch, in batches of it
            consumed = (
                0
                if state.get("task_sharded") or (self.world > 1 and not self.dealt)
                else consumed * world // self.world
            )
        self.current_epoch, self.consumed = int(state["epoch"]), consumed
        self._started = True


class ValidationBatches:
    """A task's validation batches, each process scoring its share under distributed training: a task with
    `shard_val_batches` gives it (a language model: its share of the evaluation streams), any other's are
    dealt out in turn. Fewer batches (or streams) than processes: every process scores all of them (the
    engine's sums over processes then count each batch once per process, which leaves the means as they are)."""

    def __init__(self, task: Any, batch_size: int) -> None:
        self.task, self.batch_size = task, batch_size
        self.source = task.val_batches(batch_size)
        self.rank, self.world, self.dealt = 0, 1, False

    def shard(self, rank: int, world: int) -> None:
        own = getattr(self.task, "shard_val_batches", None)
        if own is not None:
            mine = own(self.batch_size, rank, world)
            if mine is not None:
                self.source = mine
        elif hasattr(self.source, "__len__") and len(self.source) >= world:
            self.rank, self.world, self.dealt = rank, world, True

    def __len__(self) -> int:
        n = len(self.source)  # type: ignore[arg-type]
        return len(range(self.rank, n, self.world)) if self.dealt else n

    def __iter__(self) -> Iterator[Any]:
        it = iter(self.source)
        return itertools.islice(it, self.rank, None, self.world) if self.dealt else it


class RandomState(Callback):
    """The global random streams in the checkpoint (dropout masks after a resume are the ones the run would
    have drawn)."""

    def state_dict(self) -> dict[str, Any]:
        kind, key, pos, has_gauss, gauss = np.random.get_state()  # plain values: checkpoints load weights_only
        numpy_state = {
            "kind": kind,
            "key": torch.from_numpy(key.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        }
        state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        n = state["numpy"]
        np.random.set_state((n["kind"], n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
        random.setstate(state["python"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class TaskState(Callback):
    """A task's training-time state (`train_state` / `load_train_state`, both optional) in the checkpoint."""

    def __init__(self, task: Any) -> None:
        self.task = task

    def state_dict(self) -> dict[str, Any]:
        get = getattr(self.task, "train_state", None)
        mine = get() if get else None
        _, world = _distributed()
        if world == 1:
            return {"task": mine}
        everyone: list[Any] = [None] * world  # every process's state (a language model carries one per stream)
        torch.distributed.all_gather_object(everyone, mine)
        return {"task": everyone[0], "ranks": everyone}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        put = getattr(self.task, "load_train_state", None)
        rank, world = _distributed()
        ranks = state.get("ranks") or [state.get("task")]
        if put and len(ranks) == world and ranks[rank] is not None:
            put(ranks[rank])  # another number of processes: each starts its new stretch from a fresh state


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint to a temporary sibling and renames it into place: a kill mid-write never leaves a
    truncated last.ckpt behind (the previous checkpoint stays)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)


def _distributed() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) when not distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1
