"""Numeric fitting: trainable numbers improved from score feedback.

A polynomial's coefficients are one trainable list. Each example is a point
``(x, y)`` of a hidden function; the traced ``predict`` operation computes the
polynomial at ``x``, and the feedback says how far off the prediction is and
in which direction. This is the paper's "first-order numerical optimization"
setting: the optimizer sees values and signed errors, not gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from trace_engine.bundle import bundle
from trace_engine.constraints import Check
from trace_engine.modules import Module
from trace_engine.nodes import node
from workflows.datasets import Example
from workflows.trainer import Evaluation

EXACT = 1e-9
"""Errors below this count as none (floating-point noise)."""


def _is_coefficients(length: int):
    def check(value: Any) -> bool:
        return (
            isinstance(value, (list, tuple))
            and len(value) == length
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        )

    return check


def polynomial(coefficients: Sequence[float], x: float) -> float:
    """c[0] + c[1]*x + c[2]*x**2 + ... at x."""
    return float(sum(c * x**i for i, c in enumerate(coefficients)))


@bundle()
def predict(coefficients: list, x: float) -> float:
    """The polynomial c[0] + c[1]*x + c[2]*x**2 + ... at x."""
    return polynomial(coefficients, x)


class PolynomialFit(Module):
    """A polynomial of ``degree`` with trainable coefficients (lowest power first)."""

    def __init__(self, degree: int = 2, start: list[float] | None = None):
        if degree < 0:
            raise ValueError(f"degree must be >= 0, got {degree}")
        values = [float(v) for v in start] if start is not None else [0.0] * (degree + 1)
        if len(values) != degree + 1:
            raise ValueError(f"start needs {degree + 1} coefficients, got {len(values)}")
        self.coefficients = node(
            values,
            trainable=True,
            name="coefficients",
            description=(
                f"The {degree + 1} coefficients of a polynomial, lowest power first: "
                "y = c[0] + c[1]*x + c[2]*x**2 + ..."
            ),
            constraint=Check(
                _is_coefficients(degree + 1), f"a list of exactly {degree + 1} numbers"
            ),
        )

    def forward(self, x: float) -> Any:
        return predict(self.coefficients, x)

    def evaluate(self, example: Example) -> Evaluation:
        """Score ``1 / (1 + |error|)``; feedback names the signed error at this point."""
        out = self.forward(example.input)
        error = out.data - example.target
        if abs(error) < EXACT:
            error = 0.0
            feedback = f"at x={example.input} the prediction {out.data:.4g} is exact"
        else:
            direction = "too high" if error > 0 else "too low"
            feedback = (
                f"at x={example.input} the prediction {out.data:.4g} is {direction} by "
                f"{abs(error):.4g} (target {example.target:.4g})"
            )
        return Evaluation(
            score=1.0 / (1.0 + abs(error)),
            feedback=feedback,
            output=out,
            details={"x": example.input, "prediction": out.data, "target": example.target},
        )

    def score_candidates(self, examples: list[Example]) -> Callable[[Mapping[str, Any]], float]:
        """A candidate scorer for ``OptoPrimeMulti(score=...)``: minus the mean absolute
        error that candidate coefficients make on ``examples`` (higher is better)."""
        name = self.coefficients.name

        def score(values: Mapping[str, Any]) -> float:
            errors = (abs(polynomial(values[name], e.input) - e.target) for e in examples)
            return -sum(errors) / len(examples)

        return score

    def mean_absolute_error(self, examples: list[Example]) -> float:
        from trace_engine.context import no_trace

        with no_trace():
            return sum(abs(self.forward(e.input).data - e.target) for e in examples) / len(examples)
