"""A code session: the LLM proposes faster versions of a slow function; tests decide.

Writes a small project (a quadratic-time ``find_duplicates`` and its tests) to
example-runs/code-session, then runs the same session as

    trace-engine code-session dedupe.py::find_duplicates --tests test_dedupe.py \\
        --bench "find_duplicates(data)" --setup "..." --auto

Every candidate runs in a separate, limited process, must pass the tests and give
the original's outputs on the recorded inputs, and is timed; with --auto the
fastest one at least 1.1x faster is written back (the original is kept as a
backup in the session folder, with a diff and a report). Uses the embedded local
model unless $TRACE_ENGINE_LLM names another backend.
Run: python examples/code_session.py
"""

import os
import sys
from pathlib import Path

from workflows.cli import main

SLOW = '''def find_duplicates(items):
    """The values that occur more than once, in the order of their second occurrence."""
    found = []
    for i, item in enumerate(items):
        if item in items[:i] and item not in found:
            found.append(item)
    return found
'''
TESTS = """from dedupe import find_duplicates


def test_finds_each_duplicate_once_in_order():
    assert find_duplicates([3, 1, 3, 2, 1, 3]) == [3, 1]


def test_no_duplicates():
    assert find_duplicates([1, 2, 3]) == []
"""

project = Path("example-runs/code-session")
project.mkdir(parents=True, exist_ok=True)
(project / "dedupe.py").write_text(SLOW)
(project / "test_dedupe.py").write_text(TESTS)
os.chdir(project)
code = main(
    [
        "code-session",
        "dedupe.py::find_duplicates",
        "--tests",
        "test_dedupe.py",
        "--bench",
        "find_duplicates(data)",
        "--setup",
        "import random; random.seed(0); data = [random.randrange(300) for _ in range(3000)]",
        "--rounds",
        "2",
        "--auto",
    ]
)
print("dedupe.py now:\n" + Path("dedupe.py").read_text())
sys.exit(code)
