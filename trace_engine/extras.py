"""Optional dependencies: which extra of ``trace-engine`` brings which library.

The core install stays light; libraries only some features use come with an
extra (``pip install "trace-engine[EXTRA]"``). Code that needs one calls
:func:`require_extra` before the work starts, so a missing library is one line
naming the extra to install (the CLI prints it and exits 2) instead of a
traceback half-way through a run.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from trace_engine.errors import TraceEngineError


class MissingExtra(TraceEngineError, ImportError):
    """A library an optional feature needs is not installed; the message names the extra."""


def missing_extra_message(module: str, extra: str, purpose: str) -> str:
    """One line: what needs ``module`` and how to install it."""
    return (
        f"{purpose} needs the '{module.split('.')[0]}' module, which is not installed; "
        f'install it with: pip install "trace-engine[{extra}]"'
    )


def has_module(module: str) -> bool:
    """Whether ``module`` can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_extra(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(missing_extra_message(module, extra, purpose)) from exc


def check_extra(*modules: str, extra: str, purpose: str) -> None:
    """Raise :class:`MissingExtra` unless every module is installed (none is imported)."""
    for module in modules:
        if not has_module(module):
            raise MissingExtra(missing_extra_message(module, extra, purpose))
