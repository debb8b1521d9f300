"""``trace-engine optimize WORKFLOW``: train a ready-made workflow, with checkpoints and resume."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from workflows.cli import UsageError
from workflows.commands.common import (
    OPTIMIZERS,
    check_executor_options,
    check_usable,
    executor_options,
    general_options,
    llm_options,
    llm_spec,
    make_executor,
    make_llm,
    make_optimizer,
    positive_float,
    positive_int,
    show_progress,
)
from workflows.commands.run_file import check_saved_llm, read_run, resolve, write_run

KIND = "optimize"
DATA_SETTINGS = ("workflow", "data", "task", "seed", "optimizer", "batch_size")
"""What defines a run's data and optimizer state: a resume keeps them."""
DEFAULTS = {"seed": 0, "optimizer": "optoprime", "timeout": 10.0}


def register(subparsers: argparse._SubParsersAction) -> None:
    from workflows.jobs import WORKFLOWS

    listing = "; ".join(f"{name}: {text}" for name, text in WORKFLOWS.items())
    parser = subparsers.add_parser(
        "optimize",
        parents=[general_options(), llm_options()],
        help="optimize a ready-made workflow (code_repair, prompt_tuning, numeric, agent_pipeline)",
        description=f"Optimize a ready-made workflow. Workflows: {listing}. Exit code 0 when "
        "the run completed, 1 when it failed (every step failed) or ran out of budget, 2 for "
        "a usage or input error.",
    )
    parser.add_argument("workflow", nargs="?", help="workflow name (see above)")
    add_run_options(parser)
    parser.add_argument("--steps", type=positive_int, help="optimizer steps at most, in all")
    parser.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default=None,
        help="optimizer (default: optoprime); archive: a quality-diversity archive search "
        "whose candidates are scored on the whole training split",
    )
    parser.add_argument(
        "--budget-usd",
        type=positive_float,
        help="stop when the run has spent this much, over all its resumes",
    )
    parser.add_argument(
        "--budget-tokens",
        type=positive_int,
        help="stop when the run has used this many tokens, over all its resumes",
    )
    parser.add_argument(
        "--budget-calls",
        type=positive_int,
        help="stop when the run has made this many LLM calls, over all its resumes",
    )
    parser.add_argument("--batch-size", type=positive_int, help="examples per step")
    executor_options(parser)
    parser.add_argument(
        "--out", type=Path, help="run directory (default: trace-engine-runs/WORKFLOW)"
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue the run saved in DIR with its settings (LLM, steps, budget, data); "
        "--llm, --steps, --budget-* or --timeout given again replace the saved ones",
    )
    parser.set_defaults(handler=run)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options that choose the data (shared with ``eval``)."""
    parser.add_argument("--data", type=Path, help="your data as JSONL (one example per line)")
    parser.add_argument(
        "--task",
        help="built-in data: HumanEval numbers (code_repair, e.g. 0,2,13), a BIG-bench task "
        "(prompt_tuning, e.g. navigate) or a function (numeric: line, quadratic, sine)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed of the data split (default: 0)"
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        help="seconds per sandboxed run of written code: a code_repair test run, or one call "
        "of a rewritten answer parser (prompt_tuning, agent_pipeline); sandboxed with "
        "bubblewrap where it works, else rlimits only (default: 10)",
    )


def load_settings(directory: Path) -> dict[str, Any]:
    """The settings of the run saved in ``directory``."""
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    saved = read_run(directory, KIND)
    if saved is None:
        raise UsageError(f"{directory} holds no trace-engine run (run.json is missing)")
    return saved


def check_workflow_for_run(
    workflow: str | None,
    saved: dict[str, Any] | None,
    directory: Path | None,
    *,
    command: str,
    flag: str,
    hint: str = "",
) -> None:
    """A named workflow must exist and match the run saved in ``directory``; with no
    saved run, a workflow must be named."""
    from workflows.jobs import check_workflow

    if workflow is None and saved is None:
        raise UsageError(f"name a workflow (e.g. trace-engine {command} numeric) or {flag} DIR")
    if workflow is None:
        return
    try:
        check_workflow(workflow)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if saved and saved.get("workflow") != workflow:
        raise UsageError(
            f"{directory} holds a run of workflow {saved.get('workflow')!r}, not {workflow!r}{hint}"
        )


def settings_for(
    args: argparse.Namespace, saved: dict[str, Any] | None, extra: tuple[str, ...] = ()
) -> tuple[dict[str, Any], list[str]]:
    """Command-line values, falling back to a saved run's, then to defaults, and a line
    for each saved value a flag replaces."""
    keys = (*DATA_SETTINGS, "timeout", "llm", *extra)
    given = {key: getattr(args, key, None) for key in keys}
    current = llm_spec(None)
    resolved = resolve(given, saved, fixed=DATA_SETTINGS, defaults={**DEFAULTS, "llm": current})
    check_saved_llm(saved, given["llm"], current)
    return resolved


def build(settings: dict[str, Any], llm: Any):
    from workflows.datasets import DatasetError
    from workflows.jobs import UnknownWorkflow, build_job

    try:
        return build_job(
            settings["workflow"],
            data=settings["data"],
            task=settings["task"],
            llm=llm,
            seed=settings["seed"],
            timeout=settings["timeout"],
        )
    except (UnknownWorkflow, DatasetError) as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from trace_engine.llm import Budget
    from workflows.checkpoint import CheckpointError
    from workflows.run_lock import run_lock
    from workflows.trainer import Trainer, TrainingFailed

    check_executor_options(args)
    saved = load_settings(args.resume) if args.resume else None
    check_workflow_for_run(
        args.workflow,
        saved,
        args.resume,
        command="optimize",
        flag="--resume",
        hint="; resume it as that workflow or choose another directory",
    )
    settings, notes = settings_for(
        args, saved, ("steps", "budget_usd", "budget_tokens", "budget_calls")
    )
    out = args.resume or args.out or Path("trace-engine-runs") / settings["workflow"]
    if args.resume and not (out / "checkpoint.json").is_file():
        raise UsageError(f"{out} holds no checkpoint to resume (no step of its run finished)")
    if not args.resume and (out / "checkpoint.json").exists():
        raise UsageError(
            f"{out} already holds a run; continue it with --resume {out} or pick --out"
        )

    budget = None
    limits = {
        "max_usd": settings["budget_usd"],
        "max_tokens": settings["budget_tokens"],
        "max_calls": settings["budget_calls"],
    }
    if any(v is not None for v in limits.values()):
        budget = Budget(**limits)
    llm = make_llm(settings["llm"], cache=not args.no_cache, check=False)
    job = build(settings, llm)
    check_usable(llm, settings["llm"], budget)
    options = dict(job.trainer_options)
    if settings["batch_size"] is not None:
        options["batch_size"] = settings["batch_size"]
    settings["batch_size"] = options.get("batch_size", 4)
    steps = settings["steps"]
    if steps is not None:
        per_epoch = math.ceil(len(job.train) / min(settings["batch_size"], len(job.train)))
        options["epochs"] = max(options.get("epochs", 1), math.ceil(steps / per_epoch))
        options["max_steps"] = steps
    optimizer = make_optimizer(
        settings["optimizer"],
        job.module.parameters(),
        llm,
        score=job.score,
        seed=settings["seed"],
        **job.optimizer_options,
    )
    for note in notes:
        print(f"resuming with {note}")
    executor = make_executor(args)
    with executor, run_lock(out):
        if not args.resume and (out / "checkpoint.json").exists():
            raise UsageError(f"{out} already holds a run; continue it with --resume {out}")
        write_run(out, KIND, settings)
        print(
            f"optimizing {job.workflow} with {settings['optimizer']} on {llm.id}: "
            f"{len(job.train)} train / {len(job.val)} val / {len(job.test)} test examples; "
            f"run in {out}"
        )
        trainer = Trainer(
            job.module,
            optimizer,
            job.train,
            job.val,
            job.test,
            evaluate=job.evaluate,
            describe=job.describe,
            budget=budget,
            executor=executor,
            checkpoint_dir=out,
            resume=bool(args.resume),
            workflow=job.workflow,
            progress=show_progress(args),
            **options,
        )
        try:
            result = trainer.fit()
        except CheckpointError as exc:
            raise UsageError(str(exc)) from None
        except TrainingFailed as exc:
            result = exc.result
    print_result(result)
    shown = job.show()
    if shown and result.status != "failed":
        print("\nResult parameters:\n" + shown)
    if result.status in ("interrupted", "failed"):
        print(f"\nContinue with: trace-engine optimize --resume {out}")
    if result.status == "interrupted":
        return 130
    if result.status == "budget_exceeded":
        print(
            f"\nThe budget is spent; to go on, resume with a larger one: "
            f"trace-engine optimize --resume {out} --budget-usd/--budget-tokens/--budget-calls N"
        )
    return 0 if result.ok or result.status == "time_limit" else 1


def print_result(result: Any) -> None:
    def score(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    u = result.usage
    print(f"\n{result.status}: {result.message}")
    if result.status == "failed":
        for step, error in result.errors:
            print(f"  step {step} failed: {' '.join(str(error).split())}")
    print(
        f"validation score: {score(result.initial_score)} at the start, best {score(result.best_score)}"
        + (f" (step {result.best_step})" if result.best_step is not None else "")
    )
    if result.test_score is not None:
        print(f"test score (best parameters): {score(result.test_score)}")
    print(
        f"{result.steps} steps, {u['calls']} LLM calls, {u['prompt_tokens']} prompt + "
        f"{u['completion_tokens']} completion tokens, ${u['cost']:.4f}, {result.wall_time:.0f}s"
    )
    for label, key in (("plot", "plot"), ("step log", "log"), ("summary", "summary")):
        if key in result.files:
            print(f"{label}: {result.files[key]}")
