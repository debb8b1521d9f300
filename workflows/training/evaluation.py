"""Scoring examples: what ``evaluate(example)`` returns and how a batch of them is run.

The job's ``evaluate(example)`` runs the program on one example and says how it
went (:class:`Evaluation`). :class:`Evaluator` runs it on many examples through an
executor (:mod:`trace_engine.executors`: threads here, or tasks on a Ray cluster),
each call in a copy of the caller's context (so an active budget and the meter's
tags apply); it counts what each evaluation spent on LLM calls, and turns an
error of the program into a score of zero with the error as feedback, while an
LLM that fails or a budget that runs out stops the evaluation (no score can be
given then). The trained parameters are handed to the executor, so that outputs
computed on a Ray worker come back linked to the caller's parameters and their
feedback reaches them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from trace_engine.errors import ExecutionError
from trace_engine.executors import Executor, as_executor
from trace_engine.llm.errors import LLMError
from trace_engine.llm.meter import BudgetExceeded, get_meter
from trace_engine.nodes import Node, Parameter
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


Evaluate = Callable[[Any], "Evaluation | float"]


def evaluate_one(evaluate: Evaluate, item: tuple[int, Any]) -> tuple[Evaluation, dict[str, Any]]:
    """The evaluation of example ``item = (index, example)`` and what it spent."""
    index, example = item
    with get_meter().tag("trainer.evaluate") as used:
        try:
            result = evaluate(example)
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


class Evaluator:
    """Runs ``evaluate`` on examples through ``executor`` (default: ``parallel`` threads);
    ``parameters``: the trained parameters the calls read (see the module docstring)."""

    def __init__(
        self,
        evaluate: Evaluate,
        *,
        parallel: int = 1,
        executor: Executor | None = None,
        parameters: Sequence[Parameter] = (),
    ):
        self.evaluate = evaluate
        self.executor = as_executor(executor, workers=parallel)
        self.parameters = list(parameters)

    def many(self, examples: Sequence[Any]) -> Scored:
        """Every example evaluated; results in example order."""
        results = self.executor.map(
            partial(evaluate_one, self.evaluate),
            list(enumerate(examples)),
            parameters=self.parameters,
        )
        usage = usage_totals()
        for _, used in results:
            add_usage(usage, used)
        return Scored([r for r, _ in results], usage)
