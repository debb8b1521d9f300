"""Checks a cascade runs on a cheap answer before accepting it."""

from __future__ import annotations

import re
from collections.abc import Callable

from trace_engine.llm.base import LLM, as_llm

_JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"acceptable": {"type": "boolean"}},
    "required": ["acceptable"],
}


def matches(pattern: str) -> Callable[[str, str], bool]:
    """A check that passes when the answer contains a match of the regex ``pattern``."""
    compiled = re.compile(pattern)

    def check(request: str, answer: str) -> bool:
        return compiled.search(answer) is not None

    check.__name__ = f"matches({pattern!r})"
    return check


class LLMJudge:
    """A model judges whether an answer is acceptable for the request (JSON verdict).

    An unparsable verdict counts as "not acceptable", so the cascade escalates.
    """

    def __init__(
        self,
        llm: LLM | Callable | str | None,
        criteria: str = "The answer is correct and complete.",
        *,
        max_tokens: int = 16,
    ):
        self.llm = as_llm(llm)
        self.criteria = criteria
        self.max_tokens = max_tokens

    def __call__(self, request: str, answer: str) -> bool:
        prompt = (
            f"Request:\n{request}\n\nAnswer:\n{answer}\n\nCriteria: {self.criteria}\n"
            'Is the answer acceptable? Reply as JSON: {"acceptable": true} or '
            '{"acceptable": false}'
        )
        reply = self.llm.complete(
            [{"role": "user", "content": prompt}],
            temperature=0.0,
            max_tokens=self.max_tokens,
            json_schema=_JUDGE_SCHEMA,
        )
        verdict = reply.json
        return isinstance(verdict, dict) and verdict.get("acceptable") is True
