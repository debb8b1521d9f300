"""Attacks a user requires to be contained, beyond the first red team: secrets a candidate
could read and return (its output becomes feedback sent to the LLM provider), files
it could change and processes it could reach, at both isolation levels."""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from workflows.isolation import BUBBLEWRAP, RLIMIT, landlock
from workflows.isolation.levels import ENV_VAR, bubblewrap_works
from workflows.unit_checks import run_tests

bubblewrap_only = pytest.mark.skipif(
    not bubblewrap_works(),
    reason="bubblewrap (bwrap) is not installed or cannot create namespaces here",
)
landlock_only = pytest.mark.skipif(
    landlock.abi() < 1, reason="this kernel has no Landlock (the rlimit level cannot hide files)"
)
LEVELS = [
    pytest.param(BUBBLEWRAP, marks=bubblewrap_only),
    pytest.param(RLIMIT, marks=landlock_only),
]
SECRET = "sk-planted-secret-0451"
TESTS = "def check(candidate):\n    assert candidate(2) == 3\n"
READS_A_FILE = textwrap.dedent(
    """
    def f(x):
        try:
            with open({path!r}) as handle:
                return handle.read()
        except OSError as exc:
            return type(exc).__name__
    """
)


@pytest.fixture
def outside_tmp():
    """A directory outside /tmp (the sandbox's /tmp is private already, so a secret there
    proves nothing): under the user's real home, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=".trace-engine-test-", dir=Path.home()))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(params=LEVELS)
def level(request, monkeypatch):
    monkeypatch.setenv(ENV_VAR, request.param)
    return request.param


def returns(code: str, level: str) -> str:
    """What the candidate ``f`` returned for 2, as the test report shows it."""
    report = run_tests(textwrap.dedent(code), TESTS, "f", timeout=30)
    assert report.level == level
    return report.summary()


def reads_back(path: Path, level: str) -> str:
    return returns(READS_A_FILE.format(path=str(path)), level)


def test_a_candidate_cannot_read_a_secret_in_the_users_home(outside_tmp, monkeypatch, level):
    home = outside_tmp / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(SECRET)
    monkeypatch.setenv("HOME", str(home))
    seen = reads_back(home / ".aws" / "credentials", level)
    assert SECRET not in seen
    assert "FileNotFoundError" in seen or "PermissionError" in seen


def test_a_candidate_cannot_read_the_env_file_of_the_project_the_user_is_in(
    outside_tmp, monkeypatch, level
):
    project = outside_tmp / "project"
    project.mkdir()
    (project / ".env").write_text(f"OPENAI_API_KEY={SECRET}\n")
    monkeypatch.setenv("HOME", "/nonexistent")
    monkeypatch.chdir(project)
    seen = reads_back(project / ".env", level)
    assert SECRET not in seen


def test_a_correct_candidate_still_passes_with_the_homes_hidden(outside_tmp, monkeypatch, level):
    monkeypatch.setenv("HOME", str(outside_tmp))
    monkeypatch.chdir(outside_tmp)
    report = run_tests("import math\n\ndef f(x):\n    return math.floor(x) + 1\n", TESTS, "f")
    assert report.solved, report.summary()
    assert report.level == level


def test_the_projects_own_files_outside_its_packages_are_hidden(level):
    planted = Path(__file__).resolve().parents[2] / f".env-trace-engine-test-{os.getpid()}"
    planted.write_text(SECRET)
    try:
        seen = reads_back(planted, level)
    finally:
        planted.unlink()
    assert SECRET not in seen


def test_a_candidate_cannot_read_the_api_keys_in_the_hosts_environment(level):
    seen = reads_back(Path(f"/proc/{os.getpid()}/environ"), level)  # as the host started
    assert "PATH=" not in seen
    assert "FileNotFoundError" in seen or "PermissionError" in seen


def test_a_candidate_cannot_change_a_file_outside_its_scratch_directory(outside_tmp, level):
    canary = outside_tmp / "canary.txt"
    canary.write_text("original")
    seen = returns(
        f"""
        def f(x):
            try:
                with open({str(canary)!r}, "w") as handle:
                    handle.write("changed")
                return "written"
            except OSError as exc:
                return type(exc).__name__
        """,
        level,
    )
    assert canary.read_text() == "original"
    assert "written" not in seen


def test_a_candidate_cannot_signal_the_host(level):
    if level == RLIMIT and landlock.abi() < 6:
        pytest.skip("Landlock scopes signals from ABI 6 on")
    seen = returns(
        f"""
        import subprocess

        def f(x):
            done = subprocess.run(["kill", "-0", "{os.getpid()}"], capture_output=True)
            return done.returncode
        """,
        level,
    )
    assert "got 0," not in seen and "got 1," in seen


def test_a_candidate_cannot_look_up_the_expected_values_in_its_own_memory():
    """The candidate's process must not hold the tests: walking frames with computed
    attribute names (which no static check sees) finds nothing to copy answers from."""
    tests = "def check(candidate):\n    assert candidate(1) == 1234567\n"
    code = textwrap.dedent(
        """
        def f(x):
            try:
                raise ValueError
            except ValueError as error:
                frame = getattr(error.__traceback__, "tb_" + "frame")
            while frame is not None:
                for value in list(getattr(frame, "f_" + "locals").values()):
                    if type(value) is dict and "1234567" in str(value.get("tests")):
                        return 1234567
                frame = getattr(frame, "f_" + "back")
            return -1
        """
    )
    report = run_tests(code, tests, "f", timeout=30)
    assert not report.solved
    assert "got -1" in report.summary()
