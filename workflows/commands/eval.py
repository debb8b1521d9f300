"""``trace-engine eval WORKFLOW``: score a workflow's parameters (starting or from a run)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workflows.cli import UsageError
from workflows.commands.common import (
    check_executor_options,
    check_usable,
    executor_options,
    general_options,
    llm_options,
    make_executor,
    make_llm,
    short,
)
from workflows.commands.optimize import (
    add_run_options,
    build,
    check_workflow_for_run,
    load_settings,
    settings_for,
)

SPLITS = ("train", "val", "test", "all")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        parents=[general_options(), llm_options()],
        help="score a workflow's starting parameters, or those of a finished run",
        description=(
            "Score a workflow on one of its data splits, with its starting parameters or with "
            "the parameters a run saved (--run DIR, with that run's LLM unless --llm says "
            "otherwise). Exit code 0 when the examples were scored, 1 when scoring failed "
            "(e.g. the model stopped answering), 2 for a usage or input error."
        ),
    )
    parser.add_argument("workflow", nargs="?", help="workflow name (optional with --run)")
    parser.add_argument("--run", type=Path, metavar="DIR", help="use the parameters saved in DIR")
    parser.add_argument("--split", choices=SPLITS, default="test", help="(default: test)")
    executor_options(parser)
    add_run_options(parser)
    parser.set_defaults(handler=run)


def _saved_parameters(directory: Path) -> dict:
    from workflows.checkpoint import CheckpointError, decode_state, read_checkpoint

    final = directory / "parameters.json"
    if final.is_file():
        return json.loads(final.read_text(encoding="utf-8"))
    try:
        return decode_state(read_checkpoint(directory)["parameters"])
    except CheckpointError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from trace_engine.errors import InvalidUpdate, StateError
    from workflows.trainer import Trainer

    check_executor_options(args)
    saved = load_settings(args.run) if args.run else None
    check_workflow_for_run(args.workflow, saved, args.run, command="eval", flag="--run")
    settings, notes = settings_for(args, saved)
    for note in notes:
        print(f"evaluating with {note}")
    llm = make_llm(settings["llm"], cache=not args.no_cache, check=False)
    job = build(settings, llm)
    check_usable(llm, settings["llm"])
    examples = (
        {
            "train": job.train,
            "val": job.val,
            "test": job.test,
            "all": job.train + job.val + job.test,
        }[args.split]
        or job.val
        or job.train
    )
    executor = make_executor(args)
    trainer = Trainer(
        job.module,
        None,
        job.train,
        evaluate=job.evaluate,
        executor=executor,
        progress=False,
        workflow=job.workflow,
    )
    source = "starting parameters"
    if args.run:
        try:
            trainer.load_parameter_values(_saved_parameters(args.run))
        except (StateError, InvalidUpdate) as exc:
            raise UsageError(
                f"the parameters in {args.run} do not fit {job.workflow}: {exc}"
            ) from None
        source = f"parameters of {args.run}"
    with executor:
        evaluations = trainer.evaluate_all(examples)
    mean = sum(e.score for e in evaluations) / len(evaluations)
    print(
        f"{job.workflow}, {source}, {args.split} split: score {mean:.3f} over {len(examples)} examples"
    )
    for example, e in zip(examples, evaluations):
        if e.score < 1.0:
            name = getattr(example, "id", None) or getattr(example, "name", "?")
            print(f"  {name}: {e.score:.2f}  {short(e.feedback, 150)}")
    return 0
