"""A run's scratch directory: made before the run, removed after it without holding up
the caller.

Removing a directory can wait on the disk (on ext4 mounted with ``discard``, every
``rmdir`` waits a few milliseconds: about 10 ms for a run's four directories, a
sixth of a small check). Every process of the run is gone when its scratch is
removed, so a thread of the host removes it while the caller goes on. The thread
is not a daemon: a host that exits finishes removing first.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

PREFIX = "trace-engine-sandbox-"
SUBDIRECTORIES = ("home", "tmp", "work")

_removals: list[threading.Thread] = []
_removals_lock = threading.Lock()


def make() -> Path:
    """A fresh scratch directory (only this user can enter it) with its subdirectories."""
    scratch = Path(tempfile.mkdtemp(prefix=PREFIX))
    for sub in SUBDIRECTORIES:
        (scratch / sub).mkdir()
    return scratch


def remove(scratch: Path) -> None:
    """Remove ``scratch`` and everything in it, even what the job made read-only."""

    def writable_then_retry(function: Any, path: str, _exc: Any) -> None:
        try:
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            function(path)
        except OSError:
            pass

    shutil.rmtree(scratch, onerror=writable_then_retry)


def remove_soon(scratch: Path) -> None:
    """Remove ``scratch`` in a thread of its own (at once, where no thread can start)."""
    thread = threading.Thread(target=remove, args=(scratch,), name="trace-engine-scratch")
    with _removals_lock:
        _removals[:] = [t for t in _removals if t.is_alive()]
        try:
            thread.start()
        except RuntimeError:  # no more threads, or the interpreter is shutting down
            remove(scratch)
            return
        _removals.append(thread)


def wait_for_removals() -> None:
    """Return once every directory given to :func:`remove_soon` so far is removed."""
    with _removals_lock:
        pending = list(_removals)
    for thread in pending:
        thread.join()
