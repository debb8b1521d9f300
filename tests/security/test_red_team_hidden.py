"""Attacks a user requires to be contained, beyond the first red team: secrets a candidate
could read and return (its output becomes feedback sent to the LLM provider)."""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from workflows.isolation import BUBBLEWRAP
from workflows.isolation.levels import bubblewrap_works
from workflows.unit_checks import run_tests

bubblewrap_only = pytest.mark.skipif(
    not bubblewrap_works(),
    reason="bubblewrap (bwrap) is not installed or cannot create namespaces here",
)
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


def reads_back(path: Path) -> str:
    report = run_tests(READS_A_FILE.format(path=str(path)), TESTS, "f", timeout=30)
    assert report.level == BUBBLEWRAP
    return report.summary()


@bubblewrap_only
def test_a_candidate_cannot_read_a_secret_in_the_users_home(outside_tmp, monkeypatch):
    home = outside_tmp / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(SECRET)
    monkeypatch.setenv("HOME", str(home))
    seen = reads_back(home / ".aws" / "credentials")
    assert SECRET not in seen
    assert "FileNotFoundError" in seen


@bubblewrap_only
def test_a_candidate_cannot_read_the_env_file_of_the_project_the_user_is_in(
    outside_tmp, monkeypatch
):
    project = outside_tmp / "project"
    project.mkdir()
    (project / ".env").write_text(f"OPENAI_API_KEY={SECRET}\n")
    monkeypatch.setenv("HOME", "/nonexistent")
    monkeypatch.chdir(project)
    seen = reads_back(project / ".env")
    assert SECRET not in seen


@bubblewrap_only
def test_a_correct_candidate_still_passes_with_the_homes_hidden(outside_tmp, monkeypatch):
    monkeypatch.setenv("HOME", str(outside_tmp))
    monkeypatch.chdir(outside_tmp)
    report = run_tests("import math\n\ndef f(x):\n    return math.floor(x) + 1\n", TESTS, "f")
    assert report.solved, report.summary()
    assert report.level == BUBBLEWRAP


@bubblewrap_only
def test_the_projects_own_files_outside_its_packages_are_hidden():
    planted = Path(__file__).resolve().parents[2] / f".env-trace-engine-test-{os.getpid()}"
    planted.write_text(SECRET)
    try:
        seen = reads_back(planted)
    finally:
        planted.unlink()
    assert SECRET not in seen
