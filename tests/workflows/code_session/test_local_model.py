"""One ``--auto`` round with the embedded local model on a small function."""

from __future__ import annotations

import json

import pytest

from workflows.cli import main

SMALL = '''def count_evens(numbers):
    """How many of the numbers are even."""
    count = 0
    for i in range(len(numbers)):
        if numbers[i] % 2 == 0:
            count = count + 1
    return count
'''

TESTS = """from evens import count_evens


def test_counts():
    assert count_evens([1, 2, 3, 4]) == 2
    assert count_evens([]) == 0
"""


@pytest.mark.local_model
def test_auto_round_with_the_embedded_model_completes_with_a_report(tmp_path, monkeypatch):
    (tmp_path / "evens.py").write_text(SMALL)
    (tmp_path / "test_evens.py").write_text(TESTS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRACE_ENGINE_CACHE_DIR", str(tmp_path / "llm-cache"))
    code = main(
        [
            "code-session",
            "evens.py::count_evens",
            "--tests",
            "test_evens.py",
            "--setup",
            "data = list(range(2000))",
            "--bench",
            "count_evens(data)",
            "--llm",
            "local",
            "--auto",
            "--rounds",
            "1",
            "--repeat",
            "3",
            "--session-dir",
            "session",
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "session" / "report.json").read_text())
    assert report["rounds"]["done"] == 1 and report["result"]["finished"]
    assert len(report["candidates"]) == 1
    assert report["llm_usage"]["calls"] == 1 and report["llm_usage"]["completion_tokens"] > 0
    assert (
        (tmp_path / "session" / "report.md").read_text().startswith("# Code session: `count_evens`")
    )
