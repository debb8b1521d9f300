"""Held-out comparison of uniform ``k`` against DynaICL at matched budgets: table and plot."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agents.dynaicl.examples import Grader, as_examples, exact_match
from agents.dynaicl.planner import DynaICL, Plan
from agents.dynaicl.prompt import prompt_messages
from trace_engine.executors import ThreadExecutor
from trace_engine.llm.base import LLM, as_llm


@dataclass
class ReportRow:
    """One way of prompting the test set and what it scored and cost."""

    method: str
    setting: str
    accuracy: float
    prompt_tokens: int
    completion_tokens: int
    demos: int
    n: int
    estimated_prompt_tokens: float | None = None
    """What the plan expected the prompts to cost in tokens (``cost="tokens"`` only)."""


def run_plan(
    llm: LLM | Callable | str | None,
    plan: Plan,
    targets: Sequence[str],
    *,
    grader: Grader = exact_match,
    max_tokens: int = 16,
    workers: int = 4,
) -> tuple[float, int, int]:
    """(accuracy, prompt tokens, completion tokens) of the plan's prompts on the model."""
    model = as_llm(llm)

    def ask(prompt: str):
        return model.complete(prompt_messages(prompt), temperature=0.0, max_tokens=max_tokens)

    replies = ThreadExecutor(max(1, workers)).map(ask, plan.prompts)
    correct = sum(bool(grader(r.text, t)) for r, t in zip(replies, targets))
    n = max(1, len(replies))
    return (
        correct / n,
        sum(r.usage.prompt_tokens for r in replies),
        sum(r.usage.completion_tokens for r in replies),
    )


def compare(
    llm: LLM | Callable | str | None,
    dynaicl: DynaICL,
    test: Sequence[Any],
    *,
    uniform_ks: Sequence[int] | None = None,
    budgets: Sequence[float] = (),
    min_accuracies: Sequence[float] = (),
    accuracy_floors: Sequence[float] = (),
    grader: Grader = exact_match,
    max_tokens: int = 16,
    workers: int = 4,
) -> list[ReportRow]:
    """Uniform ``k`` for each ``k`` (default: the grid), DynaICL at the budgets each uniform
    ``k`` costs plus any extra ``budgets``, for each required batch accuracy
    (``min_accuracies``) and for each per-input accuracy floor (``accuracy_floors``)."""
    examples = as_examples(test, "test")
    xs = [e.input for e in examples]
    targets = [e.target for e in examples]
    rows: list[ReportRow] = []

    def add(method: str, setting: str, plan: Plan) -> None:
        acc, p_tok, c_tok = run_plan(
            llm, plan, targets, grader=grader, max_tokens=max_tokens, workers=workers
        )
        estimate = plan.allocation.total_cost if dynaicl.cost == "tokens" else None
        rows.append(
            ReportRow(
                method, setting, acc, p_tok, c_tok, sum(plan.allocation.ks), len(xs), estimate
            )
        )

    matched = []
    for k in uniform_ks if uniform_ks is not None else dynaicl.grid:
        plan = dynaicl.uniform(xs, k)
        add("uniform", f"k={k}", plan)
        if k > 0:
            matched.append(plan.allocation.total_cost)
    for budget in [*matched, *budgets]:
        add("dynaicl", f"budget={budget:g} {dynaicl.cost}", dynaicl.plan(xs, budget=budget))
    for target in min_accuracies:
        plan = dynaicl.plan(xs, min_accuracy=target)
        note = "" if plan.allocation.met else " (not met)"
        add("dynaicl", f"min_acc={target:g}{note}", plan)
    for floor in accuracy_floors:
        plan = dynaicl.plan(xs, accuracy_floor=floor)
        note = "" if plan.allocation.met else " (not all)"
        add("dynaicl", f"floor={floor:g}{note}", plan)
    return rows


def format_table(rows: Sequence[ReportRow]) -> str:
    """A plain-text table, one line per row."""
    header = (
        f"{'method':<9} {'setting':<26} {'acc':>6} {'prompt tok':>11} {'estimated':>10} "
        f"{'tok/input':>9} {'demos':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        estimate = "-" if r.estimated_prompt_tokens is None else f"{r.estimated_prompt_tokens:.0f}"
        lines.append(
            f"{r.method:<9} {r.setting:<26} {r.accuracy:>6.3f} {r.prompt_tokens:>11d} "
            f"{estimate:>10} {r.prompt_tokens / max(1, r.n):>9.1f} {r.demos:>6d}"
        )
    return "\n".join(lines)


def plot_report(rows: Sequence[ReportRow], path: str | os.PathLike, title: str = "") -> None:
    """Accuracy against prompt tokens, uniform ``k`` as a line, DynaICL as points (PNG/SVG)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trace_engine.files import atomic_write_bytes

    fig, ax = plt.subplots(figsize=(6, 4))
    for method, style in (("uniform", "o-"), ("dynaicl", "s")):
        chosen = sorted((r for r in rows if r.method == method), key=lambda r: r.prompt_tokens)
        if chosen:
            ax.plot(
                [r.prompt_tokens for r in chosen],
                [r.accuracy for r in chosen],
                style,
                label=method,
            )
    ax.set_xlabel("prompt tokens (test set)")
    ax.set_ylabel("accuracy")
    ax.set_title(title or "DynaICL vs uniform k")
    ax.legend()
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fmt = str(path).rsplit(".", 1)[-1].lower()
    fig.savefig(buffer, format=fmt if fmt in ("png", "svg", "pdf") else "png", bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
