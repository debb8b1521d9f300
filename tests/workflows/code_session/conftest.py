"""Fixtures: a fresh project per test, one shared measured baseline, a session starter."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workflows.code_session.project import quick_workload, write_project
from workflows.code_session import Evaluator, parse_target, start_session


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj")


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """One measured baseline shared by the tests that only evaluate candidates."""
    root = write_project(tmp_path_factory.mktemp("shared") / "proj")
    target = parse_target("dupes.py::find_duplicates", root)
    session_dir = root / "session"
    session_dir.mkdir()
    evaluator = Evaluator(target, quick_workload(timeout_s=6.0), session_dir, root)
    text = target.read()
    return evaluator, evaluator.baseline(text), text


@pytest.fixture
def new_session(project: Path):
    """Start a session on ``project`` (baseline measured), with quick timing settings."""

    def start(rounds: int = 1, auto: bool = True, **workload):
        target = parse_target("dupes.py::find_duplicates", project)
        return start_session(
            target,
            quick_workload(**workload),
            project / "session",
            rounds=rounds,
            auto=auto,
            min_speedup=1.1,
            llm=None,
            cwd=project,
        )

    return start
