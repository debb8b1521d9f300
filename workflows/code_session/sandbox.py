"""Run a worker job in a separate process with a wall-clock timeout and a memory limit.

Candidate code never runs in the session's own process: an infinite loop is
killed (with its whole process group) when the timeout passes, and an address
space limit (``resource.setrlimit``) turns runaway allocation into a MemoryError.
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

from trace_engine.files import atomic_write_json


@dataclass(frozen=True)
class Limits:
    """How long (seconds) and how much memory (MiB of address space) one job may use."""

    timeout_s: float = 60.0
    memory_mb: int = 4096


@dataclass
class Outcome:
    """What a job produced: its result JSON, or why there is none."""

    result: dict[str, Any] = field(default_factory=dict)
    timed_out: bool = False
    returncode: int | None = 0
    output_tail: str = ""
    seconds: float = 0.0

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
        if self.result.get("stage") != "done":
            how = (
                f"signal {-self.returncode}"
                if (self.returncode or 0) < 0
                else f"exit code {self.returncode}"
            )
            return f"the sandbox process died during {stage} ({how}): {self.output_tail[-400:]}"
        return None


def _limit_memory(memory_mb: int) -> None:
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_job(job: dict[str, Any], limits: Limits, cwd: Path) -> Outcome:
    """Run ``job`` in ``python -m workflows.code_session.worker``; never raises for what the job does."""
    import time

    with tempfile.TemporaryDirectory(prefix="code-session-") as tmp:
        job_path = Path(tmp) / "job.json"
        result_path = Path(tmp) / "result.json"
        atomic_write_json(job_path, {**job, "result_path": str(result_path)})
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1"}
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "workflows.code_session.worker", str(job_path)],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: _limit_memory(limits.memory_mb),
        )
        timed_out = False
        try:
            output, _ = process.communicate(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process)
            output, _ = process.communicate()
        seconds = time.perf_counter() - start
        result: dict[str, Any] = {}
        if result_path.exists():
            try:
                result = json.loads(result_path.read_text(encoding="utf-8"))
            except ValueError:
                result = {}
        return Outcome(
            result=result,
            timed_out=timed_out,
            returncode=process.returncode,
            output_tail=output.decode("utf-8", "replace")[-4000:],
            seconds=seconds,
        )


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
