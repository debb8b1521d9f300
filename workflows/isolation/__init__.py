"""The one sandbox runner for code trace-engine did not write (code repair, the demo,
code sessions): :func:`run_isolated` runs a job module under :class:`Limits` and
returns what the host observed (:class:`Outcome`).

The names below are loaded on first use, so that a job running inside the sandbox
(which imports ``channel`` or ``candidate`` from this package) does not pay for the
host's side.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "BUBBLEWRAP": "levels",
    "RLIMIT": "levels",
    "IsolationError": "levels",
    "available_level": "levels",
    "bubblewrap_works": "levels",
    "describe": "levels",
    "Limits": "limits",
    "Job": "runner",
    "Outcome": "runner",
    "run_isolated": "runner",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
