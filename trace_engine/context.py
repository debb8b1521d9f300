"""Tracing switches.

The tracing mode lives in a ``ContextVar`` so it is per thread and per asyncio
task: ``no_trace()`` in one thread never stops another from tracing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trace_engine.bundle import BundleScope


class Mode:
    """What operations on nodes do right now (never changed once made).

    ``tracing``: record edges. ``scope``: the bundle whose body is running, if any
    (inside a bundle nothing is traced and reads of outside nodes are checked).
    A plain slotted class: one is made per bundled call.
    """

    __slots__ = ("tracing", "scope")

    def __init__(self, tracing: bool = True, scope: BundleScope | None = None):
        self.tracing = tracing
        self.scope = scope


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
