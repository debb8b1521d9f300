"""The ``trace-engine code-session`` command: a real terminal session (pexpect), resume, bad input.

The LLM is a scripted OpenAI-compatible server on localhost, reached through
the ordinary ``--llm openai-compatible:URL#MODEL`` spec.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

import pexpect
import pytest

from tests.workflows.code_session.project import BENCH, FAST, SETUP
from tests.workflows.scripted_server import ScriptedServer
from workflows.cli import main


class _Proposals:
    """The scripted optimizer: the k-th request gets ``sources[k-1]`` (the last one repeats)."""

    def __init__(self, sources: list[str]):
        self.sources = sources
        self.count = 0

    def __call__(self, messages: list[dict]) -> str:
        self.count += 1
        name = re.search(r"^\(code\) (\S+):$", messages[-1]["content"], re.MULTILINE).group(1)
        source = self.sources[min(self.count, len(self.sources)) - 1]
        return json.dumps({"reasoning": "a set", "suggestion": {name: source}})


@pytest.fixture
def proposals():
    return _Proposals([FAST])


@pytest.fixture
def llm_spec(tmp_path, monkeypatch, proposals):
    monkeypatch.setenv("TRACE_ENGINE_CACHE_DIR", str(tmp_path / "llm-cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "not-needed")
    usage = {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}
    with ScriptedServer(proposals, usage=usage) as server:
        yield server.spec


def _args(spec, *extra):
    return [
        "code-session",
        "dupes.py::find_duplicates",
        "--tests",
        "tests",
        "--bench",
        BENCH,
        "--setup",
        SETUP,
        "--llm",
        spec,
        "--repeat",
        "3",
        "--session-dir",
        "session",
        *extra,
    ]


def test_interactive_review_in_a_terminal(project, llm_spec):
    child = pexpect.spawn(
        sys.executable,
        ["-m", "workflows.cli", *_args(llm_spec, "--rounds", "1")],
        cwd=str(project),
        env=dict(os.environ),
        encoding="utf-8",
        timeout=60,
    )
    child.expect("baseline: ")
    child.expect(r"\+    reported = set\(\)")
    child.expect("Speedup vs original: ")
    child.expect(r"\[a\]ccept")
    child.sendline("maybe")
    child.expect("please type one of")
    child.sendline("a")
    child.expect("wrote the accepted version")
    child.expect("report: ")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "reported = set()" in (project / "dupes.py").read_text()
    usage = json.loads((project / "session" / "report.json").read_text())["llm_usage"]
    assert usage["calls"] == 1 and usage["total_tokens"] == 150


def test_auto_session_then_resume_for_more_rounds(
    project, llm_spec, proposals, monkeypatch, capsys
):
    monkeypatch.chdir(project)
    assert main(_args(llm_spec, "--auto", "--rounds", "1")) == 0
    assert "reported = set()" in (project / "dupes.py").read_text()
    proposals.sources = ["def find_duplicates(items):\n    return []\n"]
    code = main(["code-session", "--resume", "--session-dir", "session", "--rounds", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "resuming" in out and "1 of 2 rounds done" in out
    report = json.loads((project / "session" / "report.json").read_text())
    assert report["rounds"] == {"planned": 2, "done": 2}
    assert [c["status"] for c in report["candidates"]] == ["accepted", "failed"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["code-session", "dupes.py::nope", "--bench", "nope()"], "no top-level function 'nope'"),
        (["code-session", "dupes.py::find_duplicates"], "give --bench EXPR"),
        (
            ["code-session", "dupes.py::find_duplicates", "--bench", "f(("],
            "--bench is not valid Python",
        ),
        (["code-session", "--resume"], "--resume needs --session-dir"),
        (["code-session", "--resume", "--session-dir", "nowhere"], "holds no session"),
        (
            ["code-session", "dupes.py::find_duplicates", "--bench", "x", "--rounds", "0"],
            "--rounds must be at least 1",
        ),
        (["code-session", "--bench", "x"], "give a TARGET"),
        (
            ["code-session", "dupes.py::find_duplicates", "--bench", "x", "--llm-timeout", "0"],
            "--llm-timeout must be a positive number",
        ),
        (
            ["code-session", "networkx.readwrite.graph6:to_graph6_bytes", "--bench", "x"],
            "give --root PROJECT",
        ),
    ],
)
def test_user_mistakes_get_clear_messages(project, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(project)
    assert main(argv) == 2
    assert words in capsys.readouterr().err


def test_tests_failing_on_the_original_stop_the_command(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    (project / "tests" / "test_bad.py").write_text("def test_bad():\n    assert False\n")
    assert (
        main(
            [
                "code-session",
                "dupes.py::find_duplicates",
                "--tests",
                "tests",
                "--bench",
                "find_duplicates([1])",
            ]
        )
        == 2
    )
    assert "refusing to start" in capsys.readouterr().err


def test_llm_timeout_applies_and_failed_attempts_are_counted(project, monkeypatch, capsys):
    monkeypatch.setenv("TRACE_ENGINE_CACHE_DIR", str(project / "llm-cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "not-needed")
    monkeypatch.chdir(project)

    def too_slow(messages):
        time.sleep(3)
        return "{}"

    with ScriptedServer(too_slow) as server:
        main(_args(server.spec, "--auto", "--rounds", "1", "--llm-timeout", "0.3"))
    out = capsys.readouterr().out
    assert f"target: find_duplicates in {project / 'dupes.py'}" in out
    report = json.loads((project / "session" / "report.json").read_text())
    assert report["llm_usage"]["calls"] == 4 and report["llm_usage"]["failed_calls"] == 4
    assert "0.3s timeout" in report["candidates"][0]["reason"]
    assert "4 calls (4 failed)" in (project / "session" / "report.md").read_text()
