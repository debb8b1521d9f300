"""``trace-engine optimize WORKFLOW``: train a ready-made workflow, with checkpoints and resume."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from trace_engine.files import atomic_write_json
from workflows.cli import UsageError
from workflows.commands.common import (
    OPTIMIZERS,
    add_llm_option,
    make_llm,
    make_optimizer,
    positive_float,
    positive_int,
)

RUN_FILE = "run.json"
SAVED_SETTINGS = ("workflow", "data", "task", "seed", "optimizer", "batch_size", "timeout")


def register(subparsers: argparse._SubParsersAction) -> None:
    from workflows.jobs import WORKFLOWS

    listing = "; ".join(f"{name}: {text}" for name, text in WORKFLOWS.items())
    parser = subparsers.add_parser(
        "optimize",
        help="optimize a ready-made workflow (code_repair, prompt_tuning, numeric, agent_pipeline)",
        description=f"Optimize a ready-made workflow. Workflows: {listing}.",
    )
    parser.add_argument("workflow", nargs="?", help="workflow name (see above)")
    add_run_options(parser)
    parser.add_argument("--steps", type=positive_int, help="optimizer steps at most")
    parser.add_argument(
        "--optimizer", choices=OPTIMIZERS, default=None, help="optimizer (default: optoprime)"
    )
    parser.add_argument("--budget-usd", type=positive_float, help="stop when this much is spent")
    parser.add_argument("--batch-size", type=positive_int, help="examples per step")
    parser.add_argument(
        "--parallel", type=positive_int, default=2, help="evaluation threads (default: 2)"
    )
    parser.add_argument(
        "--out", type=Path, help="run directory (default: trace-engine-runs/WORKFLOW)"
    )
    parser.add_argument(
        "--resume", type=Path, metavar="DIR", help="continue the run saved in DIR (same settings)"
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
        help="code_repair: seconds per test run (sandboxed: bubblewrap where it works, "
        "else rlimits only)",
    )
    add_llm_option(parser)


def load_settings(directory: Path) -> dict[str, Any]:
    path = directory / RUN_FILE
    if not path.is_file():
        raise UsageError(f"{directory} holds no trace-engine run ({RUN_FILE} is missing)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


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


def settings_for(args: argparse.Namespace, saved: dict[str, Any] | None) -> dict[str, Any]:
    """Command-line values, falling back to a saved run's, then to defaults."""
    saved = saved or {}
    defaults = {"seed": 0, "optimizer": "optoprime", "timeout": 10.0}
    out = {}
    for key in SAVED_SETTINGS:
        given = getattr(args, key, None)
        if key in saved and given is not None and key != "workflow" and saved[key] != _plain(given):
            raise UsageError(
                f"--{key.replace('_', '-')} {given} differs from the run being resumed "
                f"({saved[key]}); leave it out to reuse the saved value"
            )
        value = _plain(given) if given is not None else saved.get(key, defaults.get(key))
        out[key] = value
    return out


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


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
    from workflows.trainer import Trainer

    saved = load_settings(args.resume) if args.resume else None
    check_workflow_for_run(
        args.workflow,
        saved,
        args.resume,
        command="optimize",
        flag="--resume",
        hint="; resume it as that workflow or choose another directory",
    )
    settings = settings_for(args, saved)
    out = args.resume or args.out or Path("trace-engine-runs") / settings["workflow"]
    if not args.resume and (out / "checkpoint.json").exists():
        raise UsageError(
            f"{out} already holds a run; continue it with --resume {out} or pick --out"
        )

    llm = make_llm(args.llm)
    job = build(settings, llm)
    options = dict(job.trainer_options)
    if settings["batch_size"] is not None:
        options["batch_size"] = settings["batch_size"]
    settings["batch_size"] = options.get("batch_size", 4)
    if args.steps is not None:
        per_epoch = math.ceil(len(job.train) / min(settings["batch_size"], len(job.train)))
        options["epochs"] = max(options.get("epochs", 1), math.ceil(args.steps / per_epoch))
        options["max_steps"] = args.steps
    optimizer = make_optimizer(
        settings["optimizer"],
        job.module.parameters(),
        llm,
        score=job.score,
        **job.optimizer_options,
    )
    if not args.resume:
        atomic_write_json(out / RUN_FILE, settings)
    print(
        f"optimizing {job.workflow} with {settings['optimizer']} on {llm.id}: "
        f"{len(job.train)} train / {len(job.val)} val / {len(job.test)} test examples; run in {out}"
    )
    trainer = Trainer(
        job.module,
        optimizer,
        job.train,
        job.val,
        job.test,
        evaluate=job.evaluate,
        budget=Budget(max_usd=args.budget_usd) if args.budget_usd else None,
        parallel=args.parallel,
        checkpoint_dir=out,
        resume=bool(args.resume),
        workflow=job.workflow,
        **options,
    )
    try:
        result = trainer.fit()
    except CheckpointError as exc:
        raise UsageError(str(exc)) from None
    print_result(result)
    shown = job.show()
    if shown:
        print("\nResult parameters:\n" + shown)
    if result.status == "interrupted":
        print(f"\nContinue with: trace-engine optimize --resume {out}")
        return 130
    return 1 if result.status == "budget_exceeded" else 0


def print_result(result: Any) -> None:
    def score(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    u = result.usage
    print(f"\n{result.status}: {result.message}")
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
