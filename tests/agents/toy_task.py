"""A toy task for DynaICL tests: the scripted model answers input ``q<i>-need<n>``
correctly exactly when its prompt holds at least ``n`` demonstrations."""

from __future__ import annotations

import re

from agents.dynaicl import Example

_QUERY = re.compile(r"Input: (q\d+)-need(\d+)\nOutput:$")


def toy_example(i: int, need: int) -> Example:
    return Example(f"q{i}-need{need}", f"a{i}")


def toy_llm(messages: list[dict]) -> str:
    prompt = messages[-1]["content"]
    demos = prompt.count("Input:") - 1
    match = _QUERY.search(prompt)
    if not match:
        return "???"
    name, need = match.group(1), int(match.group(2))
    return "a" + name[1:] if demos >= need else "wrong"


def toy_pool(n: int = 12) -> list[Example]:
    return [Example(f"demo{i} x", f"d{i}") for i in range(n)]
