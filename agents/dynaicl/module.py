"""``DynaICLPrompt``: DynaICL as a traced, trainable part of any workflow.

Calling the module on an input builds the prompt through traced operations:
``choose_k`` reads the trainable threshold ``t`` (pick the smallest ``k`` whose
expected accuracy reaches ``t``, else the most accurate ``k``; for a k*
controller the expected accuracy is the chance that ``k`` demos are enough),
``select_demos`` picks the
demos, and :func:`few_shot_prompt` assembles them with the trainable
instruction. Feedback on the model's answer therefore reaches both parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.dynaicl.controller import Controller
from agents.dynaicl.demos import DemoSelector
from agents.dynaicl.prompt import few_shot_prompt, prompt_messages
from trace_engine import Module, Node, Range, bundle, node
from trace_engine.llm.base import LLM, as_llm


class DynaICLPrompt(Module):
    """Instruction + controller + demo pool -> a few-shot prompt sized per input."""

    def __init__(
        self,
        instruction: str,
        controller: Controller,
        selector: DemoSelector,
        *,
        threshold: float = 0.5,
        llm: LLM | Callable | str | None = None,
        max_tokens: int = 32,
    ):
        self.instruction = node(
            instruction,
            trainable=True,
            name="instruction",
            description="task instruction at the top of the few-shot prompt",
        )
        self.threshold = node(
            float(threshold),
            trainable=True,
            name="dynaicl_threshold",
            description="the expected accuracy a number of demonstrations must reach "
            "to be chosen; higher gives more demonstrations (longer, costlier prompts) "
            "where they are predicted to help",
            constraint=Range(0.0, 1.0),
        )
        self._controller = controller
        self._selector = selector
        self._llm = llm
        self._max_tokens = max_tokens

    @bundle(
        description="The smallest k in the grid whose expected accuracy on input x "
        "(predicted by the controller) reaches the threshold; if none does, the k with "
        "the highest expected accuracy."
    )
    def choose_k(self, x: str, threshold: float) -> int:
        grid = self._controller.grid
        row = self._controller.expected_accuracy([x])[0]
        for k, p in zip(grid, row):
            if p >= threshold - 1e-12:
                return k
        return grid[int(row.argmax())]

    @bundle(description="The k demonstrations from the pool chosen for input x.")
    def select_demos(self, x: str, k: int) -> list:
        return self._selector.select(x, k)

    @bundle(description="Sends the prompt to the language model and returns its answer.")
    def generate(self, prompt: str) -> str:
        llm = as_llm(self._llm)
        reply = llm.complete(prompt_messages(prompt), temperature=0.0, max_tokens=self._max_tokens)
        return reply.text

    def forward(self, x: Any) -> Node:
        """The traced prompt for ``x``."""
        k = self.choose_k(x, self.threshold)
        demos = self.select_demos(x, k)
        return few_shot_prompt(self.instruction, demos, x, k)

    __call__ = forward

    def answer(self, x: Any) -> Node:
        """The traced model answer to ``x`` with its DynaICL prompt."""
        return self.generate(self.forward(x))
