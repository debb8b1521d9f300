"""One run per directory: a lock file that a second process finds taken.

Two runs writing one checkpoint would overwrite each other's steps, so the
trainer (and the commands, before they touch a run directory) hold the lock of
``DIR/.trace-engine.lock`` for as long as they use ``DIR``. The lock is
re-entrant within a process: a command that holds it can start the trainer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trace_engine.errors import TraceEngineError

LOCK_FILE = ".trace-engine.lock"


class RunDirectoryBusy(TraceEngineError, RuntimeError):
    """Another process is running in this run directory."""


@contextmanager
def run_lock(directory: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of ``directory`` (made if missing) for the block, or raise
    :class:`RunDirectoryBusy` at once when another process holds it."""
    from filelock import FileLock, Timeout

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(directory / LOCK_FILE, timeout=0, is_singleton=True)
    try:
        lock.acquire()
    except Timeout:
        raise RunDirectoryBusy(
            f"{directory} is in use by another trace-engine run (it holds "
            f"{directory / LOCK_FILE}); wait for that run to finish or choose another directory"
        ) from None
    try:
        yield directory
    finally:
        lock.release()
