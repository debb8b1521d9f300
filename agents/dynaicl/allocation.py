"""Per-input demonstration counts that fit a total budget, or reach a required accuracy.

Input ``i`` with ``k_j`` demos costs ``costs[i][j]`` (demos or prompt tokens) and
is expected to be answered correctly with probability ``success[i][j]`` (from the
controller). Starting from zero-shot for everyone, the allocator repeatedly buys
the upgrade with the highest expected-accuracy gain per unit of cost, walking each
input's upper concave hull of (cost, success) so that a big jump that pays off
(say 0 -> 8 demos) is not hidden behind a useless small step. An upgrade is only
taken when it fits, so the total never exceeds the budget. Inputs whose success
rises most per unit of cost (the harder-but-helpable ones) get demos first.
Success need not rise with ``k``: a ``k`` predicted to do worse than a cheaper
one is never bought, so spare budget is left unspent rather than spent on demos
that hurt.

:func:`allocate_accuracy_floor` is the per-input alternative to a batch-wide
required accuracy: every input gets the cheapest ``k`` predicted to reach the
floor, or its most accurate ``k`` when none does.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trace_engine.errors import TraceEngineError


class BudgetTooSmall(TraceEngineError, ValueError):
    """The budget cannot pay even for answering every input zero-shot."""


@dataclass
class Allocation:
    """Which grid index (``choice``) and ``k`` each input gets, with totals.

    ``met`` says whether the goal was reached (always true in budget mode; in
    accuracy mode false when even the most demos cannot reach the required
    accuracy, which ``note`` then explains: a recorded fallback, not an error).
    ``spread`` is the standard deviation of the batch accuracy around
    ``expected_accuracy`` if the predictions are calibrated and answers independent:
    the noise a measured accuracy should be judged within.
    """

    ks: list[int]
    choice: list[int]
    total_cost: float
    expected_accuracy: float
    budget: float | None
    min_accuracy: float | None
    met: bool
    note: str = ""
    spread: float = 0.0


def allocate_budget(
    grid: Sequence[int], success: np.ndarray, costs: np.ndarray, budget: float
) -> Allocation:
    """Maximize expected accuracy with total cost <= ``budget``.

    Raises :class:`BudgetTooSmall` when ``budget`` is below the zero-shot cost.
    """
    grid, success, costs = _check(grid, success, costs)
    floor = float(costs[:, 0].sum())
    if budget < floor - 1e-9:
        raise BudgetTooSmall(
            f"budget {budget:g} is below the zero-shot cost of these {len(costs)} inputs "
            f"({floor:g}); raise the budget or send fewer inputs"
        )
    choice = _greedy(success, costs, budget=budget, target=None)
    return _result(grid, success, costs, choice, budget, None, met=True)


def allocate_min_accuracy(
    grid: Sequence[int], success: np.ndarray, costs: np.ndarray, min_accuracy: float
) -> Allocation:
    """The cheapest allocation (greedy) whose expected accuracy reaches ``min_accuracy``."""
    grid, success, costs = _check(grid, success, costs)
    if not 0.0 <= min_accuracy <= 1.0:
        raise ValueError(f"min_accuracy must be in [0, 1], got {min_accuracy}")
    choice = _greedy(success, costs, budget=None, target=min_accuracy)
    reached = float(success[np.arange(len(choice)), choice].mean()) if len(choice) else 1.0
    met = reached >= min_accuracy - 1e-9
    note = (
        ""
        if met
        else f"required accuracy {min_accuracy:.3f} is out of reach: the controller predicts "
        f"at most {reached:.3f}; every input got the demos that help it most"
    )
    result = _result(grid, success, costs, choice, None, min_accuracy, met=met)
    result.note = note
    return result


def allocate_accuracy_floor(
    grid: Sequence[int], success: np.ndarray, costs: np.ndarray, floor: float
) -> Allocation:
    """Per input, the cheapest ``k`` whose expected accuracy reaches ``floor``.

    An input with no such ``k`` gets its most accurate one (the cheapest of ties);
    ``met`` is then false and ``note`` says how many inputs fell short.
    """
    grid, success, costs = _check(grid, success, costs)
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"floor must be in [0, 1], got {floor}")
    choice, short = [], 0
    for row_success, row_cost in zip(success, costs):
        reaching = [j for j in range(len(grid)) if row_success[j] >= floor - 1e-9]
        if not reaching:
            short += 1
            best = row_success.max()
            reaching = [j for j in range(len(grid)) if row_success[j] >= best - 1e-12]
        choice.append(min(reaching, key=lambda j: (row_cost[j], j)))
    result = _result(grid, success, costs, choice, None, floor, met=short == 0)
    if short:
        result.note = (
            f"{short} of {len(choice)} inputs cannot reach the accuracy floor {floor:.3f} "
            "with any k; each got the k predicted to be most accurate for it"
        )
    return result


def _check(grid, success, costs):
    grid = tuple(int(k) for k in grid)
    success = np.asarray(success, dtype=float)
    costs = np.asarray(costs, dtype=float)
    if success.ndim != 2 or success.shape != costs.shape or success.shape[1] != len(grid):
        raise ValueError(
            f"success {success.shape} and costs {costs.shape} must both be "
            f"(inputs, {len(grid)} grid points)"
        )
    if (costs < 0).any() or np.isnan(costs).any() or np.isnan(success).any():
        raise ValueError("costs must be non-negative and no value may be NaN")
    return grid, success, costs


def _hull(success_row: np.ndarray, cost_row: np.ndarray, start: int) -> list[int]:
    """Indices after ``start`` on the upper concave hull of (cost, success), cheapest first."""
    points = [j for j in range(start + 1, len(cost_row)) if success_row[j] > success_row[start]]
    hull: list[int] = []
    current = start
    while points:
        best = max(
            points,
            key=lambda j: (
                _ratio(success_row[j] - success_row[current], cost_row[j] - cost_row[current]),
                -cost_row[j],
            ),
        )
        hull.append(best)
        current = best
        points = [j for j in points if cost_row[j] >= cost_row[best] and j > best]
        points = [j for j in points if success_row[j] > success_row[best]]
    return hull


def _ratio(gain: float, extra_cost: float) -> float:
    if extra_cost <= 0:
        return float("inf") if gain > 0 else 0.0
    return gain / extra_cost


def _greedy(
    success: np.ndarray, costs: np.ndarray, *, budget: float | None, target: float | None
) -> list[int]:
    n = len(success)
    choice = [0] * n
    if n == 0:
        return choice
    spent = float(costs[:, 0].sum())
    gained = float(success[:, 0].sum())
    heap: list[tuple[float, float, int, int]] = []

    def push(i: int) -> None:
        hull = _hull(success[i], costs[i], choice[i])
        if budget is not None:
            room = budget - spent + costs[i, choice[i]]
            hull = [j for j in hull if costs[i, j] <= room + 1e-9] or _affordable(i, room)
        if hull:
            j = hull[0]
            gain = success[i, j] - success[i, choice[i]]
            ratio = _ratio(gain, costs[i, j] - costs[i, choice[i]])
            heapq.heappush(heap, (-ratio, -gain, i, j))

    def _affordable(i: int, room: float) -> list[int]:
        options = [
            j
            for j in range(choice[i] + 1, costs.shape[1])
            if costs[i, j] <= room + 1e-9 and success[i, j] > success[i, choice[i]]
        ]
        return sorted(
            options,
            key=lambda j: (
                -_ratio(success[i, j] - success[i, choice[i]], costs[i, j] - costs[i, choice[i]])
            ),
        )[:1]

    for i in range(n):
        push(i)
    while heap:
        if target is not None and gained / n >= target - 1e-9:
            break
        _, _, i, j = heapq.heappop(heap)
        extra = costs[i, j] - costs[i, choice[i]]
        if budget is not None and spent + extra > budget + 1e-9:
            push(i)
            continue
        spent += extra
        gained += success[i, j] - success[i, choice[i]]
        choice[i] = j
        push(i)
    return choice


def uniform_allocation(
    grid: Sequence[int], success: np.ndarray, costs: np.ndarray, j: int
) -> Allocation:
    """Every input at grid index ``j`` (uniform ``k``), with its predicted accuracy."""
    grid, success, costs = _check(grid, success, costs)
    return _result(grid, success, costs, [j] * len(success), None, None, met=True)


def _result(grid, success, costs, choice, budget, min_accuracy, *, met: bool) -> Allocation:
    rows = np.arange(len(choice))
    chosen = success[rows, choice] if choice else np.zeros(0)
    return Allocation(
        ks=[grid[j] for j in choice],
        choice=list(choice),
        total_cost=float(costs[rows, choice].sum()) if choice else 0.0,
        expected_accuracy=float(chosen.mean()) if choice else 1.0,
        budget=budget,
        min_accuracy=min_accuracy,
        met=met,
        spread=float(np.sqrt((chosen * (1.0 - chosen)).sum()) / len(choice)) if choice else 0.0,
    )
