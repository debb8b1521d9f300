"""A run that cannot do its job says so: failed steps are logged as they happen, the run
ends ``failed`` and ``fit()`` raises; budgets hold across resumes; one run per directory."""

from __future__ import annotations

import json
import logging
import re

import pytest

from optimizers import OptoPrime
from tests.workflows.fakes import ScriptedOptimizer, lock_held_elsewhere
from tests.workflows.test_trainer import offset_job
from trace_engine import node
from trace_engine.llm import LLMError
from trace_engine.llm.base import CallableLLM
from trace_engine.llm.meter import Budget
from trace_engine.llm.metered import Metered
from workflows.checkpoint import read_checkpoint
from workflows.run_lock import RunDirectoryBusy, run_lock
from workflows.trainer import Evaluation, Trainer, TrainingFailed


def _down(messages):
    raise LLMError("connection refused", backend="test")


def offset_trainer(llm, tmp_path=None, **options):
    offset = node(0, trainable=True, name="offset")
    examples = [{"x": i, "y": i + 3} for i in range(4)]

    def evaluate(example):
        out = offset + example["x"]
        ok = out.data == example["y"]
        return Evaluation(1.0 if ok else 0.0, "correct" if ok else f"expected {example['y']}", out)

    settings = {"batch_size": 1, "epochs": 2, "progress": False, "perfect_score": None}
    settings.update(options)
    trainer = Trainer(
        [offset],
        OptoPrime([offset], llm, max_errors=None),
        examples,
        val=examples[:1],
        evaluate=evaluate,
        checkpoint_dir=tmp_path,
        **settings,
    )
    return offset, trainer


def test_a_run_whose_every_step_failed_raises_with_each_error(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    offset, trainer = offset_trainer(_down, tmp_path, max_steps=3)
    with pytest.raises(TrainingFailed, match="every step failed") as info:
        trainer.fit()
    result = info.value.result
    assert result.status == "failed" and not result.ok and result.steps == 3
    assert [step for step, _ in result.errors] == [1, 2, 3]
    assert all("connection refused" in error for _, error in result.errors)
    failures = [r.getMessage() for r in caplog.records if r.name == "workflows.trainer"]
    assert len(failures) == 3 and "step 1 failed" in failures[0]
    assert offset.data == 0
    assert read_checkpoint(tmp_path)["step"] == 3
    assert (tmp_path / "progress.png").is_file()


def test_max_errors_failed_steps_in_a_row_stop_the_run(tmp_path):
    _, trainer = offset_trainer(_down, tmp_path, max_errors=2)
    with pytest.raises(TrainingFailed, match="2 steps failed in a row") as info:
        trainer.fit()
    assert info.value.result.steps == 2 and trainer.max_steps == 8


def test_the_optimizers_own_max_errors_also_ends_the_run_as_failed(tmp_path):
    offset, trainer = offset_trainer(_down, tmp_path, max_errors=None)
    trainer.optimizer = OptoPrime([offset], _down, max_errors=2)
    with pytest.raises(TrainingFailed, match="OptoPrime failed in a row") as info:
        trainer.fit()
    assert info.value.result.steps == 2


def test_a_run_with_one_working_step_is_not_failed(tmp_path):
    calls = []

    def llm(messages):
        calls.append(messages)
        if len(calls) > 1:
            raise LLMError("flaky", backend="test")
        name = re.search(r"\b(offset\w*)\b", messages[-1]["content"]).group(1)
        return json.dumps({"reasoning": "add three", "suggestion": {name: 3}})

    offset, trainer = offset_trainer(llm, tmp_path, max_steps=3)
    result = trainer.fit()
    assert result.status == "completed" and len(result.errors) == 2 and offset.data == 3


def test_an_llm_error_inside_the_evaluated_program_is_not_a_score_of_zero():
    """The model failing is not the program failing: the run stops instead of scoring 0."""
    from trace_engine import bundle

    @bundle()
    def ask(question):
        raise LLMError("401 unauthorized", backend="test")

    x = node("q", trainable=True, name="prompt")

    def evaluate(example):
        return Evaluation(1.0, "", ask(x))

    trainer = Trainer([x], None, [1], evaluate=evaluate, progress=False)
    with pytest.raises(LLMError, match="401"):
        trainer.evaluate_all([1])


def test_a_token_budget_counts_what_earlier_sessions_spent(tmp_path):
    def run(max_steps, resume):
        offset, examples, evaluate, _ = offset_job([])
        opt = ScriptedOptimizer([offset], Metered(CallableLLM(lambda m: "1")), parse=int)
        return Trainer(
            [offset],
            opt,
            examples,
            evaluate=evaluate,
            batch_size=1,
            epochs=4,
            max_steps=max_steps,
            budget=Budget(max_calls=5),
            checkpoint_dir=tmp_path,
            resume=resume,
            progress=False,
            perfect_score=None,
            workflow="offset",
        ).fit()

    first = run(3, False)
    assert first.status == "completed" and first.usage["calls"] == 3
    second = run(10, True)
    assert second.status == "budget_exceeded"
    assert second.usage["calls"] == 5 and second.steps == 5


def test_a_second_process_cannot_run_in_a_locked_directory(tmp_path):
    with lock_held_elsewhere(tmp_path):
        _, trainer = offset_trainer(_down, tmp_path)
        with pytest.raises(RunDirectoryBusy, match="in use by another trace-engine run"):
            trainer.fit()
        assert not (tmp_path / "checkpoint.json").exists()
    with run_lock(tmp_path), run_lock(tmp_path):  # free again, and re-entrant in a process
        pass


def test_outputs_that_do_not_reach_the_parameters_fail_the_step_not_the_process(tmp_path):
    offset = node(0, trainable=True, name="offset")
    examples = [{"x": i} for i in range(2)]

    def evaluate(example):
        return Evaluation(0.0, "wrong", node(example["x"]) + 1)  # not computed from offset

    trainer = Trainer(
        [offset],
        OptoPrime([offset], _down, max_errors=None),
        examples,
        evaluate=evaluate,
        checkpoint_dir=tmp_path,
        batch_size=1,
        max_steps=2,
        progress=False,
        perfect_score=None,
    )
    with pytest.raises(TrainingFailed) as info:
        trainer.fit()
    assert [error.split(":")[0] for _, error in info.value.result.errors] == ["NoFeedback"] * 2
    assert offset.data == 0
