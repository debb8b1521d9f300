"""Run untrusted candidate code against unit tests in the sandbox runner.

A candidate that loops forever is killed when the timeout expires and the
report says which check was running. A crash, an exit or anything else the
candidate does becomes a report too; nothing it does can stop the caller or
change the verdict, which comes from a process that never runs the candidate
(see ``unit_checks_program.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from workflows.isolation import Job, Limits, run_isolated

PROGRAM = "workflows.unit_checks_program"


@dataclass
class TestReport:
    """The outcome of running a test suite against one candidate."""

    status: str
    """``passed``, ``failed``, ``error`` (the code could not be run) or ``timeout``."""
    passed: int = 0
    total: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    level: str = ""
    """The isolation level the run got (``bubblewrap`` or ``rlimit``)."""

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
    code: str,
    tests: str,
    entry_point: str,
    *,
    setup: str = "",
    timeout: float = 10.0,
    memory_mb: int = 2048,
) -> TestReport:
    """Run ``tests`` (which define ``check(candidate)``) against ``code`` in a sandbox.

    The verdict is the test process's: it never runs ``code`` itself, and it
    compares plain values that ``code``'s own process returned. Each top-level
    statement of ``check``'s body counts as one check.
    """
    request = json.dumps({"setup": setup, "code": code, "tests": tests, "entry_point": entry_point})
    outcome = run_isolated(
        Job(
            PROGRAM,
            input=request.encode("utf-8"),
            bare_packages=("workflows", "trace_engine"),
            site=False,
        ),
        Limits(wall_s=timeout, memory_mb=memory_mb),
    )
    messages = outcome.messages()
    running = [m["running"] for m in messages if isinstance(m, dict) and "running" in m]
    where = f" while running `{running[-1]}`" if running else ""
    results = [m["result"] for m in messages if isinstance(m, dict) and "result" in m]
    if outcome.timed_out:
        return TestReport(
            status="timeout",
            error=f"timed out after {timeout:g}s: the code did not finish{where} "
            "(an infinite loop, or far too slow?)",
            level=outcome.level,
        )
    if not results or outcome.exit_code != 0:
        tail = [x for x in outcome.output.splitlines() if x.strip()][-3:]
        detail = f": {' | '.join(tail)}" if tail else ""
        return TestReport(
            status="error",
            error=f"the test process ended without a result ({outcome.describe_end()}){where}{detail}",
            level=outcome.level,
        )
    data = results[-1]
    passed, total = int(data.get("passed", 0)), int(data.get("total", 0))
    status = data.get("status")
    if status != "error":
        status = "passed" if passed == total else "failed"
    return TestReport(
        status=status,
        passed=passed,
        total=total,
        failures=list(data.get("failures", [])),
        error=data.get("error"),
        level=outcome.level,
    )
