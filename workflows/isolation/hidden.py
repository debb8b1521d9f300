"""What a bubblewrap sandbox must not show of the user's files, and what it must still show.

The sandbox's root is the host's, read-only, so without more a candidate could
read the user's secrets (``~/.ssh``, ``~/.aws/credentials``, ``~/.netrc``, a
project's ``.env``) and return them as output, which becomes feedback sent to
the LLM provider. Homes (``$HOME``, ``/root``, ``/home``), ``/run`` (whose
sockets, such as an ssh agent's or docker's, can be connected to even on a
read-only mount), the shadow password files, the project checkout and the
directory the host was started in (a user's project and its ``.env``) are
covered with empty file systems; then exactly what a job needs is shown again,
read-only: the interpreter and its prefixes, its site-packages and the other
directories on the host's import path, the project's packages, and the paths a
job names. A job that needs a file elsewhere under a home must name it.
"""

from __future__ import annotations

import functools
import os
import site
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-")
SYSTEM_DIRECTORIES = ("/usr", "/etc", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/boot", "/var")
"""The host's directory is not hidden when it lies in one of these (the system needs them)."""
PREFIX_PARTS = ("bin", "lib", "lib64", "include", "pyvenv.cfg")
"""What of an interpreter prefix is shown when the prefix is a hidden directory itself
(a Python installed straight into ``$HOME``, say)."""


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.fspath(path))


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _prefixes() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return sorted({_real(p) for p in paths if p})


def _homes(home: str) -> list[str]:
    """Directories no job is shown whole: the homes, and /run's sockets."""
    return _existing([home, "/root", "/home", "/run"])


def _existing(paths: list[str]) -> list[str]:
    found = []
    for path in paths:
        real = _real(path) if path else ""
        if real not in ("", "/") and os.path.isdir(real) and real not in found:
            found.append(real)
    return found


def _covered_directories(home: str) -> list[str]:
    """Directories replaced by an empty file system inside the sandbox."""
    found = _homes(home)
    project = _real(PROJECT_ROOT)
    if not any(_under(project, prefix) for prefix in _prefixes()):
        found.append(project)  # a checkout, not an installed copy
    here = _host_directory()
    if (
        here.count("/") > 1
        and not any(_under(here, system) for system in SYSTEM_DIRECTORIES)
        and not _under(_real(sys.base_prefix), here)
        and not _under(_real(sys.executable), here)
    ):
        found.append(here)  # where the user started trace-engine: their project, its .env
    found = _existing(found)
    return [p for p in found if not any(p != q and _under(p, q) for q in found)]


def _host_directory() -> str:
    try:
        return _real(os.getcwd())
    except OSError:
        return ""


def _installed_paths() -> list[str]:
    """Directories on the host's import path that installed packages put there (``.pth``
    files), not the directory the host was started from nor its ``PYTHONPATH``."""
    own = {_real(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    own.add(_host_directory())
    return [p for p in sys.path if p and os.path.isdir(p) and _real(p) not in own]


def _needed() -> list[str]:
    """What every job needs to start Python and import the project (whose directories
    are shown, not its top-level files nor its hidden directories such as ``.git``)."""
    needed = [_real(sys.executable), os.path.dirname(_real(sys.executable))]
    needed += [os.path.abspath(sys.executable)]
    needed += _prefixes()
    needed += [_real(p) for p in site.getsitepackages()]
    needed += [_real(p) for p in _installed_paths()]
    project = _real(PROJECT_ROOT)
    needed += [
        str(child)
        for child in Path(project).iterdir()
        if child.is_dir() and not child.name.startswith(".")
    ]
    return needed


def _expand(path: str, covered: list[str]) -> list[str]:
    """``path``, or the parts of it a job needs when showing it whole would undo hiding
    a covered directory (it is one, or holds one)."""
    if not any(_under(hidden, path) for hidden in covered):
        return [path]
    if path in _prefixes():
        return [os.path.join(path, part) for part in PREFIX_PARTS]
    return []


@functools.lru_cache(maxsize=4)
def _plan(home: str, here: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    covered = _covered_directories(home)
    shown = []
    for path in _needed():
        for part in _expand(path, covered):
            if any(_under(part, hidden) for hidden in covered) and part not in shown:
                shown.append(part)
    return tuple(covered), tuple(shown)


def bubblewrap_arguments(visible: list[str], writable: str) -> list[str]:
    """bwrap options that hide the user's files, then show what the job needs and the
    ``visible`` paths read-only and ``writable`` (its scratch directory) writable; the
    empty file systems that hide are read-only too."""
    covered, shown = _plan(os.environ.get("HOME", ""), _host_directory())
    arguments = [arg for path in covered for arg in ("--tmpfs", path)]
    arguments += [
        arg
        for path in SECRET_FILES
        if os.path.exists(path)
        for arg in ("--ro-bind", "/dev/null", path)
    ]
    wanted = list(shown)
    homes = _homes(os.environ.get("HOME", ""))
    project = _real(PROJECT_ROOT)
    for path in visible:
        path = _real(path)
        if os.path.exists(path) and path != project:  # its packages are shown already
            wanted += [p for p in _expand(path, homes) if p not in wanted]
    bound: list[str] = []
    for path in sorted(wanted, key=lambda p: p.count("/")):
        if os.path.lexists(path) and not any(_under(path, done) for done in bound):
            bound.append(path)
            arguments += ["--ro-bind", path, path]
    arguments += ["--bind", writable, writable]
    arguments += [arg for path in covered for arg in ("--remount-ro", path)]
    return arguments


LANDLOCK_HIDDEN = ("/tmp", "/var/tmp", "/dev", *SECRET_FILES)
"""Hidden from a Landlock-restricted job as well: other processes' temporary files (the
job's scratch directory is allowed by name), devices (a few are allowed by name, see
``landlock.py``) and the shadow files."""


def _readable_around(hidden: list[str]) -> list[str]:
    """The fewest paths that together hold everything but ``hidden``: every entry of a
    directory on the way to a hidden path, except the hidden path itself."""
    found: list[str] = []

    def visit(directory: str) -> None:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return
        for name in names:
            path = os.path.join(directory, name)
            if path in hidden:
                continue
            if any(_under(h, path) for h in hidden) and not os.path.islink(path):
                visit(path)
            else:
                found.append(path)

    visit("/")
    return found


@functools.lru_cache(maxsize=4)
def _landlock_plan(home: str, here: str) -> tuple[str, ...]:
    covered, shown = _plan(home, here)
    hidden = [*covered, *(_real(p) for p in LANDLOCK_HIDDEN if os.path.lexists(p))]
    return (*_readable_around(hidden), *shown)


def landlock_rules(visible: list[str], writable: str) -> dict[str, list[str]]:
    """What a Landlock-restricted job may read (``read``) and write (``write``): as at the
    bubblewrap level, everything but the homes, /run, the project checkout and the
    host's directory, plus what the job needs of those and the ``visible`` paths; and
    neither /tmp nor devices, except ``writable`` (its scratch directory). The project
    checkout may be listed (``list``: names, for imports), not read."""
    home, here = os.environ.get("HOME", ""), _host_directory()
    readable = list(_landlock_plan(home, here))
    homes = _homes(home)
    project = _real(PROJECT_ROOT)
    for path in visible:
        path = _real(path)
        if os.path.exists(path) and path != project:
            readable += _expand(path, homes)
    return {"read": readable, "write": [_real(writable)], "list": [project]}
