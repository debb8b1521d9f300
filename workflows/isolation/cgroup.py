"""A pids cgroup for one run, where the machine lets us make one.

RLIMIT_NPROC does not bind root, and counts all of a user's processes; a cgroup's
``pids.max`` counts exactly the run's processes, for any user, and its member
list lets the host kill every one of them, wherever they moved. Used where the
cgroup v1 ``pids`` hierarchy is writable (typically as root); elsewhere runs
rely on the rlimits and the supervisor alone.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

V1_PIDS = Path("/sys/fs/cgroup/pids")


STALE_S = 60.0
"""An empty run cgroup older than this was left by a host that was killed (a starting
run enters its cgroup within milliseconds), so the next run deletes it."""


def _remove_stale() -> None:
    now = time.time()
    for path in V1_PIDS.glob("trace-engine-*"):
        try:
            if now - path.stat().st_mtime > STALE_S and not (path / "cgroup.procs").read_text():
                path.rmdir()
        except OSError:
            continue


class PidsCgroup:
    """A fresh cgroup limiting a run to ``max_pids`` processes."""

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def create(cls, max_pids: int) -> PidsCgroup | None:
        """A new cgroup, or None where none can be made here."""
        if not os.access(V1_PIDS, os.W_OK):
            return None
        _remove_stale()
        path = V1_PIDS / f"trace-engine-{uuid.uuid4().hex}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(max_pids))
        except OSError:
            cls(path).remove()
            return None
        return cls(path)

    def entry(self) -> int:
        """A descriptor of this cgroup's task list, for the run's supervisor: writing ``0``
        to it moves the writing thread in (the supervisor has one), and every process it
        starts after that is born in the cgroup. The caller closes it.

        Moving the current thread by ``tasks`` is immediate; moving a process by
        ``cgroup.procs`` waits for the kernel (an RCU grace period, often 10-20 ms)."""
        return os.open(self.path / "tasks", os.O_WRONLY | os.O_CLOEXEC)

    def members(self) -> list[int]:
        try:
            text = (self.path / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(x) for x in text.split()]

    def kill_all(self, rounds: int = 50) -> None:
        """SIGKILL every member, until none is left (or ``rounds`` passes)."""
        for _ in range(rounds):
            members = self.members()
            if not members:
                return
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def remove(self, wait_s: float = 2.0) -> None:
        """Kill what is left and delete the cgroup; processes that were just killed can
        take a few milliseconds to leave it, so this retries for up to ``wait_s``."""
        deadline = time.monotonic() + wait_s
        while True:
            self.kill_all()
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.005)
