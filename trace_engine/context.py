"""Tracing switches.

The tracing mode lives in a ``ContextVar`` so it is per thread and per asyncio
task: ``no_trace()`` in one thread never stops another from tracing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trace_engine.bundle import BundleScope


@dataclass(frozen=True)
class Mode:
    """What operations on nodes do right now.

    ``tracing``: record edges. ``scope``: the bundle whose body is running, if any
    (inside a bundle nothing is traced and reads of outside nodes are checked).
    """

    tracing: bool = True
    scope: BundleScope | None = None


TRACING = Mode()
_mode: ContextVar[Mode] = ContextVar("trace_engine_mode", default=TRACING)


def current_mode() -> Mode:
    return _mode.get()


def is_tracing() -> bool:
    """True when operations on nodes record graph edges here and now."""
    mode = _mode.get()
    return mode.tracing and mode.scope is None


@contextmanager
def no_trace() -> Iterator[None]:
    """Run operations without building graph; re-entrant, restores the mode on exit."""
    token = _mode.set(Mode(tracing=False, scope=_mode.get().scope))
    try:
        yield
    finally:
        _mode.reset(token)


@contextmanager
def _enter(mode: Mode) -> Iterator[Any]:
    token = _mode.set(mode)
    try:
        yield mode
    finally:
        _mode.reset(token)
