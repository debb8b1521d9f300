"""One CLI surface: shared options, consistent exit codes (0 done, 1 failed, 2 usage or
input), one line per bad input, runs that never delete what they did not make, and
resumes that continue a run exactly as it was started."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from tests.workflows.fakes import lock_held_elsewhere
from tests.workflows.scripted_server import ScriptedServer
from tests.workflows.test_cli import cli, reply_for, write_add_task

DEAD = "openai-compatible:http://127.0.0.1:9/v1#x"
USAGE = {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}


def changing():
    """Replies with new coefficients every call (never a fit), so every step asks once."""
    counter = itertools.count(1)

    def reply(messages):
        name = re.search(r"\b(coefficients\w*)\b", messages[-1]["content"]).group(1)
        return json.dumps({"reasoning": "try", "suggestion": {name: [next(counter), 0, 0]}})

    return reply


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACE_ENGINE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def server():
    with ScriptedServer(reply_for, usage=USAGE) as s:
        yield s


def one_line_error(done, *needles, code=2):
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", ["demo", "optimize", "eval", "code-session"])
def test_every_model_command_takes_the_shared_options(command):
    done = cli(command, "--help")
    assert done.returncode == 0
    for flag in ("--llm", "--no-cache", "--verbose", "--quiet", "--no-progress"):
        assert flag in done.stdout


@pytest.mark.parametrize("command", ["graph", "cache", "models"])
def test_every_other_command_takes_the_output_options(command):
    done = cli(command, "--help")
    assert done.returncode == 0
    for flag in ("--verbose", "--quiet", "--no-progress"):
        assert flag in done.stdout


# Failing loudly ------------------------------------------------------------------------


def model_commands(tmp_path, spec):
    (tmp_path / "mod.py").write_text("def f(x):\n    return x\n")
    return {
        "optimize": ["optimize", "numeric", "--llm", spec, "--out", tmp_path / "o"],
        "demo": ["demo", "--problems", "23", "--llm", spec, "--out", tmp_path / "d"],
        "eval": ["eval", "agent_pipeline", "--llm", spec],
        "code-session": ["code-session", "mod.py::f", "--bench", "f(1)", "--auto", "--llm", spec],
    }


@pytest.mark.parametrize("command", ["optimize", "demo", "eval", "code-session"])
def test_an_unusable_llm_stops_every_command_before_its_work(command, tmp_path):
    with ScriptedServer(reply_for, listing=401) as bad_key:
        for spec, why in ((DEAD, "nothing listening"), (bad_key.spec, "rejected the API key")):
            done = cli(*model_commands(tmp_path, spec)[command], cwd=tmp_path)
            one_line_error(done, why)
        assert not bad_key.requests  # no work was attempted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "mod.py"]


def test_a_run_whose_steps_all_fail_exits_1_with_each_error_on_stderr(tmp_path):
    with ScriptedServer(reply_for, failures=[401] * 100) as bad_key:  # the listing works
        done = cli(
            "optimize", "numeric", "--llm", bad_key.spec, "--steps", "2", "--out", tmp_path / "r"
        )
    assert done.returncode == 1, done.stderr
    assert "failed: every step failed" in done.stdout
    assert "step 1 failed" in done.stdout and "step 2 failed" in done.stdout  # also with -q
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert any("step 1 failed" in w and "401" in w for w in warnings), done.stderr
    assert any("step 2 failed" in w for w in warnings), done.stderr


def test_retries_are_shown_with_v_and_not_without(tmp_path):
    with ScriptedServer(reply_for, failures=[500]) as flaky:
        quiet = cli(
            "optimize", "numeric", "--llm", flaky.spec, "--steps", "1", "--out", tmp_path / "a"
        )
    with ScriptedServer(reply_for, failures=[500]) as flaky:
        loud = cli(
            "optimize",
            "numeric",
            "--llm",
            flaky.spec,
            "--steps",
            "1",
            "--out",
            tmp_path / "b",
            "-v",
        )
    assert quiet.returncode == loud.returncode == 0, loud.stderr
    assert "retrying" not in quiet.stderr
    assert "retrying" in loud.stderr and "attempt 1/4" in loud.stderr


# Never delete what it did not make --------------------------------------------------------


def test_demo_refuses_a_run_folder_it_did_not_make(server, tmp_path):
    planted = tmp_path / "out" / "run" / "notes.txt"
    planted.parent.mkdir(parents=True)
    planted.write_text("mine")
    done = cli("demo", "--out", tmp_path / "out", "--problems", "23", "--llm", server.spec)
    one_line_error(done, "holds something other than a demo run", "--force")
    assert planted.read_text() == "mine"
    assert sorted(p.name for p in planted.parent.iterdir()) == ["notes.txt"]


def test_demo_checks_every_argument_before_writing_anything(tmp_path):
    for args in (["--llm", "nonsense"], ["--problems", "9999"], ["--timeout", "nan"]):
        done = cli("demo", "--out", tmp_path / "out", *args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert not (tmp_path / "out").exists()


def test_demo_replaces_only_its_own_files_in_its_own_run(server, tmp_path):
    run = tmp_path / "out" / "run"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"kind": "demo"}))
    (run / "summary.txt").write_text("stale")
    (run / "notes.txt").write_text("mine")
    done = cli(
        "demo", "--out", tmp_path / "out", "--problems", "23", "--steps", "1", "--llm", server.spec
    )
    assert done.returncode == 0, done.stderr
    assert (run / "notes.txt").read_text() == "mine"
    assert (run / "summary.txt").read_text() != "stale"
    assert json.loads((run / "run.json").read_text())["llm"] == server.spec


def test_a_second_run_into_a_locked_directory_stops_with_a_clear_message(server, tmp_path):
    out = tmp_path / "run"
    with lock_held_elsewhere(out):
        done = cli("optimize", "numeric", "--llm", server.spec, "--steps", "1", "--out", out)
        one_line_error(done, "in use by another trace-engine run")
        assert not (out / "run.json").exists() and not server.requests


# Faithful resume ----------------------------------------------------------------------------


def test_resume_uses_the_runs_llm_whatever_the_environment_says(tmp_path):
    out = tmp_path / "run"
    with ScriptedServer(changing()) as server:
        first = cli("optimize", "numeric", "--llm", server.spec, "--steps", "1", "--out", out)
        assert first.returncode == 0, first.stderr
        saved = json.loads((out / "run.json").read_text())
        assert saved["llm"] == server.spec and saved["steps"] == 1 and saved["task"] is None
        calls = len(server.requests)
        env = {"TRACE_ENGINE_LLM": DEAD}
        # a server named by run.json (which may come from someone else) is used only when
        # the user names it again; the environment's LLM is never silently used instead
        unstated = cli("optimize", "--resume", out, "--steps", "2", env_extra=env)
        one_line_error(unstated, f"pass --llm {server.spec} to use it")
        resumed = cli(
            "optimize", "--resume", out, "--steps", "2", "--llm", server.spec, env_extra=env
        )
        assert resumed.returncode == 0, resumed.stderr
        assert "resuming with --steps 2 replaces the run's 1" in resumed.stdout
        assert len(server.requests) == calls + 1  # the second step asked the run's server
    assert json.loads((out / "checkpoint.json").read_text())["step"] == 2


def test_resume_refuses_another_task_than_the_checkpoints(server, tmp_path):
    out = tmp_path / "run"
    cli("optimize", "numeric", "--task", "line", "--llm", server.spec, "--steps", "1", "--out", out)
    done = cli("optimize", "--resume", out, "--task", "sine")
    one_line_error(done, "--task sine differs from the run being resumed (line)")


def test_a_budget_holds_over_the_whole_life_of_a_run(tmp_path):
    out = tmp_path / "run"
    with ScriptedServer(changing(), usage=USAGE) as server:
        first = cli(
            "optimize",
            "numeric",
            "--llm",
            server.spec,
            "--steps",
            "1",
            "--budget-tokens",
            "100000",
            "--out",
            out,
        )
        assert first.returncode == 0, first.stderr
        second = cli("optimize", "--resume", out, "--steps", "2", "--llm", server.spec)
        assert second.returncode == 0, second.stderr
        spent = json.loads((out / "checkpoint.json").read_text())["usage"]
        assert spent["prompt_tokens"] + spent["completion_tokens"] == 2 * 150
        calls = len(server.requests)
        third = cli(
            "optimize",
            "--resume",
            out,
            "--steps",
            "4",
            "--budget-tokens",
            "300",
            "--llm",
            server.spec,
        )
        assert third.returncode == 1, third.stderr
        assert "budget" in third.stdout and len(server.requests) == calls
    assert json.loads((out / "run.json").read_text())["budget_tokens"] == 300


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_budgets_that_would_never_stop_anything_are_refused(value):
    done = cli("optimize", "numeric", f"--budget-usd={value}")
    assert done.returncode == 2 and "finite number > 0" in done.stderr


# Inputs that are not what they should be: one line naming the file ----------------------------


def test_graph_picks_the_format_from_the_suffix_or_refuses(tmp_path):
    from trace_engine import node, to_json

    trace = tmp_path / "trace.json"
    trace.write_text(to_json(node(1, name="a") + 2))
    png = cli("graph", trace, "-o", tmp_path / "t.png")
    assert png.returncode == 0, png.stderr
    assert (tmp_path / "t.png").read_bytes().startswith(b"\x89PNG")
    dot = cli("graph", trace, "-o", tmp_path / "t.dot")
    assert (tmp_path / "t.dot").read_text().startswith("digraph")
    assert dot.returncode == 0
    one_line_error(cli("graph", trace, "-o", tmp_path / "t.txt"), "cannot tell the format")
    one_line_error(cli("graph", trace, "--format", "svg", "-o", tmp_path / "t.png"), "match")


def test_a_binary_or_deeply_nested_graph_file_is_one_line(tmp_path):
    binary = tmp_path / "trace.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    one_line_error(cli("graph", binary), str(binary), "not UTF-8")
    binary.write_text("[" * 100_000 + "]" * 100_000)
    one_line_error(cli("graph", binary), str(binary), "nested too deeply")


def test_a_checkpoint_missing_its_step_is_one_line(server, tmp_path):
    out = tmp_path / "run"
    assert (
        cli("optimize", "numeric", "--llm", server.spec, "--steps", "1", "--out", out).returncode
        == 0
    )
    checkpoint = json.loads((out / "checkpoint.json").read_text())
    del checkpoint["step"]
    (out / "checkpoint.json").write_text(json.dumps(checkpoint))
    resumed = cli("optimize", "--resume", out, "--llm", server.spec)
    one_line_error(resumed, "checkpoint.json is damaged", "'step'")


def test_a_corrupt_completion_cache_is_one_line(server, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "cache.db").write_bytes(b"this is not a database" * 100)
    one_line_error(cli("cache", "stats"), str(cache), "--no-cache")
    done = cli("optimize", "numeric", "--llm", server.spec, "--out", tmp_path / "run")
    one_line_error(done, str(cache))
    assert not server.requests


def test_jsonl_with_a_huge_number_or_a_failing_setup_is_one_line(tmp_path):
    points = tmp_path / "points.jsonl"
    points.write_text('{"x": 1, "y": ' + "7" * 5000 + "}\n")
    one_line_error(cli("optimize", "numeric", "--data", points), f"{points}:1")
    tasks = write_add_task(tmp_path)
    record = json.loads(tasks.read_text())
    record["setup"] = "import no_such_module_boom"
    tasks.write_text(json.dumps(record) + "\n")
    one_line_error(cli("optimize", "code_repair", "--data", tasks), "setup", "no_such_module_boom")


def test_code_session_checks_numbers_and_the_llm_before_the_baseline(tmp_path):
    (tmp_path / "mod.py").write_text("def f(x):\n    return x\n")
    common = ["code-session", "mod.py::f", "--bench", "f(1)", "--auto"]
    one_line_error(cli(*common, "--timeout", "inf", cwd=tmp_path), "--timeout")
    one_line_error(cli(*common, "--llm", "nonsense", cwd=tmp_path), "--llm")
    assert not (tmp_path / ".code-sessions").exists()


def test_a_failed_code_session_start_leaves_no_session_folder(server, tmp_path):
    (tmp_path / "mod.py").write_text("def f(x):\n    return x\n")
    done = cli(
        "code-session",
        "mod.py::f",
        "--bench",
        "f(undefined_name)",
        "--auto",
        "--llm",
        server.spec,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "undefined_name" in done.stderr, done.stderr
    sessions = tmp_path / ".code-sessions"
    assert not sessions.exists() or not any(sessions.iterdir())


def test_models_exits_the_same_with_and_without_json():
    assert cli("models").returncode == cli("models", "--json").returncode


def test_a_code_session_whose_every_step_failed_exits_1(tmp_path):
    (tmp_path / "mod.py").write_text("def f(x):\n    return sorted(x)\n")
    with ScriptedServer(reply_for, failures=[401] * 100) as bad_key:  # the listing works
        done = cli(
            "code-session",
            "mod.py::f",
            "--bench",
            "f([3, 1, 2])",
            "--auto",
            "--rounds",
            "2",
            "--llm",
            bad_key.spec,
            cwd=tmp_path,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "failed: every optimizer step failed" in done.stdout and "401" in done.stdout
