"""A small project with a slow function and its tests, scripted optimizer replies, quick settings."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from workflows.code_session import Workload

SLOW = '''"""Duplicates, the slow way."""


def find_duplicates(items):
    """Values that occur more than once, in order of their first repeat."""
    result = []
    for i, x in enumerate(items):
        for y in items[:i]:
            if x == y and x not in result:
                result.append(x)
                break
    return result


def unrelated():
    return 1
'''

TESTS = """import pytest

from dupes import find_duplicates


def test_repeats_in_order_of_first_repeat():
    assert find_duplicates([3, 1, 3, 1, 2]) == [3, 1]


def test_no_repeats():
    assert find_duplicates([1, 2, 3]) == []


def test_none_is_an_error():
    with pytest.raises(TypeError):
        find_duplicates(None)
"""

FAST = '''def find_duplicates(items):
    """Values that occur more than once, in order of their first repeat."""
    seen = set()
    reported = set()
    result = []
    for x in items:
        if x in seen and x not in reported:
            result.append(x)
            reported.add(x)
        seen.add(x)
    return result
'''

WRONG = """def find_duplicates(items):
    return [x for x in set(items) if items.count(x) > 1]
"""

SUBTLY_WRONG = '''def find_duplicates(items):
    """Right on the tests' small inputs, wrong order on larger ones."""
    counts = {}
    for x in items:
        counts[x] = counts.get(x, 0) + 1
    return [x for x in counts if counts[x] > 1]
'''

LOOPS_FOREVER = """def find_duplicates(items):
    while True:
        pass
"""

NEW_SIGNATURE = """def find_duplicates(items, key=None):
    return []
"""

SETUP = "import random; random.seed(7); data = [random.randrange(300) for _ in range(500)]"
BENCH = "find_duplicates(data)"


CODE_NAME = "<code variable>"
"""Stands for the code parameter's name in a reply; :class:`ScriptedLLM` fills in the real one."""


def reply(source: str, reasoning: str = "use a set") -> str:
    """An optimizer reply proposing ``source`` for find_duplicates."""
    return json.dumps({"reasoning": reasoning, "suggestion": {CODE_NAME: source}})


class ScriptedLLM:
    """Replies in order (the last one repeats); keeps the prompts it was shown."""

    def __init__(self, *replies: str | Callable[[], str]):
        self.replies = list(replies)
        self.prompts: list[str] = []

    def __call__(self, messages: list[dict]) -> str:
        self.prompts.append(messages[-1]["content"])
        item = self.replies[min(len(self.prompts), len(self.replies)) - 1]
        text = item() if callable(item) else item
        name = re.search(r"^\(code\) (\S+):$", self.prompts[-1], re.MULTILINE).group(1)
        return text.replace(CODE_NAME, name)


def write_project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True, exist_ok=True)
    (root / "dupes.py").write_text(SLOW, encoding="utf-8")
    (root / "tests" / "test_dupes.py").write_text(TESTS, encoding="utf-8")
    return root


def quick_workload(**overrides) -> Workload:
    values = dict(
        bench=BENCH,
        setup=SETUP,
        tests=["tests"],
        repeat=3,
        min_sample_s=0.005,
        process_sample_s=0.15,
        max_timing_s=3.0,
        timeout_s=20.0,
    )
    values.update(overrides)
    return Workload(**values)
