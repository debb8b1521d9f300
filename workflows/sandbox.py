"""Run untrusted candidate code against unit tests in a separate process, with a timeout.

A candidate that loops forever is killed when the timeout expires and the
report says which check was running. A crash, a ``sys.exit`` or an
``os._exit`` in the candidate becomes a report too; nothing it does can stop
the caller.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflows.sandbox_driver import RESULT_MARKER, RUNNING_MARKER

DRIVER = Path(__file__).with_name("sandbox_driver.py")


@dataclass
class TestReport:
    """The outcome of running a test suite against one candidate."""

    status: str
    """``passed``, ``failed``, ``error`` (the code could not be run) or ``timeout``."""
    passed: int = 0
    total: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    output: str = ""

    @property
    def solved(self) -> bool:
        return self.status == "passed"

    @property
    def score(self) -> float:
        """The fraction of checks that passed (0 when the code could not run)."""
        if self.solved:
            return 1.0
        return self.passed / self.total if self.total else 0.0

    def summary(self, max_failures: int = 3) -> str:
        """Plain-language account for a person or an optimizer."""
        if self.solved:
            return f"all {self.total} checks passed"
        lines = []
        if self.status == "timeout" or self.error:
            lines.append(self.error or "")
        if self.total:
            lines.append(f"{self.passed} of {self.total} checks passed")
        for f in self.failures[:max_failures]:
            line = f"failed: {f['check']}"
            if "got" in f:
                line += f" -- got {f['got']}, expected {f['expected']}"
            if f.get("message"):
                line += f" -- {f['message']}"
            lines.append(line)
        if len(self.failures) > max_failures:
            lines.append(f"... and {len(self.failures) - max_failures} more failing checks")
        return "\n".join(x for x in lines if x)


def run_tests(
    code: str, tests: str, entry_point: str, *, setup: str = "", timeout: float = 10.0
) -> TestReport:
    """Define ``code`` (after ``setup``) in a fresh interpreter and run ``check(entry_point)``.

    ``tests`` must define ``check(candidate)`` (HumanEval's form); each top-level
    statement of its body counts as one check.
    """
    request = json.dumps({"setup": setup, "code": code, "tests": tests, "entry_point": entry_point})
    with tempfile.TemporaryDirectory(prefix="trace-engine-sandbox-") as workdir:
        process = subprocess.Popen(
            [sys.executable, "-I", str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(request.encode("utf-8"), timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            stdout, stderr = process.communicate()
            return TestReport(
                status="timeout",
                error=f"timed out after {timeout:g}s: the code did not finish"
                + _running(stderr)
                + " (an infinite loop, or far too slow?)",
            )
        except BaseException:
            _kill(process)
            process.communicate()
            raise
    return _parse(stdout.decode("utf-8", "replace"), stderr, process.returncode)


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def _running(stderr: bytes | None) -> str:
    lines = (stderr or b"").decode("utf-8", "replace").splitlines()
    running = [x[len(RUNNING_MARKER) :] for x in lines if x.startswith(RUNNING_MARKER)]
    return f" while running `{running[-1]}`" if running else ""


def _parse(stdout: str, stderr: bytes, returncode: int) -> TestReport:
    _, marker, payload = stdout.rpartition(RESULT_MARKER)
    if not marker:
        tail = [
            x
            for x in (stderr or b"").decode("utf-8", "replace").splitlines()
            if not x.startswith(RUNNING_MARKER)
        ][-3:]
        detail = f": {' | '.join(tail)}" if tail else ""
        return TestReport(
            status="error",
            error=f"the test process ended without a result (exit code {returncode})"
            + _running(stderr)
            + detail,
        )
    data = json.loads(payload.strip().splitlines()[0])
    return TestReport(
        status=data["status"],
        passed=data.get("passed", 0),
        total=data.get("total", 0),
        failures=data.get("failures", []),
        error=data.get("error"),
        output=data.get("output", ""),
    )
