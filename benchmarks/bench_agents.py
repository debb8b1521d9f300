"""Benchmark: DynaICL vs uniform k, and the cost-of-pass router vs single backends.

Runs the embedded local model (wrap the command in
``flock /tmp/trace-engine-model.lock``) on generated held-out tasks:

* DynaICL: expressions with ordinary ``+`` (answerable zero-shot) and two
  made-up operators, ``@`` (concatenation) and ``~`` (absolute difference),
  that only demonstrations reveal. Labels and the controller come from a
  training split; accuracy and real prompt tokens are measured on a test split.
* Router: arithmetic expressions of one to four operations, answered by the
  same model directly (cheap) or with chain-of-thought (costly); cost in tokens.

Usage: python benchmarks/bench_agents.py [--plots DIR] [--quick]
"""

from __future__ import annotations

import argparse
import random
import re
import time
from pathlib import Path

from agents.dynaicl import (
    DemoSelector,
    DynaICL,
    Example,
    MetaController,
    compare,
    format_table,
    generate_labels,
    plot_report,
)
from agents.router import (
    Backend,
    CostOfPassPolicy,
    SuccessPredictor,
    ThresholdPolicy,
    collect_outcomes,
    evaluate_backends,
    evaluate_policy,
    format_results,
    plot_cost_quality,
)

INSTRUCTION = (
    "Compute the result of the expression. Some operators have unusual meanings; "
    "learn them from the examples. Reply with the number only."
)
GRID = (0, 1, 2, 4)
_NUMBER = re.compile(r"-?\d+")


def operator_examples(rng: random.Random, op: str, n: int) -> list[Example]:
    out = []
    for _ in range(n):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        value = {"+": a + b, "@": int(f"{a}{b}"), "~": abs(a - b)}[op]
        out.append(Example(f"{a} {op} {b}", str(value)))
    return out


def first_number(text: str, target: str) -> bool:
    found = _NUMBER.findall(text.strip().splitlines()[0] if text.strip() else "")
    return bool(found) and found[0] == target


def last_number(text: str, target: str) -> bool:
    found = _NUMBER.findall(text)
    return bool(found) and found[-1] == target


def expression(rng: random.Random, ops: int) -> tuple[str, int]:
    text = str(rng.randint(2, 20))
    for _ in range(ops):
        op = rng.choice("+-*")
        operand = rng.randint(2, 9) if op == "*" else rng.randint(2, 30)
        text = f"({text} {op} {operand})" if op == "*" and ops > 1 else f"{text} {op} {operand}"
    return text, eval(text)


def bench_dynaicl(llm, sizes: dict, plots: Path | None) -> None:
    rng = random.Random(7)
    ops = "+@~"
    pool = [e for op in ops for e in operator_examples(rng, op, sizes["pool"])]
    train = [e for op in ops for e in operator_examples(rng, op, sizes["train"])]
    test = [e for op in ops for e in operator_examples(rng, op, sizes["test"])]
    selector = DemoSelector(pool, "similar")
    start = time.perf_counter()
    labels = generate_labels(
        llm,
        INSTRUCTION,
        train,
        pool,
        task_id="bench-operators",
        grid=GRID,
        grader=first_number,
        max_tokens=8,
        workers=1,
        selector=selector,
        progress=False,
    )
    threshold = 1.0
    controller = MetaController(GRID, "bench-operators").fit(
        labels.inputs(), labels.labels(threshold)
    )
    print(
        f"labels: {len(labels.records)} inputs in {time.perf_counter() - start:.0f}s; "
        f"train accuracy per k {labels.mean_accuracy()}"
    )
    counts = {}
    for label in labels.labels(threshold):
        counts[label] = counts.get(label, 0) + 1
    print(f"label distribution (k*: count, None = no k enough): {counts}")
    dyn = DynaICL(INSTRUCTION, controller, selector, cost="tokens")
    xs = [e.input for e in test]
    zero = dyn.costs(xs)[:, 0].sum()
    full = dyn.costs(xs)[:, -1].sum()
    budgets = [zero + f * (full - zero) for f in (0.15, 0.3, 0.5)]
    rows = compare(
        llm,
        dyn,
        test,
        budgets=budgets,
        min_accuracies=(0.6, 0.7, 0.8),
        grader=first_number,
        max_tokens=8,
        workers=1,
    )
    print(format_table(rows))
    uniform = [r for r in rows if r.method == "uniform"]
    best = max(uniform, key=lambda r: (r.accuracy, -r.prompt_tokens))
    close = [r for r in rows if r.method == "dynaicl" and r.accuracy >= best.accuracy - 0.02]
    if close:
        cheapest = min(close, key=lambda r: r.prompt_tokens)
        saved = 1 - cheapest.prompt_tokens / best.prompt_tokens
        print(
            f"best uniform: {best.setting} acc {best.accuracy:.3f} {best.prompt_tokens} tokens; "
            f"DynaICL {cheapest.setting} acc {cheapest.accuracy:.3f} {cheapest.prompt_tokens} "
            f"tokens: {saved:.0%} fewer prompt tokens (target >= 30% at <= 2 points lower)"
        )
    else:
        print(
            f"best uniform: {best.setting} acc {best.accuracy:.3f}; no DynaICL setting came "
            "within 2 points of it"
        )
    if plots:
        plot_report(rows, plots / "dynaicl.png", title="DynaICL vs uniform k (held-out)")


def bench_router(llm, sizes: dict, plots: Path | None) -> None:
    rng = random.Random(11)
    tasks = []
    for i in range(sizes["router_train"] + sizes["router_test"]):
        text, value = expression(rng, 1 + i % 4)
        tasks.append(Example(f"What is {text}?", str(value)))
    train, test = tasks[: sizes["router_train"]], tasks[sizes["router_train"] :]
    direct = Backend("direct", llm, system="Reply with the number only.", options={"max_tokens": 8})
    cot = Backend(
        "cot",
        llm,
        system="Work it out step by step, briefly. End with 'Answer: <number>'.",
        options={"max_tokens": 96},
    )
    start = time.perf_counter()
    train_table = collect_outcomes([direct, cot], train, grader=last_number, workers=1)
    test_table = collect_outcomes([direct, cot], test, grader=last_number, workers=1)
    print(f"router outcomes collected in {time.perf_counter() - start:.0f}s")
    predictor = SuccessPredictor().fit([o for row in train_table for o in row.values()])
    results = evaluate_backends(test_table)
    threshold = ThresholdPolicy(predictor, "direct", "cot")
    sweep = []
    requests = [e.input for e in test]  # calibration reads requests only, never their answers
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        threshold.calibrate(requests, share)
        sweep.append(evaluate_policy(f"threshold strong={share:.0%}", threshold, test_table))
    results += sweep
    results.append(evaluate_policy("min cost-of-pass", CostOfPassPolicy(predictor), test_table))
    results.append(
        evaluate_policy(
            "min cost-of-pass floor=0.5", CostOfPassPolicy(predictor, quality_floor=0.5), test_table
        )
    )
    print(format_results(results))
    singles = results[:2]
    best_single = min(singles, key=lambda r: r.cost_of_pass)
    routed = min(results[2:], key=lambda r: r.cost_of_pass)
    print(
        f"best single backend: {best_single.name} cost-of-pass {best_single.cost_of_pass:.1f}; "
        f"best router policy: {routed.name} {routed.cost_of_pass:.1f} (target: lower); "
        f"learned cost-of-pass policy: {results[-2].cost_of_pass:.1f}"
    )
    if plots:
        plot_cost_quality([*singles, results[-2], results[-1]], plots / "router.png", curve=sweep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plots", type=Path, help="directory for dynaicl.png and router.png")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    args = parser.parse_args()
    from trace_engine.llm.registry import get_llm

    llm = get_llm()
    sizes = (
        {"pool": 4, "train": 3, "test": 2, "router_train": 4, "router_test": 4}
        if args.quick
        else {"pool": 8, "train": 14, "test": 10, "router_train": 24, "router_test": 24}
    )
    if args.plots:
        args.plots.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print("== DynaICL ==")
    bench_dynaicl(llm, sizes, args.plots)
    print("\n== Router ==")
    bench_router(llm, sizes, args.plots)
    print(f"\ntotal {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
