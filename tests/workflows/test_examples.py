"""The example scripts run, with $TRACE_ENGINE_LLM pointing at a scripted server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workflows.code_session.project import FAST
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


def agent_reply(messages) -> str:
    """Calls the calculator with the question's arithmetic, then finishes with its result."""
    user = messages[-1]["content"]
    observations = re.findall(r"Observation: (\S+)", user)
    if observations:
        return json.dumps({"thought": "done", "action": "finish", "input": observations[-1]})
    question = user.split("Question:", 1)[1]
    a, b = (int(n) for n in re.findall(r"\d+", question)[:2])
    op = (
        "*"
        if "boxes" in question
        else "+"
        if "buys" in question
        else "-"
        if "leak" in question
        else "//"
    )
    return json.dumps({"thought": "compute", "action": "calculator", "input": f"{a} {op} {b}"})


def router_reply(messages) -> str:
    """The direct backend cannot say how long the trip is; step by step can."""
    system, question = messages[0]["content"], messages[-1]["content"]
    answers = {"17 + 25": "42", "train": "4", "pens": "31"}
    answer = next(v for k, v in answers.items() if k in question)
    if "number only" in system:
        return "four hours" if answer == "4" else answer
    return f"From the question, the answer is:\n{answer}"


def dynaicl_reply(messages) -> str:
    noun = re.findall(r"Input: (\w+)", messages[-1]["content"])[-1]
    irregular = {
        "mouse": "mice",
        "goose": "geese",
        "child": "children",
        "tooth": "teeth",
        "cactus": "cacti",
        "sheep": "sheep",
        "ox": "oxen",
        "man": "men",
        "foot": "feet",
        "woman": "women",
        "louse": "lice",
        "fungus": "fungi",
        "deer": "deer",
        "person": "people",
    }
    return irregular.get(noun, noun + "s")


def objectives_reply(messages) -> str:
    """A scripted model for the agent examples: few-shot prompts (DynaICL) and the
    router's two backends (a direct answer that forgets the sale, worked steps)."""
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    text = messages[-1]["content"]
    if "Input:" in text:
        query = text.rsplit("Input:", 1)[1].split("\nOutput:")[0].split()
        a, op, b = query
        if op == "+":
            return str(int(a) + int(b))
        # the made-up operator is understood only with a demonstration of it
        return f"{a}{b}" if text.count(" # ") > 1 else str(int(a) * int(b))
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if "pens" in text:
        boxes, per, sold = numbers[-3:]
        left = boxes * per - sold
        if system.startswith("Work"):
            return (
                f"{boxes} * {per} = {boxes * per}\n{boxes * per} - {sold} = {left}\nAnswer: {left}"
            )
        return str(boxes * per)
    total = sum(numbers[-2:])
    return str(total) if system.startswith("Reply") else f"Adding them.\nAnswer: {total}"


def code_session_reply(messages) -> str:
    name = re.search(r"\b(__code_find_duplicates\w*)\b", messages[-1]["content"]).group(1)
    return json.dumps({"reasoning": "use a set", "suggestion": {name: FAST}})


@pytest.mark.parametrize(
    ("name", "script", "expected"),
    [
        ("agent.py", agent_reply, "answer: 168"),
        ("routed_llm.py", router_reply, "share answered directly: 67%"),
        ("dynaicl.py", dynaicl_reply, "accuracy 1.00"),
        ("code_session.py", code_session_reply, "reported.add(x)"),
        ("router_objectives.py", objectives_reply, "run cost-of-pass                1.000"),
        ("dynaicl_token_budget.py", objectives_reply, "DynaICL: accuracy 1.00"),
    ],
)
def test_agent_and_session_examples_run(name, script, expected, tmp_path):
    with ScriptedServer(script) as server:
        done = run_example(name, tmp_path, server.spec)
    assert done.returncode == 0, done.stdout + done.stderr
    assert expected in done.stdout


@pytest.mark.parametrize("name", ["numeric_fit.py", "agent.py"])
def test_examples_stop_with_the_cause_when_the_model_is_unusable(name, tmp_path):
    done = run_example(name, tmp_path, "openai-compatible:http://127.0.0.1:9/v1#x")
    assert done.returncode != 0
    assert "nothing listening at http://127.0.0.1:9/v1" in done.stderr.splitlines()[-1]
    assert "mean absolute error" not in done.stdout and "answer:" not in done.stdout
