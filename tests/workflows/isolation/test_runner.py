"""The sandbox runner holds its limits against a job that tries to outlive or escape it."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.workflows.isolation.processes import processes_with
from tests.workflows.signals import interruptible
from workflows.isolation import BUBBLEWRAP, RLIMIT, Job, Limits, run_isolated
from workflows.isolation import scratch as scratch_directory
from workflows.isolation.levels import bubblewrap_works

ROOT = Path(__file__).resolve().parents[3]
JOBS = "tests.workflows.isolation.jobs"

bubblewrap_only = pytest.mark.skipif(
    not bubblewrap_works(),
    reason="bubblewrap (bwrap) is not installed or cannot create namespaces here",
)
LEVELS = [pytest.param(BUBBLEWRAP, marks=bubblewrap_only), RLIMIT]


def wait_for(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def run(request: dict, level: str, limits: Limits | None = None, **job) -> object:
    return run_isolated(Job(JOBS, input=json.dumps(request).encode(), **job), limits, level=level)


@pytest.mark.parametrize("level", LEVELS)
def test_a_job_runs_in_scratch_and_reports_on_its_pipe(level):
    outcome = run({}, level)
    assert outcome.ok and outcome.level == level
    [report] = outcome.messages()
    scratch = Path(report["home"]).parent
    assert scratch.name.startswith("trace-engine-sandbox-")
    assert Path(report["tmpdir"]).parent == scratch and Path(report["cwd"]).parent == scratch
    scratch_directory.wait_for_removals()
    assert not scratch.exists()  # removed after the run


@pytest.mark.parametrize("level", LEVELS)
def test_the_job_module_runs_from_the_code_the_host_compiled(level):
    [report] = run({}, level).messages()
    assert report["loader"] == "CompiledModules"
    assert report["gc"]  # the supervisor loads its modules without it; the job has it back


@bubblewrap_only
def test_at_the_bubblewrap_level_the_job_cannot_kill_its_supervisor():
    """The supervisor is the process namespace's init: a SIGKILL from inside never
    reaches it, so the run still ends with its report."""
    outcome = run({"kill_supervisor": True}, BUBBLEWRAP)
    assert outcome.ok and not outcome.supervisor_lost
    assert outcome.messages()


@pytest.mark.parametrize("level", LEVELS)
def test_the_environment_holds_no_api_key(level, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    [report] = run({"secret": "OPENAI_API_KEY"}, level).messages()
    assert report["secret"] is None


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("then", ["ok", "fail", "loop"])
def test_a_detached_grandchild_neither_holds_the_run_nor_survives_it(level, then):
    """The grandchild sleeps 600 s holding the output pipes: a run that ends (or hits its
    deadline) returns at once all the same. The deadlines leave a loaded machine time to
    start the job; a run held by the pipe would show as timed out, or as a host that
    returned only when the grandchild's sleep ended."""
    token = f"sleeper-{uuid.uuid4().hex}"
    started = time.monotonic()
    outcome = run(
        {"sleeper": token, "then": then}, level, Limits(wall_s=15 if then == "loop" else 60)
    )
    assert time.monotonic() - started < 300
    assert outcome.timed_out == (then == "loop")
    assert outcome.exit_code == {"ok": 0, "fail": 3, "loop": None}[then]
    assert outcome.messages()  # the job did start the sleeper
    assert processes_with(token) == []



@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT])
def test_killing_the_host_kills_the_whole_run(level, how):
    token = f"sleeper-{uuid.uuid4().hex}"
    host_code = textwrap.dedent(
        f"""
        import json
        from workflows.isolation import Job, Limits, run_isolated
        request = json.dumps({{"sleeper_via_subprocess": {token!r}, "then": "loop"}}).encode()
        run_isolated(Job({JOBS!r}, input=request), Limits(wall_s=600), level={level!r})
        """
    )
    host = subprocess.Popen(
        [sys.executable, "-c", host_code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
        preexec_fn=interruptible,
    )
    try:
        assert wait_for(lambda: processes_with(token)), "the sandboxed job never started"
        host.send_signal(how)
        host.wait(timeout=60)
        assert wait_for(lambda: not processes_with(token), 20), "a sandboxed process survived"
    finally:
        host.kill()
        host.wait()
        for pid in processes_with(token):
            os.kill(pid, signal.SIGKILL)


@bubblewrap_only
def test_files_outside_scratch_cannot_be_written(tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("original")
    [report] = run({"write": str(canary)}, BUBBLEWRAP, cwd=str(tmp_path)).messages()
    assert report["write"] == "OSError"
    assert canary.read_text() == "original"
    [report] = run({"write": str(ROOT / "written_by_sandbox.txt")}, BUBBLEWRAP).messages()
    assert report["write"] == "OSError"
    assert not (ROOT / "written_by_sandbox.txt").exists()


@bubblewrap_only
def test_no_network_connection_to_loopback():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.5)
        [report] = run({"connect": server.getsockname()[1]}, BUBBLEWRAP).messages()
        assert report["connect"] != "connected"
        with pytest.raises(TimeoutError):
            server.accept()


def test_bad_limits_are_refused_with_the_field_named():
    with pytest.raises(ValueError, match="wall_s"):
        Limits(wall_s=0)
