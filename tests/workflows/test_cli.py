"""The workflow commands, run as a user runs them: in a subprocess, against a scripted server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.workflows.scripted_server import ScriptedServer
from tests.workflows.signals import interruptible

QUADRATIC = [3.0, -2.0, 0.5]


def reply_for(messages) -> str:
    """Answer OptoPrime: exact coefficients for the numeric fit, a working add() for code
    (a code block when asked to draft a stub from its docstring)."""
    text = "\n".join(m["content"] for m in messages)
    fixed = {
        "add": "def add(a, b):\n    return a + b\n",
        "strlen": "def strlen(string: str) -> int:\n    return len(string)\n",
    }
    code = re.search(r"\b__code_(\w+)\b", text)
    if code:
        name = code.group(0)
        suggestion = {name: fixed[code.group(1)]}
        return json.dumps({"reasoning": "return the right value", "suggestion": suggestion})
    draft = re.search(r"^def (\w+)\(", text, re.MULTILINE)
    if draft:
        return f"```python\n{fixed[draft.group(1)]}```"
    variable = re.search(r"\b(coefficients\w*)\b", text).group(1)
    return json.dumps({"reasoning": "fit the points", "suggestion": {variable: QUADRATIC}})


def cli(*args, env_extra=None, cwd=None, timeout=120):
    env = {**os.environ, "OPENAI_API_KEY": "test", **(env_extra or {})}
    env.pop("TRACE_ENGINE_LLM", None)
    return subprocess.run(
        [sys.executable, "-m", "workflows.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.fixture
def server():
    with ScriptedServer(reply_for) as s:
        yield s


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACE_ENGINE_CACHE_DIR", str(tmp_path / "cache"))


def test_optimize_numeric_writes_checkpoint_log_plot_and_parameters(server, tmp_path):
    out = tmp_path / "run"
    done = cli("optimize", "numeric", "--llm", server.spec, "--steps", "2", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "test score (best parameters): 1.000" in done.stdout
    for name in ("checkpoint.json", "steps.jsonl", "progress.png", "summary.txt", "run.json"):
        assert (out / name).is_file(), name
    assert list(json.loads((out / "parameters.json").read_text()).values()) == [QUADRATIC]
    evaluated = cli("eval", "--run", out, "--llm", server.spec)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "test split: score 1.000" in evaluated.stdout


def write_add_task(directory):
    """A one-task JSONL file: a buggy ``add`` and its test."""
    data = directory / "tasks.jsonl"
    task = {
        "entry_point": "add",
        "code": "def add(a, b):\n    return a - b\n",
        "tests": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
    }
    data.write_text(json.dumps(task) + "\n")
    return data


def test_optimize_code_repair_on_user_tasks(server, tmp_path):
    data = write_add_task(tmp_path)
    out = tmp_path / "run"
    done = cli("optimize", "code_repair", "--data", data, "--llm", server.spec, "--out", out)
    assert done.returncode == 0, done.stderr
    assert "target_reached" in done.stdout
    assert "# add: solved" in done.stdout


def test_optoprime_multi_picks_candidates_by_each_workflows_score(server, tmp_path):
    data = write_add_task(tmp_path)
    multi = ("--optimizer", "optoprime-multi", "--llm", server.spec)
    repaired = cli("optimize", "code_repair", "--data", data, *multi, "--out", tmp_path / "c")
    assert repaired.returncode == 0, repaired.stderr
    assert "# add: solved" in repaired.stdout
    fitted = cli("optimize", "numeric", "--steps", "1", *multi, "--out", tmp_path / "n")
    assert fitted.returncode == 0, fitted.stderr
    assert "test score (best parameters): 1.000" in fitted.stdout
    steps = [json.loads(line) for line in (tmp_path / "n" / "steps.jsonl").read_text().splitlines()]
    assert any(s["applied"] for s in steps)


def test_demo_reports_before_and_after_truthfully(server, tmp_path):
    done = cli(
        "demo", "--problems", "23", "--steps", "1", "--out", tmp_path / "demo", "--llm", server.spec
    )
    assert done.returncode == 0, done.stderr
    assert "solved: 0 of 1 before, 1 of 1 after" in done.stdout
    assert 'def strlen(string: str) -> int:\n    """ Return length' in done.stdout
    assert "    return len(string)" in done.stdout
    assert (tmp_path / "demo" / "run" / "progress.png").is_file()
    assert "# HumanEval/23: solved" in (tmp_path / "demo" / "optimized.py").read_text()


def test_demo_says_when_a_problem_is_not_solved(tmp_path):
    wrong = json.dumps(
        {
            "reasoning": "guess",
            "suggestion": {"__code_strlen": "def strlen(string: str) -> int:\n    return 1\n"},
        }
    )
    with ScriptedServer(lambda messages: wrong) as s:
        done = cli(
            "demo", "--problems", "23", "--steps", "1", "--out", tmp_path / "d", "--llm", s.spec
        )
    assert done.returncode == 0, done.stderr
    assert "solved: 0 of 1 before, 0 of 1 after" in done.stdout
    assert "not solved: HumanEval/23" in done.stdout


def test_unknown_workflow_lists_the_existing_ones():
    done = cli("optimize", "sorting")
    assert done.returncode == 2
    assert (
        "unknown workflow 'sorting'; available: code_repair, prompt_tuning, numeric, agent_pipeline"
        in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_malformed_jsonl_names_the_line(tmp_path):
    data = tmp_path / "points.jsonl"
    data.write_text('{"x": 1, "y": 2}\n{"x": 2, "y": \n')
    done = cli(
        "optimize", "numeric", "--data", data, "--llm", "openai-compatible:http://127.0.0.1:9/v1#x"
    )
    assert done.returncode == 2
    assert "points.jsonl:2: not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr


def test_resuming_a_run_of_another_workflow_is_refused(server, tmp_path):
    out = tmp_path / "run"
    assert (
        cli("optimize", "numeric", "--llm", server.spec, "--steps", "1", "--out", out).returncode
        == 0
    )
    done = cli("optimize", "code_repair", "--resume", out, "--llm", server.spec)
    assert done.returncode == 2
    assert "holds a run of workflow 'numeric', not 'code_repair'" in done.stderr



def test_ctrl_c_mid_step_keeps_the_checkpoint_and_the_run_resumes(tmp_path):
    calls = []
    release = threading.Event()

    def slow_second_call(messages):
        calls.append(1)
        if len(calls) == 2:
            release.wait(60)
        variable = re.search(r"\b(coefficients\w*)\b", messages[-1]["content"]).group(1)
        guess = [1.0 + len(calls), 0.0, 0.0]
        return json.dumps({"reasoning": "guess", "suggestion": {variable: guess}})

    out = tmp_path / "run"
    env = {**os.environ, "OPENAI_API_KEY": "test", "TRACE_ENGINE_CACHE_DIR": str(tmp_path / "c")}
    with ScriptedServer(slow_second_call) as s:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workflows.cli",
                "optimize",
                "numeric",
                "--llm",
                s.spec,
                "--steps",
                "3",
                "--batch-size",
                "1",
                "--out",
                str(out),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=interruptible,
        )
        deadline = time.time() + 60
        while len(calls) < 2 and time.time() < deadline:
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            raise AssertionError(
                f"no exit after Ctrl-C; stdout:\n{stdout}\nstderr:\n{stderr}"
            ) from None
        release.set()
        assert process.returncode == 130, stderr
        assert "interrupted" in stdout and f"--resume {out}" in stdout
        saved = json.loads((out / "checkpoint.json").read_text())
        assert saved["step"] == 1
        resumed = cli("optimize", "--resume", out, "--llm", s.spec, "--steps", "3")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "checkpoint.json").read_text())["step"] == 3


def test_optimize_with_the_archive_search_and_resume_it(server, tmp_path):
    out = tmp_path / "run"
    archive = ("--optimizer", "archive", "--llm", server.spec)
    done = cli("optimize", "numeric", *archive, "--steps", "1", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "with archive" in done.stdout and "test score (best parameters): 1.000" in done.stdout
    state = json.loads((out / "checkpoint.json").read_text())["optimizer"]["value"]
    assert state["type"] == "ArchiveSearch" and len(state["cells"]) == 2  # start, exact
    assert '["exact"]' in state["cells"]
    resumed = cli("optimize", "--resume", out, "--steps", "2", "--llm", server.spec)
    assert resumed.returncode == 0, resumed.stderr
    state = json.loads((out / "checkpoint.json").read_text())["optimizer"]["value"]
    assert state["steps"] == 1 and len(state["candidates"]) == 2  # solved: step 2 skipped
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert [s["skipped"] for s in steps[1:]] == [False, True]

    data = write_add_task(tmp_path)
    repaired = cli("optimize", "code_repair", "--data", data, *archive, "--out", tmp_path / "c")
    assert repaired.returncode == 0, repaired.stderr
    assert "# add: solved" in repaired.stdout
    cells = json.loads((tmp_path / "c" / "checkpoint.json").read_text())["optimizer"]["value"]
    assert set(cells["cells"]) == {'[["failed",0]]', '[["passed",1]]'}


def test_evaluations_run_on_the_executor_asked_for(server, tmp_path):
    done = cli("optimize", "numeric", "--ray-address", "127.0.0.1:1", "--out", tmp_path / "r")
    assert done.returncode == 2 and not (tmp_path / "r").exists()
    assert done.stderr.strip().endswith(
        "--ray-address is for --executor ray; add --executor ray or leave it out"
    )
    threads = ("--executor", "thread", "--parallel", "3", "--llm", server.spec)
    done = cli("optimize", "numeric", *threads, "--steps", "1", "--out", tmp_path / "t")
    assert done.returncode == 0, done.stderr
    evaluated = cli("eval", "--run", tmp_path / "t", *threads)
    assert evaluated.returncode == 0 and "score 1.000" in evaluated.stdout, evaluated.stderr
