"""Task examples and the default way of grading a model's answer against a target."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Grader = Callable[[str, str], bool]
"""``(model output, target) -> correct?``"""


@dataclass(frozen=True)
class Example:
    """One input of a task with its expected output (a demonstration or a test case)."""

    input: str
    target: str


def as_examples(items: Iterable[Any], what: str = "examples") -> list[Example]:
    """Accept ``Example``s, ``(input, target)`` pairs or ``{"input", "target"}`` dicts."""
    out = []
    for i, item in enumerate(items):
        if isinstance(item, Example):
            out.append(item)
        elif isinstance(item, dict) and "input" in item and "target" in item:
            out.append(Example(str(item["input"]), str(item["target"])))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            out.append(Example(str(item[0]), str(item[1])))
        else:
            raise TypeError(
                f"{what}[{i}] must be an Example, an (input, target) pair or a dict with "
                f"'input' and 'target', got {item!r:.80}"
            )
    return out


_SPACES = re.compile(r"\s+")


def normalize_answer(text: str) -> str:
    """First non-empty line, lower-cased, spaces collapsed, trailing period dropped."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return _SPACES.sub(" ", first).lower().rstrip(".").strip()


def exact_match(prediction: str, target: str) -> bool:
    """The default grader: normalized first line of the output equals the normalized target."""
    return normalize_answer(prediction) == normalize_answer(target)
