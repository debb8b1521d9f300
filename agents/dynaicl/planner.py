"""DynaICL at inference: per-input demo counts for a batch, then the prompts themselves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from agents.dynaicl.allocation import (
    Allocation,
    allocate_accuracy_floor,
    allocate_budget,
    allocate_min_accuracy,
)
from agents.dynaicl.controller import Controller
from agents.dynaicl.demos import DemoSelector
from agents.dynaicl.examples import Example
from agents.dynaicl.prompt import render_few_shot
from trace_engine.llm.metered import estimate_prompt_tokens

COST_UNITS = ("demos", "tokens")


def estimate_tokens(text: str) -> int:
    """Prompt tokens of ``text`` sent as one user message (the LLM layer's estimate)."""
    return estimate_prompt_tokens([{"role": "user", "content": text}])


@dataclass
class Plan:
    """Prompts for a batch with the allocation that sized them."""

    inputs: list[str]
    demos: list[list[Example]]
    prompts: list[str]
    allocation: Allocation


class DynaICL:
    """An instruction, a trained controller and a demo selector, planning prompts for batches.

    ``cost="demos"`` counts a prompt's demonstrations against the budget;
    ``cost="tokens"`` counts its estimated prompt tokens (``count_tokens``).
    """

    def __init__(
        self,
        instruction: str,
        controller: Controller,
        selector: DemoSelector,
        *,
        cost: str = "demos",
        count_tokens: Callable[[str], int] = estimate_tokens,
    ):
        if cost not in COST_UNITS:
            raise ValueError(f"cost must be one of {COST_UNITS}, got {cost!r}")
        self.instruction = instruction
        self.controller = controller
        self.selector = selector
        self.cost = cost
        self.count_tokens = count_tokens

    @property
    def grid(self) -> tuple[int, ...]:
        return self.controller.grid

    def _check_pool(self, xs: Sequence[str]) -> None:
        need = self.grid[-1]
        for x in xs:
            if self.selector.max_k(x) < need:
                raise ValueError(
                    f"the grid goes up to {need} demos but the pool has only "
                    f"{self.selector.max_k(x)} usable for input {x!r:.60}"
                )

    def costs(self, xs: Sequence[str]) -> np.ndarray:
        """``(len(xs), len(grid))`` cost of each input at each ``k``."""
        if self.cost == "demos":
            return np.tile(np.asarray(self.grid, dtype=float), (len(xs), 1))
        out = np.zeros((len(xs), len(self.grid)))
        for i, x in enumerate(xs):
            demos = self.selector.select(x, self.grid[-1]) if self.grid[-1] else []
            for j, k in enumerate(self.grid):
                shown = _nearest_last(demos, k)
                out[i, j] = self.count_tokens(render_few_shot(self.instruction, shown, x, k))
        return out

    def plan(
        self,
        xs: Sequence[str],
        *,
        budget: float | None = None,
        min_accuracy: float | None = None,
        accuracy_floor: float | None = None,
    ) -> Plan:
        """Allocate within ``budget`` (total cost), to reach ``min_accuracy`` on average over
        the batch, or to reach ``accuracy_floor`` on every input (give exactly one)."""
        goals = {"budget": budget, "min_accuracy": min_accuracy, "accuracy_floor": accuracy_floor}
        if sum(value is not None for value in goals.values()) != 1:
            raise ValueError("give exactly one of budget=, min_accuracy= or accuracy_floor=")
        xs = [str(x) for x in xs]
        self._check_pool(xs)
        success = self.controller.expected_accuracy(xs)
        costs = self.costs(xs)
        if budget is not None:
            allocation = allocate_budget(self.grid, success, costs, budget)
        elif min_accuracy is not None:
            allocation = allocate_min_accuracy(self.grid, success, costs, min_accuracy)
        else:
            allocation = allocate_accuracy_floor(self.grid, success, costs, accuracy_floor)
        return self._prompts(xs, allocation)

    def uniform(self, xs: Sequence[str], k: int) -> Plan:
        """The usual practice, for comparison: every input gets ``k`` demos."""
        if k not in self.grid:
            raise ValueError(f"k={k} is not in the grid {self.grid}")
        xs = [str(x) for x in xs]
        self._check_pool(xs)
        j = self.grid.index(k)
        costs = self.costs(xs)
        allocation = Allocation(
            ks=[k] * len(xs),
            choice=[j] * len(xs),
            total_cost=float(costs[:, j].sum()),
            expected_accuracy=float(self.controller.expected_accuracy(xs)[:, j].mean())
            if xs
            else 1.0,
            budget=None,
            min_accuracy=None,
            met=True,
        )
        return self._prompts(xs, allocation)

    def _prompts(self, xs: list[str], allocation: Allocation) -> Plan:
        demos = []
        prompts = []
        for x, k in zip(xs, allocation.ks):
            full = self.selector.select(x, self.grid[-1]) if self.grid[-1] else []
            chosen = _nearest_last(full, k)
            demos.append(chosen)
            prompts.append(render_few_shot(self.instruction, chosen, x, k))
        return Plan(xs, demos, prompts, allocation)


def _nearest_last(demos: list[Example], k: int) -> list[Example]:
    """The ``k`` best of a selection ordered best-last, still best-last."""
    return demos[len(demos) - k :] if k else []
