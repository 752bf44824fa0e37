"""Micro-batching for `lstmkit serve`: concurrent predict requests for one model share one batched forward.

Requests wait in a short queue (at most `wait_ms`, or until `max_batch` requests are in it); one worker
thread per model then answers them together through `protocol.predict_many`, which splits the results back
per request. A request whose records the model refuses gets its own error; the others in its batch are
answered as if they had come alone.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Any

from lstmkit.deploy.records import predict_many

Records = list[dict[str, Any]]


class Batcher:
    """One model's request queue and the worker thread that drains it."""

    def __init__(self, model: Any, wait_ms: float = 2.0, max_batch: int = 64, max_records: int = 10_000) -> None:
        self.model, self.wait_s, self.max_batch, self.max_records = model, wait_ms / 1000, max_batch, max_records
        self._queue: queue.Queue[tuple[Records, Future] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="lstmkit-batcher", daemon=True)
        self._worker.start()
        self.batches = 0  # how many forwards answered how many requests: what batching bought
        self.requests = 0

    def predict(self, records: Records) -> Records:
        """Queue `records` and wait for their predictions (exceptions re-raised here, in the caller's thread)."""
        done: Future = Future()
        self._queue.put((records, done))
        return done.result()

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, size = [first], len(first[0])
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.max_batch and size < self.max_records:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    self._answer(batch)
                    return
                batch.append(item)
                size += len(item[0])
            self._answer(batch)

    def _answer(self, batch: list[tuple[Records, Future]]) -> None:
        self.batches += 1
        self.requests += len(batch)
        try:
            results = predict_many(self.model, [records for records, _ in batch])
        except Exception:  # one bad request must not fail the others: answer each alone
            results = None
        for i, (records, done) in enumerate(batch):
            if results is not None:
                done.set_result(results[i])
                continue
            try:
                done.set_result(self.model.predict_records(records))
            except Exception as err:  # handed to the waiting request's thread
                done.set_exception(err)
