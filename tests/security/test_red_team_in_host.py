"""Proposals for a code parameter that runs in this process (no sandbox runner): what
they reach without importing it, what importing runs, what waits for the terminal,
and what they change for every caller. Each must be refused when proposed, with the
reason, so that calling the function afterwards runs the old code."""

from __future__ import annotations

import json
import os  # noqa: F401 - the proposals below use the module's os without importing it
import subprocess  # noqa: F401 - likewise
import sys
from pathlib import Path

import pytest

from optimizers import OptoPrime
from tests.security.hostile import replying_with
from trace_engine import bundle


@pytest.fixture
def canary(tmp_path) -> Path:
    path = tmp_path / "canary.txt"
    path.write_text("still here")
    return path


def _step(code: str):
    @bundle(trainable=True)
    def add_one(x):
        """Returns x plus one."""
        return x

    param = add_one.parameters()[0]
    optimizer = OptoPrime([param], replying_with(code))
    optimizer.backward(add_one(1), "expected 2")
    result = optimizer.step()
    return add_one, result.rejected.get(param.name, "")


def test_a_module_the_program_imported_is_refused_without_an_import_too(canary):
    fn, reason = _step(f"def add_one(x):\n    os.remove({str(canary)!r})\n    return x + 1\n")
    assert "os.remove: changes files" in reason
    assert fn(1).data == 1
    assert canary.read_text() == "still here"


def test_a_function_the_program_imported_is_refused_by_what_it_is(canary):
    code = f"def add_one(x):\n    subprocess.run(['rm', {str(canary)!r}])\n    return x + 1\n"
    fn, reason = _step(code)
    assert "subprocess.run: starts processes" in reason
    fn(1)
    assert canary.read_text() == "still here"


@pytest.mark.parametrize("module", ["antigravity", "venv.__main__", "idlelib.idle"])
def test_a_module_whose_import_runs_code_is_refused(module):
    fn, reason = _step(f"def add_one(x):\n    import {module}\n    return x + 1\n")
    assert f"import {module}" in reason or f"{module}: runs" in reason
    assert module not in sys.modules
    assert fn(1).data == 1


@pytest.mark.parametrize("call", ["input()", "help()", "sys.stdin.read()", "license()"])
def test_a_body_that_waits_for_the_terminal_is_refused(call):
    fn, reason = _step(f"import sys\n\ndef add_one(x):\n    {call}\n    return x + 1\n")
    assert reason
    assert fn(1).data == 1


@pytest.mark.parametrize(
    "body",
    ["json.dumps = lambda *a, **k: 'forged'", "sys.stdout.close()", "os.setsid()"],
)
def test_a_body_that_changes_the_process_for_every_caller_is_refused(body):
    real = json.dumps
    fn, reason = _step(f"import json, os, sys\n\ndef add_one(x):\n    {body}\n    return x + 1\n")
    assert reason
    fn(1)
    assert json.dumps is real and not sys.stdout.closed


def test_a_proposal_importing_only_computing_modules_is_accepted():
    fn, reason = _step(
        "import statistics\n\ndef add_one(x):\n    return int(statistics.mean([x, x + 2]))\n"
    )
    assert not reason
    assert fn(1).data == 2
