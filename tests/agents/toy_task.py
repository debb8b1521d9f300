"""A toy task for DynaICL tests: the scripted model answers input ``q<i>-need<n>``
correctly exactly when its prompt holds at least ``n`` demonstrations, and input
``q<i>-hurt<n>`` correctly exactly when it holds fewer than ``n`` (demos hurt it)."""

from __future__ import annotations

import re

from agents.dynaicl import Example

_QUERY = re.compile(r"Input: (q\d+)-(need|hurt)(\d+)\nOutput:$")


def toy_example(i: int, need: int) -> Example:
    return Example(f"q{i}-need{need}", f"a{i}")


def toy_hurt_example(i: int, hurt_at: int) -> Example:
    return Example(f"q{i}-hurt{hurt_at}", f"a{i}")


def toy_llm(messages: list[dict]) -> str:
    prompt = messages[-1]["content"]
    demos = prompt.count("Input:") - 1
    match = _QUERY.search(prompt)
    if not match:
        return "???"
    name, kind, n = match.group(1), match.group(2), int(match.group(3))
    right = demos >= n if kind == "need" else demos < n
    return "a" + name[1:] if right else "wrong"


def toy_pool(n: int = 12) -> list[Example]:
    return [Example(f"demo{i} x", f"d{i}") for i in range(n)]
