"""The training loop: evaluate a minibatch, give feedback, step the optimizer, validate.

Every step is checkpointed atomically (parameters, best parameters, optimizer
state, position in the epoch, history, usage), so a run killed at any moment
resumes exactly where its last finished step left it. A run that runs out of
budget or is interrupted with Ctrl-C stops cleanly: the step in flight is
abandoned, the parameters are put back as they were when it began, and the last
checkpoint stays intact. A run whose steps fail (the LLM unreachable, replies
that cannot be read) stops after ``max_errors`` failures in a row and ends
``failed``, as does one in which every step failed; :meth:`Trainer.fit` then
raises :class:`TrainingFailed`, so no failure passes for a result.
"""

from __future__ import annotations

import contextvars
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optimizers.base import (
    DEFAULT_MAX_ERRORS,
    NoFeedback,
    TooManyFailedSteps,
    check_max_errors,
    failures_reported_by_caller,
)
from optimizers.protocol import OptimizerProtocol
from trace_engine.errors import ExecutionError, StateError, TraceEngineError
from trace_engine.extras import check_extra
from trace_engine.files import atomic_write_json, atomic_write_text
from trace_engine.graph import unique_labels
from trace_engine.llm.errors import LLMError
from trace_engine.llm.meter import Budget, BudgetExceeded, get_meter
from trace_engine.modules import Module
from trace_engine.nodes import Node, Parameter
from workflows.checkpoint import (
    CHECKPOINT_FILE,
    CheckpointError,
    checkpoint_path,
    decode_state,
    encode_state,
    read_checkpoint,
    write_checkpoint,
)
from workflows.run_lock import run_lock
from workflows.training_report import plot_history, summary_table

log = logging.getLogger(__name__)

LOG_FILE = "steps.jsonl"
PLOT_FILE = "progress.png"
SUMMARY_FILE = "summary.txt"
PARAMETERS_FILE = "parameters.json"
RUN_OUTPUTS = (CHECKPOINT_FILE, LOG_FILE, PLOT_FILE, SUMMARY_FILE, PARAMETERS_FILE)
"""The files a run writes in its directory."""


@dataclass
class Evaluation:
    """How one example went: a score in [0, 1] (higher is better) and feedback.

    ``output`` is the traced output node that receives ``feedback`` during
    training; without it the example counts for the score but teaches nothing.
    ``details`` is free-form data kept for reports (e.g. which tests failed).
    """

    score: float
    feedback: Any = ""
    output: Node | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainResult:
    """How a run ended and what it achieved."""

    status: str
    """``completed``, ``target_reached``, ``time_limit``, ``budget_exceeded``, ``interrupted``
    or ``failed`` (every step failed, or ``max_errors`` in a row)."""
    message: str
    steps: int
    initial_score: float | None
    best_score: float | None
    best_step: int | None
    final_score: float | None
    test_score: float | None
    history: list[dict[str, Any]]
    usage: dict[str, Any]
    wall_time: float
    files: dict[str, str]

    @property
    def ok(self) -> bool:
        return self.status in ("completed", "target_reached")

    @property
    def errors(self) -> list[tuple[int, str]]:
        """``(step, error)`` of every failed step."""
        return [(r["step"], r["error"]) for r in self.history if r.get("error")]


class TrainingFailed(TraceEngineError, RuntimeError):
    """The run could not do its job: its steps failed. ``result`` is the finished
    :class:`TrainResult` (status ``failed``; checkpoint, log and plot written)."""

    def __init__(self, result: TrainResult):
        super().__init__(result.message)
        self.result = result


def named_parameters(module_or_params: Module | Sequence[Parameter]) -> list[tuple[str, Parameter]]:
    """``(name, parameter)`` pairs from a module or a list of parameters (names must be unique)."""
    if isinstance(module_or_params, Module):
        pairs = module_or_params.named_parameters()
    else:
        params = list(module_or_params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"Trainer needs a Module or a list of Parameters; got {type(p).__name__}: {p!r:.80}"
                )
        pairs = list(zip(unique_labels(params), params))
    if not pairs:
        raise ValueError("Trainer got no trainable parameters")
    names = [n for n, _ in pairs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"parameter names must be unique; repeated: {', '.join(duplicates)}")
    return pairs


def _as_evaluation(value: Any, index: int) -> Evaluation:
    if isinstance(value, Evaluation):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Evaluation(score=float(value))
    raise TypeError(
        f"evaluate() must return an Evaluation or a number; for example {index} it returned "
        f"{type(value).__name__}: {value!r:.80}"
    )


def _usage_totals() -> dict[str, Any]:
    return {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}


class Trainer:
    """Optimize the parameters of ``module_or_params`` on ``train`` with ``optimizer``.

    ``evaluate(example) -> Evaluation`` runs the program on one example and
    scores it; during training its ``output`` gets its ``feedback``. Each step
    takes ``batch_size`` examples (reshuffled each epoch with ``seed``),
    evaluates them on ``parallel`` threads, and calls ``optimizer.step()``.
    Every ``val_every`` steps the parameters are scored on ``val`` and the best
    values are kept (and restored at the end when ``restore_best``). A batch in
    which every example already scores ``perfect_score`` needs no step (no LLM
    call). The run stops at ``max_steps``, after ``epochs``, when the validation
    score reaches ``stop_at_score``, when ``budget`` is spent, when ``time_limit``
    seconds have passed (checked before each step), on Ctrl-C, or after
    ``max_errors`` failed steps in a row (``None``: never). A resumed run's budget
    counts what its earlier sessions spent. A run directory is locked while a run
    uses it. Each failed step is logged as a warning when it happens.
    ``on_step(record)`` is called after each step with the step's log record.
    ``progress``: a progress bar on standard error when it is a terminal.
    """

    def __init__(
        self,
        module_or_params: Module | Sequence[Parameter],
        optimizer: OptimizerProtocol,
        train: Sequence[Any],
        val: Sequence[Any] | None = None,
        test: Sequence[Any] | None = None,
        *,
        evaluate: Callable[[Any], Evaluation | float],
        batch_size: int = 4,
        epochs: int = 1,
        max_steps: int | None = None,
        budget: Budget | float | None = None,
        parallel: int = 1,
        checkpoint_dir: str | Path | None = None,
        resume: bool = False,
        workflow: str = "custom",
        val_every: int = 1,
        seed: int = 0,
        shuffle: bool = True,
        perfect_score: float | None = 1.0,
        stop_at_score: float | None = None,
        restore_best: bool = True,
        progress: bool = True,
        plot: bool = True,
        on_step: Callable[[dict[str, Any]], None] | None = None,
        time_limit: float | None = None,
        max_errors: int | None = DEFAULT_MAX_ERRORS,
    ):
        if not train:
            raise ValueError("Trainer needs at least one training example")
        for name, value in (("batch_size", batch_size), ("epochs", epochs), ("parallel", parallel)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if max_steps is not None and max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {max_steps}")
        if val_every < 1:
            raise ValueError(f"val_every must be >= 1, got {val_every}")
        if resume and checkpoint_dir is None:
            raise ValueError("resume=True needs a checkpoint_dir to resume from")
        self.params = named_parameters(module_or_params)
        self.optimizer = optimizer
        self.train = list(train)
        self.val = list(val) if val else None
        self.test = list(test) if test else None
        self.evaluate = evaluate
        self.batch_size = min(batch_size, len(self.train))
        self.epochs = epochs
        self.steps_per_epoch = math.ceil(len(self.train) / self.batch_size)
        total = self.steps_per_epoch * epochs
        self.max_steps = total if max_steps is None else min(max_steps, total)
        self.budget = Budget(max_usd=budget) if isinstance(budget, (int, float)) else budget
        self.parallel = parallel
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.resume = resume
        self.workflow = workflow
        self.val_every = val_every
        self.seed = seed
        self.shuffle = shuffle
        self.perfect_score = perfect_score
        self.stop_at_score = stop_at_score
        self.restore_best = restore_best
        self.progress = progress
        if plot:
            check_extra("matplotlib", extra="plots", purpose="the training plot (plot=True)")
        self.plot = plot
        self.on_step = on_step
        self.time_limit = time_limit
        self.max_errors = check_max_errors(max_errors)
        self._reset_state()

    # ----- state -----------------------------------------------------------------

    def _reset_state(self) -> None:
        self.step = 0
        self.epoch = 0
        self.position = 0
        self.order: list[int] = []
        self.history: list[dict[str, Any]] = []
        self.best_score: float | None = None
        self.best_step: int | None = None
        self.best_values: dict[str, Any] | None = None
        self.initial_score: float | None = None
        self.usage = _usage_totals()
        self.wall_time = 0.0
        self._gave_up: str | None = None

    def parameter_values(self) -> dict[str, Any]:
        return {name: p.data for name, p in self.params}

    def load_parameter_values(self, values: dict[str, Any]) -> None:
        """Set every parameter from ``values``; all are validated before any is set.

        A module's parameters are matched by their dotted names, a list's by their
        labels (numbered in order where two share one).
        """
        by_name = dict(self.params)
        missing = sorted(set(by_name) - set(values))
        unexpected = sorted(set(values) - set(by_name))
        if missing or unexpected:
            raise StateError(
                "saved parameters do not fit this job: "
                + "; ".join(
                    x
                    for x in (
                        f"missing {', '.join(missing)}" if missing else "",
                        f"unexpected {', '.join(unexpected)}" if unexpected else "",
                    )
                    if x
                )
            )
        checked = {name: by_name[name].validate(value) for name, value in values.items()}
        for name, value in checked.items():
            current = by_name[name].data
            if isinstance(current, tuple) and isinstance(value, list):
                value = tuple(value)
            if value != current:
                by_name[name].set(value)

    def _epoch_order(self, epoch: int) -> list[int]:
        order = list(range(len(self.train)))
        if self.shuffle:
            random.Random(f"{self.seed}:{epoch}").shuffle(order)
        return order

    def _state(self) -> dict[str, Any]:
        optimizer_state = self.optimizer.state_dict()
        return {
            "workflow": self.workflow,
            "step": self.step,
            "epoch": self.epoch,
            "position": self.position,
            "order": self.order,
            "seed": self.seed,
            "n_train": len(self.train),
            "batch_size": self.batch_size,
            "parameters": encode_state(self.parameter_values(), "the parameters"),
            "best": {
                "score": self.best_score,
                "step": self.best_step,
                "parameters": encode_state(self.best_values, "the best parameters"),
            },
            "initial_score": self.initial_score,
            "optimizer": encode_state(optimizer_state, "the optimizer state"),
            "history": self.history,
            "usage": self.usage,
            "wall_time": self.wall_time,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        path = checkpoint_path(self.checkpoint_dir)
        for key, have in (("n_train", len(self.train)), ("batch_size", self.batch_size)):
            if state.get(key) != have:
                raise CheckpointError(
                    f"the checkpoint in {self.checkpoint_dir} was made with {key}={state.get(key)}, "
                    f"this run has {key}={have}; resume with the same data and settings"
                )
        try:
            step, epoch, position = (int(state[k]) for k in ("step", "epoch", "position"))
            order, history = list(state["order"]), list(state["history"])
            best = state["best"]
            best_score, best_step = best["score"], best["step"]
            best_values = decode_state(best["parameters"])
            usage = {**_usage_totals(), **state["usage"]}
            wall_time = float(state.get("wall_time", 0.0))
            parameters = decode_state(state["parameters"])
            optimizer_state = decode_state(state["optimizer"])
        except KeyError as exc:
            raise CheckpointError(
                f"{path} is damaged: it has no {exc}; start the run again in a new directory"
            ) from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(
                f"{path} is damaged ({exc}); start the run again in a new directory"
            ) from None
        try:
            self.load_parameter_values(parameters)
            if optimizer_state is not None:
                self.optimizer.load_state_dict(optimizer_state)
        except (StateError, ValueError, TypeError, KeyError) as exc:
            raise CheckpointError(
                f"the checkpoint in {self.checkpoint_dir} does not fit this job: {exc}"
            ) from None
        self.step, self.epoch, self.position = step, epoch, position
        self.order, self.history = order, history
        self.best_score, self.best_step, self.best_values = best_score, best_step, best_values
        self.initial_score = state.get("initial_score")
        self.usage = usage
        self.wall_time = wall_time

    def _save(self) -> None:
        if self.checkpoint_dir is None:
            return
        write_checkpoint(self.checkpoint_dir, self._state())
        lines = "".join(_json_line(r) for r in self.history)
        atomic_write_text(self.checkpoint_dir / LOG_FILE, lines)

    # ----- evaluation ------------------------------------------------------------

    def _evaluate_one(self, example: Any, index: int) -> tuple[Evaluation, dict[str, Any]]:
        with get_meter().tag("trainer.evaluate") as used:
            try:
                result = self.evaluate(example)
            except ExecutionError as exc:
                if isinstance(exc.exception, (LLMError, BudgetExceeded)):
                    # the model failed or the money ran out, not the program: no score to give
                    raise exc.exception from exc
                result = Evaluation(
                    score=0.0,
                    feedback=f"the program raised {exc}",
                    output=exc.exception_node,
                )
        return _as_evaluation(result, index), used.as_dict()

    def evaluate_all(self, examples: Sequence[Any]) -> list[Evaluation]:
        """Evaluate ``examples`` on ``parallel`` threads; results in example order."""
        results = self._evaluate_many(examples)
        return [r for r, _ in results]

    def _evaluate_many(self, examples: Sequence[Any]) -> list[tuple[Evaluation, dict[str, Any]]]:
        if self.parallel == 1 or len(examples) == 1:
            return [self._evaluate_one(x, i) for i, x in enumerate(examples)]
        pool = ThreadPoolExecutor(max_workers=min(self.parallel, len(examples)))
        try:
            futures = [
                pool.submit(contextvars.copy_context().run, self._evaluate_one, x, i)
                for i, x in enumerate(examples)
            ]
            return [f.result() for f in futures]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _score(self, examples: Sequence[Any]) -> tuple[float, dict[str, Any], list[float]]:
        results = self._evaluate_many(examples)
        usage = _usage_totals()
        for _, used in results:
            _add_usage(usage, used)
        scores = [r.score for r, _ in results]
        return sum(scores) / len(scores), usage, scores

    # ----- the loop --------------------------------------------------------------

    def fit(self) -> TrainResult:
        """Run (or resume) training; returns how it ended. Never loses the last checkpoint.

        Raises :class:`TrainingFailed` when the run failed (see the module docstring) and
        :class:`~workflows.run_lock.RunDirectoryBusy` when another run holds the directory.
        """
        if self.checkpoint_dir is None:
            result = self._fit_budgeted()
        else:
            if self.resume:
                read_checkpoint(self.checkpoint_dir, self.workflow)  # before the lock makes a file
            with run_lock(self.checkpoint_dir):
                if self.resume:
                    self._load_state(read_checkpoint(self.checkpoint_dir, self.workflow))
                result = self._fit_budgeted()
        if result.status == "failed":
            raise TrainingFailed(result)
        return result

    def _fit_budgeted(self) -> TrainResult:
        if self.budget is None:
            return self._fit()
        self.budget.add_spent(
            calls=self.usage["calls"],
            prompt_tokens=self.usage["prompt_tokens"],
            completion_tokens=self.usage["completion_tokens"],
            cost=self.usage["cost"],
        )
        with self.budget.active():
            return self._fit()

    def _fit(self) -> TrainResult:
        status, message = "completed", ""
        bar = self._progress_bar()
        started = time.perf_counter()
        try:
            if self.step == 0 and not self.history:
                self._baseline()
            while self.step < self.max_steps and not self._target_reached():
                if self.time_limit is not None and time.perf_counter() - started > self.time_limit:
                    status = "time_limit"
                    break
                self._run_step(bar)
                if self._gave_up:
                    status, message = "failed", f"stopped: {self._gave_up}"
                    break
            if status == "failed":
                pass  # the message says why already
            elif self._all_steps_failed():
                status = "failed"
                message = (
                    "every step failed, nothing was changed; "
                    f"the last error: {self.history[-1]['error']}"
                )
            elif status == "time_limit":
                message = (
                    f"stopped: the time limit of {self.time_limit:g}s was reached "
                    f"after {self.step} of {self.max_steps} steps"
                )
            elif self._target_reached():
                status, message = (
                    "target_reached",
                    (
                        f"validation score {self.best_score:.3f} reached the target {self.stop_at_score}"
                    ),
                )
            else:
                message = f"finished {self.step} steps"
        except BudgetExceeded as exc:
            status, message = "budget_exceeded", f"stopped: budget exhausted ({exc})"
        except KeyboardInterrupt:
            status, message = "interrupted", "stopped: interrupted (Ctrl-C)"
        finally:
            self.wall_time += time.perf_counter() - started
            if bar is not None:
                bar.close()
        if (
            status in ("budget_exceeded", "interrupted", "failed")
            and self.checkpoint_dir is not None
        ):
            message += f"; the checkpoint of step {self.step} in {self.checkpoint_dir} is intact"
        return self._finish(status, message)

    def _all_steps_failed(self) -> bool:
        """Steps were tried and none of them worked (perfect batches that needed none aside)."""
        tried = [r for r in self.history[1:] if not r["skipped"]]
        return bool(tried) and all(r["error"] for r in tried)

    def _failed_in_a_row(self) -> int:
        count = 0
        for record in reversed(self.history[1:]):
            if record["skipped"]:
                continue
            if not record["error"]:
                break
            count += 1
        return count

    def _target_reached(self) -> bool:
        return (
            self.stop_at_score is not None
            and self.best_score is not None
            and self.best_score >= self.stop_at_score
        )

    def _baseline(self) -> None:
        """Score the starting parameters on ``val`` (step 0) so improvement can be measured."""
        record = self._empty_record(0)
        if self.val:
            score, used, record["val_scores"] = self._score(self.val)
            _add_usage(record, used)
            _add_usage(self.usage, used)
            self.initial_score = self.best_score = record["val_score"] = score
            self.best_step = 0
            self.best_values = self.parameter_values()
        record["best_score"] = self.best_score
        self._close_record(record, 0.0)
        self._save()

    def _empty_record(self, step: int) -> dict[str, Any]:
        return {
            "step": step,
            "epoch": self.epoch,
            "examples": [],
            "train_score": None,
            "val_score": None,
            "val_scores": None,
            "best_score": None,
            "skipped": False,
            "applied": [],
            "rejected": {},
            "error": None,
            "reasoning": "",
            "feedback": [],
            **_usage_totals(),
        }

    def _close_record(self, record: dict[str, Any], seconds: float) -> None:
        record["seconds"] = round(seconds, 3)
        record["cum_tokens"] = self.usage["prompt_tokens"] + self.usage["completion_tokens"]
        record["cum_cost"] = self.usage["cost"]
        self.history.append(record)

    def _next_batch(self) -> tuple[int, int, list[int]]:
        epoch, position, order = self.epoch, self.position, self.order
        if not order or position >= len(order):
            if order:
                epoch += 1
            order, position = self._epoch_order(epoch), 0
        return epoch, position, order

    def _run_step(self, bar: Any) -> None:
        start = time.perf_counter()
        snapshot = self.parameter_values()
        epoch, position, order = self._next_batch()
        indices = order[position : position + self.batch_size]
        record = self._empty_record(self.step + 1)
        record["epoch"] = epoch
        record["examples"] = indices
        usage = _usage_totals()
        try:
            results = self._evaluate_many([self.train[i] for i in indices])
            for _, used in results:
                _add_usage(usage, used)
            evaluations = [r for r, _ in results]
            record["train_score"] = sum(e.score for e in evaluations) / len(evaluations)
            record["train_scores"] = [e.score for e in evaluations]
            record["feedback"] = [_short(e.feedback) for e in evaluations]
            perfect = self.perfect_score is not None and all(
                e.score >= self.perfect_score for e in evaluations
            )
            if perfect:
                record["skipped"] = True
            else:
                self._optimizer_step(evaluations, record, usage)
            if self.val and (self.step + 1) % self.val_every == 0:
                score, used, record["val_scores"] = self._score(self.val)
                _add_usage(usage, used)
                record["val_score"] = score
                if self.best_score is None or score > self.best_score:
                    self.best_score, self.best_step = score, self.step + 1
                    self.best_values = self.parameter_values()
        except BaseException:
            self.load_parameter_values(snapshot)
            raise
        _add_usage(record, usage)
        _add_usage(self.usage, usage)
        record["best_score"] = self.best_score
        self.step += 1
        self.epoch, self.position, self.order = epoch, position + len(indices), order
        self._close_record(record, time.perf_counter() - start)
        self._save()
        if record["error"]:
            self._note_failure(record)
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(_postfix(record, self.usage))
        if self.on_step is not None:
            self.on_step(record)

    def _note_failure(self, record: dict[str, Any]) -> None:
        """Say that the step failed, now; give up after ``max_errors`` in a row."""
        log.warning("step %d failed, nothing was changed: %s", record["step"], record["error"])
        count = self._failed_in_a_row()
        if self.max_errors is not None and count >= self.max_errors and not self._gave_up:
            self._gave_up = (
                f"{count} steps failed in a row, nothing was changed; "
                f"the last error: {record['error']}"
            )

    def _optimizer_step(
        self, evaluations: list[Evaluation], record: dict[str, Any], usage: dict[str, Any]
    ) -> None:
        self.optimizer.zero_feedback()
        taught = 0
        for e in evaluations:
            if e.output is not None:
                self.optimizer.backward(e.output, e.feedback, score=e.score)
                taught += 1
        if not taught:
            record["error"] = "no example produced a traced output to give feedback to"
            return
        try:
            with failures_reported_by_caller():  # _note_failure says it, with the step number
                result = self.optimizer.step()
        except TooManyFailedSteps as exc:
            result, self._gave_up = exc.result, str(exc)
        except NoFeedback as exc:
            record["error"] = f"NoFeedback: {exc}"
            return
        record["applied"] = sorted(result.applied)
        record["rejected"] = {k: str(v) for k, v in result.rejected.items()}
        record["error"] = str(result.error) if result.error else None
        record["reasoning"] = _short(result.reasoning or "", 600)
        _add_usage(
            usage,
            {
                "calls": result.calls,
                "prompt_tokens": result.usage.prompt_tokens,
                "completion_tokens": result.usage.completion_tokens,
                "cost": result.cost,
            },
        )

    def _progress_bar(self) -> Any:
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(
            total=self.max_steps,
            initial=self.step,
            desc=self.workflow.split(":")[0],
            unit="step",
            leave=True,
            disable=None,  # off when standard error is not a terminal
        )

    # ----- the end ---------------------------------------------------------------

    def _finish(self, status: str, message: str) -> TrainResult:
        interrupted = status in ("budget_exceeded", "interrupted", "failed")
        if self.restore_best and self.best_values is not None:
            self.load_parameter_values(self.best_values)
        final_score = self.best_score
        test_score = None
        if self.test and not interrupted:
            try:
                test_score, used, _ = self._score(self.test)
                _add_usage(self.usage, used)
            except (BudgetExceeded, KeyboardInterrupt):
                message += "; the test split was not scored"
        files = self._write_outputs()
        return TrainResult(
            status=status,
            message=message,
            steps=self.step,
            initial_score=self.initial_score,
            best_score=self.best_score,
            best_step=self.best_step,
            final_score=final_score,
            test_score=test_score,
            history=list(self.history),
            usage=dict(self.usage),
            wall_time=self.wall_time,
            files=files,
        )

    def _write_outputs(self) -> dict[str, str]:
        if self.checkpoint_dir is None:
            return {}
        directory = self.checkpoint_dir
        files = {
            "checkpoint": str(directory / CHECKPOINT_FILE),
            "log": str(directory / LOG_FILE),
            "summary": str(directory / SUMMARY_FILE),
            "parameters": str(directory / PARAMETERS_FILE),
        }
        atomic_write_text(directory / SUMMARY_FILE, summary_table(self.history) + "\n")
        atomic_write_json(directory / PARAMETERS_FILE, self.parameter_values())
        if self.plot:
            plot_history(self.history, directory / PLOT_FILE, title=self.workflow)
            files["plot"] = str(directory / PLOT_FILE)
        return files


def _add_usage(into: dict[str, Any], used: dict[str, Any]) -> None:
    for key in ("calls", "prompt_tokens", "completion_tokens", "cost"):
        into[key] = into.get(key, 0) + (used.get(key) or 0)


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_line(record: dict[str, Any]) -> str:
    import json

    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


def _postfix(record: dict[str, Any], usage: dict[str, Any]) -> str:
    parts = []
    if record.get("train_score") is not None:
        parts.append(f"train={record['train_score']:.2f}")
    if record.get("val_score") is not None:
        parts.append(f"val={record['val_score']:.2f}")
    parts.append(f"tokens={usage['prompt_tokens'] + usage['completion_tokens']}")
    parts.append(f"cost=${usage['cost']:.4f}")
    return " ".join(parts)
