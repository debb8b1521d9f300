"""Workflow benchmarks: HumanEval code repair with the embedded model, and parallel evaluation.

1. code_repair on a fixed HumanEval subset (HumanEval/0..39; ``--problems N`` runs
   the first N): every function starts as a stub; OptoPrime gets at most
   ``--steps`` steps per problem (the first drafts the stub from its docstring,
   the later ones repair it from the test report). Prints pass@1 (greedy, one
   sample) of the starting and the optimized code, which problems the draft
   solved and which the repair steps did, LLM calls, tokens and wall time.
   Run it alone: the model uses every core.
2. Parallel evaluation: the same minibatch scored with parallel=1 and parallel=N
   against a scripted backend that takes ``--latency`` seconds per call.

3. Zero-shot baseline: the same model completing each problem from its prompt in
   one call (official tests decide), the figure repair from a stub must beat.

Usage: python benchmarks/bench_workflows.py [--problems 40] [--steps 5] [--candidates 3]
       [--skip-model] [--zero-shot-only]
"""

from __future__ import annotations

import argparse
import tempfile
import time

SUBSET = [f"HumanEval/{i}" for i in range(40)]


def bench_code_repair(n_problems: int, steps: int, candidates: int, llm_spec: str | None) -> None:
    from optimizers import OptoPrime, OptoPrimeMulti
    from trace_engine.llm import get_llm, get_meter
    from workflows.code_repair import CodeRepair, humaneval_tasks
    from workflows.trainer import Trainer

    tasks = humaneval_tasks(SUBSET[:n_problems])
    repair = CodeRepair(tasks, timeout=5)
    before = sum(repair.test(t.name).solved for t in tasks)
    llm = get_llm(llm_spec, cache=False)
    optimizer = (
        OptoPrime(repair.parameters(), llm)
        if candidates == 1
        else OptoPrimeMulti(repair.parameters(), llm, n=candidates, score=repair.score)
    )
    meter = get_meter()
    meter.reset()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        result = Trainer(
            repair,
            optimizer,
            tasks,
            val=tasks,
            evaluate=repair.evaluate,
            batch_size=1,
            epochs=steps,
            shuffle=False,
            stop_at_score=1.0,
            parallel=2,
            checkpoint_dir=run_dir,
            workflow="bench",
        ).fit()
    seconds = time.perf_counter() - start
    after = {t.name: repair.test(t.name).solved for t in tasks}
    used = meter.total
    llm_steps = [r for r in result.history[1:] if not r["skipped"]]
    print(
        f"\ncode_repair on {n_problems} HumanEval problems ({SUBSET[0]}..{SUBSET[n_problems - 1]}),"
        f" at most {steps} steps each, {type(optimizer).__name__}"
        + (f" ({candidates} candidates per step, chosen by the tests)" if candidates > 1 else "")
        + f", model {llm.id}"
    )
    print(f"  pass@1 starting code:  {before / n_problems:.2f} ({before}/{n_problems})")
    print(
        f"  pass@1 optimized code: {sum(after.values()) / n_problems:.2f} "
        f"({sum(after.values())}/{n_problems})"
    )
    print(f"  solved: {', '.join(n for n, ok in after.items() if ok) or 'none'}")
    first_epoch = solved_in_first_epoch(result.history, [t.name for t in tasks])
    later = [n for n, ok in after.items() if ok and n not in first_epoch]
    print(f"  solved by the first step (the draft): {len(first_epoch)}")
    print(f"  solved by later steps (repair from test feedback): {len(later)} {', '.join(later)}")
    print(f"  optimizer steps with an LLM call: {len(llm_steps)}")
    print(
        f"  LLM calls: {used.calls}, tokens: {used.prompt_tokens} prompt + "
        f"{used.completion_tokens} completion"
    )
    print(f"  wall time: {seconds:.0f}s ({seconds / max(len(llm_steps), 1):.1f}s per LLM step)")


def solved_in_first_epoch(history: list[dict], names: list[str]) -> set[str]:
    """Tasks whose validation score reached 1.0 during the first epoch (each task's first step)."""
    solved: set[str] = set()
    for record in history:
        if record["epoch"] == 0 and record["val_scores"]:
            solved |= {n for n, s in zip(names, record["val_scores"]) if s >= 1.0}
    return solved


def bench_zero_shot(n_problems: int, llm_spec: str | None) -> None:
    """The same model completing each problem from its prompt in one call, with no
    feedback: the baseline that optimizing from a stub has to beat (same instruction
    as OptoPrime's draft of a stub)."""
    import re

    from optimizers.prompts import DRAFT_SYSTEM_PROMPT
    from trace_engine.llm import get_llm
    from workflows.datasets import load_humaneval
    from workflows.unit_checks import run_tests

    llm = get_llm(llm_spec, cache=False)
    problems = load_humaneval(SUBSET[:n_problems])
    solved, tokens = [], 0
    start = time.perf_counter()
    for problem in problems:
        reply = llm.complete(
            [
                {"role": "system", "content": DRAFT_SYSTEM_PROMPT},
                {"role": "user", "content": problem.prompt},
            ],
            max_tokens=400,
        )
        tokens += reply.usage.total_tokens
        fenced = re.search(r"```(?:python)?\n(.*?)```", reply.text, re.DOTALL)
        code = fenced.group(1) if fenced else reply.text
        report = run_tests(
            problem.prompt + "\n" + code, problem.test, problem.entry_point, timeout=5
        )
        if report.solved:
            solved.append(problem.task_id)
    seconds = time.perf_counter() - start
    print(f"\nzero-shot completion of the same {n_problems} problems, one call each, {llm.id}")
    print(f"  pass@1: {len(solved) / n_problems:.2f} ({len(solved)}/{n_problems})")
    print(f"  solved: {', '.join(solved) or 'none'}")
    print(f"  tokens: {tokens}, wall time: {seconds:.0f}s")


def bench_parallel(latency: float, examples: int, workers: int) -> None:
    from workflows.datasets import Example
    from workflows.prompt_tuning import QAPipeline
    from workflows.trainer import Trainer

    def slow_model(messages):
        time.sleep(latency)
        return "Answer: yes"

    qa = QAPipeline(slow_model)
    data = [Example(str(i), f"question {i}?", "yes") for i in range(examples)]
    timings = {}
    for parallel in (1, workers):
        trainer = Trainer(qa, None, data, evaluate=qa.evaluate, parallel=parallel, progress=False)
        start = time.perf_counter()
        scores = [e.score for e in trainer.evaluate_all(data)]
        timings[parallel] = time.perf_counter() - start
        assert all(s == 1.0 for s in scores)
    print(f"\nparallel evaluation: {examples} examples, scripted backend with {latency}s per call")
    print(
        f"  parallel=1: {timings[1]:.2f}s   parallel={workers}: {timings[workers]:.2f}s   "
        f"speedup {timings[1] / timings[workers]:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=40, help="first N of the 40-problem subset")
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps per problem at most")
    parser.add_argument(
        "--candidates",
        type=int,
        default=1,
        help="1: OptoPrime; N > 1: OptoPrimeMulti with N candidates per step, picked by the tests",
    )
    parser.add_argument("--llm", default=None, help="LLM spec (default: the embedded model)")
    parser.add_argument("--skip-model", action="store_true", help="only the parallel benchmark")
    parser.add_argument(
        "--zero-shot-only", action="store_true", help="only the zero-shot completion baseline"
    )
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--examples", type=int, default=16)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    if not 1 <= args.problems <= len(SUBSET):
        parser.error(f"--problems must be 1..{len(SUBSET)}")
    if args.zero_shot_only:
        bench_zero_shot(args.problems, args.llm)
        return
    bench_parallel(args.latency, args.examples, args.workers)
    if not args.skip_model:
        bench_code_repair(args.problems, args.steps, args.candidates, args.llm)
        bench_zero_shot(args.problems, args.llm)


if __name__ == "__main__":
    main()
