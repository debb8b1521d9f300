"""What a run, a step or an evaluation spent on LLM calls, as a plain dict for the log."""

from __future__ import annotations

from typing import Any

USAGE_KEYS = ("calls", "prompt_tokens", "completion_tokens", "cost")


def usage_totals() -> dict[str, Any]:
    """Nothing spent yet."""
    return {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}


def add_usage(into: dict[str, Any], used: dict[str, Any]) -> None:
    """Add ``used``'s spending to ``into`` (missing keys count as zero)."""
    for key in USAGE_KEYS:
        into[key] = into.get(key, 0) + (used.get(key) or 0)
