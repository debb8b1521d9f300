"""`trace-engine demo` end to end with the embedded model: one problem, one step."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from workflows.code_repair import humaneval_tasks
from workflows.unit_checks import run_tests


@pytest.mark.local_model
def test_demo_with_the_embedded_model_reports_what_the_tests_say(tmp_path):
    env = {**os.environ, "TRACE_ENGINE_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("TRACE_ENGINE_LLM", None)
    out = tmp_path / "demo"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "workflows.cli",
            "demo",
            "--problems",
            "23",
            "--steps",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "solved: 0 of 1 before" in done.stdout
    assert re.search(r"LLM: \d+ calls", done.stdout)
    (task,) = humaneval_tasks([23])
    code = (out / "optimized.py").read_text()
    solved = run_tests(code, task.tests, task.entry_point).solved
    if solved:
        assert "1 of 1 after" in done.stdout and "# HumanEval/23: solved" in code
    else:
        assert "not solved: HumanEval/23" in done.stdout and "NOT solved" in code
    assert (out / "run" / "progress.png").is_file()
