"""The text the optimizer gets each round: measurements, hot spots, rejections, the person's words."""

from __future__ import annotations

from workflows.code_session.measure import format_seconds
from workflows.code_session.state import Candidate, SessionState

REASON_CHARS = 400
REJECTIONS_SHOWN = 4


def summary(state: SessionState) -> str:
    """One line: how the current version measures (the traced operation's output)."""
    timing = state.baseline.timing
    accepted = state.candidate(state.accepted_id)
    if accepted and accepted.evaluation and accepted.evaluation.timing:
        timing = accepted.evaluation.timing
    tests = state.baseline.tests
    test_text = f"{tests['passed']} tests pass" if tests else "no tests given"
    return (
        f"{test_text}; identical to the original on {state.baseline.records['kept']} recorded inputs; "
        f"{format_seconds(timing.median)} per benchmark call ({state.current_speedup:.2f}x the original)"
    )


def _hot_spots(state: SessionState) -> list[str]:
    accepted = state.candidate(state.accepted_id)
    evaluation = accepted.evaluation if accepted else None
    lines_profile = evaluation.line_profile if evaluation else state.baseline.line_profile
    profile = evaluation.profile if evaluation else state.baseline.profile
    out = []
    hot_lines = [r for r in lines_profile if r["share"] >= 0.05][:4]
    if hot_lines:
        out.append("Hot lines of the current version (line of the function: share of its time):")
        out += [
            f"  line {r['line']} `{r['text']}`: {r['share']:.0%} ({r['hits']} runs)"
            for r in hot_lines
        ]
    hot_functions = [
        r for r in profile if not r["function"].startswith("<built-in method builtins.eval")
    ][:4]
    if hot_functions:
        out.append("Hot functions (cProfile, own time in one benchmark run):")
        out += [
            f"  {r['function']} ({r['where']}): {format_seconds(r['own_s'])} in {r['calls']} calls"
            for r in hot_functions
        ]
    return out


def _rejection(c: Candidate) -> str:
    reason = c.reason if len(c.reason) <= REASON_CHARS else c.reason[:REASON_CHARS] + "..."
    who = "edited by the person" if c.origin == "edit" else f"round {c.round}"
    comment = f' The person said: "{c.comment}"' if c.comment else ""
    return f"- {who}: {c.status}: {reason}{comment}"


def build_feedback(state: SessionState) -> str:
    """Feedback for the next round, built from everything the session measured so far."""
    parts = [
        f"Goal: make {state.target.fn_name} faster on the benchmark `{state.workload.bench}` "
        "while behaving exactly like the original.",
        f"Current version: {summary(state)}. The original took "
        f"{format_seconds(state.baseline.timing.median)} per call.",
    ]
    parts += _hot_spots(state)
    rejected = [c for c in state.candidates if c.status in ("invalid", "failed", "rejected")]
    if rejected:
        parts.append("Earlier attempts that were not accepted, and why (do not repeat them):")
        parts += [_rejection(c) for c in rejected[-REJECTIONS_SHOWN:]]
    if state.comments:
        parts.append("The person reviewing the code says:")
        parts += [f'- "{comment}"' for comment in state.comments[-3:]]
    return "\n".join(parts)
