"""What a call costs, in a unit that makes routing meaningful, and cost-of-pass.

Local models cost 0 USD, which would make every routing choice look free. A
:class:`CostModel` therefore prices calls in tokens by default (each backend
may weight prompt and completion tokens, e.g. chain-of-thought's long answers),
or in the backends' own USD prices, or in prices the user gives per backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from trace_engine.llm.base import Completion

UNITS = ("tokens", "usd")


class CostModel:
    """Cost of one call: ``prompt_tokens * p + completion_tokens * c`` per backend.

    ``prices`` maps a backend name to ``(p, c)``; backends not listed use
    ``default`` ((1, 1): plain token counts). With ``unit="usd"`` and no price for
    a backend, the USD cost reported by the LLM layer is used.
    """

    def __init__(
        self,
        prices: Mapping[str, tuple[float, float]] | None = None,
        *,
        default: tuple[float, float] = (1.0, 1.0),
        unit: str = "tokens",
    ):
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
        self.prices = {}
        for name, price in (prices or {}).items():
            self.prices[name] = _check_price(name, price)
        self.default = _check_price("default", default)
        self.unit = unit

    def of(self, backend: str, completion: Completion) -> float:
        """The cost of ``completion``, produced by the backend named ``backend``."""
        price = self.prices.get(backend)
        if price is None and self.unit == "usd":
            return float(completion.cost)
        p, c = price or self.default
        return completion.usage.prompt_tokens * p + completion.usage.completion_tokens * c

    def describe(self) -> str:
        return "USD" if self.unit == "usd" else "weighted tokens"


def _check_price(name: str, price: tuple[float, float]) -> tuple[float, float]:
    try:
        p, c = (float(v) for v in price)
    except (TypeError, ValueError):
        raise ValueError(
            f"price for {name!r} must be (prompt, completion), got {price!r}"
        ) from None
    if p < 0 or c < 0 or math.isnan(p) or math.isnan(c):
        raise ValueError(f"price for {name!r} must be non-negative numbers, got {price!r}")
    return p, c


def cost_of_pass(cost_per_attempt: float, success_rate: float) -> float:
    """Expected cost of one success: cost per attempt / success rate (``inf`` at 0)."""
    if not 0.0 <= success_rate <= 1.0:
        raise ValueError(f"success_rate must be in [0, 1], got {success_rate}")
    if cost_per_attempt < 0:
        raise ValueError(f"cost_per_attempt must be >= 0, got {cost_per_attempt}")
    if success_rate == 0.0:
        return math.inf
    return cost_per_attempt / success_rate


def cost_of_pass_from(costs: Sequence[float], successes: Sequence[bool]) -> float:
    """Cost-of-pass measured on attempts: mean cost / share of successes."""
    if len(costs) != len(successes) or not costs:
        raise ValueError("give one success flag per cost, and at least one attempt")
    return cost_of_pass(sum(costs) / len(costs), sum(map(bool, successes)) / len(successes))
