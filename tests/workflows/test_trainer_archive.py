"""The Trainer running an ArchiveSearch: candidates scored on the training split, filed by
the job's descriptor, the archive kept in the checkpoint and continued on resume."""

from __future__ import annotations

import json
import re

import pytest

from optimizers import OptoPrime
from optimizers.archive import ArchiveSearch
from trace_engine import node
from workflows.checkpoint import decode_state, read_checkpoint
from workflows.trainer import Evaluation, Trainer, TrainingFailed
from workflows.training.archive_steps import default_descriptor


def offset_job(proposals):
    """Learn an offset of 3; the scripted LLM proposes ``proposals`` in turn (then 3)."""
    offset = node(0, trainable=True, name="offset")
    evaluated = []

    def evaluate(x):
        out = offset + x
        evaluated.append((offset.data, x))
        error = out.data - (x + 3)
        feedback = (
            "right" if not error else f"{'too high' if error > 0 else 'too low'} by {abs(error)}"
        )
        return Evaluation(1.0 / (1 + abs(error)), feedback, out, {"error": error})

    queue = list(proposals)
    prompts = []

    def llm(messages):
        prompts.append(messages[-1]["content"])
        value = queue.pop(0) if queue else 3
        return json.dumps({"reasoning": "move it", "suggestion": {"offset": value}})

    return offset, evaluate, evaluated, llm, prompts


def sign_of_error(evaluations):
    """The error bucket of a candidate: too low, right or too high."""
    error = evaluations[0].details["error"]
    return "right" if error == 0 else "high" if error > 0 else "low"


def archive_trainer(offset, evaluate, llm, tmp_path, **options):
    archive = ArchiveSearch(OptoPrime([offset], llm), expand=1, crossovers=0, stop_at=1.0)
    settings = {"max_steps": 3, "batch_size": 2, "epochs": 3, "progress": False, "plot": False}
    return Trainer(
        [offset],
        archive,
        [0, 1, 2],
        val=[5],
        evaluate=evaluate,
        describe=sign_of_error,
        checkpoint_dir=tmp_path,
        **{**settings, **options},
    )


def test_the_archive_files_candidates_by_the_jobs_descriptor_and_finds_the_target(tmp_path):
    offset, evaluate, evaluated, llm, prompts = offset_job([5, 5])
    result = archive_trainer(offset, evaluate, llm, tmp_path).fit()
    assert result.status == "completed" and offset.data == 3
    saved = decode_state(read_checkpoint(tmp_path)["optimizer"])
    assert saved["type"] == "ArchiveSearch"
    assert set(saved["cells"]) == {'"low"', '"high"', '"right"'}
    values = [c["values"]["offset"] for c in saved["candidates"]]
    assert values == [0, 5, 3]  # 5 was proposed twice and scored once
    train = [x for v, x in evaluated if v == 5 and x != 5]  # 5 is the validation example
    assert sorted(train) == [0, 1, 2]  # once, on the whole training split
    assert "too low by 3" in prompts[0]  # the start's own feedback fed the expansion
    assert [r["archive"]["cells"] for r in result.history[1:]] == [2, 2, 3]


def test_a_resumed_run_continues_the_same_archive(tmp_path):
    offset, evaluate, _, llm, _ = offset_job([5, 5])
    whole = archive_trainer(offset, evaluate, llm, tmp_path / "whole").fit()

    offset, evaluate, _, llm, _ = offset_job([5, 5])
    first = archive_trainer(offset, evaluate, llm, tmp_path / "split", max_steps=2).fit()
    assert first.steps == 2 and offset.data == 5  # the best on val so far
    offset, evaluate, evaluated, llm, _ = offset_job([])
    resumed = archive_trainer(offset, evaluate, llm, tmp_path / "split", resume=True).fit()
    assert resumed.steps == 3 and offset.data == 3

    def archive(directory):
        state = decode_state(read_checkpoint(directory)["optimizer"])
        return {k: state[k] for k in ("candidates", "cells", "steps", "expansions")}

    assert archive(tmp_path / "split") == archive(tmp_path / "whole")
    assert whole.best_score == resumed.best_score == 1.0


def test_an_archive_whose_every_step_fails_ends_failed_with_each_error(tmp_path):
    from trace_engine.llm import LLMError

    offset, evaluate, _, _, _ = offset_job([])

    def down(messages):
        raise LLMError("the server is down")

    trainer = archive_trainer(offset, evaluate, down, tmp_path, max_steps=2)
    with pytest.raises(TrainingFailed) as info:
        trainer.fit()
    errors = info.value.result.errors
    assert [step for step, _ in errors] == [1, 2]
    assert all("the server is down" in e for _, e in errors)
    assert offset.data == 0


def test_an_archive_with_its_own_evaluate_is_refused():
    offset, evaluate, _, llm, _ = offset_job([])
    archive = ArchiveSearch(OptoPrime([offset], llm), lambda a: (0.0, "", "x"))
    with pytest.raises(ValueError, match="make it without evaluate"):
        Trainer([offset], archive, [0], evaluate=evaluate, progress=False, plot=False)


def test_the_default_descriptor_reads_scores_and_the_errors_named_in_feedback():
    found = [
        Evaluation(1.0, "right"),
        Evaluation(0.0, "the program raised ZeroDivisionError: division by zero"),
        Evaluation(0.5, "expected 3, got 4"),
    ]
    assert default_descriptor(found) == ["pass", "ZeroDivisionError", "wrong"]
    many = found * 3 + [Evaluation(0.0, "raised ZeroDivisionError")]
    assert default_descriptor(many) == [0.3, "ZeroDivisionError"]
    assert re.fullmatch(r"\[.*\]", json.dumps(default_descriptor(many)))


def test_a_call_budget_stops_the_search_with_the_last_steps_archive_kept(tmp_path):
    from trace_engine.llm import Budget, CallableLLM, Metered

    offset, evaluate, _, llm, prompts = offset_job([5, 5])
    metered = Metered(CallableLLM(llm))  # the layer that charges a run's active budget
    trainer = archive_trainer(offset, evaluate, metered, tmp_path, budget=Budget(max_calls=1))
    result = trainer.fit()
    assert result.status == "budget_exceeded" and result.steps == 1 and len(prompts) == 1
    state = decode_state(read_checkpoint(tmp_path)["optimizer"])
    assert [c["values"]["offset"] for c in state["candidates"]] == [0, 5]
