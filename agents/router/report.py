"""Router metrics on a task set: success rate, cost and cost-of-pass per policy and backend.

:func:`collect_outcomes` runs every backend once on every task (cached calls
make reruns free). :func:`evaluate_policy` then replays a policy on those
logged answers, exactly as :class:`~agents.router.routed.RoutedLLM` would serve
it (cascade checks included), so many policies and thresholds cost no new calls.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agents.dynaicl.examples import Grader, as_examples, exact_match
from agents.router.backends import Backend
from agents.router.cost import CostModel, cost_of_pass
from agents.router.policies import FixedPolicy, RoutingPolicy
from agents.router.predictor import Outcome
from trace_engine.executors import ThreadExecutor


@dataclass
class PolicyResult:
    """How a policy (or a single backend) did on the task set."""

    name: str
    success_rate: float
    mean_cost: float
    cost_of_pass: float
    shares: dict[str, float]
    n: int


def collect_outcomes(
    backends: Sequence[Backend],
    tasks: Sequence[Any],
    *,
    grader: Grader = exact_match,
    cost_model: CostModel | None = None,
    workers: int = 4,
    options: dict | None = None,
) -> list[dict[str, Outcome]]:
    """Per task, ``{backend name: Outcome}`` from running every backend on it."""
    examples = as_examples(tasks, "tasks")
    model = cost_model or CostModel()
    opts = {"temperature": 0.0, **(options or {})}

    def run(pair: tuple[Backend, Any]) -> Outcome:
        backend, ex = pair
        reply = backend.complete([{"role": "user", "content": ex.input}], **opts)
        return Outcome(
            ex.input,
            backend.name,
            bool(grader(reply.text, ex.target)),
            model.of(backend.name, reply),
            reply.text,
        )

    pairs = [(b, ex) for ex in examples for b in backends]
    results = ThreadExecutor(max(1, workers)).map(run, pairs)
    table: list[dict[str, Outcome]] = [{} for _ in examples]
    for (b, _), outcome, i in zip(
        pairs, results, [i for i in range(len(examples)) for _ in backends]
    ):
        table[i][b.name] = outcome
    return table


def evaluate_policy(
    name: str, policy: RoutingPolicy, table: Sequence[dict[str, Outcome]]
) -> PolicyResult:
    """Replay ``policy`` on logged outcomes: each try costs its logged cost."""
    if not table:
        raise ValueError("no tasks to evaluate on")
    costs, wins, chosen = [], [], []
    for row in table:
        request = next(iter(row.values())).request
        route = policy.route(request)
        spent = 0.0
        final = None
        for i, backend in enumerate(route.order):
            if backend not in row:
                raise ValueError(f"policy {name!r} chose {backend!r}, which has no logged outcome")
            final = row[backend]
            spent += final.cost
            if i == len(route.order) - 1 or policy.accept(request, backend, final.text):
                break
        costs.append(spent)
        wins.append(final.success)
        chosen.append(final.backend)
    n = len(table)
    rate = sum(wins) / n
    mean = sum(costs) / n
    shares = {b: chosen.count(b) / n for b in sorted(set(chosen))}
    return PolicyResult(name, rate, mean, cost_of_pass(mean, rate), shares, n)


def evaluate_backends(table: Sequence[dict[str, Outcome]]) -> list[PolicyResult]:
    """Each backend on its own."""
    names = list(table[0]) if table else []
    return [evaluate_policy(n, FixedPolicy(n), table) for n in names]


def format_results(results: Sequence[PolicyResult], unit: str = "tokens") -> str:
    header = f"{'policy':<28} {'success':>8} {'cost/attempt':>13} {'cost-of-pass':>13}  shares"
    lines = [header, "-" * len(header)]
    for r in results:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in r.shares.items())
        lines.append(
            f"{r.name:<28} {r.success_rate:>8.3f} {r.mean_cost:>13.1f} "
            f"{r.cost_of_pass:>13.1f}  {shares}"
        )
    lines.append(f"(costs in {unit})")
    return "\n".join(lines)


def plot_cost_quality(
    points: Sequence[PolicyResult],
    path: str | os.PathLike,
    *,
    curve: Sequence[PolicyResult] = (),
    unit: str = "tokens",
) -> None:
    """Success rate against mean cost: named points, plus a threshold sweep as a curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trace_engine.files import atomic_write_bytes

    fig, ax = plt.subplots(figsize=(6, 4))
    if curve:
        ordered = sorted(curve, key=lambda r: r.mean_cost)
        ax.plot(
            [r.mean_cost for r in ordered],
            [r.success_rate for r in ordered],
            "-",
            color="gray",
            label="threshold sweep",
        )
    for r in points:
        ax.plot([r.mean_cost], [r.success_rate], "o")
        ax.annotate(
            r.name,
            (r.mean_cost, r.success_rate),
            fontsize=8,
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.set_xlabel(f"mean cost per request ({unit})")
    ax.set_ylabel("success rate")
    ax.set_title("router: cost vs quality")
    ax.grid(alpha=0.3)
    if curve:
        ax.legend()
    buffer = io.BytesIO()
    fmt = str(path).rsplit(".", 1)[-1].lower()
    fig.savefig(buffer, format=fmt if fmt in ("png", "svg", "pdf") else "png", bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
