"""The session report: ``report.json`` (everything) and ``report.md`` (for people)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trace_engine.files import atomic_write_json, atomic_write_text
from workflows.code_session.measure import format_seconds
from workflows.code_session.state import SessionState
from workflows.isolation import describe


def describe_level(level: str) -> str:
    """The isolation level the session's runs got, in words."""
    return describe(level) if level else "not recorded (a session started before it was)"


def report_data(state: SessionState) -> dict[str, Any]:
    accepted = state.candidate(state.accepted_id)
    usage = state.usage
    return {
        "target": str(state.target.spec),
        "benchmark": {"expression": state.workload.bench, "setup": state.workload.setup},
        "tests": state.workload.tests,
        "rounds": {"planned": state.rounds, "done": state.rounds_done},
        "mode": "auto" if state.auto else "interactive",
        "min_speedup": state.min_speedup,
        "llm": state.llm or "default",
        "isolation": state.baseline.isolation or "unknown",
        "baseline": {
            "timing": state.baseline.timing.as_dict(),
            "tests": state.baseline.tests,
            "recorded_inputs": state.baseline.records,
            "profile": state.baseline.profile,
            "line_profile": state.baseline.line_profile,
        },
        "warnings": state.warnings,
        "candidates": [c.as_dict() for c in state.candidates],
        "result": {
            "accepted_candidate": state.accepted_id,
            "speedup": accepted.evaluation.speedup.as_dict() if accepted else None,
            "written_back": state.written,
            "finished": state.finished,
        },
        "llm_usage": {
            "calls": usage.calls,
            "failed_calls": usage.failed_calls,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "cost_usd": usage.cost,
            "seconds": usage.seconds,
        },
    }


def _row(c: Any) -> str:
    ev = c.evaluation
    speed = ev.speedup.describe() if ev and ev.speedup else "-"
    median = format_seconds(ev.timing.median) if ev and ev.timing else "-"
    tests = f"{ev.tests['passed']} passed, {ev.tests['failed']} failed" if ev and ev.tests else "-"
    reason = (c.reason or "").splitlines()[0][:120] if c.reason else ""
    return f"| {c.round} | {c.id} | {c.origin} | {c.status} | {median} | {speed} | {tests} | {reason} |"


def report_markdown(state: SessionState) -> str:
    data = report_data(state)
    b = state.baseline
    accepted = state.candidate(state.accepted_id)
    lines = [
        f"# Code session: `{state.target.fn_name}`",
        "",
        f"- Target: `{state.target.spec}`",
        f"- Benchmark: `{state.workload.bench}`"
        + (f" (setup: `{state.workload.setup}`)" if state.workload.setup else ""),
        f"- Tests: {' '.join(state.workload.tests) or 'none'}",
        f"- Mode: {data['mode']}, rounds {state.rounds_done} of {state.rounds}, min speedup {state.min_speedup:g}",
        f"- Sandbox: {describe_level(b.isolation)}; timings are CPU time of the sandboxed "
        "process, measured from outside it",
        f"- Baseline: {b.timing.describe()}; "
        + (f"{b.tests['passed']} tests pass; " if b.tests else "")
        + f"{b.records['kept']} recorded inputs for the differential check",
    ]
    if state.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in state.warnings]
    lines += [
        "",
        "## Candidates",
        "",
        "| round | id | origin | status | median | speedup | tests | reason |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row(c) for c in state.candidates]
    lines += ["", "## Result", ""]
    if accepted:
        where = (
            "written back to the source file"
            if state.written
            else "NOT written back (see warnings above and the session output)"
        )
        lines.append(
            f"Candidate {accepted.id} accepted: {accepted.evaluation.speedup.describe()}, {where}."
        )
        lines.append("The diff is in `changes.diff`; the original file is in `backup/`.")
    else:
        lines.append("No candidate was accepted; the source file is unchanged.")
    u = data["llm_usage"]
    lines += [
        "",
        "## LLM usage",
        "",
        f"{u['calls']} calls ({u['failed_calls']} failed), {u['prompt_tokens']} prompt + {u['completion_tokens']} completion tokens, "
        f"${u['cost_usd']:.4f}, {u['seconds']:.1f} s",
        "",
    ]
    return "\n".join(lines)


def write_report(state: SessionState, session_dir: Path) -> Path:
    """Write ``report.json`` and ``report.md``; return the Markdown path."""
    atomic_write_json(session_dir / "report.json", report_data(state))
    return atomic_write_text(session_dir / "report.md", report_markdown(state))
