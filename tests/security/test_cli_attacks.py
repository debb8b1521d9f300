"""`trace-engine optimize` and `eval --run` against hostile code, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.workflows.scripted_server import ScriptedServer
from tests.workflows.test_cli import cli

TASK = {
    "entry_point": "add",
    "code": "def add(a, b):\n    return a - b\n",
    "tests": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
}


def _cli(*args, cache: Path) -> subprocess.CompletedProcess:
    return cli(*args, env_extra={"TRACE_ENGINE_CACHE_DIR": str(cache)}, timeout=300)


@pytest.mark.parametrize(
    "code",
    [
        "import os\nos.remove({canary!r})\n\ndef add(a, b):\n    return a + b\n",
        "while True:\n    pass\n\ndef add(a, b):\n    return a + b\n",
        "import os\nos._exit(0)\n\ndef add(a, b):\n    return a + b\n",
        "import builtins\nbuiltins.print = None\n\ndef add(a, b):\n    return a + b\n",
    ],
    ids=["remove-file", "endless-loop", "os-exit", "patch-builtins"],
)
def test_optimize_code_repair_survives_hostile_top_level_code(tmp_path, code):
    canary = tmp_path / "canary.txt"
    canary.write_text("still here")
    data = tmp_path / "tasks.jsonl"
    data.write_text(json.dumps(TASK) + "\n")
    hostile = code.format(canary=str(canary))
    out = tmp_path / "run"
    with ScriptedServer(lambda messages: f"Fixed.\n```python\n{hostile}\n```") as server:
        done = _cli(
            "optimize", "code_repair", "--data", data, "--llm", server.spec,
            "--steps", "1", "--out", out, cache=tmp_path / "cache",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "# add: NOT solved" in done.stdout, "the summary must be printed"
    assert canary.read_text() == "still here"
    (step,) = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()][1:]
    assert "top-level" in step["rejected"]["__code_add"]
    assert json.loads((out / "parameters.json").read_text()) == {"code.add": TASK["code"]}


def test_eval_of_a_run_whose_parameters_hold_top_level_code_runs_none_of_it(tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("still here")
    data = tmp_path / "tasks.jsonl"
    data.write_text(json.dumps(TASK) + "\n")
    out = tmp_path / "run"
    fixed = "Fixed.\n```python\ndef add(a, b):\n    return a + b\n```"
    with ScriptedServer(lambda messages: fixed) as server:
        done = _cli(
            "optimize", "code_repair", "--data", data, "--llm", server.spec,
            "--steps", "1", "--out", out, cache=tmp_path / "cache",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        planted = f"import os\nos.remove({str(canary)!r})\n\ndef add(a, b):\n    return a + b\n"
        (out / "parameters.json").write_text(json.dumps({"code.add": planted}))
        evaluated = _cli("eval", "--run", out, "--llm", server.spec, cache=tmp_path / "cache")
    assert evaluated.returncode != 0
    (message,) = evaluated.stderr.strip().splitlines()
    assert "top-level expression `os.remove(" in message
    assert canary.read_text() == "still here"
