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
    uniform_allocation,
)
from agents.dynaicl.controller import Controller
from agents.dynaicl.demos import DemoSelector
from agents.dynaicl.examples import Example
from agents.dynaicl.prompt import prompt_messages, render_few_shot
from trace_engine.llm.base import LLM, Message, as_llm
from trace_engine.llm.metered import estimate_prompt_tokens
from trace_engine.llm.wrapper import token_counter

COST_UNITS = ("demos", "tokens")
TokenCounter = Callable[[Sequence[Message]], int]
"""``messages -> prompt tokens`` of one call, as the backend counts them."""


def estimate_tokens(text: str) -> int:
    """Prompt tokens of ``text`` sent as one user message (the LLM layer's estimate,
    used when the backend has no tokenizer: it does not know the chat template)."""
    return estimate_prompt_tokens(prompt_messages(text))


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
    ``cost="tokens"`` counts the prompt tokens of the call that sends it, chat
    template included. Give ``llm`` (the model the prompts go to) so they are
    counted with its own tokenizer, exactly as it will count them (llama.cpp
    models have one); or ``count_tokens`` (``messages -> tokens``). With neither,
    or a backend without a tokenizer, tokens are estimated from characters and
    :attr:`exact_tokens` is false.
    """

    def __init__(
        self,
        instruction: str,
        controller: Controller,
        selector: DemoSelector,
        *,
        cost: str = "demos",
        llm: LLM | Callable | str | None = None,
        count_tokens: TokenCounter | None = None,
    ):
        if cost not in COST_UNITS:
            raise ValueError(f"cost must be one of {COST_UNITS}, got {cost!r}")
        if llm is not None and count_tokens is not None:
            raise ValueError("give llm= (its tokenizer counts) or count_tokens=, not both")
        if llm is not None:
            count_tokens = token_counter(as_llm(llm))
        self.instruction = instruction
        self.controller = controller
        self.selector = selector
        self.cost = cost
        self.exact_tokens = count_tokens is not None
        self.count_tokens: TokenCounter = count_tokens or estimate_prompt_tokens

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
                prompt = render_few_shot(self.instruction, shown, x, k)
                out[i, j] = self.count_tokens(prompt_messages(prompt))
        return out

    def plan(
        self,
        xs: Sequence[str],
        *,
        budget: float | None = None,
        min_accuracy: float | None = None,
        accuracy_floor: float | None = None,
        match_uniform: int | None = None,
    ) -> Plan:
        """Allocate within ``budget`` (total cost), to reach ``min_accuracy`` on average over
        the batch, to reach ``accuracy_floor`` on every input, or (``match_uniform=k``) to
        reach the accuracy uniform ``k`` is predicted to give these inputs at no more than
        its cost (give exactly one).

        A required accuracy the controller predicts no allocation reaches is reported
        before anything runs: ``allocation.met`` is false and ``allocation.note`` says so.
        """
        goals = {
            "budget": budget,
            "min_accuracy": min_accuracy,
            "accuracy_floor": accuracy_floor,
            "match_uniform": match_uniform,
        }
        if sum(value is not None for value in goals.values()) != 1:
            raise ValueError(
                "give exactly one of budget=, min_accuracy=, accuracy_floor= or match_uniform="
            )
        if match_uniform is not None and match_uniform not in self.grid:
            raise ValueError(f"match_uniform={match_uniform} is not in the grid {self.grid}")
        xs = [str(x) for x in xs]
        self._check_pool(xs)
        success = self.controller.expected_accuracy(xs)
        costs = self.costs(xs)
        if budget is not None:
            allocation = allocate_budget(self.grid, success, costs, budget)
        elif min_accuracy is not None:
            allocation = allocate_min_accuracy(self.grid, success, costs, min_accuracy)
        elif accuracy_floor is not None:
            allocation = allocate_accuracy_floor(self.grid, success, costs, accuracy_floor)
        else:
            allocation = self._match(success, costs, self.grid.index(match_uniform))
        return self._prompts(xs, allocation)

    def _match(self, success: np.ndarray, costs: np.ndarray, j: int) -> Allocation:
        target = float(success[:, j].mean()) if len(success) else 1.0
        allocation = allocate_min_accuracy(self.grid, success, costs, target)
        if allocation.total_cost >= costs[:, j].sum():
            allocation = uniform_allocation(self.grid, success, costs, j)
            k = self.grid[j]
            allocation.note = (
                "no saving: uniform k=0 is the cheapest there is"
                if j == 0
                else f"no saving: no input is predicted to do as well with fewer demos, "
                f"so matching uniform k={k} gives every input k={k}"
            )
        allocation.min_accuracy = target
        return allocation

    def uniform(self, xs: Sequence[str], k: int) -> Plan:
        """The usual practice, for comparison: every input gets ``k`` demos."""
        if k not in self.grid:
            raise ValueError(f"k={k} is not in the grid {self.grid}")
        xs = [str(x) for x in xs]
        self._check_pool(xs)
        allocation = uniform_allocation(
            self.grid, self.controller.expected_accuracy(xs), self.costs(xs), self.grid.index(k)
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
