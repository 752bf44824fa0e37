"""Stateful sessions for `lstmkit serve`: a stream's model state kept between requests, persisted in SQLite.

A session belongs to one served model. Each observation carries a sequence number: `seq == last + 1` is
applied (one `step` of the inference protocol), `seq <= last` is a replay and is ignored (the answer is the
session's current one, so a client that lost a response can simply resend), `seq > last + 1` is a gap and is
refused. The new state, the new `seq` and the answer are written in one SQLite transaction before the answer
is sent, so a server killed at any moment (`kill -9`) restarts with every session exactly where its last
acknowledged observation left it. Updates of one session are serialised; different sessions run in parallel.
Idle sessions expire after `ttl_s`; at most `max_sessions` live at once.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstmkit.errors import UsageError

if TYPE_CHECKING:
    from lstmkit.deploy.protocol import ModelState

SCHEMA = """CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, model TEXT NOT NULL, seq INTEGER NOT NULL, state BLOB NOT NULL,
    outputs TEXT NOT NULL, created REAL NOT NULL, touched REAL NOT NULL)"""


class SessionError(UsageError):
    """A session request that cannot be served; `status` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Session:
    """One stream: its model, the last applied sequence number, the state after it and the answer it gave."""

    id: str
    model: str
    seq: int
    state: ModelState
    outputs: dict[str, Any]
    created: float
    touched: float
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def view(self, replayed: bool = False) -> dict[str, Any]:
        out = {"id": self.id, "model": self.model, "seq": self.seq, **self.outputs}
        return {**out, "replayed": True} if replayed else out


Step = Callable[["ModelState"], tuple[dict[str, Any], "ModelState"]]


class SessionStore:
    """Sessions in memory, written through to SQLite (`path`; ":memory:" keeps them for this process only)."""

    def __init__(
        self,
        path: str | Path = ":memory:",
        ttl_s: float = 3600.0,
        max_sessions: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.ttl_s, self.max_sessions, self.clock = ttl_s, max_sessions, clock
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses nothing committed
        self._db.execute(SCHEMA)
        self._db_lock = threading.Lock()  # one connection: statements one at a time
        self._live: dict[str, Session] = {}
        self._live_lock = threading.Lock()

    # ---- lifecycle

    def create(self, model: str, state: ModelState, step: Step | None = None) -> Session:
        """A new session of `model` from `state`; `step` (optional) folds the creation history into it."""
        self.expire()
        if self.count() >= self.max_sessions:
            raise SessionError(
                f"{self.max_sessions} sessions are live (the maximum): delete finished ones "
                "(DELETE /v1/sessions/ID) or start the server with a larger --max-sessions",
                429,
            )
        outputs: dict[str, Any] = {}
        if step is not None:
            outputs, state = step(state)
        now = self.clock()
        s = Session(secrets.token_urlsafe(12), model, 0, state, outputs, now, now)
        with self._db_lock:
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (s.id, model, 0, state.to_bytes(), json.dumps(outputs), now, now),
            )
        with self._live_lock:
            self._live[s.id] = s
        return s

    def get(self, sid: str) -> Session:
        """The live session `sid` (read back from SQLite after a restart); 404 if unknown or expired."""
        with self._live_lock:
            s = self._live.get(sid)
        if s is None:
            s = self._load(sid)
        if self.clock() - s.touched > self.ttl_s:
            self.delete(sid)
            raise SessionError(f"session {sid} expired (idle over {self.ttl_s:g} s); create a new one", 404)
        return s

    def observe(self, sid: str, seq: int, step: Step) -> dict[str, Any]:
        """Apply observation `seq` through `step` exactly once (see the module docstring)."""
        s = self.get(sid)
        with s.lock:
            if seq <= s.seq:
                return s.view(replayed=True)
            if seq != s.seq + 1:
                raise SessionError(
                    f"session {sid} is at seq {s.seq}; observation {seq} would skip "
                    f"{seq - s.seq - 1} (send seq {s.seq + 1} next)",
                    409,
                )
            outputs, state = step(s.state)
            now = self.clock()
            with self._db_lock:
                cur = self._db.execute(
                    "UPDATE sessions SET seq=?, state=?, outputs=?, touched=? WHERE id=? AND seq=?",
                    (seq, state.to_bytes(), json.dumps(outputs), now, sid, s.seq),
                )
            if cur.rowcount != 1:
                raise SessionError(f"session {sid} was deleted while observation {seq} was applied", 404)
            s.seq, s.state, s.outputs, s.touched = seq, state, outputs, now
            return s.view()

    def delete(self, sid: str) -> bool:
        with self._live_lock:
            self._live.pop(sid, None)
        with self._db_lock:
            return self._db.execute("DELETE FROM sessions WHERE id=?", (sid,)).rowcount == 1

    def expire(self) -> int:
        """Drop sessions idle longer than the TTL; returns how many."""
        cutoff = self.clock() - self.ttl_s
        with self._live_lock:
            for sid in [k for k, s in self._live.items() if s.touched < cutoff]:
                del self._live[sid]
        with self._db_lock:
            return self._db.execute("DELETE FROM sessions WHERE touched < ?", (cutoff,)).rowcount

    def count(self) -> int:
        with self._db_lock:
            return self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]

    def close(self) -> None:
        with self._db_lock:
            self._db.close()

    # ---- internals

    def _load(self, sid: str) -> Session:
        from lstmkit.deploy.protocol import ModelState

        with self._db_lock:
            row = self._db.execute(
                "SELECT id, model, seq, state, outputs, created, touched FROM sessions WHERE id=?", (sid,)
            ).fetchone()
        if row is None:
            raise SessionError(f"unknown session {sid!r} (never created, deleted or expired)", 404)
        s = Session(row[0], row[1], row[2], ModelState.from_bytes(row[3]), json.loads(row[4]), row[5], row[6])
        with self._live_lock:
            return self._live.setdefault(sid, s)
