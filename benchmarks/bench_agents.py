"""Benchmark: DynaICL vs uniform k, and the cost-of-pass router vs single backends.

Runs the embedded local model (alone: it uses every core) on generated held-out tasks:

* DynaICL: a mix of one-step addition word problems, which the model answers
  zero-shot, and a made-up function ``zork(a, b)`` (the digits of ``a`` then
  ``b``) whose meaning only demonstrations reveal; two word problems per zork
  input. Demos are chosen by similarity, so an input sees demos of its own
  kind. Labels and the controller come from a training split; accuracy and
  real prompt tokens are measured on a test split.
* Router: one-step word problems (the direct answer mostly gets them right)
  and three-step ones (it does not; chain-of-thought sometimes does), half and half,
  answered by the same model directly (cheap) or with brief chain-of-thought
  (costly); cost in tokens. The success predictor is trained on a separate
  split from the one evaluated.

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

INSTRUCTION = "Answer with the final result only."
GRID = (0, 1, 2, 4)
_NUMBER = re.compile(r"-?\d+")
NAMES = ("Ann", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana")
ITEMS = ("apples", "stamps", "marbles", "books", "cards", "shells", "coins", "pens")


def addition_problem(rng: random.Random) -> Example:
    """A one-step word problem the model answers zero-shot."""
    a, b = rng.randint(11, 60), rng.randint(11, 39)
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    text = f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?"
    return Example(text, str(a + b))


def zork_problem(rng: random.Random) -> Example:
    """A made-up function: only demonstrations say that it joins the digits of a and b."""
    a, b = rng.randint(11, 99), rng.randint(11, 99)
    return Example(f"zork({a}, {b})", f"{a}{b}")


def mixed_task(rng: random.Random, easy: int, hard: int) -> list[Example]:
    return [addition_problem(rng) for _ in range(easy)] + [zork_problem(rng) for _ in range(hard)]


def first_number(text: str, target: str) -> bool:
    found = _NUMBER.findall(text.strip().splitlines()[0] if text.strip() else "")
    return bool(found) and found[0] == target


def last_number(text: str, target: str) -> bool:
    found = _NUMBER.findall(text)
    return bool(found) and found[-1] == target


def one_step_problem(rng: random.Random) -> Example:
    a, b = rng.randint(20, 90), rng.randint(5, 19)
    item, name = rng.choice(ITEMS), rng.choice(NAMES)
    if rng.random() < 0.5:
        return Example(
            f"A shop has {a} {item} and sells {b} of them. How many are left?", str(a - b)
        )
    return Example(f"{name} has {a} {item} and finds {b} more. How many {item} now?", str(a + b))


def three_step_problem(rng: random.Random) -> Example:
    boxes, per, sold, more = (
        rng.randint(3, 9),
        rng.randint(4, 9),
        rng.randint(5, 15),
        rng.randint(2, 5),
    )
    item = rng.choice(ITEMS)
    text = (
        f"A shop has {boxes} boxes with {per} {item} in each box. It sells {sold} {item} and "
        f"then receives {more} more boxes of {per} {item}. How many {item} does it have now?"
    )
    return Example(text, str(boxes * per - sold + more * per))


def word_problems(rng: random.Random, n: int) -> list[Example]:
    """Half one-step, half three-step, interleaved."""
    return [one_step_problem(rng) if i % 2 else three_step_problem(rng) for i in range(n)]


def bench_dynaicl(llm, sizes: dict, plots: Path | None) -> None:
    rng = random.Random(7)
    pool = mixed_task(rng, sizes["pool"], sizes["pool"])
    train = mixed_task(rng, sizes["train"], sizes["train"])
    test = mixed_task(rng, 2 * sizes["test"], sizes["test"])
    selector = DemoSelector(pool, "similar")
    start = time.perf_counter()
    labels = generate_labels(
        llm,
        INSTRUCTION,
        train,
        pool,
        task_id="bench-zork-mix",
        grid=GRID,
        grader=first_number,
        max_tokens=8,
        workers=1,
        selector=selector,
        progress=False,
    )
    threshold = 1.0
    controller = MetaController(GRID, "bench-zork-mix").fit(
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
    train = word_problems(rng, sizes["router_train"])
    test = word_problems(rng, sizes["router_test"])
    direct = Backend(
        "direct",
        llm,
        system="You are a calculator. Output only the final number, nothing else.",
        options={"max_tokens": 8},
    )
    cot = Backend(
        "cot",
        llm,
        system="Solve it in a few short lines, one calculation per line, no LaTeX. "
        "Last line: 'Answer: <number>'.",
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
        {"pool": 4, "train": 2, "test": 1, "router_train": 4, "router_test": 4}
        if args.quick
        else {"pool": 6, "train": 8, "test": 8, "router_train": 24, "router_test": 24}
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
