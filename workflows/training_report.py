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
    header = ("step", "batch", "val", "best", "changed", "calls", "tokens", "cost $", "sec")
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
    """A PNG of :func:`history_figure`, written atomically."""
    fig = history_figure(history, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return atomic_write_bytes(path, buffer.getvalue())


def history_figure(history: Sequence[dict[str, Any]], title: str = "") -> Any:
    """The run as a matplotlib figure: scores against steps (on the score's own range),
    failed steps marked, and what was spent so far (in USD, or in tokens when every call
    was free)."""
    from trace_engine.extras import require_extra

    matplotlib = require_extra("matplotlib", extra="plots", purpose="the training plot")

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6))
    score_ax, cost_ax = fig.subplots(2, 1, sharex=True)
    _plot_scores(score_ax, history)
    _plot_spending(cost_ax, history)
    cost_ax.xaxis.get_major_locator().set_params(integer=True)
    cost_ax.set_xlabel("step")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _plot_scores(ax: Any, history: Sequence[dict[str, Any]]) -> None:
    """Validation after each step as a curve; each step's minibatch, scored before the step
    changed anything, as separate points (a different minibatch each step: no curve)."""
    val = [(r["step"], r["val_score"]) for r in history if r.get("val_score") is not None]
    train = [(r["step"], r["train_score"]) for r in history if r.get("train_score") is not None]
    failed = [r["step"] for r in history if r.get("error")]
    if val:
        ax.plot(*zip(*val), marker="s", color="tab:blue", label="validation (after the step)")
    if train:
        ax.scatter(
            *zip(*train),
            marker="o",
            color="tab:orange",
            zorder=3,
            label="step's minibatch (before the step)",
        )
    for i, step in enumerate(failed):
        ax.axvline(step, color="tab:red", linestyle=":", label="failed step" if i == 0 else None)
    values = [v for _, v in val + train]
    low = min([0.0, *values])
    high = max([1.0, *values])
    margin = (high - low) * 0.05
    ax.set_ylim(low - margin, high + margin)
    ax.set_ylabel("score")
    ax.grid(True, alpha=0.3)
    if val or train or failed:
        ax.legend(loc="best", fontsize="small")


def _plot_spending(ax: Any, history: Sequence[dict[str, Any]]) -> None:
    steps = [r["step"] for r in history]
    tokens = [r.get("cum_tokens", 0) for r in history]
    costs = [r.get("cum_cost", 0.0) for r in history]
    ax.grid(True, alpha=0.3)
    if max(costs, default=0.0) <= 0:
        ax.plot(steps, tokens, color="tab:gray", marker=".")
        ax.set_ylabel("tokens used (every call was free)")
        ax.set_ylim(bottom=0, top=max(max(tokens, default=0) * 1.1, 1))
        return
    ax.plot(steps, costs, color="tab:red", marker=".")
    ax.set_ylabel("cumulative cost (USD)", color="tab:red")
    ax.set_ylim(bottom=0, top=max(costs) * 1.1)
    tokens_ax = ax.twinx()
    tokens_ax.plot(steps, tokens, color="tab:gray", linestyle="--")
    tokens_ax.set_ylabel("cumulative tokens", color="tab:gray")
    tokens_ax.set_ylim(bottom=0, top=max(max(tokens) * 1.1, 1))
