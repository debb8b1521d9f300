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

This module is the loop; its collaborators live in :mod:`workflows.training`
(evaluation, parameter state, best tracking, the run log, the checkpointed run
state, progress).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizers.archive import ArchiveSearch
from optimizers.base import (
    DEFAULT_MAX_ERRORS,
    NoFeedback,
    TooManyFailedSteps,
    check_max_errors,
    failures_reported_by_caller,
)
from optimizers.protocol import OptimizerProtocol
from trace_engine.errors import StateError, TraceEngineError
from trace_engine.executors import Executor, ExecutorError
from trace_engine.extras import check_extra
from trace_engine.llm.meter import Budget, BudgetExceeded
from trace_engine.modules import Module
from trace_engine.nodes import Parameter
from workflows.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from workflows.run_lock import run_lock
from workflows.training.archive_steps import ArchiveSteps, Describe
from workflows.training.best import BestTracker
from workflows.training.evaluation import Evaluation, Evaluator, Scored
from workflows.training.failures import StepFailures, all_steps_failed
from workflows.training.parameters import named_parameters, trained_module
from workflows.training.progress import Progress
from workflows.training.run_log import (
    LOG_FILE,
    PARAMETERS_FILE,
    PLOT_FILE,
    RUN_OUTPUTS,
    SUMMARY_FILE,
    close_record,
    new_record,
    short,
    write_log,
    write_outputs,
)
from workflows.training.run_state import RunState, checkpoint_state, read_run_state
from workflows.training.usage import add_usage

__all__ = [
    "LOG_FILE",
    "PARAMETERS_FILE",
    "PLOT_FILE",
    "RUN_OUTPUTS",
    "SUMMARY_FILE",
    "Evaluation",
    "TrainResult",
    "Trainer",
    "TrainingFailed",
    "named_parameters",
]

log = logging.getLogger(__name__)


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


class Trainer:
    """Optimize the parameters of ``module_or_params`` on ``train`` with ``optimizer``.

    ``evaluate(example) -> Evaluation`` runs the program on one example and
    scores it; during training its ``output`` gets its ``feedback``. Each step
    takes ``batch_size`` examples (reshuffled each epoch with ``seed``),
    evaluates them through ``executor`` (:mod:`trace_engine.executors`; default:
    ``parallel`` threads; the caller closes one it passes), and calls
    ``optimizer.step()``.
    Every ``val_every`` steps the parameters are scored on ``val`` and the best
    values are kept (and restored at the end when ``restore_best``); where the
    validation examples form tasks with independent parameters, each task's best
    values are kept (see :mod:`workflows.training.best`). A batch in
    which every example already scores ``perfect_score`` needs no step (no LLM
    call). The run stops at ``max_steps``, after ``epochs``, when the validation
    score reaches ``stop_at_score``, when ``budget`` is spent, when ``time_limit``
    seconds have passed (checked before each step), on Ctrl-C, or after
    ``max_errors`` failed steps in a row (``None``: never). A resumed run's budget
    counts what its earlier sessions spent. An executor that fails (a Ray worker
    that dies, a cluster gone) ends the run ``failed`` with the checkpoint of the
    last finished step intact, to resume from. A run directory is locked while a run
    uses it. Each failed step is logged as a warning when it happens.
    ``on_step(record)`` is called after each step with the step's log record.
    ``progress``: a progress bar on standard error when it is a terminal.

    ``optimizer`` may be an :class:`~optimizers.archive.ArchiveSearch` (made without
    ``evaluate``): each step is then one step of the search, its candidates scored
    on the whole training split and filed by ``describe(evaluations)`` (see
    :mod:`workflows.training.archive_steps`); ``batch_size`` is how many failing
    examples an expansion is shown.
    """

    def __init__(
        self,
        module_or_params: Module | Sequence[Parameter],
        optimizer: OptimizerProtocol | ArchiveSearch,
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
        describe: Describe | None = None,
        executor: Executor | None = None,
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
        self.module = trained_module(module_or_params)
        self.params = self.module.named_parameters()
        self.optimizer = optimizer
        self.train = list(train)
        self.val = list(val) if val else None
        self.test = list(test) if test else None
        self.evaluator = Evaluator(
            evaluate,
            parallel=parallel,
            executor=executor,
            parameters=self.module.parameters(),
        )
        self.batch_size = min(batch_size, len(self.train))
        self.epochs = epochs
        self.steps_per_epoch = math.ceil(len(self.train) / self.batch_size)
        total = self.steps_per_epoch * epochs
        self.max_steps = total if max_steps is None else min(max_steps, total)
        self.budget = Budget(max_usd=budget) if isinstance(budget, (int, float)) else budget
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
        self.run = RunState()
        self.best = BestTracker(self.params)
        self.failures = StepFailures(self.max_errors, log)
        self.archive_steps = (
            ArchiveSteps(
                optimizer,
                self.evaluator,
                self.train,
                describe=describe,
                feedback_examples=self.batch_size,
                perfect_score=perfect_score,
            )
            if isinstance(optimizer, ArchiveSearch)
            else None
        )

    # ----- parameters and state ---------------------------------------------------

    @property
    def step(self) -> int:
        """Steps done so far (over every session of the run)."""
        return self.run.step

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.run.history

    @property
    def usage(self) -> dict[str, Any]:
        return self.run.usage

    def parameter_values(self) -> dict[str, Any]:
        return self.module.state_dict()

    def load_parameter_values(self, values: dict[str, Any]) -> None:
        """Set every parameter from ``values``; all are validated before any is set.

        A module's parameters are matched by their dotted names, a list's by their
        labels (numbered in order where two share one).
        """
        self.module.load_state_dict(values)

    def _epoch_order(self, epoch: int) -> list[int]:
        order = list(range(len(self.train)))
        if self.shuffle:
            random.Random(f"{self.seed}:{epoch}").shuffle(order)
        return order

    def _save(self) -> None:
        if self.checkpoint_dir is None:
            return
        state = checkpoint_state(
            self.run,
            workflow=self.workflow,
            seed=self.seed,
            n_train=len(self.train),
            batch_size=self.batch_size,
            parameters=self.parameter_values(),
            best=self.best.state(),
            best_values=self.best.values,
            initial_score=self.best.initial_score,
            optimizer=self.optimizer.state_dict(),
        )
        write_checkpoint(self.checkpoint_dir, state)
        write_log(self.checkpoint_dir, self.run.history)

    def _load(self, state: dict[str, Any]) -> None:
        assert self.checkpoint_dir is not None
        saved = read_run_state(
            state, self.checkpoint_dir, n_train=len(self.train), batch_size=self.batch_size
        )
        try:
            self.load_parameter_values(saved.parameters)
            if saved.optimizer is not None:
                self.optimizer.load_state_dict(saved.optimizer)
            self.best.load(saved.best, saved.best_values)
        except (StateError, ValueError, TypeError, KeyError) as exc:
            raise CheckpointError(
                f"the checkpoint in {self.checkpoint_dir} does not fit this job: {exc}"
            ) from None
        self.best.initial_score = saved.initial_score
        self.run = saved.run

    # ----- evaluation ------------------------------------------------------------

    def evaluate_all(self, examples: Sequence[Any]) -> list[Evaluation]:
        """Evaluate ``examples`` through the executor; results in example order."""
        return self.evaluator.many(examples).evaluations

    def _validate(self, record: dict[str, Any], usage: dict[str, Any], step: int) -> None:
        """Score the current values on ``val`` into ``record``; keep them if they are best."""
        assert self.val
        scored = self.evaluator.many(self.val)
        add_usage(usage, scored.usage)
        record["val_score"], record["val_scores"] = scored.mean, scored.scores
        self.best.update(step, scored.evaluations, self.parameter_values())

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
                    self._load(read_checkpoint(self.checkpoint_dir, self.workflow))
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
        bar = Progress(
            self.progress,
            total=self.max_steps,
            done=self.step,
            label=self.workflow.split(":")[0],
        )
        started = time.perf_counter()
        try:
            if self.step == 0 and not self.history:
                self._baseline()
            while self.step < self.max_steps and not self._target_reached():
                if self.time_limit is not None and time.perf_counter() - started > self.time_limit:
                    status = "time_limit"
                    break
                self._run_step(bar)
                if self.failures.gave_up:
                    status, message = "failed", f"stopped: {self.failures.gave_up}"
                    break
            if status == "failed":
                pass  # the message says why already
            elif all_steps_failed(self.history):
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
                        f"validation score {self.best.score:.3f} reached the target {self.stop_at_score}"
                    ),
                )
            else:
                message = f"finished {self.step} steps"
        except BudgetExceeded as exc:
            status, message = "budget_exceeded", f"stopped: budget exhausted ({exc})"
        except KeyboardInterrupt:
            status, message = "interrupted", "stopped: interrupted (Ctrl-C)"
        except ExecutorError as exc:
            status, message = "failed", f"stopped: the executor failed ({exc})"
        finally:
            self.run.wall_time += time.perf_counter() - started
            bar.close()
        if (
            status in ("budget_exceeded", "interrupted", "failed")
            and self.checkpoint_dir is not None
        ):
            message += f"; the checkpoint of step {self.step} in {self.checkpoint_dir} is intact"
        return self._finish(status, message)

    def _target_reached(self) -> bool:
        best = self.best.score
        return self.stop_at_score is not None and best is not None and best >= self.stop_at_score

    def _baseline(self) -> None:
        """Score the starting parameters on ``val`` (step 0) so improvement can be measured."""
        record = new_record(0, self.run.epoch)
        if self.val:
            self._validate(record, record, 0)
            add_usage(self.usage, record)
            self.best.initial_score = record["val_score"]
        record["best_score"] = self.best.score
        close_record(record, 0.0, self.usage)
        self.history.append(record)
        self._save()

    def _next_batch(self) -> tuple[int, int, list[int]]:
        epoch, position, order = self.run.epoch, self.run.position, self.run.order
        if not order or position >= len(order):
            if order:
                epoch += 1
            order, position = self._epoch_order(epoch), 0
        return epoch, position, order

    def _run_step(self, bar: Progress) -> None:
        start = time.perf_counter()
        snapshot = self.parameter_values()
        epoch, position, order = self._next_batch()
        indices = order[position : position + self.batch_size]
        record = new_record(self.step + 1, epoch)
        record["examples"] = indices
        usage: dict[str, Any] = {}
        try:
            if self.archive_steps is not None:
                result = self.archive_steps.step(record, usage)
                if result is not None:
                    self._record_result(result, record, usage)
            else:
                scored = self.evaluator.many([self.train[i] for i in indices])
                add_usage(usage, scored.usage)
                self._train_on(scored, record, usage)
            if self.val and (self.step + 1) % self.val_every == 0:
                self._validate(record, usage, self.step + 1)
        except BaseException:
            self.load_parameter_values(snapshot)
            raise
        add_usage(record, usage)
        add_usage(self.usage, usage)
        record["best_score"] = self.best.score
        self.run.step += 1
        self.run.epoch, self.run.position, self.run.order = epoch, position + len(indices), order
        close_record(record, time.perf_counter() - start, self.usage)
        self.history.append(record)
        self._save()
        if record["error"]:
            self.failures.note(self.history, record)
        bar.step_done(record, self.usage)
        if self.on_step is not None:
            self.on_step(record)

    def _train_on(self, scored: Scored, record: dict[str, Any], usage: dict[str, Any]) -> None:
        """Record the batch's scores and step the optimizer unless the batch is perfect."""
        evaluations = scored.evaluations
        record["train_score"] = scored.mean
        record["train_scores"] = scored.scores
        record["feedback"] = [short(e.feedback) for e in evaluations]
        perfect = self.perfect_score is not None and all(
            e.score >= self.perfect_score for e in evaluations
        )
        if perfect:
            record["skipped"] = True
        else:
            self._optimizer_step(evaluations, record, usage)

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
            with failures_reported_by_caller():  # self.failures says it, with the step number
                result = self.optimizer.step()
        except TooManyFailedSteps as exc:
            result, self.failures.gave_up = exc.result, str(exc)
        except NoFeedback as exc:
            record["error"] = f"NoFeedback: {exc}"
            return
        self._record_result(result, record, usage)

    def _record_result(self, result: Any, record: dict[str, Any], usage: dict[str, Any]) -> None:
        """What an optimizer step changed, refused, failed with and spent."""
        record["applied"] = sorted(result.applied)
        record["rejected"] = {k: str(v) for k, v in result.rejected.items()}
        record["error"] = str(result.error) if result.error else None
        record["reasoning"] = short(result.reasoning or "", 600)
        add_usage(
            usage,
            {
                "calls": result.calls,
                "prompt_tokens": result.usage.prompt_tokens,
                "completion_tokens": result.usage.completion_tokens,
                "cost": result.cost,
            },
        )

    # ----- the end ---------------------------------------------------------------

    def _finish(self, status: str, message: str) -> TrainResult:
        interrupted = status in ("budget_exceeded", "interrupted", "failed")
        best_values = self.best.values
        if self.restore_best and best_values is not None:
            self.load_parameter_values(best_values)
        test_score = None
        if self.test and not interrupted:
            try:
                scored = self.evaluator.many(self.test)
                test_score = scored.mean
                add_usage(self.usage, scored.usage)
            except (BudgetExceeded, KeyboardInterrupt):
                message += "; the test split was not scored"
        files = write_outputs(
            self.checkpoint_dir,
            self.history,
            self.parameter_values(),
            plot=self.plot,
            title=self.workflow,
        )
        return TrainResult(
            status=status,
            message=message,
            steps=self.step,
            initial_score=self.best.initial_score,
            best_score=self.best.score,
            best_step=self.best.step,
            final_score=self.best.score,
            test_score=test_score,
            history=list(self.history),
            usage=dict(self.usage),
            wall_time=self.run.wall_time,
            files=files,
        )
