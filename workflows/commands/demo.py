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
import time
from pathlib import Path
from typing import Any

from trace_engine.files import atomic_write_text
from trace_engine.llm import get_meter
from workflows.cli import UsageError
from workflows.commands.common import (
    general_options,
    llm_options,
    llm_spec,
    make_llm,
    positive_float,
    positive_int,
    short,
    show_progress,
)
from workflows.commands.run_file import RUN_FILE, read_run, resolve, write_run

KIND = "demo"
DEFAULT_PROBLEMS = ("HumanEval/0", "HumanEval/2", "HumanEval/13", "HumanEval/23")
DEFAULT_STEPS = 2
DEFAULT_MINUTES = 8.0
DEFAULT_TIMEOUT = 5.0
DEFAULT_OUT = Path("trace-engine-demo")
RUN_DIR = "run"
CODE_FILE = "optimized.py"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        parents=[general_options(), llm_options()],
        help="repair HumanEval functions from empty bodies with the local model (the main demo)",
        description=(
            "Repair a few HumanEval functions that start as empty stubs: the official unit "
            "tests run in a subprocess; OptoPrime drafts each stub from its docstring, then "
            "rewrites the code from the tests' feedback, one problem per step. Needs no network "
            "and no API key: the embedded local model is used unless --llm or $TRACE_ENGINE_LLM "
            "says otherwise. Takes a few minutes on a laptop CPU. Exit code 0 when the run "
            "completed, 1 when it failed (every step failed), 2 for a usage or input error."
        ),
    )
    parser.add_argument(
        "--problems",
        metavar="IDS",
        default=None,
        help="comma-separated HumanEval numbers or ids (default: "
        f"{','.join(p.split('/')[1] for p in DEFAULT_PROBLEMS)})",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=None,
        help=f"optimizer steps per problem at most (default: {DEFAULT_STEPS})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="directory for the plot, log, checkpoint and optimized code; a demo run already "
        "in its run/ folder is replaced unless --resume; anything else there is left alone "
        "unless --force (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        help=f"seconds one test run may take before it is killed (default: {DEFAULT_TIMEOUT:g}); "
        "tests run sandboxed with bubblewrap where it works, else with rlimits only",
    )
    parser.add_argument(
        "--max-minutes",
        type=positive_float,
        default=None,
        help=f"start no new step after this many minutes (default: {DEFAULT_MINUTES:g})",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in --out with its settings instead of restarting",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into --out's run/ folder even though it holds something other than a "
        "demo run (the files a demo run writes are replaced there; nothing else is removed)",
    )
    parser.set_defaults(handler=run)


def _problem_ids(text: str) -> list[str]:
    ids = [x.strip() for x in text.split(",") if x.strip()]
    if not ids:
        raise UsageError("--problems: give at least one HumanEval number, e.g. --problems 0,2")
    return [f"HumanEval/{x}" if x.isdigit() else x for x in ids]


def _say(text: str = "") -> None:
    from tqdm.auto import tqdm

    tqdm.write(text)


def _settings(args: argparse.Namespace, run_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """This demo's settings: the flags, else (with --resume) the saved run's, else defaults;
    a run/ folder that holds something other than a demo run is refused without --force."""
    saved = None
    if args.resume:
        saved = read_run(run_dir, KIND) if run_dir.is_dir() else None
        if saved is None or not (run_dir / "checkpoint.json").is_file():
            raise UsageError(f"--resume: {run_dir} holds no demo run to continue")
    elif run_dir.exists() and not args.force:
        if not run_dir.is_dir():
            raise UsageError(
                f"--out: {run_dir} exists and is not a directory; choose another --out"
            )
        if any(run_dir.iterdir()) and _kind(run_dir) != KIND:
            raise UsageError(
                f"--out: {run_dir} holds something other than a demo run; choose another "
                "--out, or give --force to write the demo's files there (nothing else is removed)"
            )
    problems = None if args.problems is None else _problem_ids(args.problems)
    given = {
        "problems": problems,
        "steps": args.steps,
        "timeout": args.timeout,
        "max_minutes": args.max_minutes,
        "llm": args.llm,
    }
    defaults = {
        "problems": list(DEFAULT_PROBLEMS),
        "steps": DEFAULT_STEPS,
        "timeout": DEFAULT_TIMEOUT,
        "max_minutes": DEFAULT_MINUTES,
        "llm": llm_spec(None),
    }
    return resolve(given, saved, fixed=("problems",), defaults=defaults)


def _kind(run_dir: Path) -> str | None:
    try:
        saved = read_run(run_dir)
    except UsageError:
        return None
    return None if saved is None else saved.get("kind", "optimize")


def _clear_run(run_dir: Path) -> None:
    """Remove the files an earlier demo run wrote in ``run_dir``, and nothing else."""
    from workflows.trainer import RUN_OUTPUTS

    for name in (*RUN_OUTPUTS, RUN_FILE):
        (run_dir / name).unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    from workflows.code_repair import CodeRepair, humaneval_tasks
    from workflows.datasets import DatasetError
    from workflows.isolation import available_level, describe
    from workflows.run_lock import run_lock

    started = time.perf_counter()
    run_dir = args.out / RUN_DIR
    settings, notes = _settings(args, run_dir)
    try:
        tasks = humaneval_tasks(settings["problems"])
    except DatasetError as exc:
        raise UsageError(f"--problems: {exc}") from None
    llm = make_llm(settings["llm"], cache=not args.no_cache)
    repair = CodeRepair(tasks, timeout=settings["timeout"])

    with run_lock(run_dir):
        if not args.resume:
            _clear_run(run_dir)
        write_run(run_dir, KIND, settings)
        for note in notes:
            _say(f"resuming with {note}")
        _say(
            f"trace-engine demo: repair {len(tasks)} HumanEval functions that start with an "
            "empty body"
        )
        _say(
            f"  model:     {llm.id}"
            + ("  (the first step also loads it)" if "local" in llm.id else "")
        )
        _say(
            f"  optimizer: OptoPrime, at most {settings['steps']} steps per problem, "
            "one problem per step"
        )
        _say(
            "  tests:     the official HumanEval tests, sandboxed "
            f"({settings['timeout']:g}s timeout) at the level {describe(available_level())}"
        )
        before = {t.name: repair.test(t.name) for t in tasks}
        for t in tasks:
            _say(f"  {t.name:<13} {t.entry_point:<28} before: {_checks(before[t.name])}")
        _say()
        result, usage = _optimize(repair, tasks, llm, run_dir, settings, args)
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
    if result.status in ("budget_exceeded", "failed"):
        _say(f"\n{result.status.replace('_', ' ')}: {result.message}")
        return 1
    return 0


def _optimize(
    repair: Any,
    tasks: list,
    llm: Any,
    run_dir: Path,
    settings: dict[str, Any],
    args: argparse.Namespace,
):
    from optimizers import OptoPrime
    from workflows.trainer import Trainer, TrainingFailed

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
        epochs=settings["steps"],
        shuffle=False,
        parallel=2,
        stop_at_score=1.0,
        checkpoint_dir=run_dir,
        resume=args.resume,
        workflow="demo:" + ",".join(names),
        on_step=on_step,
        time_limit=settings["max_minutes"] * 60,
        progress=show_progress(args),
    )
    try:
        result = trainer.fit()
    except TrainingFailed as exc:
        result = exc.result
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
