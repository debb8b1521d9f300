"""The few-shot prompt: an instruction, ``k`` demonstrations, then the query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.dynaicl.examples import as_examples
from trace_engine import bundle
from trace_engine.llm.base import Message


def render_few_shot(instruction: str, demos: Sequence[Any], x: str, k: int) -> str:
    """The prompt text with the first ``k`` of ``demos`` (plain function, untraced)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a non-negative int, got {k!r}")
    shown = as_examples(demos, "demos")[:k]
    if len(shown) < k:
        raise ValueError(f"asked for {k} demonstrations but only {len(shown)} were given")
    parts = [str(instruction).strip()] if str(instruction).strip() else []
    parts += [f"Input: {d.input}\nOutput: {d.target}" for d in shown]
    parts.append(f"Input: {x}\nOutput:")
    return "\n\n".join(parts)


def prompt_messages(prompt: str) -> list[Message]:
    """The messages a few-shot prompt is sent as (one user message): what the model counts."""
    return [{"role": "user", "content": prompt}]


@bundle(
    description="Builds a few-shot prompt: the instruction, the first k demonstrations "
    "as 'Input:/Output:' pairs, then the input x followed by 'Output:'."
)
def few_shot_prompt(instruction: str, demos: list, x: str, k: int) -> str:
    return render_few_shot(instruction, demos, x, k)
