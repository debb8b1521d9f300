"""Routing policies: which backend(s) answer a request, in which order.

A policy's :meth:`~RoutingPolicy.route` returns a :class:`Route`: the backends to
try in order. The router stops at the first answer the policy ``accept``s (only
cascades check answers), so a one-element route is a plain choice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from agents.router.cost import cost_of_pass
from agents.router.predictor import SuccessPredictor

Check = Callable[[str, str], bool]
"""``(request text, answer text) -> good enough?``"""


@dataclass
class Route:
    """Backends to try in order; ``note`` records a fallback or the reason for the choice."""

    order: list[str]
    note: str = ""


class RoutingPolicy:
    """Base policy. ``backends()`` names every backend it may choose, for validation."""

    def route(self, request: str) -> Route:
        raise NotImplementedError

    def accept(self, request: str, backend: str, answer: str) -> bool:
        return True

    def backends(self) -> set[str]:
        raise NotImplementedError


class FixedPolicy(RoutingPolicy):
    """Always the same backend."""

    def __init__(self, backend: str):
        self.backend = backend

    def route(self, request: str) -> Route:
        return Route([self.backend])

    def backends(self) -> set[str]:
        return {self.backend}


class ThresholdPolicy(RoutingPolicy):
    """Cheap backend when the predicted chance it succeeds is at least ``threshold``."""

    def __init__(
        self, predictor: SuccessPredictor, cheap: str, strong: str, threshold: float = 0.5
    ):
        self.predictor = predictor
        self.cheap = cheap
        self.strong = strong
        self.threshold = threshold

    def route(self, request: str) -> Route:
        p = self.predictor.predict_one(request)[self.cheap]
        return Route([self.cheap if p >= self.threshold else self.strong], f"P(cheap ok)={p:.2f}")

    def backends(self) -> set[str]:
        return {self.cheap, self.strong}

    def calibrate(self, requests: Sequence[str], strong_share: float) -> float:
        """Set the threshold so about ``strong_share`` of ``requests`` go to the strong backend.

        Exact when the predicted probabilities are distinct; ties move together.
        """
        if not 0.0 <= strong_share <= 1.0:
            raise ValueError(f"strong_share must be in [0, 1], got {strong_share}")
        if not requests:
            raise ValueError("calibration needs at least one request")
        scores = np.sort([p[self.cheap] for p in self.predictor.predict(list(requests))])
        m = int(round(strong_share * len(scores)))
        self.threshold = float(scores[m]) if m < len(scores) else math.nextafter(scores[-1], 2.0)
        return self.threshold


class CascadePolicy(RoutingPolicy):
    """Try backends cheapest first; escalate while ``check`` rejects the answer."""

    def __init__(self, order: Sequence[str], check: Check):
        if len(order) < 2:
            raise ValueError("a cascade needs at least two backends to escalate between")
        self.order = list(order)
        self.check = check

    def route(self, request: str) -> Route:
        return Route(list(self.order))

    def accept(self, request: str, backend: str, answer: str) -> bool:
        return bool(self.check(request, answer))

    def backends(self) -> set[str]:
        return set(self.order)


class CostOfPassPolicy(RoutingPolicy):
    """Per request, the lowest expected ``cost / p`` among backends predicted to meet
    ``quality_floor``.

    This optimizes each request's own expected cost-of-pass, not the run's (total
    cost / total successes: see :func:`agents.router.fit_min_cost_of_pass`), and
    can pay far more for hard requests than they return. A request whose
    predicted chance is below ``hopeless`` on every backend goes to the cheapest.
    Expected cost per attempt comes from ``costs`` or else from the predictor's
    logged mean cost. When no backend is predicted to reach the floor, the one
    most likely to succeed is used and the route's note says so.
    """

    objective = "minimum expected cost-of-pass of each request on its own"

    def __init__(
        self,
        predictor: SuccessPredictor,
        *,
        quality_floor: float = 0.0,
        costs: Mapping[str, float] | None = None,
        candidates: Sequence[str] | None = None,
        hopeless: float = 0.05,
    ):
        if not 0.0 <= quality_floor <= 1.0:
            raise ValueError(f"quality_floor must be in [0, 1], got {quality_floor}")
        self.predictor = predictor
        self.quality_floor = quality_floor
        self.hopeless = hopeless
        self.costs = dict(costs) if costs is not None else dict(predictor.mean_cost)
        self.candidates = list(candidates) if candidates is not None else list(self.costs)
        missing = [c for c in self.candidates if c not in self.costs]
        if missing:
            raise ValueError(f"no expected cost for backend(s) {missing}")

    def route(self, request: str) -> Route:
        p = self.predictor.predict_one(request)
        if max(p.get(n, 0.0) for n in self.candidates) < self.hopeless:
            cheapest = min(self.candidates, key=lambda n: self.costs[n])
            return Route([cheapest], "predicted to fail everywhere: the cheapest backend")
        scored = {
            name: cost_of_pass(self.costs[name], min(1.0, max(0.0, p.get(name, 0.0))))
            for name in self.candidates
        }
        eligible = [n for n in self.candidates if p.get(n, 0.0) >= self.quality_floor]
        if not eligible:
            best = max(self.candidates, key=lambda n: p.get(n, 0.0))
            return Route(
                [best],
                f"fallback: no backend predicted to reach quality {self.quality_floor:.2f}; "
                f"using the likeliest ({best}, {p.get(best, 0.0):.2f})",
            )
        best = min(eligible, key=lambda n: (scored[n], self.costs[n]))
        return Route([best], f"expected cost-of-pass {scored[best]:.4g}")

    def backends(self) -> set[str]:
        return set(self.candidates)
