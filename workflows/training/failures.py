"""Failed steps: each one said when it happens, and when to give up.

A step fails when the optimizer could not propose anything usable (the LLM
unreachable, replies that cannot be read). The loop goes on after one, but
``max_errors`` failed steps in a row end the run as ``failed``, and so does a
run in which every step that was tried failed; batches that needed no step
(already perfect) count neither way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any


class StepFailures:
    """Watches a run's step records for failures (see the module docstring)."""

    def __init__(self, max_errors: int | None, log: logging.Logger):
        self.max_errors = max_errors
        self.log = log
        self.gave_up: str | None = None
        """Why the run stops, once ``max_errors`` steps in a row failed."""

    def note(self, history: Sequence[dict[str, Any]], record: dict[str, Any]) -> None:
        """Say that the step of ``record`` failed; give up after ``max_errors`` in a row."""
        self.log.warning("step %d failed, nothing was changed: %s", record["step"], record["error"])
        count = failed_in_a_row(history)
        if self.max_errors is not None and count >= self.max_errors and not self.gave_up:
            self.gave_up = (
                f"{count} steps failed in a row, nothing was changed; "
                f"the last error: {record['error']}"
            )


def all_steps_failed(history: Sequence[dict[str, Any]]) -> bool:
    """Steps were tried and none of them worked (perfect batches that needed none aside)."""
    tried = [r for r in history[1:] if not r["skipped"]]
    return bool(tried) and all(r["error"] for r in tried)


def failed_in_a_row(history: Sequence[dict[str, Any]]) -> int:
    """How many of the last steps tried failed, counting back to the last that worked."""
    count = 0
    for record in reversed(history[1:]):
        if record["skipped"]:
            continue
        if not record["error"]:
            break
        count += 1
    return count
