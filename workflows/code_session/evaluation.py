"""Measuring the original function (the baseline) and judging each candidate against it.

A candidate is validated (parses, same name and signature), then run in a
sandbox: differential check on the recorded inputs and the tests (which pass
only if the sandboxed process also exits with status 0); only if it passes is
it timed, from outside, in fresh sandboxed runs, the same way as the baseline
(see ``measure.time_in_processes``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trace_engine.errors import InvalidCodeError, TraceEngineError
from trace_engine.files import atomic_write_bytes
from trace_engine.source import added_forbidden_uses, check_proposal, refusal
from workflows.code_session.harness import added_harness_uses
from workflows.code_session.measure import Speedup, Timing, TimingError, time_in_processes
from workflows.code_session.runs import JobRun, run_job
from workflows.code_session.target import Target, TargetError, function_source, replace_function
from workflows.isolation import Limits


class BaselineError(TraceEngineError, RuntimeError):
    """The original code cannot serve as a baseline (tests fail, benchmark raises, ...)."""


@dataclass
class Workload:
    """What to check and time: pytest arguments, benchmark expression and its setup."""

    bench: str
    setup: str = ""
    tests: list[str] = field(default_factory=list)
    repeat: int = 7
    min_sample_s: float = 0.05
    max_timing_s: float = 30.0
    record_limit: int = 100
    timeout_s: float | None = None
    memory_mb: int = 4096


@dataclass
class Baseline:
    """The original function's measurements; what every candidate is compared with."""

    source: str
    timing: Timing
    tests: dict[str, Any] | None
    profile: list[dict]
    line_profile: list[dict]
    records: dict[str, int]
    warnings: list[str]
    bench_result: str
    check_seconds: float
    time_seconds: float
    isolation: str = ""
    """The isolation level of the sandboxed runs (``bubblewrap`` or ``rlimit``)."""

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "timing": self.timing.as_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Baseline:
        return cls(**{**data, "timing": Timing(**data["timing"])})


@dataclass
class Evaluation:
    """The verdict on one candidate. ``failed_at`` is None when it passed every check."""

    failed_at: str | None = None
    reason: str = ""
    tests: dict[str, Any] | None = None
    diff: dict[str, Any] | None = None
    timing: Timing | None = None
    speedup: Speedup | None = None
    profile: list[dict] = field(default_factory=list)
    line_profile: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failed_at is None

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["timing"] = self.timing.as_dict() if self.timing else None
        data["speedup"] = self.speedup.as_dict() if self.speedup else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        return cls(
            **{
                **data,
                "timing": Timing(**data["timing"]) if data.get("timing") else None,
                "speedup": Speedup(**data["speedup"]) if data.get("speedup") else None,
            }
        )


def validate_candidate(
    source: str, fn_name: str, signature: str, original: str | None = None
) -> str | None:
    """Why ``source`` cannot replace the function, or None (see
    :func:`trace_engine.source.check_proposal`); with ``original`` (the function's source),
    also the escape hatches and the reaches into the checking harness it uses that the
    original does not (:func:`trace_engine.source.added_forbidden_uses`,
    :func:`workflows.code_session.harness.added_harness_uses`)."""
    try:
        check_proposal(source, fn_name, signature, "the candidate")
    except InvalidCodeError as exc:
        return str(exc)
    if original is not None:
        uses = added_forbidden_uses(source, original) + added_harness_uses(source, original)
        if uses:
            return refusal(uses, "the candidate")
    return None


class Evaluator:
    """Runs the baseline and candidate checks of one target in sandboxes."""

    def __init__(self, target: Target, workload: Workload, session_dir: Path, cwd: Path):
        self.target = target
        self.workload = workload
        self.session_dir = session_dir
        self.cwd = cwd
        self.records_path = session_dir / "records.pkl"
        """The recorded calls, pickled inside the sandbox; unpickled only inside it."""

    def _job(self, text: str, tasks: list[str], **extra: Any) -> dict[str, Any]:
        w = self.workload
        return {
            "target_file": str(self.target.path),
            "module_name": self.target.module_name,
            "import_root": str(self.target.import_root),
            "fn_name": self.target.fn_name,
            "text": text,
            "tasks": tasks,
            "tests": w.tests,
            "bench": w.bench,
            "setup": w.setup,
            "repeat": w.repeat,
            "min_sample_s": w.min_sample_s,
            "max_timing_s": w.max_timing_s,
            "record_limit": w.record_limit,
            **extra,
        }

    def _limits(self, reference_s: float | None) -> Limits:
        if self.workload.timeout_s is not None:
            timeout = self.workload.timeout_s
        elif reference_s is None:
            timeout = 600.0
        else:
            timeout = max(20.0, 5 * reference_s + 10)
        return Limits(wall_s=timeout, memory_mb=self.workload.memory_mb)

    def _records(self) -> str:
        return base64.b64encode(self.records_path.read_bytes()).decode("ascii")

    def _time(self, text: str, limits: Limits) -> tuple[Timing, float]:
        """The benchmark's timing with ``text`` as the target file, measured from outside
        the sandbox; and the longest run's wall time."""
        longest = [0.0]

        def cpu_seconds(loops: int) -> float:
            run = run_job(self._job(text, ["bench"], loops=loops), limits, self.cwd)
            if run.error or run.exit_code != 0:
                raise TimingError(run.error or f"the timed run failed ({run.ended})")
            longest[0] = max(longest[0], run.seconds)
            return run.cpu_s

        w = self.workload
        timing = time_in_processes(cpu_seconds, w.repeat, w.min_sample_s, w.max_timing_s)
        return timing, longest[0]

    def baseline(self, file_text: str) -> Baseline:
        """Check, record and time the original; raise :class:`BaselineError` when it cannot be a baseline."""
        name = self.target.fn_name
        tasks = (["tests"] if self.workload.tests else []) + ["record", "profile"]
        check = run_job(self._job(file_text, tasks), self._limits(None), self.cwd)
        self._refuse_unless_ok(check, "checking the original code")
        tests = check.result.get("tests")
        if tests is not None and tests["collected_nothing"]:
            raise BaselineError(f"--tests {' '.join(self.workload.tests)} collected no tests")
        if tests is not None and not tests["ok"]:
            details = "\n".join(tests["failures"]) or check.output_tail[-1500:]
            raise BaselineError(
                f"the tests fail on the original {name} ({tests['failed']} failed, "
                f"{tests['errors']} errors); fix them before optimizing, refusing to start:\n{details}"
            )
        atomic_write_bytes(self.records_path, check.records)
        try:
            timing, time_seconds = self._time(file_text, self._limits(None))
        except TimingError as exc:
            raise BaselineError(f"timing the original code failed: {exc}") from None
        warnings = list(check.result.get("warnings", []))
        records = check.result["records"]
        if records["kept"] == 0:
            warnings.append(
                "no inputs could be recorded, so the differential check is off; "
                "only the tests guard correctness"
            )
        if not self.workload.tests:
            warnings.append("no --tests given: correctness rests on the differential check alone")
        return Baseline(
            source=function_source(file_text, name),
            timing=timing,
            tests=tests,
            profile=check.result.get("profile", []),
            line_profile=check.result.get("line_profile", []),
            records=records,
            warnings=warnings,
            bench_result=check.result.get("bench_result", ""),
            check_seconds=check.seconds,
            time_seconds=time_seconds,
            isolation=check.level,
        )

    def _refuse_unless_ok(self, outcome: JobRun, doing: str) -> None:
        error = outcome.error
        if error is None:
            return
        stage = outcome.result.get("stage", "")
        if outcome.timed_out:
            raise BaselineError(f"{doing} timed out during {stage}; give a larger --timeout")
        if stage == "benchmark" and outcome.result.get("error"):
            raise BaselineError(
                f"the benchmark raised on the original code: {error}\n"
                f"{outcome.result['error']['traceback'][-1500:]}"
            )
        raise BaselineError(f"{doing} failed: {error}")

    def recheck(
        self, file_text: str, source: str, baseline: Baseline, signature: str
    ) -> str | None:
        """Why ``file_text`` (the file with ``source`` as the function) must not be written
        back, or None: ``source`` must still be a valid candidate, and run in a fresh
        sandboxed process as the file will be written, the tests (or, without tests, the
        differential check) must pass and the process must exit with status 0."""
        invalid = validate_candidate(source, self.target.fn_name, signature, baseline.source)
        if invalid:
            return invalid
        tasks = ["tests"] if self.workload.tests else ["diff"]
        run = run_job(
            self._job(file_text, tasks, records=self._records()), self._limits(None), self.cwd
        )
        if run.error:
            return run.error
        tests, diff = run.result.get("tests"), run.result.get("diff")
        if tests is not None and not tests["ok"]:
            return (
                f"the tests fail on the file as it would be written ({tests['failed']} failed, "
                f"{tests['errors']} errors):\n" + "\n".join(tests["failures"])
            )
        if diff is not None and not diff["ok"]:
            return "it behaves differently from the original " + "; ".join(diff["mismatches"])
        if run.exit_code != 0:
            return f"the checking process did not succeed ({run.ended})"
        return None

    def evaluate(
        self, file_text: str, source: str, baseline: Baseline, signature: str
    ) -> Evaluation:
        """Validate, check and time ``source`` as the new body of the function in ``file_text``."""
        invalid = validate_candidate(source, self.target.fn_name, signature, baseline.source)
        if invalid:
            return Evaluation(failed_at="validation", reason=f"invalid code: {invalid}")
        try:
            text = replace_function(file_text, self.target.fn_name, source)
        except TargetError as exc:
            return Evaluation(failed_at="validation", reason=f"invalid code: {exc}")
        tasks = (["tests"] if self.workload.tests else []) + ["diff", "profile"]
        check = run_job(
            self._job(text, tasks, records=self._records()),
            self._limits(baseline.check_seconds),
            self.cwd,
        )
        verdict = Evaluation(tests=check.result.get("tests"), diff=check.result.get("diff"))
        if check.error:
            verdict.failed_at = check.result.get("stage", "sandbox")
            verdict.reason = check.error
            return verdict
        failures = []
        if verdict.tests and not verdict.tests["ok"]:
            t = verdict.tests
            verdict.failed_at = "tests"
            failures.append(
                f"tests failed ({t['failed']} failed, {t['errors']} errors):\n"
                + "\n".join(t["failures"])
            )
        if verdict.diff and not verdict.diff["ok"]:
            verdict.failed_at = verdict.failed_at or "differential check"
            failures.append(
                "behaves differently from the original " + "; ".join(verdict.diff["mismatches"])
            )
        if not failures and check.exit_code != 0:
            verdict.failed_at = "tests" if verdict.tests else "differential check"
            failures.append(
                f"the checks reported success but their process did not ({check.ended}); "
                "a verdict needs both"
            )
        if failures:
            verdict.reason = "\n".join(failures)
            return verdict
        try:
            verdict.timing, _ = self._time(text, self._limits(baseline.time_seconds))
        except TimingError as exc:
            verdict.failed_at = "timing"
            verdict.reason = str(exc)
            return verdict
        verdict.speedup = Speedup.between(baseline.timing, verdict.timing)
        verdict.profile = check.result.get("profile", [])
        verdict.line_profile = check.result.get("line_profile", [])
        return verdict
