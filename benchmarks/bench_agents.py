"""Benchmark: DynaICL vs uniform k, and the cost-of-pass router vs single backends.

Runs the embedded local model (alone: it uses every core) on generated held-out tasks:

* DynaICL, on two tasks, each with both controllers (``AccuracyController``,
  which predicts accuracy per k, and the paper's k* ``MetaController``):
  ``zork-mix``: one-step addition word problems (answered zero-shot, but hurt by
  demos: the model copies numbers from them) and a made-up function
  ``zork(a, b)`` (the digits of ``a`` then ``b``) whose meaning only
  demonstrations reveal, two word problems per zork input;
  ``kb-review-zork``: capital-city questions and two-sentence product reviews to
  classify as positive or negative (both answered zero-shot and, on a dev split
  drawn apart from the test split, not hurt by demos) and zork, a third each.
  Demos are chosen by similarity, so an input sees demos of its own kind. Labels
  and the controllers come from a training split; accuracy and real prompt
  tokens are measured on a test split.
* Router: one-step word problems (the direct answer mostly gets them right)
  and three-step ones (it does not; chain-of-thought sometimes does), half and half,
  answered by the same model directly (cheap) or with brief chain-of-thought
  (costly); cost in tokens. The success predictor is trained on a separate
  split from the one evaluated.

Usage: python benchmarks/bench_agents.py [--plots DIR] [--quick] [--only dynaicl|router]

``--suite bigbench`` runs both on BIG-bench tasks instead (see ``bigbench_suite.py``):
python benchmarks/bench_agents.py --suite bigbench [--tasks NAME ...] [--seed N]
[--repeats R] [--inputs N] [--test N] [--out DIR] [--no-new-calls]
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agents.dynaicl import (
    CONTROLLER_KINDS,
    DemoSelector,
    DynaICL,
    Example,
    compare,
    format_table,
    generate_labels,
    plot_report,
    train_controller,
)
from agents.router import (
    Backend,
    CostOfPassPolicy,
    SuccessPredictor,
    ThresholdPolicy,
    collect_outcomes,
    evaluate_backends,
    evaluate_policy,
    fit_min_cost_of_pass,
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


CAPITALS = (
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Germany", "Berlin"),
    ("Egypt", "Cairo"),
    ("Russia", "Moscow"),
    ("China", "Beijing"),
    ("Canada", "Ottawa"),
    ("Greece", "Athens"),
    ("Norway", "Oslo"),
    ("Sweden", "Stockholm"),
    ("Portugal", "Lisbon"),
    ("Austria", "Vienna"),
    ("Ireland", "Dublin"),
    ("Poland", "Warsaw"),
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("Thailand", "Bangkok"),
    ("Cuba", "Havana"),
    ("Finland", "Helsinki"),
    ("Denmark", "Copenhagen"),
    ("Hungary", "Budapest"),
    ("Argentina", "Buenos Aires"),
    ("Belgium", "Brussels"),
    ("Mexico", "Mexico City"),
    ("Chile", "Santiago"),
    ("Iran", "Tehran"),
    ("Turkey", "Ankara"),
    ("India", "New Delhi"),
    ("Indonesia", "Jakarta"),
    ("Vietnam", "Hanoi"),
    ("Colombia", "Bogota"),
    ("Ukraine", "Kyiv"),
    ("Cambodia", "Phnom Penh"),
    ("Nigeria", "Abuja"),
)
PRAISE = (
    "works perfectly and was easy to set up",
    "arrived early and looks even better than in the photos",
    "is sturdy, well made and clearly built to last",
    "exceeded my expectations in every way",
    "is comfortable, quiet and simple to use",
    "was worth every penny and I would buy it again",
)
COMPLAINTS = (
    "broke after two days and the seller never replied",
    "arrived scratched, late and missing a part",
    "is flimsy, cheaply made and wobbles on the table",
    "stopped working within a week of light use",
    "was a total waste of money and I returned it",
    "leaks, smells odd and is hard to clean",
)
BUYERS = ("my sister", "our kitchen", "my office", "a friend", "my son", "the cabin")
GADGETS = ("blender", "backpack", "desk lamp", "kettle", "office chair", "headset", "toaster")


def capital_question(rng: random.Random, unused: list[tuple[str, str]]) -> Example:
    """A question the model answers from what it knows, with or without demos."""
    country, city = unused.pop(rng.randrange(len(unused)))
    return Example(f"What is the capital of {country}?", city)


def review_question(rng: random.Random) -> Example:
    """A two-sentence product review to label positive or negative."""
    good = rng.random() < 0.5
    text = (
        f"I bought this {rng.choice(GADGETS)} for {rng.choice(BUYERS)} last month. "
        f"It {rng.choice(PRAISE if good else COMPLAINTS)}."
    )
    return Example(
        f"Is this review positive or negative? {text}", "positive" if good else "negative"
    )


def knowledge_review_zork(
    rng: random.Random, per_kind: int, unused: list[tuple[str, str]]
) -> list[Example]:
    """A third each: capital questions, reviews (no demos needed), zork (demos needed)."""
    return (
        [capital_question(rng, unused) for _ in range(per_kind)]
        + [review_question(rng) for _ in range(per_kind)]
        + [zork_problem(rng) for _ in range(per_kind)]
    )


_WORDS = re.compile(r"[^a-z0-9 ]+")


def first_answer(text: str, target: str) -> bool:
    """The first line, lower-cased without punctuation, is the target or starts with it."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = " ".join(_WORDS.sub(" ", line.lower()).split())
    goal = " ".join(_WORDS.sub(" ", target.lower()).split())
    return line == goal or line.startswith(goal + " ")


@dataclass
class DynaTask:
    """A held-out DynaICL task: demo pool, training and test splits and a grader."""

    task_id: str
    pool: list[Example]
    train: list[Example]
    test: list[Example]
    grader: Callable[[str, str], bool]


def zork_mix_task(sizes: dict) -> DynaTask:
    rng = random.Random(7)
    pool = mixed_task(rng, sizes["pool"], sizes["pool"])
    train = mixed_task(rng, sizes["train"], sizes["train"])
    test = mixed_task(rng, 2 * sizes["test"], sizes["test"])
    return DynaTask("bench-zork-mix", pool, train, test, first_number)


def knowledge_review_zork_task(sizes: dict) -> DynaTask:
    rng = random.Random(2026)
    unused = list(CAPITALS)
    pool = knowledge_review_zork(rng, sizes["pool"], unused)
    train = knowledge_review_zork(rng, sizes["train"], unused)
    test = knowledge_review_zork(rng, sizes["kb_test"], unused)
    # drawn after the test split, so adding training inputs leaves that split as it is
    train += knowledge_review_zork(rng, sizes["kb_extra_train"], unused)
    return DynaTask("bench-kb-review-zork", pool, train, test, first_answer)


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


def bench_dynaicl(llm, task: DynaTask, plots: Path | None) -> None:
    selector = DemoSelector(task.pool, "similar")
    start = time.perf_counter()
    labels = generate_labels(
        llm,
        INSTRUCTION,
        task.train,
        task.pool,
        task_id=task.task_id,
        grid=GRID,
        grader=task.grader,
        max_tokens=8,
        workers=1,
        selector=selector,
        progress=False,
    )
    threshold = 1.0
    accuracy = {k: round(v, 3) for k, v in labels.mean_accuracy().items()}
    print(
        f"[{task.task_id}] labels: {len(labels.records)} inputs in "
        f"{time.perf_counter() - start:.0f}s; train accuracy per k {accuracy}"
    )
    counts: dict = {}
    for label in labels.labels(threshold):
        counts[label] = counts.get(label, 0) + 1
    print(f"label distribution (k*: count, None = no k enough): {counts}")
    xs = [e.input for e in task.test]
    for kind in CONTROLLER_KINDS:
        controller = train_controller(labels, kind, threshold=threshold)
        dyn = DynaICL(INSTRUCTION, controller, selector, cost="tokens", llm=llm)
        zero = dyn.costs(xs)[:, 0].sum()
        full = dyn.costs(xs)[:, -1].sum()
        budgets = [zero + f * (full - zero) for f in (0.15, 0.3, 0.5)]
        rows = compare(
            llm,
            dyn,
            task.test,
            budgets=budgets,
            min_accuracies=(0.6, 0.7, 0.8, 0.9),
            accuracy_floors=(0.5, 0.7, 0.9),
            grader=task.grader,
            max_tokens=8,
            workers=1,
        )
        print(f"\n-- {task.task_id}, controller: {kind} --")
        print(format_table(rows))
        _print_target(rows)
        if plots:
            plot_report(
                rows,
                plots / f"dynaicl-{task.task_id}-{kind}.png",
                title=f"DynaICL ({kind} controller) vs uniform k, {task.task_id} (held-out)",
            )


def _print_target(rows) -> None:
    """The target check: the most accurate uniform k (the cheapest of ties) against the
    cheapest DynaICL setting at most 2 points below it."""
    uniform = [r for r in rows if r.method == "uniform"]
    best = max(uniform, key=lambda r: (r.accuracy, -r.prompt_tokens))
    close = [r for r in rows if r.method == "dynaicl" and r.accuracy >= best.accuracy - 0.02]
    if not close:
        print(
            f"best uniform: {best.setting} acc {best.accuracy:.3f}; no DynaICL setting came "
            "within 2 points of it"
        )
        return
    cheapest = min(close, key=lambda r: r.prompt_tokens)
    saved = 1 - cheapest.prompt_tokens / best.prompt_tokens
    print(
        f"best uniform: {best.setting} acc {best.accuracy:.3f} {best.prompt_tokens} tokens; "
        f"DynaICL {cheapest.setting} acc {cheapest.accuracy:.3f} {cheapest.prompt_tokens} "
        f"tokens: {saved:.0%} fewer prompt tokens (target >= 30% at <= 2 points lower): "
        f"{'met' if saved >= 0.30 else 'not met'}"
    )


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
            "min run cost-of-pass", fit_min_cost_of_pass(predictor, train_table), test_table
        )
    )
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
        f"run-level min cost-of-pass policy: {results[-2].cost_of_pass:.1f}"
    )
    if plots:
        plot_cost_quality([*singles, results[-2], results[-1]], plots / "router.png", curve=sweep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plots", type=Path, help="directory for dynaicl.png and router.png")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument("--only", choices=("dynaicl", "router"), help="run one part")
    parser.add_argument(
        "--extra-train",
        type=int,
        default=0,
        help="more training inputs per kind for the kb-review-zork task (same test split)",
    )
    parser.add_argument("--suite", choices=("generated", "bigbench"), default="generated")
    parser.add_argument(
        "--tasks", nargs="+", help="BIG-bench tasks, or TASK/SUBTASK (--suite bigbench)"
    )
    parser.add_argument("--seed", type=int, default=0, help="first train/test split seed")
    parser.add_argument("--repeats", type=int, default=3, help="splits (seeds) to report over")
    parser.add_argument("--inputs", type=int, default=170, help="labelled inputs per task")
    parser.add_argument("--test", type=int, default=100, help="test inputs per split")
    parser.add_argument("--pool", type=int, default=16, help="demonstration pool per task")
    parser.add_argument("--grid", type=int, nargs="+", default=[0, 2], help="demo counts k")
    parser.add_argument("--max-tokens", type=int, default=3, help="answer length (tokens)")
    parser.add_argument(
        "--out", type=Path, default=Path("bench-agents-out"), help="label files (resumable)"
    )
    parser.add_argument(
        "--no-new-calls",
        action="store_true",
        help="analyse only the inputs already labelled (after an interrupted run)",
    )
    args = parser.parse_args()
    if min(args.repeats, args.inputs, args.test, args.pool, args.max_tokens) < 1:
        raise SystemExit("--repeats, --inputs, --test, --pool and --max-tokens must be positive")
    from trace_engine.llm.registry import get_llm

    llm = get_llm()
    if args.suite == "bigbench":
        import bigbench_suite

        start = time.perf_counter()
        bigbench_suite.run(
            llm,
            args.tasks or bigbench_suite.DEFAULT_TASKS,
            bigbench_suite.Sizes(
                args.pool, args.inputs, args.test, tuple(args.grid), args.max_tokens
            ),
            range(args.seed, args.seed + args.repeats),
            args.out,
            not args.no_new_calls,
        )
        print(f"\ntotal {time.perf_counter() - start:.0f}s")
        return
    sizes = (
        {
            "pool": 4,
            "train": 2,
            "test": 1,
            "kb_test": 1,
            "kb_extra_train": args.extra_train,
            "router_train": 4,
            "router_test": 4,
        }
        if args.quick
        else {
            "pool": 6,
            "train": 8,
            "test": 8,
            "kb_test": 12,
            "kb_extra_train": args.extra_train,
            "router_train": 24,
            "router_test": 24,
        }
    )
    if args.plots:
        args.plots.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.only != "router":
        print("== DynaICL ==")
        for task in (zork_mix_task(sizes), knowledge_review_zork_task(sizes)):
            bench_dynaicl(llm, task, args.plots)
    if args.only != "dynaicl":
        print("\n== Router ==")
        bench_router(llm, sizes, args.plots)
    print(f"\ntotal {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
