"""The example scripts run, with $TRACE_ENGINE_LLM pointing at a scripted server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workflows.scripted_server import ScriptedServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MEDIAN = (
    "def median(values):\n    values = sorted(values)\n    n = len(values)\n"
    "    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2\n"
)


def reply(messages) -> str:
    text = messages[-1]["content"]
    if "__code_median" in text:
        suggestion = {"__code_median": MEDIAN}
    else:
        name = re.search(r"\b(coefficients\w*)\b", text).group(1)
        suggestion = {name: [-1.0, 2.5]}
    return json.dumps({"reasoning": "scripted", "suggestion": suggestion})


def run_example(name, tmp_path, spec):
    env = {
        **os.environ,
        "TRACE_ENGINE_LLM": spec,
        "OPENAI_API_KEY": "test",
        "TRACE_ENGINE_CACHE_DIR": str(tmp_path / "cache"),
    }
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("core_api.py", "feedback: ['the total should be 95"),
        ("code_repair.py", "after: all 3 checks passed"),
        ("numeric_fit.py", "mean absolute error on the test points: 0.000"),
        ("resume_run.py", "completed"),
    ],
)
def test_example_runs(name, expected, tmp_path):
    with ScriptedServer(reply) as server:
        done = run_example(name, tmp_path, server.spec)
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
