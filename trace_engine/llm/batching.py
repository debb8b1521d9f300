"""Gather concurrent requests into batches for one worker (used by the GPU backend).

Callers in many threads :meth:`Batcher.submit` a request with a group key;
requests that share a key (same generation settings) and arrive within a short
window are run together by one ``run_batch(key, requests) -> results`` call on a
single worker thread, which is what keeps a GPU busy with a full batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Pending:
    key: Hashable
    request: Any
    future: Future = field(default_factory=Future)


class Batcher:
    """Runs ``run_batch`` on batches of up to ``max_batch`` same-key requests.

    The worker waits at most ``window`` seconds after the first request of a
    batch for others to join it.
    """

    def __init__(
        self,
        run_batch: Callable[[Hashable, list[Any]], list[Any]],
        max_batch: int = 8,
        window: float = 0.01,
    ):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.window = window
        self._pending: list[_Pending] = []
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self.batch_sizes: list[int] = []

    def submit(self, key: Hashable, requests: list[Any]) -> list[Any]:
        """Queue ``requests`` and block until all their results (or a batch's exception)."""
        items = [_Pending(key, r) for r in requests]
        with self._cond:
            self._pending.extend(items)
            if self._worker is None:
                self._worker = threading.Thread(target=self._loop, name="llm-batcher", daemon=True)
                self._worker.start()
            self._cond.notify_all()
        return [item.future.result() for item in items]

    def _take(self) -> list[_Pending]:
        with self._cond:
            while not self._pending:
                self._cond.wait()
            key = self._pending[0].key
            deadline = time.monotonic() + self.window
            while sum(p.key == key for p in self._pending) < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch = [p for p in self._pending if p.key == key][: self.max_batch]
            self._pending = [p for p in self._pending if p not in batch]
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            self.batch_sizes.append(len(batch))
            try:
                results = self.run_batch(batch[0].key, [p.request for p in batch])
                if len(results) != len(batch):
                    raise RuntimeError(
                        f"run_batch returned {len(results)} results for {len(batch)} requests"
                    )
            except BaseException as exc:
                for p in batch:
                    p.future.set_exception(exc)
                continue
            for p, result in zip(batch, results):
                p.future.set_result(result)
