"""The record of a run: one JSON line per step in ``steps.jsonl``, and what a run leaves.

Each step (step 0 is the baseline validation) gets a record of its scores, what
changed, what failed and what it spent; the records are the history a
checkpoint carries and the log a person reads. A finished run also leaves a
summary table, its final parameters as JSON and, with plots on, a PNG of its
progress.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trace_engine.files import atomic_write_json, atomic_write_text
from workflows.checkpoint import CHECKPOINT_FILE
from workflows.training.usage import usage_totals
from workflows.training_report import plot_history, summary_table

LOG_FILE = "steps.jsonl"
PLOT_FILE = "progress.png"
SUMMARY_FILE = "summary.txt"
PARAMETERS_FILE = "parameters.json"
RUN_OUTPUTS = (CHECKPOINT_FILE, LOG_FILE, PLOT_FILE, SUMMARY_FILE, PARAMETERS_FILE)
"""The files a run writes in its directory."""


def new_record(step: int, epoch: int) -> dict[str, Any]:
    """An empty record of step ``step``."""
    return {
        "step": step,
        "epoch": epoch,
        "examples": [],
        "train_score": None,
        "val_score": None,
        "val_scores": None,
        "best_score": None,
        "skipped": False,
        "applied": [],
        "rejected": {},
        "error": None,
        "reasoning": "",
        "feedback": [],
        **usage_totals(),
    }


def close_record(record: dict[str, Any], seconds: float, usage: dict[str, Any]) -> None:
    """Stamp the step's duration and the run's totals after it."""
    record["seconds"] = round(seconds, 3)
    record["cum_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    record["cum_cost"] = usage["cost"]


def write_log(directory: Path, history: Sequence[dict[str, Any]]) -> None:
    """``steps.jsonl``: every record so far, replaced atomically."""
    lines = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in history)
    atomic_write_text(directory / LOG_FILE, lines)


def write_outputs(
    directory: Path | None,
    history: Sequence[dict[str, Any]],
    parameters: dict[str, Any],
    *,
    plot: bool,
    title: str,
) -> dict[str, str]:
    """The summary, the final parameters and the plot; the paths of every file of the run."""
    if directory is None:
        return {}
    files = {
        "checkpoint": str(directory / CHECKPOINT_FILE),
        "log": str(directory / LOG_FILE),
        "summary": str(directory / SUMMARY_FILE),
        "parameters": str(directory / PARAMETERS_FILE),
    }
    atomic_write_text(directory / SUMMARY_FILE, summary_table(history) + "\n")
    atomic_write_json(directory / PARAMETERS_FILE, parameters)
    if plot:
        plot_history(history, directory / PLOT_FILE, title=title)
        files["plot"] = str(directory / PLOT_FILE)
    return files


def short(value: Any, limit: int = 300) -> str:
    """``value`` as text of at most ``limit`` characters."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
