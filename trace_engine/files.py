"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The new file gets the permissions a plain ``open(path, "w")`` would give it: a
file replaced keeps its mode, a new one gets ``0o666`` less the umask.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def _mode_for(target: Path) -> int:
    """The permission bits ``target`` keeps, or those ``open()`` would give a new file."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask (read by setting a stricter one for an instant, never a looser one)."""
    current = os.umask(0o077)
    os.umask(current)
    return current


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, value: Any) -> Path:
    return atomic_write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def read_state_json(path: str | os.PathLike, fmt: str, what: str) -> dict[str, Any]:
    """The JSON object in ``path`` written with ``{"format": fmt, ...}``; anything else
    raises :class:`~trace_engine.errors.StateError` naming the file and ``what`` it
    should have been."""
    from trace_engine.errors import StateError

    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateError(f"{path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise StateError(f"{path} is not {what}: its JSON is nested too deeply") from None
    if not isinstance(saved, dict) or saved.get("format") != fmt:
        raise StateError(f"{path} is not {what}")
    return saved
