"""Errors raised by the core, each naming what went wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trace_engine.nodes import ExceptionNode


class TraceEngineError(Exception):
    """Base class of trace-engine's own errors."""


class ExecutionError(TraceEngineError):
    """A bundled function raised; ``exception_node`` carries it into the graph.

    Give feedback to ``exception_node`` (or ``optimizer.backward(err.exception_node, ...)``)
    so a failing run still teaches the optimizer something.
    """

    def __init__(self, exception_node: ExceptionNode):
        self.exception_node = exception_node
        exc = exception_node.exception
        where = f" at {exception_node.failed_line}" if exception_node.failed_line else ""
        super().__init__(f"{exception_node.op_name} raised {type(exc).__name__}: {exc}{where}")

    @property
    def exception(self) -> BaseException:
        return self.exception_node.exception


class InvalidUpdate(TraceEngineError, ValueError):
    """A proposed parameter value was refused; the parameter keeps its old value."""


class InvalidCodeError(InvalidUpdate):
    """New code for a code parameter does not parse, renames the function or changes its signature."""


class ExternalDependencyError(TraceEngineError):
    """A bundle read a node it was not given as an input."""


class GraphError(TraceEngineError):
    """A graph operation was asked of nodes that cannot support it."""


class StateError(TraceEngineError, ValueError):
    """A saved state does not fit the module or optimizer it is loaded into."""
