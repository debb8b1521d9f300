"""The session loop: baseline, rounds of propose -> check -> time -> decide, write-back, report.

State is saved after every candidate and decision, so an interrupted session
resumes where it stopped. The source file is written once, at the end, and
only if it still has the content the session started from (or last wrote).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from trace_engine.errors import TraceEngineError
from trace_engine.files import atomic_write_text
from trace_engine.source import find_function, signature_of
from workflows.code_session.evaluation import Evaluator, Workload
from workflows.code_session.feedback import build_feedback, summary
from workflows.code_session.proposer import Proposal
from workflows.code_session.report import write_report
from workflows.code_session.review import Decision, edit_in_editor, source_diff
from workflows.code_session.state import STATE_FILE, Candidate, SessionState
from workflows.code_session.target import (
    SourceChangedError,
    Target,
    TargetError,
    locate_function,
    replace_function,
    text_hash,
    write_back,
)


class SessionError(TraceEngineError, RuntimeError):
    """The session cannot start or continue (with a reason the person can act on)."""


class Proposer(Protocol):
    def propose(self, current_source: str, summary: str, feedback: str) -> Proposal: ...


class Reviewer(Protocol):
    def review(
        self, candidate: Candidate, current_source: str, current_speedup: float
    ) -> Decision: ...


def start_session(
    target: Target,
    workload: Workload,
    session_dir: Path,
    *,
    rounds: int,
    auto: bool,
    min_speedup: float,
    llm: str | None,
    cwd: Path,
    llm_timeout: float | None = None,
) -> SessionState:
    """Measure the baseline and create the session's directory and state (raises BaselineError)."""
    if (session_dir / STATE_FILE).exists():
        raise SessionError(
            f"{session_dir} already holds a session; resume it with --resume or pick another directory"
        )
    text = target.read()
    locate_function(text, target.fn_name, str(target.path))
    definition = find_function(text, target.fn_name)
    session_dir.mkdir(parents=True, exist_ok=True)
    baseline = Evaluator(target, workload, session_dir, cwd).baseline(text)
    atomic_write_text(session_dir / "backup" / target.path.name, text)
    state = SessionState(
        target=target,
        workload=workload,
        rounds=rounds,
        auto=auto,
        min_speedup=min_speedup,
        llm=llm,
        llm_timeout=llm_timeout,
        original_text=text,
        file_hash=text_hash(text),
        signature=signature_of(definition),
        baseline=baseline,
        current_source=baseline.source,
        warnings=list(baseline.warnings),
    )
    state.save(session_dir)
    return state


class CodeSession:
    """Runs the rounds of one session; ``reviewer`` is None in ``--auto`` mode."""

    def __init__(
        self,
        state: SessionState,
        session_dir: Path,
        *,
        proposer: Proposer,
        cwd: Path,
        reviewer: Reviewer | None = None,
        editor: Callable[[str], str] = edit_in_editor,
        say: Callable[[str], None] = print,
    ):
        if reviewer is None and not state.auto:
            raise SessionError("an interactive session needs a reviewer; use --auto otherwise")
        self.state = state
        self.session_dir = session_dir
        self.proposer = proposer
        self.reviewer = reviewer
        self.editor = editor
        self.say = say
        self.evaluator = Evaluator(state.target, state.workload, session_dir, cwd)
        self.stopped = False

    # The loop -------------------------------------------------------------------
    def run(self) -> int:
        """Run the remaining rounds, write back the accepted version, write the report; exit code."""
        state = self.state
        self.check_file_unchanged()
        pending = next((c for c in reversed(state.candidates) if c.status == "passed"), None)
        if pending is not None:  # the session stopped while this one waited for a decision
            self.say(f"candidate {pending.id} (round {pending.round}) is still waiting for review")
            self.decide(pending)
            state.rounds_done = max(state.rounds_done, pending.round)
            state.save(self.session_dir)
        while state.rounds_done < state.rounds and not self.stopped:
            number = state.rounds_done + 1
            self.say(f"--- round {number} of {state.rounds} ---")
            self.round(number)
            state.rounds_done = number
            state.save(self.session_dir)
            if not self.stopped and not self.file_unchanged():
                self.say(f"error: {state.target.path} changed on disk during the session; stopping")
                self.stopped = True
        return self.finish()

    def round(self, number: int) -> None:
        state = self.state
        feedback = build_feedback(state)
        started = time.perf_counter()
        proposal = self.proposer.propose(state.current_source, summary(state), feedback)
        usage = state.usage
        usage.calls += proposal.calls + proposal.failed_calls
        usage.failed_calls += proposal.failed_calls
        usage.prompt_tokens += proposal.prompt_tokens
        usage.completion_tokens += proposal.completion_tokens
        usage.cost += proposal.cost
        usage.seconds += time.perf_counter() - started
        if proposal.source is None:
            candidate = Candidate(
                id=state.next_candidate_id(),
                round=number,
                origin="optimizer",
                source=proposal.rejected_source,
                status="invalid",
                reason=proposal.reason,
                reasoning=proposal.reasoning,
            )
            state.candidates.append(candidate)
            failed = f" ({proposal.failed_calls} LLM calls failed)" if proposal.failed_calls else ""
            self.say(f"candidate {candidate.id}: {proposal.reason}{failed}")
            return
        candidate = self.evaluate(proposal.source, number, "optimizer", proposal.reasoning)
        self.decide(candidate)

    def evaluate(self, source: str, number: int, origin: str, reasoning: str = "") -> Candidate:
        state = self.state
        started = time.perf_counter()
        verdict = self.evaluator.evaluate(
            state.original_text, source, state.baseline, state.signature
        )
        candidate = Candidate(
            id=state.next_candidate_id(),
            round=number,
            origin=origin,
            source=source,
            status="passed"
            if verdict.passed
            else ("invalid" if verdict.failed_at == "validation" else "failed"),
            reason=verdict.reason,
            evaluation=verdict,
            reasoning=reasoning,
            seconds=time.perf_counter() - started,
        )
        state.candidates.append(candidate)
        state.save(self.session_dir)
        if verdict.passed:
            self.say(
                f"candidate {candidate.id}: passed the checks; {verdict.speedup.describe()} vs the original"
            )
        else:
            self.say(
                f"candidate {candidate.id}: {candidate.status} ({verdict.failed_at}): {verdict.reason}"
            )
        return candidate

    def decide(self, candidate: Candidate) -> None:
        """Accept or reject a candidate that passed (automatically, or by asking the person)."""
        while candidate.status == "passed" and not self.stopped:
            if self.reviewer is None:
                self.decide_automatically(candidate)
                break
            decision = self.reviewer.review(
                candidate, self.state.current_source, self.state.current_speedup
            )
            if decision.action == "accept":
                self.accept(candidate)
            elif decision.action in ("reject", "feedback"):
                candidate.status = "rejected"
                candidate.reason = "rejected by the person"
                candidate.comment = decision.text
                if decision.action == "feedback" and decision.text:
                    self.state.comments.append(decision.text)
            elif decision.action == "edit":
                candidate = self.edit(candidate)
            else:
                self.say("quitting: accepted work (if any) is written back")
                self.stopped = True
            self.state.save(self.session_dir)

    def edit(self, candidate: Candidate) -> Candidate:
        try:
            edited = self.editor(candidate.source or "")
        except OSError as exc:
            self.say(f"could not edit: {exc}")
            return candidate
        if edited.strip() == (candidate.source or "").strip():
            self.say("the edit changed nothing")
            return candidate
        candidate.status = "rejected"
        candidate.reason = (
            f"replaced by the person's edit (candidate {self.state.next_candidate_id()})"
        )
        return self.evaluate(edited, candidate.round, "edit")

    def decide_automatically(self, candidate: Candidate) -> None:
        """Accept when the low end of the speedup's range clears --min-speedup and beats the accepted one."""
        state = self.state
        speedup = candidate.evaluation.speedup if candidate.evaluation else None
        if speedup is None or speedup.low < state.min_speedup:
            candidate.status = "rejected"
            shown = speedup.describe() if speedup else "no speedup measured"
            candidate.reason = f"{shown}: its low end is below --min-speedup {state.min_speedup:g}"
        elif speedup.value <= state.current_speedup:
            candidate.status = "rejected"
            candidate.reason = f"{speedup.value:.2f}x is not faster than the accepted version ({state.current_speedup:.2f}x)"
        else:
            self.accept(candidate)
            return
        self.say(f"candidate {candidate.id}: rejected: {candidate.reason}")

    def accept(self, candidate: Candidate) -> None:
        state = self.state
        previous = state.candidate(state.accepted_id)
        if previous is not None:
            previous.status = "superseded"
        candidate.status = "accepted"
        state.accepted_id = candidate.id
        state.current_source = candidate.source or state.current_source
        self.say(f"candidate {candidate.id}: accepted ({candidate.speedup:.2f}x the original)")

    # Files ------------------------------------------------------------------------
    def file_unchanged(self) -> bool:
        try:
            return text_hash(self.state.target.read()) == self.state.file_hash
        except TargetError:
            return False

    def check_file_unchanged(self) -> None:
        if not self.file_unchanged():
            raise SessionError(
                f"{self.state.target.path} changed on disk since this session last read or wrote it; "
                "the session cannot continue safely (start a new one)"
            )

    def finish(self) -> int:
        """Write back the accepted version (atomically, refusing if the file changed), diff, report."""
        state = self.state
        code = 0
        if state.accepted_id is not None:
            new_text = replace_function(
                state.original_text, state.target.fn_name, state.current_source
            )
            diff = source_diff(
                state.original_text,
                new_text,
                f"a/{state.target.path.name}",
                f"b/{state.target.path.name}",
            )
            atomic_write_text(self.session_dir / "changes.diff", diff)
            atomic_write_text(self.session_dir / f"accepted_{state.target.path.name}", new_text)
            refused = self.evaluator.recheck(
                new_text, state.current_source, state.baseline, state.signature
            )
            if refused is not None:
                state.written = False
                code = 1
                self.say(
                    f"error: not writing {state.target.path}: {refused}\nthe accepted version is "
                    f"saved as {self.session_dir / f'accepted_{state.target.path.name}'}"
                )
            elif text_hash(new_text) != state.file_hash:
                try:
                    state.file_hash = write_back(state.target, new_text, state.file_hash)
                    state.written = True
                    self.say(
                        f"wrote the accepted version to {state.target.path} "
                        f"(original kept in {self.session_dir / 'backup'})"
                    )
                except (SourceChangedError, OSError) as exc:
                    state.written = False
                    code = 1
                    self.say(
                        f"error: {exc}; the accepted version is saved as "
                        f"{self.session_dir / f'accepted_{state.target.path.name}'}"
                    )
        else:
            self.say("no candidate was accepted; the source file is unchanged")
        state.finished = True
        state.save(self.session_dir)
        report = write_report(state, self.session_dir)
        self.say(f"report: {report}")
        return code
