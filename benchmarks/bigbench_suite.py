"""Held-out BIG-bench tasks for the router and DynaICL (``bench_agents.py --suite bigbench``).

A task is a multiple-choice BIG-bench task from the ``bigbench`` package (its
``task.json``; a task with subtasks pools them, ``TASK/SUBTASK`` picks one). Per
task, with a fixed data order: a demonstration pool, then a set of inputs answered
once by the embedded model with ``k`` demonstrations for every ``k`` of the grid
(most similar demos; the label file and the LLM cache make this resumable and
every later use free). Each ``--seed`` then splits those
inputs anew into train and test:

* DynaICL: the accuracy controller is trained on the train labels; uniform ``k``
  for every ``k`` of the grid and DynaICL (matching the accuracy predicted for the
  uniform ``k`` that scored best on train, at no more cost) are run on test. Token
  costs come from the model's own tokenizer; the table shows estimate vs real.
* Router: the backends are the grid's ``k``-shot prompts of the same model (cost =
  prompt + completion tokens); each fitted objective is replayed on test beside
  every single backend.
"""

from __future__ import annotations

import json
import math
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agents.dynaicl import (
    DemoSelector,
    DynaICL,
    Example,
    LabelSet,
    generate_labels,
    render_few_shot,
    run_plan,
    train_controller,
)
from agents.router import (
    Backend,
    CostOfPassPolicy,
    SuccessPredictor,
    collect_outcomes,
    evaluate_backends,
    evaluate_policy,
    fit_max_success,
    fit_min_cost,
    fit_min_cost_of_pass,
)

INSTRUCTION = "Answer with one of the listed options only."
GRID = (0, 2)
MAX_TOKENS = 3
DEFAULT_TASKS = ("navigate",)
_WORD = re.compile(r"[^a-z0-9()]+")


@dataclass
class ChoiceTask:
    """A BIG-bench multiple-choice task: examples (input with its options, target), the
    instruction (the task's own prefix, then how to answer) and each input's options."""

    name: str
    examples: list[Example]
    instruction: str
    options: dict[str, list[str]] = field(default_factory=dict)


def load_task(name: str) -> ChoiceTask:
    """Read a BIG-bench multiple-choice task: ``name`` (a task, or one with subtasks, whose
    subtasks are pooled) or ``name/subtask``; a one-line error if it is unusable.

    A pooled task mixes its subtasks' inputs (e.g. ``logical_deduction``: three, five
    and seven objects), so inputs differ in what they need. When the subtasks'
    prefixes differ, each input carries its own and the instruction only says how
    to answer.
    """
    from workflows.datasets import DatasetError, bigbench_tasks_dir

    try:
        root = bigbench_tasks_dir()
    except DatasetError as exc:
        raise SystemExit(str(exc)) from None
    folder = root / name
    if not re.fullmatch(r"[a-z0-9_]+(/[a-z0-9_]+)?", name) or not folder.is_dir():
        raise SystemExit(
            f"no BIG-bench task {name!r}; pick a directory name under "
            "bigbench/benchmark_tasks (or TASK/SUBTASK for one subtask)"
        )
    data = _task_json(folder)
    subtasks = (_task_json(p) for p in sorted(folder.iterdir()) if p.is_dir())
    parts = [data] if data.get("examples") else [d for d in subtasks if d.get("examples")]
    loaded = [(str(d.get("task_prefix") or "").strip(), _choices(d)) for d in parts]
    prefixes = {prefix for prefix, _ in loaded}
    shared = prefixes.pop() if len(prefixes) == 1 else ""
    examples, options = [], {}
    for prefix, items in loaded:
        for text, choices, target in items:
            if prefix and prefix != shared:
                text = f"{prefix}\n{text}"
            examples.append(Example(text, target))
            options[text] = choices
    if len(examples) < 50:
        raise SystemExit(
            f"BIG-bench task {name!r} has {len(examples)} multiple-choice examples; need 50"
        )
    instruction = f"{shared}\n{INSTRUCTION}" if shared else INSTRUCTION
    return ChoiceTask(name, examples, instruction, options)


def _task_json(folder: Path) -> dict:
    path = folder / "task.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _choices(data: dict) -> list[tuple[str, list[str], str]]:
    """``(input with its options, options, target)`` of each multiple-choice example."""
    out = []
    for item in data.get("examples") or []:
        scores = item.get("target_scores")
        if not scores:
            continue
        choices = [str(c).strip() for c in scores]
        target = str(max(scores, key=lambda c: scores[c])).strip()
        out.append((f"{item['input'].strip()}\nOptions: {' | '.join(choices)}", choices, target))
    return out


def _norm(text: str) -> str:
    return " ".join(_WORD.sub(" ", text.lower()).split())


def choice_grader(task: ChoiceTask) -> Callable[[str, str], bool]:
    """Correct when the first line names the target: it starts with it, or it is a
    prefix of the target alone among the options (answers are cut at a few tokens)."""
    by_target = {c: choices for choices in task.options.values() for c in choices}

    def grade(output: str, target: str) -> bool:
        lines = [line for line in output.strip().splitlines() if line.strip()]
        said = _norm(lines[0]) if lines else ""
        goal = _norm(target)
        if not said or not goal:
            return False
        if said == goal or said.startswith(goal + " "):
            return True
        others = [_norm(c) for c in by_target.get(target, []) if _norm(c) != goal]
        return goal.startswith(said) and not any(o.startswith(said) for o in others)

    return grade


def _spread(values: Sequence[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "inf"
    mean = statistics.fmean(finite)
    sd = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return f"{mean:.3f} ± {sd:.3f}" if mean < 10 else f"{mean:.1f} ± {sd:.1f}"


@dataclass
class Sizes:
    pool: int
    inputs: int
    test: int
    grid: tuple[int, ...] = GRID
    max_tokens: int = MAX_TOKENS


def label_task(llm, task: ChoiceTask, sizes: Sizes, out: Path, new_calls: bool):
    """The pool, the labelled inputs (every grid ``k`` answered once) and the selector."""
    examples = list(task.examples)
    random.Random(0).shuffle(examples)
    pool, inputs = examples[: sizes.pool], examples[sizes.pool : sizes.pool + sizes.inputs]
    selector = DemoSelector(pool, "similar")
    path = out / f"{task.name.replace('/', '__')}.labels.jsonl"
    grader = choice_grader(task)
    if new_calls:
        start = time.perf_counter()
        labels = generate_labels(
            llm,
            task.instruction,
            inputs,
            pool,
            task_id=f"bigbench-{task.name}",
            grid=sizes.grid,
            grader=grader,
            max_tokens=sizes.max_tokens,
            workers=1,
            selector=selector,
            path=path,
            progress=True,
        )
        print(
            f"[{task.name}] labels for {len(labels.records)} inputs in "
            f"{time.perf_counter() - start:.0f}s",
            flush=True,
        )
    else:
        labels = LabelSet.load(path)
        print(f"[{task.name}] using the {len(labels.records)} inputs labelled so far", flush=True)
    return pool, labels, selector, grader


def _few_shot(instruction: str, selector: DemoSelector, k: int, most: int) -> Callable[[str], str]:
    def rewrite(x: str) -> str:
        demos = selector.select(x, most)
        return render_few_shot(instruction, demos[len(demos) - k :] if k else [], x, k)

    return rewrite


def run_task(llm, task: ChoiceTask, sizes: Sizes, seeds: Sequence[int], labelled) -> None:
    _, labels, selector, grader = labelled
    records = labels.records
    n_test = min(sizes.test, len(records) - max(20, len(records) // 3))
    if n_test < 10:
        print(f"[{task.name}] only {len(records)} labelled inputs: too few to split")
        return
    backends = [
        Backend(
            f"{k}-shot",
            llm,
            rewrite=_few_shot(task.instruction, selector, k, labels.grid[-1]),
            options={"max_tokens": sizes.max_tokens},
        )
        for k in labels.grid
    ]
    summary: dict[str, list[float]] = {}

    def note(key: str, value: float) -> None:
        summary.setdefault(key, []).append(value)

    for seed in seeds:
        order = list(range(len(records)))
        random.Random(seed).shuffle(order)
        test = [records[i] for i in order[:n_test]]
        train = [records[i] for i in order[n_test:]]
        print(f"\n== {task.name}, seed {seed}: {len(train)} train, {len(test)} test inputs ==")
        _dynaicl(llm, task.instruction, labels, train, test, selector, grader, note, sizes)
        _router(backends, train, test, grader, note)
    print(f"\n== {task.name}: mean ± sd over seeds {list(seeds)} ==")
    for key, values in summary.items():
        print(f"  {key:<58} {_spread(values)}")


def _dynaicl(
    llm, instruction: str, labels: LabelSet, train, test, selector, grader, note, sizes: Sizes
) -> None:
    train_set = LabelSet(dict(labels.meta), list(train))
    test_set = LabelSet(dict(labels.meta), list(test))
    grid = labels.grid
    controller = train_controller(train_set)
    dyn = DynaICL(instruction, controller, selector, cost="tokens", llm=llm)
    xs, targets = [r.input for r in test], [r.target for r in test]
    train_acc = train_set.mean_accuracy()
    best_k = max(grid, key=lambda k: (round(train_acc[k], 9), -k))
    print(
        f"DynaICL: train accuracy per k { ({k: round(v, 3) for k, v in train_acc.items()}) }; "
        f"best uniform k on train: {best_k}"
    )
    print(f"  calibration, train (held-out folds): {controller.train_calibration}")
    print(f"  calibration, test:                   {controller.calibration_on(test_set)}")
    print(
        "  per-input gain over k=0 borne out on held-out folds (slope per k): "
        f"{ {k: round(v, 2) for k, v in controller.gain_slopes.items()} }"
    )
    plans = [(f"uniform k={k}", dyn.uniform(xs, k)) for k in grid]
    plans.append((f"DynaICL match k={best_k}", dyn.plan(xs, match_uniform=best_k)))
    requested = train_acc[best_k]
    plans.append((f"DynaICL min_acc={requested:.3f}", dyn.plan(xs, min_accuracy=requested)))
    rows = []
    for name, plan in plans:
        acc, tokens, _ = run_plan(
            llm, plan, targets, grader=grader, max_tokens=sizes.max_tokens, workers=1
        )
        rows.append((name, plan, acc, tokens))
    print(f"  {'setting':<22} {'acc':>6} {'expected':>14} {'real tok':>9} {'estimated':>9}  ks")
    for name, plan, acc, tokens in rows:
        a = plan.allocation
        ks = {k: a.ks.count(k) for k in grid}
        print(
            f"  {name:<22} {acc:>6.3f} {a.expected_accuracy:>7.3f} ± {a.spread:.3f} "
            f"{tokens:>9d} {a.total_cost:>9.0f}  {ks}"
        )
    dyn_row = rows[len(grid)]
    if dyn_row[1].allocation.note:
        print(f"  DynaICL match k={best_k}: {dyn_row[1].allocation.note}")
    held = rows[-1]
    if not held[1].allocation.met:
        print(f"  requested accuracy {requested:.3f}: {held[1].allocation.note}")
    print(
        f"  requested accuracy {requested:.3f} (train accuracy of uniform k={best_k}): "
        f"held-out {held[2]:.3f}, {(held[2] - requested) / max(held[1].allocation.spread, 1e-9):+.1f}"
        " spreads from the request"
    )
    note("DynaICL min_acc: held-out minus requested accuracy", held[2] - requested)
    best = rows[grid.index(best_k)]
    saved = 1 - dyn_row[3] / best[3]
    print(
        f"  DynaICL vs uniform k={best_k} (train-chosen): accuracy {dyn_row[2]:.3f} vs "
        f"{best[2]:.3f}, {saved:.0%} fewer real prompt tokens"
    )
    note("DynaICL accuracy", dyn_row[2])
    note("best-on-train uniform k accuracy", best[2])
    note("DynaICL prompt-token saving vs best-on-train uniform k", saved)
    note(
        "token estimate / real (all plans)",
        sum(r[1].allocation.total_cost for r in rows) / sum(r[3] for r in rows),
    )


def _router(backends, train, test, grader, note) -> None:
    to_examples = lambda recs: [Example(r.input, r.target) for r in recs]  # noqa: E731
    train_table = collect_outcomes(backends, to_examples(train), grader=grader, workers=1)
    test_table = collect_outcomes(backends, to_examples(test), grader=grader, workers=1)
    predictor = SuccessPredictor().fit([o for row in train_table for o in row.values()])
    singles = evaluate_backends(test_table)
    train_singles = {r.name: r for r in evaluate_backends(train_table)}
    best_train = min(train_singles.values(), key=lambda r: r.cost_of_pass).name
    middle = sorted(predictor.mean_cost.values())[len(backends) // 2]
    floor = max(r.success_rate for r in train_singles.values()) - 0.02
    fitted = [
        ("min run cost-of-pass", fit_min_cost_of_pass(predictor, train_table)),
        (f"max success, cost<={middle:.0f}", fit_max_success(predictor, train_table, middle)),
        (f"min cost, success>={floor:.2f}", fit_min_cost(predictor, train_table, floor)),
    ]
    results = list(singles)
    print("Router: calibration on test per backend:")
    for name, cal in predictor.calibration_on(
        [o for row in test_table for o in row.values()]
    ).items():
        print(f"  {name:<8} train (held-out folds) {predictor.train_calibration[name]}")
        print(f"  {'':<8} test                   {cal}")
    print(
        f"  {'policy':<30} {'success':>7} {'cost/req':>9} {'cost-of-pass':>12}  objective / shares"
    )
    for name, policy in fitted:
        results.append(evaluate_policy(name, policy, test_table))
    per_request = CostOfPassPolicy(predictor)
    results.append(evaluate_policy("per-request cost/p", per_request, test_table))
    objectives = {name: policy.describe() for name, policy in fitted}
    objectives["per-request cost/p"] = per_request.objective
    for r in results:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in r.shares.items())
        what = objectives.get(r.name, "single backend")
        print(
            f"  {r.name:<30} {r.success_rate:>7.3f} {r.mean_cost:>9.1f} {r.cost_of_pass:>12.1f}"
            f"  {what}; {shares}"
        )
    best_single = min(singles, key=lambda r: r.cost_of_pass)
    chosen = next(r for r in singles if r.name == best_train)
    router = results[len(singles)]
    print(
        f"  best single on test: {best_single.name} {best_single.cost_of_pass:.1f}; "
        f"best single on train ({best_train}) on test: {chosen.cost_of_pass:.1f}; "
        f"min run cost-of-pass router: {router.cost_of_pass:.1f}"
    )
    note("router (min run cost-of-pass) cost-of-pass", router.cost_of_pass)
    note("best single backend on test: cost-of-pass", best_single.cost_of_pass)
    note(
        "router / best single on test (cost-of-pass ratio)",
        router.cost_of_pass / best_single.cost_of_pass,
    )
    note(
        "per-request cost/p policy / best single",
        results[-1].cost_of_pass / best_single.cost_of_pass,
    )


def run(llm, tasks: Sequence[str], sizes: Sizes, seeds: Sequence[int], out: Path, new_calls: bool):
    out.mkdir(parents=True, exist_ok=True)
    loaded = [load_task(name) for name in tasks]  # every name checked before any model call
    labelled = [label_task(llm, task, sizes, out, new_calls) for task in loaded]
    for task, done in zip(loaded, labelled):
        run_task(llm, task, sizes, seeds, done)
