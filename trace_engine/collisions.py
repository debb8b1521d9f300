"""Is ``agents`` / ``workflows`` on ``sys.path`` really trace-engine's?

Both are common top-level names: ``openai-agents`` ships an ``agents`` package
and ``llama-index-workflows`` a ``workflows`` package. pip installs two
distributions into one folder without a warning, each overwriting the other's
files, and a project folder named ``workflows/`` next to a script shadows ours.
trace-engine's own ``__init__.py`` files carry :data:`MARKER`; a package of that
name without it is someone else's. Finding it is cheap (no import, one small
file read); naming the other distribution is done only when there is a problem.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from trace_engine.errors import TraceEngineError

OWN_PACKAGES = ("agents", "workflows")
MARKER = "__trace_engine_package__ = True"
KNOWN_OTHERS = {"agents": ("openai-agents",), "workflows": ("llama-index-workflows",)}
FIX = (
    "trace-engine cannot share one environment with it: install trace-engine in a separate "
    "virtual environment (python3 -m venv .venv && .venv/bin/pip install trace-engine)"
)


class PackageCollision(TraceEngineError, ImportError):
    """A top-level package of trace-engine's is shadowed or overwritten by another."""


def collision(name: str) -> str | None:
    """One line saying what is wrong with ``name`` on ``sys.path`` and the fix, or ``None``."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return f"trace-engine's '{name}' package is missing; reinstall trace-engine"
    origin = Path(spec.origin) if spec.origin and spec.origin != "namespace" else None
    if origin is None or origin.name != "__init__.py":
        where = ", ".join(spec.submodule_search_locations or []) or spec.origin
        return (
            f"'{name}' at {where} has no __init__.py (another distribution's uninstall removed "
            f"trace-engine's, or a folder named '{name}' shadows it); {FIX}"
        )
    try:
        ours = MARKER in origin.read_text(encoding="utf-8", errors="replace")
    except OSError:
        ours = False
    if ours:
        return None
    return f"'{name}' at {origin.parent} is not trace-engine's ({_owner(name)}); {FIX}"


def _owner(name: str) -> str:
    """Who put the other package there, as well as can be told cheaply."""
    import importlib.metadata

    for dist in KNOWN_OTHERS.get(name, ()):
        try:
            importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        return f"{dist}, installed here too, put its own '{name}' package there"
    return "another distribution's, or a folder of that name earlier on sys.path"


def check_packages(*names: str) -> None:
    """Raise :class:`PackageCollision` (one line, with the fix) for the first foreign package."""
    for name in names or OWN_PACKAGES:
        problem = collision(name)
        if problem is not None:
            raise PackageCollision(problem)


def running_the_cli() -> bool:
    """Whether this process is the ``trace-engine`` command (its console script)."""
    main = sys.modules.get("__main__")
    return os.path.basename(getattr(main, "__file__", "") or "").startswith("trace-engine")
