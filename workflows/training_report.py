"""What a finished training run shows: a summary table and a PNG plot of its steps."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trace_engine.files import atomic_write_bytes


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def summary_table(history: Sequence[dict[str, Any]]) -> str:
    """One row per step: scores, what changed, and what the step spent."""
    header = ("step", "train", "val", "best", "changed", "calls", "tokens", "cost $", "sec")
    rows = [header]
    for r in history:
        changed = ", ".join(r.get("applied") or []) or ("skipped" if r.get("skipped") else "-")
        if r.get("error"):
            changed = "error"
        rows.append(
            (
                str(r["step"]),
                _fmt(r.get("train_score")),
                _fmt(r.get("val_score")),
                _fmt(r.get("best_score")),
                changed[:28],
                str(r.get("calls", 0)),
                str(r.get("prompt_tokens", 0) + r.get("completion_tokens", 0)),
                _fmt(r.get("cost", 0.0), ".4f"),
                _fmt(r.get("seconds", 0.0), ".1f"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot_history(
    history: Sequence[dict[str, Any]], path: str | os.PathLike, title: str = ""
) -> Path:
    """Train/val score and cumulative cost (and tokens) against steps, as a PNG."""
    from trace_engine.extras import require_extra

    matplotlib = require_extra("matplotlib", extra="plots", purpose="the training plot")

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6))
    score_ax, cost_ax = fig.subplots(2, 1, sharex=True)
    train = [(r["step"], r["train_score"]) for r in history if r.get("train_score") is not None]
    val = [(r["step"], r["val_score"]) for r in history if r.get("val_score") is not None]
    if train:
        score_ax.plot(*zip(*train), marker="o", label="train (minibatch)")
    if val:
        score_ax.plot(*zip(*val), marker="s", label="validation")
    score_ax.set_ylabel("score")
    score_ax.grid(True, alpha=0.3)
    if train or val:
        score_ax.legend(loc="best")
    steps = [r["step"] for r in history]
    cost_ax.plot(steps, [r.get("cum_cost", 0.0) for r in history], color="tab:red", label="cost")
    cost_ax.set_ylabel("cumulative cost (USD)", color="tab:red")
    tokens_ax = cost_ax.twinx()
    tokens_ax.plot(
        steps, [r.get("cum_tokens", 0) for r in history], color="tab:gray", linestyle="--"
    )
    tokens_ax.set_ylabel("cumulative tokens", color="tab:gray")
    cost_ax.set_ylim(bottom=0, top=max(max(r.get("cum_cost", 0.0) for r in history) * 1.1, 1e-4))
    tokens_ax.set_ylim(bottom=0)
    cost_ax.xaxis.get_major_locator().set_params(integer=True)
    cost_ax.set_xlabel("step")
    cost_ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return atomic_write_bytes(path, buffer.getvalue())
