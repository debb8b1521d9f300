"""A run's scratch directory: made before the run, removed after it without holding up
the caller.

Removing a directory can wait on the disk (on ext4 mounted with ``discard``, every
``rmdir`` waits a few milliseconds: about 10 ms for a run's four directories, a
sixth of a small check). Every process of the run is gone when its scratch is
removed, so a thread of the host removes it while the caller goes on. The thread
is not a daemon: a host that exits finishes removing first.

A host killed outright (SIGKILL, a crash) leaves its scratch directories behind.
Their names carry the host's process id, so the first run of a later host
removes those whose host is gone (:func:`sweep`, in a thread as well).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PREFIX = "trace-engine-sandbox-"
SUBDIRECTORIES = ("home", "tmp", "work")
MIN_AGE = 3600.0
"""Seconds a directory of a gone host is left alone: its removal may be under way, or
its host may run in another process namespace that shares this temporary directory."""
UNNAMED_AGE = 86400.0
"""Directories from before names carried a process id are removed after a day."""

_removals: list[threading.Thread] = []
_removals_lock = threading.Lock()
_swept = threading.Event()


def make() -> Path:
    """A fresh scratch directory (only this user can enter it) with its subdirectories."""
    if not _swept.is_set():
        _swept.set()
        _start(threading.Thread(target=sweep, name="trace-engine-sweep"), sweep)
    scratch = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
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
    _start(thread, lambda: remove(scratch))


def _start(thread: threading.Thread, instead: Callable[[], object]) -> None:
    """Start ``thread`` and keep it for :func:`wait_for_removals`; ``instead`` where no
    thread can start."""
    with _removals_lock:
        _removals[:] = [t for t in _removals if t.is_alive()]
        try:
            thread.start()
        except RuntimeError:  # no more threads, or the interpreter is shutting down
            instead()
            return
        _removals.append(thread)


def sweep(directory: str | os.PathLike | None = None) -> int:
    """Remove the scratch directories in ``directory`` (the temporary directory) that this
    user's hosts left when they died; return how many. A directory whose host still
    runs is kept, and so is any of another user."""
    root = Path(directory or tempfile.gettempdir())
    removed = 0
    try:
        with os.scandir(root) as listing:
            entries = [e for e in listing if e.name.startswith(PREFIX)]
    except OSError:
        return 0
    now = time.time()
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not entry.is_dir(follow_symlinks=False) or info.st_uid != os.getuid():
            continue
        host = _host_pid(entry.name)
        age = now - info.st_mtime
        if age < MIN_AGE or (age < UNNAMED_AGE if host is None else _running(host)):
            continue
        remove(Path(entry.path))
        removed += 1
    return removed


def _host_pid(name: str) -> int | None:
    head = name[len(PREFIX) :].split("-", 1)[0]
    return int(head) if head.isdigit() and "-" in name[len(PREFIX) :] else None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, as another user's process
        return True
    return True


def wait_for_removals() -> None:
    """Return once every removal started so far (:func:`remove_soon`, the sweep) is done."""
    with _removals_lock:
        pending = list(_removals)
    for thread in pending:
        thread.join()
