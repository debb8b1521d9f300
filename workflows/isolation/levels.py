"""Which isolation a run gets: bubblewrap where it works, resource limits elsewhere.

``bubblewrap`` (the ``bwrap`` program, Debian package ``bubblewrap``): the
job sees the file system read-only except its scratch directory, with the
user's home, the project checkout and /run hidden (``hidden.py``), a private
/tmp, no network (its own empty network namespace), its own process
namespace (nothing outside is visible, everything inside dies with the run),
and no capabilities. ``rlimit``: the job runs as the user, limited in time,
memory, file size and processes, in a scratch working directory, but able to
read and write what the user can (their secrets too), to read the environment of
the user's other processes (API keys) and to use the network.
Where the kernel has Landlock, the rlimit level also keeps the job from the
user's files, other processes and (ABI 4 and later) TCP (``landlock.py``).
``TRACE_ENGINE_ISOLATION=rlimit`` forces the weaker level (for comparison, or
where bwrap is installed but cannot create namespaces).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

from trace_engine.errors import TraceEngineError
from workflows.isolation import hidden, landlock

BUBBLEWRAP = "bubblewrap"
RLIMIT = "rlimit"
ENV_VAR = "TRACE_ENGINE_ISOLATION"

DESCRIPTIONS = {
    BUBBLEWRAP: "bubblewrap (read-only file system except a scratch directory, the user's home "
    "and project hidden, private /tmp, no network, own process namespace)",
    RLIMIT: "rlimit (time, memory, file-size and process limits and a scratch directory only: "
    "the code can read and write the user's files, read other processes' environments "
    "(API keys) and use the network; install bubblewrap to contain it)",
}
RLIMIT_WITH_LANDLOCK = (
    "rlimit with Landlock (time, memory, file-size and process limits; writes only to a "
    "scratch directory; the user's home, project and /tmp unreadable; cannot inspect "
    "other processes{more}; no capabilities)"
)
LANDLOCK_MORE = {4: ", no TCP connections", 6: ", no TCP connections, cannot signal them"}


class IsolationError(TraceEngineError, RuntimeError):
    """The requested isolation level cannot be provided here."""


def _bwrap_options() -> list[str]:
    """The sandbox's namespaces and mounts. The command runs as the process namespace's
    init (``--as-pid-1``, no reaper of bwrap's in between): no process inside can kill
    it, and every process inside dies when it exits."""
    return [
        "--die-with-parent",
        "--new-session",
        "--unshare-all",
        "--as-pid-1",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
    ]


@functools.lru_cache(maxsize=1)
def _bwrap_works() -> str | None:
    """The bwrap path when it is installed and can build a sandbox here, else None."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        probe = subprocess.run(
            [path, *_bwrap_options(), "true"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if probe.returncode == 0 else None


def bubblewrap_works() -> bool:
    """bwrap is installed and can build a sandbox on this machine."""
    return _bwrap_works() is not None


def available_level() -> str:
    """The strongest level this machine provides (honouring ``TRACE_ENGINE_ISOLATION``)."""
    wanted = os.environ.get(ENV_VAR, "").strip().lower()
    if wanted not in ("", BUBBLEWRAP, RLIMIT):
        raise IsolationError(
            f"{ENV_VAR}={wanted!r} is not a level; use {BUBBLEWRAP!r} or {RLIMIT!r} (or unset it)"
        )
    if wanted == RLIMIT:
        return RLIMIT
    if bubblewrap_works():
        return BUBBLEWRAP
    if wanted == BUBBLEWRAP:
        raise IsolationError(
            f"{ENV_VAR}=bubblewrap but bwrap is not installed or cannot create namespaces here; "
            "install the bubblewrap package or unset the variable"
        )
    return RLIMIT


def describe(level: str) -> str:
    """One line saying what ``level`` protects against, for reports and ``--help``."""
    if level == RLIMIT:
        version = landlock.abi()
        if version:
            more = LANDLOCK_MORE[6 if version >= 6 else 4] if version >= 4 else ""
            return RLIMIT_WITH_LANDLOCK.format(more=more)
    return DESCRIPTIONS[level]


def command_prefix(level: str, scratch: str, visible: list[str]) -> list[str]:
    """The argv prefix that runs a command at ``level`` with ``scratch`` writable and the
    ``visible`` paths readable (they may lie under the private /tmp)."""
    if level == RLIMIT:
        return []
    path = _bwrap_works()
    if path is None:
        raise IsolationError("bubblewrap is not available here")
    return [path, *_bwrap_options(), *hidden.bubblewrap_arguments(visible, scratch), "--"]
