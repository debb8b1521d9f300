"""Measuring the original function (the baseline) and judging each candidate against it.

A candidate is validated (parses, same name and signature), then run in a
sandbox: the tests (which pass only if the sandboxed process also exits with
status 0) and the benchmark, with every call of the function recorded and
compared here with the original's calls; only if it passes is it timed,
alternately with the original, in fresh sandboxed runs measured from outside
(:mod:`alternated`). The baseline's own timing (``measure.time_in_processes``)
sizes those runs and is shown to people; it decides nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trace_engine.errors import InvalidCodeError, TraceEngineError
from trace_engine.files import atomic_write_json
from trace_engine.source import added_forbidden_uses, check_proposal, refusal
from workflows.code_session.alternated import compare_alternately
from workflows.code_session.checks import compare_calls, render, stable_records
from workflows.code_session.harness import added_harness_uses
from workflows.code_session.measure import Speedup, Timing, TimingError, time_in_processes
from workflows.code_session.runs import JobRun, run_job
from workflows.code_session.target import Target, TargetError, function_source, replace_function
from workflows.isolation import Limits

RECORDS_FILE = "records.json"
UNRECORDABLE_LISTED = 10
RESULT_MB = 64
"""How much a sandboxed run may send back (recorded calls of large inputs included)."""


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
    process_sample_s: float = 0.4
    """Seconds of benchmark work in each alternated timing process (beyond its start-up)."""
    ignore_attrs: list[str] = field(default_factory=list)
    """Attribute names (``name`` or ``Class.name``) the differential check leaves out."""


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
    """The candidate's time per call, from the alternated rounds."""
    original_timing: Timing | None = None
    """The original's time per call in the same rounds."""
    speedup: Speedup | None = None
    profile: list[dict] = field(default_factory=list)
    line_profile: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failed_at is None

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["timing"] = self.timing.as_dict() if self.timing else None
        data["original_timing"] = self.original_timing.as_dict() if self.original_timing else None
        data["speedup"] = self.speedup.as_dict() if self.speedup else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        return cls(
            **{
                **data,
                "timing": Timing(**data["timing"]) if data.get("timing") else None,
                "original_timing": (
                    Timing(**data["original_timing"]) if data.get("original_timing") else None
                ),
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
        self.records_path = session_dir / RECORDS_FILE

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
            "ignore_attrs": list(w.ignore_attrs),
            **extra,
        }

    def _limits(self, reference_s: float | None) -> Limits:
        if self.workload.timeout_s is not None:
            timeout = self.workload.timeout_s
        elif reference_s is None:
            timeout = 600.0
        else:
            timeout = max(20.0, 5 * reference_s + 10)
        return Limits(wall_s=timeout, memory_mb=self.workload.memory_mb, result_mb=RESULT_MB)

    def recorded_calls(self) -> list[dict]:
        """The original's recorded calls (JSON written by :meth:`baseline`)."""
        try:
            return json.loads(self.records_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BaselineError(
                f"cannot read the recorded calls {self.records_path}: {exc}; start a new session"
            ) from None

    def _cpu_seconds(self, text: str, limits: Limits, longest: list[float]):
        """``loops -> CPU seconds`` of a fresh sandboxed run of the benchmark with ``text``
        as the target file, measured from outside; ``longest`` keeps the longest wall time."""

        def cpu_seconds(loops: int) -> float:
            run = run_job(self._job(text, ["bench"], loops=loops), limits, self.cwd)
            if run.error or run.exit_code != 0:
                raise TimingError(run.error or f"the timed run failed ({run.ended})")
            longest[0] = max(longest[0], run.seconds)
            return run.cpu_s

        return cpu_seconds

    def _time(self, text: str, limits: Limits) -> tuple[Timing, float]:
        """The benchmark's timing with ``text`` as the target file, measured from outside
        the sandbox; and the longest run's wall time."""
        longest = [0.0]
        w = self.workload
        timing = time_in_processes(
            self._cpu_seconds(text, limits, longest), w.repeat, w.min_sample_s, w.max_timing_s
        )
        return timing, longest[0]

    def baseline(self, file_text: str) -> Baseline:
        """Check, record and time the original; raise :class:`BaselineError` when it cannot be a baseline.

        The tests and the benchmark run twice, in two processes, with every call
        recorded; only calls both runs agree on are kept for the differential check.
        """
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
        self._refuse_if_bench_raised(check)
        again = run_job(self._job(file_text, tasks[:-1]), self._limits(None), self.cwd)
        self._refuse_unless_ok(again, "checking the original code a second time")
        kept, unstable = stable_records(check.records, again.records)
        atomic_write_json(self.records_path, kept)
        try:
            timing, time_seconds = self._time(file_text, self._limits(None))
        except TimingError as exc:
            raise BaselineError(f"timing the original code failed: {exc}") from None
        warnings = list(check.result.get("warnings", []))
        records = record_summary(kept, unstable)
        warnings += coverage_warnings(name, records, unstable)
        if not self.workload.tests:
            warnings.append("no --tests given: correctness rests on the differential check alone")
        bench = [r for r in kept if r["key"].startswith("benchmark#") and "outcome" in r]
        return Baseline(
            source=function_source(file_text, name),
            timing=timing,
            tests=tests,
            profile=check.result.get("profile", []),
            line_profile=check.result.get("line_profile", []),
            records=records,
            warnings=warnings,
            bench_result=_outcome_text(bench[0]["outcome"]) if bench else "",
            check_seconds=max(check.seconds, again.seconds),
            time_seconds=time_seconds,
            isolation=check.level,
        )

    def _refuse_if_bench_raised(self, outcome: JobRun) -> None:
        error = outcome.result.get("bench_error")
        if error:
            raise BaselineError(
                f"the benchmark raised on the original code: {error['type']}: {error['message']}\n"
                f"{error['traceback'][-1500:]}"
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
        tasks = ["tests"] if self.workload.tests else ["record"]
        run = run_job(self._job(file_text, tasks), self._limits(None), self.cwd)
        if run.error:
            return run.error
        tests = run.result.get("tests")
        diff = None if tests else compare_calls(self.recorded_calls(), run.records)
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
        tasks = (["tests"] if self.workload.tests else []) + ["record", "profile"]
        check = run_job(self._job(text, tasks), self._limits(baseline.check_seconds), self.cwd)
        verdict = Evaluation(tests=check.result.get("tests"))
        if check.error:
            verdict.failed_at = check.result.get("stage", "sandbox")
            verdict.reason = check.error
            return verdict
        verdict.diff = compare_calls(self.recorded_calls(), check.records)
        bench_error = check.result.get("bench_error")
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
        if bench_error and not failures:
            verdict.failed_at = "benchmark"
            failures.append(f"the benchmark raised {bench_error['type']}: {bench_error['message']}")
        if not failures and check.exit_code != 0:
            verdict.failed_at = "tests" if verdict.tests else "differential check"
            failures.append(
                f"the checks reported success but their process did not ({check.ended}); "
                "a verdict needs both"
            )
        if failures:
            verdict.reason = "\n".join(failures)
            return verdict
        verdict.profile = check.result.get("profile", [])
        verdict.line_profile = check.result.get("line_profile", [])
        limits = self._limits(baseline.time_seconds)
        longest = [0.0]
        sides = {
            "original": self._cpu_seconds(file_text, limits, longest),
            "candidate": self._cpu_seconds(text, limits, longest),
        }
        sample_s = self.workload.process_sample_s
        try:
            comparison = compare_alternately(
                lambda which, loops: sides[which](loops),
                self.workload.repeat,
                first_loops=max(1, math.ceil(sample_s / max(baseline.timing.median, 1e-9))),
                sample_s=sample_s,
            )
        except TimingError as exc:
            verdict.failed_at = "timing"
            verdict.reason = str(exc)
            return verdict
        verdict.timing = comparison.candidate
        verdict.original_timing = comparison.original
        verdict.speedup = comparison.speedup
        return verdict


def record_summary(kept: list[dict], unstable: list[dict]) -> dict[str, Any]:
    """How much of the differential check the recorded calls allow."""
    unrecordable = [r for r in kept if "unrecordable" in r]
    return {
        "kept": len(kept) - len(unrecordable),
        "dropped": len(unstable),
        "skipped": len(unrecordable),
        "unrecordable": [
            f"{r['call']}: {r['unrecordable']}" for r in unrecordable[:UNRECORDABLE_LISTED]
        ],
    }


def coverage_warnings(name: str, records: dict[str, Any], unstable: list[dict]) -> list[str]:
    """What the differential check cannot cover, in words (empty when it covers every call)."""
    total = records["kept"] + records["dropped"] + records["skipped"]
    if total == 0:
        return [
            f"{name} was never called by the tests or the benchmark, so the differential "
            "check is off; only the tests guard correctness"
        ]
    warnings = []
    if unstable:
        warnings.append(
            f"{len(unstable)} of {total} calls of {name} gave different results in two runs of "
            f"the original (e.g. {unstable[0]['call'] if 'call' in unstable[0] else unstable[0]['key']}); "
            "they look non-deterministic and are left out of the differential check"
        )
    if records["skipped"]:
        listed = "; ".join(records["unrecordable"])
        warnings.append(
            f"{records['skipped']} of {total} calls could not be recorded, so the differential "
            f"check covers {records['kept']} of {total} calls; not recorded: {listed}"
        )
    return warnings


def _outcome_text(outcome: dict[str, Any]) -> str:
    if "raised" in outcome:
        return f"raised {outcome['raised']}: {outcome['message']}"
    return render(outcome["returned"])
