"""Search methods at one LLM-call budget per problem: does feedback pay for itself?

Every method gets at most ``--calls`` LLM calls per problem (a :class:`Budget` on
its calls; it stops early once the problem is solved):

* ``zero_shot``: one greedy completion (the baseline, one call);
* ``best_of_n``: completions at spread temperatures, the problem's own checks
  choosing (no feedback reaches the model);
* ``optoprime``: OptoPrime steps, each reading the last result's feedback;
* ``multi``: OptoPrimeMulti (three candidates a step, the checks scoring them);
* ``archive``: ArchiveSearch over OptoPrime (cells: test status and checks passed,
  or the numeric error's size and sign).

Problem families, none used to tune a prompt:

* ``humaneval``: a fixed sample of HumanEval/40..163 (``--problems`` of its 40,
  in a seeded order that does not change with ``--seed``), from stubs, scored by
  the official tests; every program runs only in the sandbox runner;
* ``numeric``: the ten held-out numeric targets of ``bench_optimizers.py``;
* ``bigbench``: prompt tuning on a BIG-bench multiple-choice task (``--task``,
  default ``navigate``), with a fixed train/test split (``--train``, ``--test``);
  the budget counts the calls that propose an instruction, the calls answering
  questions are reported beside it (see ``search_bigbench.py``).

``--seed`` is the first sampling seed, ``--seeds N`` repeats over N seeds; each
figure is printed per seed and as mean and range::

    python benchmarks/bench_search.py --family humaneval --problems 40 --seeds 3
    python benchmarks/bench_search.py --family numeric --methods best_of_n,archive
    python benchmarks/bench_search.py --family bigbench --task navigate --train 12 --test 30
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench_optimizers import HELD_OUT, Numeric, numeric_feedback

from optimizers import OptoPrime, OptoPrimeMulti
from optimizers.archive import ArchiveSearch, Outcome
from optimizers.search import temperature_spread
from optimizers.values import format_code
from trace_engine import node
from trace_engine.llm import Budget, BudgetExceeded, LLMError, Meter, Metered, get_llm
from workflows.code_repair import CodeRepair, RepairTask, humaneval_tasks
from workflows.unit_checks import run_tests

METHODS = ("zero_shot", "best_of_n", "optoprime", "multi", "archive")
HUMANEVAL_POOL = range(40, 164)
HUMANEVAL_SET_SEED = 2026
"""Fixes which 40 problems form the set (and their order), whatever ``--seed`` is."""
MAX_TOKENS = 400


def humaneval_set(count: int) -> list[str]:
    """The first ``count`` of the benchmark's fixed 40 HumanEval problems."""
    chosen = random.Random(HUMANEVAL_SET_SEED).sample(list(HUMANEVAL_POOL), 40)
    return [f"HumanEval/{i}" for i in chosen[:count]]


@dataclass
class Result:
    solved: bool
    calls: int
    tokens: int


class Attempt:
    """One method on one problem: an LLM metered on a meter of its own, under the budget."""

    def __init__(self, llm, calls: int):
        self.meter = Meter()
        self.llm = Metered(llm, meter=self.meter, budget=Budget(max_calls=calls), active=False)

    def result(self, solved: bool) -> Result:
        total = self.meter.total
        return Result(solved, total.calls + total.errors, total.total_tokens)


def spend(step: Callable[[int], bool], rounds: int) -> bool:
    """Call ``step(i)`` for i = 0, 1, ... until it reports success, the budget is spent,
    or ``rounds`` pass; whether it succeeded."""
    for i in range(rounds):
        try:
            if step(i):
                return True
        except BudgetExceeded:
            return False
    return False


# ----- HumanEval ------------------------------------------------------------------------


def _ask_for_code(llm, task: RepairTask, temperature: float, seed: int) -> str:
    header = task.code.rstrip().removesuffix("pass").rstrip() + "\n"
    completion = llm.complete(
        [
            {
                "role": "system",
                "content": "Write the complete Python function. Reply with code only.",
            },
            {"role": "user", "content": task.setup + header},
        ],
        temperature=temperature,
        seed=seed,
        max_tokens=MAX_TOKENS,
    )
    return format_code(completion.text, task.entry_point)


def _passes(task: RepairTask, code: str) -> bool:
    return run_tests(code, task.tests, task.entry_point, setup=task.setup).solved


def code_sampling(task: RepairTask, llm, calls: int, seed: int, n: int) -> Result:
    """Zero-shot (``n=1``) or best-of-n: up to ``n`` samples, the first passing one wins."""
    attempt = Attempt(llm, calls)
    temperatures = temperature_spread(n)

    def sample(i: int) -> bool:
        try:
            return _passes(task, _ask_for_code(attempt.llm, task, temperatures[i], seed * 1000 + i))
        except LLMError:
            return False

    return attempt.result(spend(sample, n))


def code_optimizer(task: RepairTask, llm, calls: int, seed: int, method: str) -> Result:
    """OptoPrime, OptoPrimeMulti or the archive from the task's stub, fed the test report."""
    attempt = Attempt(llm, calls)
    repair = CodeRepair([task])
    param = repair.parameter(task.name)
    if method == "archive":
        opt = OptoPrime([param], attempt.llm, memory_size=3, max_tokens=MAX_TOKENS)

        def evaluate(values) -> Outcome:
            found = repair.evaluate(task)
            cell = [found.details["status"], found.details["passed"]]
            return Outcome(found.score, found.feedback, cell, found.output)

        ArchiveSearch(opt, evaluate, stop_at=1.0, seed=seed).run(calls)
        return attempt.result(repair.test(task.name).solved)
    if method == "multi":
        opt = OptoPrimeMulti(
            [param], attempt.llm, n=3, score=repair.score, keep_current=True, memory_size=3
        )
    else:
        opt = OptoPrime([param], attempt.llm, memory_size=3, max_tokens=MAX_TOKENS)

    def step(_: int) -> bool:
        found = repair.evaluate(task)
        if found.score == 1.0:
            return True
        opt.zero_feedback()
        opt.backward(found.output, found.feedback)
        opt.step()
        return False

    spend(step, calls)
    return attempt.result(repair.test(task.name).solved)


# ----- numeric --------------------------------------------------------------------------


def _parse_number(text: str) -> float | None:
    for word in reversed(text.replace("=", " ").split()):
        try:
            return float(word.strip(".,;:`*$"))
        except ValueError:
            continue
    return None


def numeric_sampling(task: Numeric, llm, calls: int, seed: int, n: int) -> Result:
    """Ask for x outright: zero-shot (``n=1``) or best-of-n, checked by computing the chain."""
    attempt = Attempt(llm, calls)
    temperatures = temperature_spread(n)

    def sample(i: int) -> bool:
        try:
            reply = attempt.llm.complete(
                f"Find the number x such that {task.label}. Reply with the number only.",
                temperature=temperatures[i],
                seed=seed * 1000 + i,
                max_tokens=40,
            ).text
        except LLMError:
            return False
        x = _parse_number(reply)
        return x is not None and math.isclose(task.chain(x), task.target)

    return attempt.result(spend(sample, n))


def _error_cell(value: float, target: float) -> list:
    """The numeric error's sign and order of magnitude: the archive's behaviour cell."""
    error = value - target
    if math.isclose(value, target):
        return ["exact"]
    return ["low" if error < 0 else "high", int(math.floor(math.log10(abs(error))))]


def numeric_optimizer(task: Numeric, llm, calls: int, seed: int, method: str) -> Result:
    attempt = Attempt(llm, calls)
    x = node(task.start, trainable=True, name="x")

    def score(values: dict) -> float:
        value = task.chain(values[x.name])
        return 0.0 if math.isclose(value, task.target) else -abs(value - task.target)

    if method == "archive":
        opt = OptoPrime([x], attempt.llm, memory_size=3)

        def evaluate(values) -> Outcome:
            y = task.chain(x)
            feedback = numeric_feedback(y.data, task.target)
            return Outcome(score(values), feedback, _error_cell(y.data, task.target), y)

        ArchiveSearch(opt, evaluate, stop_at=0.0, seed=seed).run(calls)
        return attempt.result(math.isclose(task.chain(x.data), task.target))
    if method == "multi":
        opt = OptoPrimeMulti([x], attempt.llm, n=3, score=score, keep_current=True, memory_size=3)
    else:
        opt = OptoPrime([x], attempt.llm, memory_size=3)

    def step(_: int) -> bool:
        y = task.chain(x)
        if math.isclose(y.data, task.target):
            return True
        opt.zero_feedback()
        opt.backward(y, numeric_feedback(y.data, task.target))
        opt.step()
        return math.isclose(task.chain(x.data), task.target)

    spend(step, calls)
    return attempt.result(math.isclose(task.chain(x.data), task.target))


# ----- the run ----------------------------------------------------------------------------


def run_method(family: str, method: str, problem, llm, calls: int, seed: int) -> Result:
    sampling, optimizing = (
        (code_sampling, code_optimizer)
        if family == "humaneval"
        else (numeric_sampling, numeric_optimizer)
    )
    if method == "zero_shot":
        return sampling(problem, llm, calls, seed, 1)
    if method == "best_of_n":
        return sampling(problem, llm, calls, seed, calls)
    return optimizing(problem, llm, calls, seed, method)


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.1f} ({min(values):g}-{max(values):g})" if len(values) > 1 else f"{mean:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--family", choices=("humaneval", "numeric", "bigbench"), default="humaneval"
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--problems", type=int, default=40, help="how many of the family's problems"
    )
    parser.add_argument("--calls", type=int, default=6, help="LLM calls allowed per problem")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds, from --seed up")
    parser.add_argument("--llm", default=None, help="LLM spec (default: the embedded model)")
    parser.add_argument("--task", default="navigate", help="bigbench: the multiple-choice task")
    parser.add_argument("--train", type=int, default=12, help="bigbench: train questions")
    parser.add_argument("--test", type=int, default=30, help="bigbench: test questions")
    args = parser.parse_args()
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    if not 1 <= args.problems <= 40 or args.calls < 1 or args.seeds < 1:
        parser.error("--problems must be 1-40, --calls and --seeds at least 1")
    seeds = list(range(args.seed, args.seed + args.seeds))
    if args.family == "bigbench":
        from search_bigbench import load_split, run_family

        task, split = load_split(args.task, args.train, args.test)
        run_family(task, split, methods, get_llm(args.llm, cache=False), args.calls, seeds)
        return
    if args.family == "humaneval":
        problems = humaneval_tasks(humaneval_set(args.problems))
        labels = [t.name for t in problems]
    else:
        problems = HELD_OUT[: args.problems]
        labels = [t.label for t in problems]
    llm = get_llm(args.llm, cache=False)
    print(
        f"## {args.family}: {len(problems)} problems, {args.calls} calls each, seeds {seeds}, {llm.id}"
    )
    print("problems: " + " ".join(labels))
    print(
        f"{'method':<10} {'seed':>4} {'solved':>7} {'calls':>6} {'tokens':>7} {'seconds':>8}  per problem"
    )
    summary = {}
    for method in methods:
        solved, calls, tokens = [], [], []
        for seed in seeds:
            start = time.perf_counter()
            results = [run_method(args.family, method, p, llm, args.calls, seed) for p in problems]
            solved.append(sum(r.solved for r in results))
            calls.append(sum(r.calls for r in results))
            tokens.append(sum(r.tokens for r in results))
            marks = "".join("+" if r.solved else "." for r in results)
            print(
                f"{method:<10} {seed:>4} {solved[-1]:>3}/{len(problems):<3} {calls[-1]:>6} "
                f"{tokens[-1]:>7} {time.perf_counter() - start:>8.1f}  {marks}",
                flush=True,
            )
        summary[method] = (solved, calls, tokens)
    print(f"\n{'method':<10} {'solved, mean (range)':>22} {'calls':>14} {'tokens':>20}")
    for method, (solved, calls, tokens) in summary.items():
        print(f"{method:<10} {spread(solved):>22} {spread(calls):>14} {spread(tokens):>20}")


if __name__ == "__main__":
    main()
