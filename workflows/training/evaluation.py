"""Scoring examples: what ``evaluate(example)`` returns and how a batch of them is run.

The job's ``evaluate(example)`` runs the program on one example and says how it
went (:class:`Evaluation`). :class:`Evaluator` runs it on many examples at once,
each in a copy of the caller's context (so an active budget and the meter's tags
apply), counts what each evaluation spent on LLM calls, and turns an error of the
program into a score of zero with the error as feedback, while an LLM that fails
or a budget that runs out stops the evaluation (no score can be given then).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from trace_engine.errors import ExecutionError
from trace_engine.llm.errors import LLMError
from trace_engine.llm.meter import BudgetExceeded, get_meter
from trace_engine.nodes import Node
from workflows.training.usage import add_usage, usage_totals


@dataclass
class Evaluation:
    """How one example went: a score in [0, 1] (higher is better) and feedback.

    ``output`` is the traced output node that receives ``feedback`` during
    training; without it the example counts for the score but teaches nothing.
    ``details`` is free-form data kept for reports (e.g. which tests failed).
    """

    score: float
    feedback: Any = ""
    output: Node | None = None
    details: dict[str, Any] = field(default_factory=dict)


def as_evaluation(value: Any, index: int) -> Evaluation:
    """``value`` as an :class:`Evaluation` (a bare number is a score without feedback)."""
    if isinstance(value, Evaluation):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Evaluation(score=float(value))
    raise TypeError(
        f"evaluate() must return an Evaluation or a number; for example {index} it returned "
        f"{type(value).__name__}: {value!r:.80}"
    )


@dataclass
class Scored:
    """The evaluations of a list of examples, in their order, and what they spent."""

    evaluations: list[Evaluation]
    usage: dict[str, Any]

    @property
    def scores(self) -> list[float]:
        return [e.score for e in self.evaluations]

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores)


class Evaluator:
    """Runs ``evaluate`` on examples, ``parallel`` at a time."""

    def __init__(self, evaluate: Callable[[Any], Evaluation | float], *, parallel: int = 1):
        self.evaluate = evaluate
        self.parallel = parallel

    def one(self, example: Any, index: int) -> tuple[Evaluation, dict[str, Any]]:
        """The evaluation of one example and what it spent."""
        with get_meter().tag("trainer.evaluate") as used:
            try:
                result = self.evaluate(example)
            except ExecutionError as exc:
                if isinstance(exc.exception, (LLMError, BudgetExceeded)):
                    # the model failed or the money ran out, not the program: no score to give
                    raise exc.exception from exc
                result = Evaluation(
                    score=0.0,
                    feedback=f"the program raised {exc}",
                    output=exc.exception_node,
                )
        return as_evaluation(result, index), used.as_dict()

    def many(self, examples: Sequence[Any]) -> Scored:
        """Every example evaluated; results in example order."""
        results = self._map(list(examples))
        usage = usage_totals()
        for _, used in results:
            add_usage(usage, used)
        return Scored([r for r, _ in results], usage)

    def _map(self, examples: list[Any]) -> list[tuple[Evaluation, dict[str, Any]]]:
        if self.parallel == 1 or len(examples) == 1:
            return [self.one(x, i) for i, x in enumerate(examples)]
        pool = ThreadPoolExecutor(max_workers=min(self.parallel, len(examples)))
        try:
            futures = [
                pool.submit(contextvars.copy_context().run, self.one, x, i)
                for i, x in enumerate(examples)
            ]
            return [f.result() for f in futures]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
