"""The contract between an optimizer and the loop that drives it.

The Trainer (and anything else that runs optimization steps) depends on this
protocol, not on :class:`~optimizers.base.Optimizer`: every optimizer here
satisfies it, and so can a test's fake. A static type checker verifies a class
against it; ``isinstance(x, OptimizerProtocol)`` checks that the methods exist.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol, runtime_checkable

from trace_engine import ExecutionError, Node
from trace_engine.llm import Usage


@runtime_checkable
class StepOutcome(Protocol):
    """What a loop reads from one step (:class:`~optimizers.base.StepResult` is one)."""

    applied: Collection[str]
    """The names of the parameters the step changed (a name -> new value mapping is one)."""
    rejected: Mapping[str, str]
    reasoning: str
    usage: Usage
    cost: float
    calls: int
    error: str | None
    error_type: str | None

    @property
    def ok(self) -> bool: ...


@runtime_checkable
class OptimizerProtocol(Protocol):
    """Feedback in, one step, state out and back.

    ``backward`` always takes ``score`` (an optimizer that does not rank by score
    ignores it); ``step`` records the failures it expects in its result and lets
    ``BudgetExceeded``, ``KeyboardInterrupt`` and programming errors propagate.
    """

    def zero_feedback(self) -> None: ...

    def backward(
        self, output: Node | ExecutionError, feedback: Any, *, score: float | None = None
    ) -> None: ...

    def step(self) -> StepOutcome: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
