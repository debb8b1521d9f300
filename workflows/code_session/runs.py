"""One sandboxed run of ``sandboxed.py`` for a code session, and what the host made of it.

The run goes through the project's one sandbox runner
(:func:`workflows.isolation.run_isolated`); the user's project is importable
(and read-only at the bubblewrap level) and the job spec is its input.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflows.isolation import Job, Limits, Outcome, run_isolated

PROGRAM = "workflows.code_session.sandboxed"


@dataclass
class JobRun:
    """What one run produced: the job's report (``result``) and the host's own observations.

    ``result`` comes from a process that ran candidate code, so it informs (which
    stage, which test failed) but decides nothing on its own; ``exit_code``,
    ``cpu_s`` and ``seconds`` are measured outside it.
    """

    result: dict[str, Any] = field(default_factory=dict)
    timed_out: bool = False
    exit_code: int | None = 0
    output_tail: str = ""
    seconds: float = 0.0
    cpu_s: float = 0.0
    level: str = ""
    ended: str = ""
    records: list[dict] = field(default_factory=list)
    """The recorded calls (JSON snapshots, see :mod:`workflows.code_session.snapshot`)."""

    @property
    def error(self) -> str | None:
        """Why the job did not finish, in words; ``None`` when it finished."""
        stage = self.result.get("stage", "starting")
        if self.timed_out:
            return f"timed out during {stage} (killed)"
        error = self.result.get("error")
        if error:
            if error["type"] == "MemoryError":
                return f"ran out of memory during {stage} (MemoryError under the memory limit)"
            return f"{error['type']} during {error['stage']}: {error['message']}"
        if self.result.get("stage") != "done" or self.exit_code is None:
            return (
                f"the sandbox process died during {stage} ({self.ended}): {self.output_tail[-400:]}"
            )
        return None


def python_path(cwd: Path) -> tuple[str, ...]:
    """Where the sandbox imports the user's code from: ``cwd`` and the host's PYTHONPATH."""
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return (str(cwd), *extra)


def run_job(job: dict[str, Any], limits: Limits, cwd: Path) -> JobRun:
    """Run the session job ``job`` in the sandbox, in ``cwd``; never raises for what it does."""
    outcome = run_isolated(
        Job(
            PROGRAM,
            input=json.dumps(job).encode("utf-8"),
            python_path=python_path(cwd),
            cwd=str(cwd),
        ),
        limits,
    )
    return from_outcome(outcome)


def from_outcome(outcome: Outcome) -> JobRun:
    result: dict[str, Any] = {}
    records: list[dict] = []
    for message in outcome.messages():
        if isinstance(message, dict) and isinstance(message.get("state"), dict):
            result = message["state"]
        if isinstance(message, dict) and isinstance(message.get("records"), list):
            records = message["records"]
    return JobRun(
        records=records,
        result=result,
        timed_out=outcome.timed_out,
        exit_code=outcome.exit_code,
        output_tail=outcome.output[-4000:],
        seconds=outcome.wall_s,
        cpu_s=outcome.cpu_s,
        level=outcome.level,
        ended=outcome.describe_end(),
    )
