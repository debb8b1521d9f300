"""``trace-engine demo``: repair HumanEval functions from empty bodies with the local model.

The main job, meant to run on a fresh install with no network and no API key:
a few HumanEval functions start as stubs (signature and docstring only), each
is run against the official tests in a subprocess; OptoPrime drafts each stub
from its docstring, then rewrites the code from the test feedback, one problem
per step, until the tests pass or the steps run out. Everything printed comes from actually running the tests:
before, after every step, and at the end.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from trace_engine.files import atomic_write_text
from trace_engine.llm import get_meter
from workflows.cli import UsageError
from workflows.commands.common import add_llm_option, make_llm, positive_float, positive_int, short

DEFAULT_PROBLEMS = ("HumanEval/0", "HumanEval/2", "HumanEval/13", "HumanEval/23")
DEFAULT_STEPS = 2
DEFAULT_MINUTES = 8.0
DEFAULT_OUT = Path("trace-engine-demo")
RUN_DIR = "run"
CODE_FILE = "optimized.py"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="repair HumanEval functions from empty bodies with the local model (the main demo)",
        description=(
            "Repair a few HumanEval functions that start as empty stubs: the official unit "
            "tests run in a subprocess; OptoPrime drafts each stub from its docstring, then "
            "rewrites the code from the tests' feedback, one problem per step. Needs no network and no API key: the embedded local model is "
            "used unless --llm or $TRACE_ENGINE_LLM says otherwise. Takes a few minutes on a "
            "laptop CPU."
        ),
    )
    parser.add_argument(
        "--problems",
        metavar="IDS",
        default=",".join(p.split("/")[1] for p in DEFAULT_PROBLEMS),
        help="comma-separated HumanEval numbers or ids (default: %(default)s)",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=DEFAULT_STEPS,
        help="optimizer steps per problem at most (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="directory for the plot, log, checkpoint and optimized code; its run/ folder is "
        "replaced unless --resume (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=5.0,
        help="seconds one test run may take before it is killed (default: %(default)s); "
        "tests run sandboxed with bubblewrap where it works, else with rlimits only",
    )
    parser.add_argument(
        "--max-minutes",
        type=positive_float,
        default=DEFAULT_MINUTES,
        help="start no new step after this many minutes (default: %(default)s)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in --out instead of restarting",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="do not answer from (or fill) the LLM disk cache"
    )
    add_llm_option(parser)
    parser.set_defaults(handler=run)


def _problem_ids(text: str) -> list[str]:
    ids = [x.strip() for x in text.split(",") if x.strip()]
    if not ids:
        raise UsageError("--problems: give at least one HumanEval number, e.g. --problems 0,2")
    return [f"HumanEval/{x}" if x.isdigit() else x for x in ids]


def _say(text: str = "") -> None:
    from tqdm.auto import tqdm

    tqdm.write(text)


def run(args: argparse.Namespace) -> int:
    from trace_engine.llm import SpecError, get_llm
    from workflows.code_repair import CodeRepair, humaneval_tasks
    from workflows.datasets import DatasetError
    from workflows.isolation import available_level, describe

    started = time.perf_counter()
    try:
        tasks = humaneval_tasks(_problem_ids(args.problems))
    except DatasetError as exc:
        raise UsageError(f"--problems: {exc}") from None
    run_dir = args.out / RUN_DIR
    if args.resume and not (run_dir / "checkpoint.json").is_file():
        raise UsageError(f"--resume: {run_dir} holds no demo run to continue")
    if not args.resume and run_dir.exists():
        shutil.rmtree(run_dir)
    if args.no_cache:
        try:
            llm = get_llm(args.llm, cache=False)
        except SpecError as exc:
            raise UsageError(f"--llm: {exc}") from None
    else:
        llm = make_llm(args.llm)
    repair = CodeRepair(tasks, timeout=args.timeout)

    _say(
        f"trace-engine demo: repair {len(tasks)} HumanEval functions that start with an empty body"
    )
    _say(
        f"  model:     {llm.id}" + ("  (the first step also loads it)" if "local" in llm.id else "")
    )
    _say(f"  optimizer: OptoPrime, at most {args.steps} steps per problem, one problem per step")
    _say(
        f"  tests:     the official HumanEval tests, sandboxed ({args.timeout:g}s timeout) at the "
        f"level {describe(available_level())}"
    )
    before = {t.name: repair.test(t.name) for t in tasks}
    for t in tasks:
        _say(f"  {t.name:<13} {t.entry_point:<28} before: {_checks(before[t.name])}")
    _say()

    result, usage = _optimize(repair, tasks, llm, run_dir, args)
    after = {t.name: repair.test(t.name) for t in tasks}
    code_path = _write_code(args.out / CODE_FILE, repair, tasks, after)
    _report(tasks, before, after, result, usage, time.perf_counter() - started)
    _say("\nOptimized code:")
    for t in tasks:
        verdict = "solved" if after[t.name].solved else "NOT solved"
        _say(f"# {t.name} ({verdict}: {_checks(after[t.name])})")
        _say(repair.code[t.name].data)
    _say("Files:")
    _say(f"  code:       {code_path}")
    for label, key in (("plot", "plot"), ("step log", "log"), ("summary", "summary")):
        if key in result.files:
            _say(f"  {label + ':':<11} {result.files[key]}")
    _say(f"  checkpoint: {result.files.get('checkpoint', run_dir)}")
    if result.status == "interrupted":
        _say(f"\nInterrupted. Continue with: trace-engine demo --resume --out {args.out}")
        return 130
    if result.status == "budget_exceeded":
        _say(f"\n{result.message}")
        return 1
    return 0


def _optimize(repair: Any, tasks: list, llm: Any, run_dir: Path, args: argparse.Namespace):
    from optimizers import OptoPrime
    from workflows.trainer import Trainer

    optimizer = OptoPrime(repair.parameters(), llm)
    names = [t.name for t in tasks]

    def on_step(record: dict[str, Any]) -> None:
        task = tasks[record["examples"][0]]
        head = f"step {record['step']:>2} · {task.name} {task.entry_point}"
        if record["skipped"]:
            _say(f"{head}: already solved, no LLM call")
            return
        tokens = f"{record['prompt_tokens']}+{record['completion_tokens']} tokens"
        _say(f"{head} · LLM {record['calls']} call(s), {tokens}, {record['seconds']:.0f}s")
        if record["reasoning"]:
            _say(f"    reasoning: {short(record['reasoning'], 200)}")
        if record["error"]:
            _say(f"    the step failed, code unchanged: {short(record['error'], 200)}")
        elif record["rejected"]:
            for reason in record["rejected"].values():
                _say(f"    proposal rejected, code unchanged: {short(reason, 200)}")
        elif not record["applied"]:
            _say("    the LLM proposed no change")
        report = repair.test(task.name)
        state = "solved" if report.solved else "not solved yet"
        _say(f"    tests now: {_checks(report)} ({state})")

    meter_before = get_meter().total
    trainer = Trainer(
        repair,
        optimizer,
        tasks,
        val=tasks,
        evaluate=repair.evaluate,
        batch_size=1,
        epochs=args.steps,
        shuffle=False,
        parallel=2,
        stop_at_score=1.0,
        checkpoint_dir=run_dir,
        resume=args.resume,
        workflow="demo:" + ",".join(names),
        on_step=on_step,
        time_limit=args.max_minutes * 60,
    )
    result = trainer.fit()
    meter_after = get_meter().total
    usage = {
        "calls": meter_after.calls - meter_before.calls,
        "cache_hits": meter_after.cache_hits - meter_before.cache_hits,
        "prompt_tokens": meter_after.prompt_tokens - meter_before.prompt_tokens,
        "completion_tokens": meter_after.completion_tokens - meter_before.completion_tokens,
        "cost": meter_after.cost - meter_before.cost,
    }
    return result, usage


def _checks(report: Any) -> str:
    if report.status in ("timeout", "error") and not report.total:
        return short(report.error or report.status, 60)
    return f"{report.passed}/{report.total} checks pass"


def _report(tasks, before, after, result, usage, seconds: float) -> None:
    solved_before = sum(r.solved for r in before.values())
    solved_after = sum(r.solved for r in after.values())
    _say("\nResult")
    for t in tasks:
        verdict = "solved" if after[t.name].solved else "NOT solved"
        _say(
            f"  {t.name:<13} {t.entry_point:<28} before: {_checks(before[t.name]):<20} "
            f"after: {_checks(after[t.name]):<20} {verdict}"
        )
    _say(f"  solved: {solved_before} of {len(tasks)} before, {solved_after} of {len(tasks)} after")
    unsolved = [t.name for t in tasks if not after[t.name].solved]
    if unsolved:
        _say(f"  not solved: {', '.join(unsolved)}")
    _say(
        f"  LLM: {usage['calls']} calls ({usage['cache_hits']} answered from the cache), "
        f"{usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion tokens, "
        f"${usage['cost']:.4f}"
    )
    _say(f"  steps: {result.steps} ({result.message})")
    _say(f"  time: {seconds:.0f}s")


def _write_code(path: Path, repair: Any, tasks: list, after: dict) -> Path:
    parts = [
        '"""Functions optimized by `trace-engine demo` (each checked by its official tests)."""\n'
    ]
    for t in tasks:
        verdict = "solved" if after[t.name].solved else "NOT solved"
        parts.append(f"\n# {t.name}: {verdict} ({_checks(after[t.name])})\n")
        if t.setup.strip():
            parts.append(t.setup.rstrip() + "\n\n")
        parts.append(repair.code[t.name].data)
    return atomic_write_text(path, "".join(parts))
