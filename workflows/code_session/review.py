"""The person's review of a candidate, over plain stdin/stdout (works in any terminal and in tmux).

For each candidate that passed its checks: the diff against the current
version, the speedup with its range, the tests and the differential check;
then one letter: accept, reject, edit in ``$EDITOR``, feedback, quit.
"""

from __future__ import annotations

import difflib
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from trace_engine.files import atomic_write_text
from workflows.code_session.checks import coverage_text
from workflows.code_session.state import Candidate

CHOICES = {
    "a": "accept",
    "r": "reject",
    "e": "edit",
    "f": "feedback",
    "q": "quit",
}
PROMPT = "[a]ccept  [r]eject  [e]dit in $EDITOR  [f]eedback  [q]uit > "


@dataclass(frozen=True)
class Decision:
    """What the person chose; ``text`` is their reason or feedback (may be empty)."""

    action: str
    text: str = ""


def source_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name
        )
    )


def describe_checks(candidate: Candidate) -> list[str]:
    ev = candidate.evaluation
    lines = []
    if ev is None:
        return lines
    if ev.tests:
        lines.append(f"Tests: {ev.tests['passed']} passed, {ev.tests['failed']} failed")
    else:
        lines.append("Tests: none given")
    if ev.diff:
        lines.append(f"Differential check: {coverage_text(ev.diff)}")
    if ev.timing and ev.speedup:
        lines.append(f"Time: {ev.timing.describe()}")
        lines.append(f"Speedup vs original: {ev.speedup.describe()}")
    return lines


class TerminalReviewer:
    """Asks the person about each candidate on ``stdin``/``stdout``; end of input means quit."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None):
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    def say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def ask(self, prompt: str) -> str | None:
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        return None if line == "" else line.rstrip("\n")

    def review(self, candidate: Candidate, current_source: str, current_speedup: float) -> Decision:
        """Show ``candidate`` against the current version and return the person's decision."""
        self.say(
            f"\n=== round {candidate.round}, candidate {candidate.id} ({candidate.origin}) ==="
        )
        if candidate.reasoning:
            self.say(f"Model's reasoning: {candidate.reasoning}")
        self.say(
            source_diff(
                current_source, candidate.source or "", "current", f"candidate {candidate.id}"
            )
        )
        for line in describe_checks(candidate):
            self.say(line)
        if candidate.speedup is not None and current_speedup != 1.0:
            self.say(f"Speedup vs the accepted version: {candidate.speedup / current_speedup:.2f}x")
        while True:
            answer = self.ask(PROMPT)
            if answer is None:
                return Decision("quit")
            action = CHOICES.get(answer.strip().lower()[:1])
            if action is None:
                self.say(f"please type one of: {', '.join(CHOICES)}")
                continue
            if action == "reject":
                return Decision(action, (self.ask("why (optional, Enter to skip)? ") or "").strip())
            if action == "feedback":
                return Decision(action, self._read_feedback())
            return Decision(action)

    def _read_feedback(self) -> str:
        self.say("Feedback for the next round (end with an empty line):")
        lines = []
        while True:
            line = self.ask("> ")
            if not line:
                break
            lines.append(line)
        return "\n".join(lines).strip()

    def notice(self, text: str) -> None:
        self.say(text)


def edit_in_editor(source: str, suffix: str = ".py") -> str:
    """Open ``source`` in ``$VISUAL``/``$EDITOR`` (else ``vi``) and return the saved text."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="code-session-edit-") as tmp:
        path = Path(tmp) / f"candidate{suffix}"
        atomic_write_text(path, source)
        completed = subprocess.run([*shlex.split(editor), str(path)], check=False)
        if completed.returncode != 0:
            raise OSError(f"the editor {editor!r} exited with code {completed.returncode}")
        return path.read_text(encoding="utf-8")
