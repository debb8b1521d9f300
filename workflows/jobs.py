"""Ready-made optimization jobs by name: what ``trace-engine optimize WORKFLOW`` runs.

A :class:`Job` bundles a workflow's module, its data splits, how to score an
example and the trainer settings that suit it. :func:`build_job` makes one from
a name, optional user data and the LLM the workflow itself calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trace_engine.errors import TraceEngineError
from trace_engine.modules import Module
from workflows.datasets import DatasetError, load_jsonl, numeric_suite, split
from workflows.trainer import Evaluation


@dataclass
class Job:
    """Everything the trainer needs for one workflow, plus a way to show the result."""

    workflow: str
    module: Module
    train: list
    val: list
    test: list
    evaluate: Callable[[Any], Evaluation]
    trainer_options: dict[str, Any] = field(default_factory=dict)
    optimizer_options: dict[str, Any] = field(default_factory=dict)
    score: Callable[[dict[str, Any]], float] | None = None
    """Scores candidate parameter values without an LLM call (higher is better), for
    ``optoprime-multi``'s choice among candidates; ``None``: it takes a majority vote."""
    describe: Callable[[list[Evaluation]], Any] | None = None
    """A candidate's behaviour cell for ``--optimizer archive``, from its evaluations on
    the training split; ``None``: read from the scores and the feedback."""
    show: Callable[[], str] = lambda: ""


WORKFLOWS: dict[str, str] = {
    "code_repair": "repair functions from stubs against unit tests (HumanEval or --data JSONL)",
    "prompt_tuning": "tune a QA system prompt and answer parser (BIG-bench --task or --data JSONL)",
    "numeric": "fit polynomial coefficients to points (--task line|quadratic|sine or --data JSONL)",
    "agent_pipeline": "tune a calculator agent's prompt, tool description and answer parser",
}


class UnknownWorkflow(TraceEngineError, ValueError):
    """A workflow name that does not exist."""


def check_workflow(name: str) -> str:
    if name not in WORKFLOWS:
        raise UnknownWorkflow(f"unknown workflow {name!r}; available: {', '.join(WORKFLOWS)}")
    return name


def build_job(
    name: str,
    *,
    data: str | Path | None = None,
    task: str | None = None,
    llm: Any = None,
    seed: int = 0,
    timeout: float = 10.0,
) -> Job:
    """The job ``name`` (see :data:`WORKFLOWS`); ``llm`` is what the workflow's own calls use.

    Written code of the job's program (any code parameter's source other than the
    program's own) runs only in the sandbox, each call limited to ``timeout`` seconds.
    """
    from workflows.code_calls import sandbox_code

    check_workflow(name)
    if name == "code_repair":
        job = _code_repair(data, task, timeout)
    elif name == "numeric":
        job = _numeric(data, task, seed)
    elif name == "prompt_tuning":
        job = _prompt_tuning(data, task, llm, seed, timeout)
    else:
        job = _agent_pipeline(data, llm, seed, timeout)
    sandbox_code(job.module.parameters(), timeout)
    return job


def _code_repair(data, task, timeout) -> Job:
    from workflows.code_repair import CodeRepair, humaneval_tasks, load_repair_tasks
    from workflows.isolation import describe

    if data is not None:
        tasks = load_repair_tasks(data)
    else:
        ids = [x.strip() for x in (task or "0,2,13,23").split(",") if x.strip()]
        tasks = humaneval_tasks(ids)
    repair = CodeRepair(tasks, timeout=timeout)

    def show() -> str:
        lines = []
        for t in tasks:
            report = repair.test(t.name)
            verdict = "solved" if report.solved else f"NOT solved ({report.passed}/{report.total})"
            lines.append(f"# {t.name}: {verdict}\n{repair.code[t.name].data}")
        lines.append(f"# the tests ran sandboxed at the level {describe(report.level)}")
        return "\n".join(lines)

    return Job(
        "code_repair",
        repair,
        tasks,
        tasks,
        [],
        repair.evaluate,
        trainer_options={
            "batch_size": 1,
            "epochs": 3,
            "shuffle": False,
            "stop_at_score": 1.0,
        },
        score=repair.score,
        describe=checks_passed,
        show=show,
    )


def checks_passed(evaluations: list[Evaluation]) -> list[list[Any]]:
    """Code repair's cells: each task's test status (passed, failed, error, timeout)
    and how many of its checks pass."""
    return [[e.details.get("status"), e.details.get("passed")] for e in evaluations]


def error_bucket(evaluations: list[Evaluation]) -> list[Any]:
    """The numeric fit's cells: the order of magnitude of the mean absolute error
    (``exact`` below 1e-9) and which way the predictions miss (high, low or mixed)."""
    if any("prediction" not in e.details for e in evaluations):
        return ["error"]  # the program raised on some point
    errors = [e.details["prediction"] - e.details["target"] for e in evaluations]
    mean = sum(abs(x) for x in errors) / len(errors)
    if mean < 1e-9:
        return ["exact"]
    way = "high" if min(errors) > 0 else "low" if max(errors) < 0 else "mixed"
    return [math.floor(math.log10(mean)), way]


def _numeric(data, task, seed) -> Job:
    from workflows.numeric import PolynomialFit

    if data is not None:
        points = load_jsonl(data, input_key="x", target_key="y")
        for p in points:
            if not all(isinstance(v, (int, float)) for v in (p.input, p.target)):
                raise DatasetError(f"{data}:{p.meta['line']}: 'x' and 'y' must be numbers")
    else:
        points = numeric_suite(task or "quadratic", seed=seed)
    parts = split(points, (0.6, 0.2, 0.2), seed=seed)
    fit = PolynomialFit(degree=2)

    def show() -> str:
        coefficients = ", ".join(f"{c:.4g}" for c in fit.coefficients.data)
        mae = fit.mean_absolute_error(parts.test or points)
        return f"coefficients (lowest power first): [{coefficients}]; mean absolute error {mae:.4g}"

    return Job(
        "numeric",
        fit,
        parts.train,
        parts.val,
        parts.test,
        fit.evaluate,
        trainer_options={"batch_size": 4, "epochs": 3},
        optimizer_options={"memory_size": 5},
        score=fit.score_candidates(parts.train),
        describe=error_bucket,
        show=show,
    )


def _prompt_tuning(data, task, llm, seed, timeout) -> Job:
    from workflows.datasets import load_bigbench
    from workflows.prompt_tuning import QAPipeline

    examples = load_jsonl(data) if data is not None else load_bigbench(task or "navigate")
    parts = split(examples[:60], (0.5, 0.25, 0.25), seed=seed)
    pipeline = QAPipeline(llm, timeout=timeout)

    def show() -> str:
        return f"system prompt: {pipeline.system_prompt.data!r}\n" + "\n".join(
            f"{name}:\n{value}" for name, value in pipeline.state_dict().items() if "__code" in name
        )

    return Job(
        "prompt_tuning",
        pipeline,
        parts.train,
        parts.val,
        parts.test,
        pipeline.evaluate,
        trainer_options={"batch_size": 4, "epochs": 2},
        show=show,
    )


def _agent_pipeline(data, llm, seed, timeout) -> Job:
    from workflows.agent_pipeline import AgentPipeline, word_problems

    examples = load_jsonl(data) if data is not None else word_problems(16, seed=seed)
    parts = split(examples, (0.5, 0.25, 0.25), seed=seed)
    pipeline = AgentPipeline(llm, timeout=timeout)

    def show() -> str:
        return "\n".join(
            f"{name}: {value!r}" for name, value in pipeline.agent.state_dict().items()
        )

    return Job(
        "agent_pipeline",
        pipeline.agent,
        parts.train,
        parts.val,
        parts.test,
        pipeline.evaluate,
        trainer_options={"batch_size": 2, "epochs": 2},
        show=show,
    )
