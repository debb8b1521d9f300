"""The training loop with a scripted optimizer: batches, threads, best tracking, checkpoints."""

from __future__ import annotations

import json
import threading

import pytest

from tests.workflows.fakes import ScriptedOptimizer
from trace_engine import node
from trace_engine.llm.base import CallableLLM
from trace_engine.llm.meter import Budget
from trace_engine.llm.metered import Metered
from workflows.checkpoint import CheckpointError, read_checkpoint
from workflows.trainer import Evaluation, Trainer


def offset_job(script, targets=(3, 3, 3, 3, 3)):
    """Learn an offset: example i asks that offset + i == i + target."""
    offset = node(0, trainable=True, name="offset")
    examples = [{"x": i, "y": i + t} for i, t in enumerate(targets)]

    def evaluate(example):
        out = offset + example["x"]
        ok = out.data == example["y"]
        return Evaluation(
            score=1.0 if ok else 0.0,
            feedback="correct" if ok else f"expected {example['y']}, got {out.data}",
            output=out,
        )

    replies = iter(script)

    def llm(messages):
        reply = next(replies)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    optimizer = ScriptedOptimizer([offset], llm, parse=int)
    return offset, examples, evaluate, optimizer


def test_minibatches_cover_each_epoch_once_in_seeded_order(tmp_path):
    offset, examples, evaluate, opt = offset_job(["1"] * 20)
    trainer = Trainer(
        [offset],
        opt,
        examples,
        evaluate=evaluate,
        batch_size=2,
        epochs=2,
        progress=False,
        perfect_score=None,
        checkpoint_dir=tmp_path,
    )
    result = trainer.fit()
    assert result.steps == 6
    batches = [r["examples"] for r in result.history[1:]]
    assert [len(b) for b in batches] == [2, 2, 1, 2, 2, 1]
    assert sorted(sum(batches[:3], [])) == list(range(5))
    assert sorted(sum(batches[3:], [])) == list(range(5))
    again = offset_job(["1"] * 20)
    rerun = Trainer(
        [again[0]],
        again[3],
        again[1],
        evaluate=again[2],
        batch_size=2,
        epochs=2,
        progress=False,
        perfect_score=None,
    ).fit()
    assert [r["examples"] for r in rerun.history[1:]] == batches


def test_max_steps_caps_the_run_and_perfect_batches_skip_the_optimizer():
    offset, examples, evaluate, opt = offset_job(["3"])
    result = Trainer(
        [offset],
        opt,
        examples,
        evaluate=evaluate,
        batch_size=5,
        epochs=3,
        max_steps=2,
        progress=False,
    ).fit()
    assert result.steps == 2
    assert offset.data == 3
    assert result.history[1]["applied"] == [offset.name]
    assert result.history[2]["skipped"] is True
    assert result.usage["calls"] == 1


def test_evaluation_runs_on_parallel_threads():
    offset, examples, _, opt = offset_job(["3"] * 3)
    barrier = threading.Barrier(4, timeout=10)

    def evaluate(example):
        barrier.wait()
        out = offset + example["x"]
        return Evaluation(score=float(out.data == example["y"]), feedback="f", output=out)

    result = Trainer(
        [offset],
        opt,
        examples[:4],
        evaluate=evaluate,
        batch_size=4,
        parallel=4,
        max_steps=1,
        progress=False,
    ).fit()
    assert result.history[1]["train_score"] == 0.0
    assert offset.data == 3


def test_validation_keeps_and_restores_the_best_parameters(tmp_path):
    offset, examples, evaluate, opt = offset_job(["2", "3", "7", "9"])
    result = Trainer(
        [offset],
        opt,
        examples,
        val=examples,
        evaluate=evaluate,
        batch_size=1,
        max_steps=4,
        progress=False,
        perfect_score=None,
        checkpoint_dir=tmp_path,
    ).fit()
    assert [r["val_score"] for r in result.history] == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert result.initial_score == 0.0
    assert (result.best_score, result.best_step) == (1.0, 2)
    assert offset.data == 3
    assert json.loads((tmp_path / "parameters.json").read_text()) == {offset.name: 3}


def test_stop_at_score_ends_the_run_early():
    offset, examples, evaluate, opt = offset_job(["3", "4"])
    result = Trainer(
        [offset],
        opt,
        examples,
        val=examples,
        evaluate=evaluate,
        batch_size=5,
        epochs=5,
        stop_at_score=1.0,
        progress=False,
    ).fit()
    assert result.status == "target_reached"
    assert result.steps == 1


def run_offset(tmp_path, script, max_steps, resume=False, job=None):
    offset, examples, evaluate, opt = job or offset_job(script)
    trainer = Trainer(
        [offset],
        opt,
        examples,
        val=examples[:2],
        evaluate=evaluate,
        batch_size=2,
        epochs=3,
        max_steps=max_steps,
        checkpoint_dir=tmp_path,
        resume=resume,
        progress=False,
        perfect_score=None,
        restore_best=False,
        workflow="offset",
    )
    return offset, opt, trainer.fit()


def test_resume_after_a_crash_continues_exactly(tmp_path):
    script = ["1", "2", "5", "3", "4", "6"]
    _, _, reference = run_offset(tmp_path / "whole", script, 6)

    crash = RuntimeError("simulated crash")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_offset(tmp_path / "run", [*script[:3], crash], 6)
    saved = read_checkpoint(tmp_path / "run", "offset")
    assert saved["step"] == 3
    assert len((tmp_path / "run" / "steps.jsonl").read_text().splitlines()) == 4

    offset, opt, resumed = run_offset(tmp_path / "run", script[3:], 6, resume=True)
    assert resumed.steps == 6
    strip = ("seconds", "applied")
    assert [{k: v for k, v in r.items() if k not in strip} for r in resumed.history] == [
        {k: v for k, v in r.items() if k not in strip} for r in reference.history
    ]
    assert offset.data == 6
    assert len(opt.history) == 6


def resuming_trainer(tmp_path, **options):
    offset, examples, evaluate, opt = offset_job([])
    return Trainer(
        [offset],
        opt,
        examples,
        evaluate=evaluate,
        checkpoint_dir=tmp_path,
        resume=True,
        progress=False,
        **options,
    )


def test_resuming_a_run_of_another_workflow_is_refused(tmp_path):
    run_offset(tmp_path, ["1"], 1)
    trainer = resuming_trainer(tmp_path, workflow="numeric")
    with pytest.raises(CheckpointError, match="workflow 'offset', not 'numeric'"):
        trainer.fit()


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint.json"):
        resuming_trainer(tmp_path).fit()


def test_budget_exhaustion_stops_cleanly_with_the_checkpoint_intact(tmp_path):
    offset, examples, evaluate, _ = offset_job([])
    replies = iter(["1", "2", "3"])
    llm = Metered(CallableLLM(lambda messages: next(replies)))
    opt = ScriptedOptimizer([offset], llm, parse=int)
    result = Trainer(
        [offset],
        opt,
        examples,
        evaluate=evaluate,
        batch_size=1,
        max_steps=5,
        budget=Budget(max_calls=2),
        checkpoint_dir=tmp_path,
        progress=False,
        perfect_score=None,
    ).fit()
    assert result.status == "budget_exceeded"
    assert "checkpoint of step 2" in result.message
    assert read_checkpoint(tmp_path)["step"] == 2
    assert offset.data == 2
    assert (tmp_path / "progress.png").stat().st_size > 1000


def test_ctrl_c_mid_step_restores_the_parameters_and_keeps_the_checkpoint(tmp_path):
    offset, examples, evaluate, _ = offset_job([])
    offset_values = iter(["1", KeyboardInterrupt()])

    def llm(messages):
        reply = next(offset_values)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def parse(text):
        return int(text)

    opt = ScriptedOptimizer([offset], llm, parse=parse)
    result = Trainer(
        [offset],
        opt,
        examples,
        evaluate=evaluate,
        batch_size=1,
        max_steps=5,
        checkpoint_dir=tmp_path,
        progress=False,
        perfect_score=None,
    ).fit()
    assert result.status == "interrupted"
    assert read_checkpoint(tmp_path)["step"] == 1
    assert offset.data == 1


def test_log_summary_and_plot_are_written(tmp_path):
    offset, examples, evaluate, opt = offset_job(["1", "3"])
    result = Trainer(
        [offset],
        opt,
        examples,
        val=examples,
        test=examples,
        evaluate=evaluate,
        batch_size=5,
        epochs=2,
        checkpoint_dir=tmp_path,
        progress=False,
    ).fit()
    lines = [json.loads(x) for x in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [0, 1, 2]
    assert lines[1]["feedback"][0].startswith("expected")
    assert lines[2]["cum_tokens"] > 0
    assert (tmp_path / "progress.png").read_bytes()[:4] == b"\x89PNG"
    summary = (tmp_path / "summary.txt").read_text()
    assert "step" in summary and "offset" in summary
    assert result.test_score == 1.0


def test_evaluate_must_return_a_score():
    offset, examples, _, opt = offset_job([])
    trainer = Trainer([offset], opt, examples, evaluate=lambda example: "good", progress=False)
    with pytest.raises(TypeError, match="must return an Evaluation or a number"):
        trainer.fit()


def test_bad_settings_are_refused():
    offset, examples, evaluate, opt = offset_job([])
    with pytest.raises(ValueError, match="batch_size"):
        Trainer([offset], opt, examples, evaluate=evaluate, batch_size=0)
    with pytest.raises(ValueError, match="at least one training example"):
        Trainer([offset], opt, [], evaluate=evaluate)
    with pytest.raises(TypeError, match="Module or a list of Parameters"):
        Trainer([offset.data], opt, examples, evaluate=evaluate)


def test_time_limit_stops_before_the_next_step(tmp_path):
    offset, examples, evaluate, opt = offset_job(["1"] * 5)
    result = Trainer(
        [offset],
        opt,
        examples,
        evaluate=evaluate,
        batch_size=1,
        time_limit=0.0,
        checkpoint_dir=tmp_path,
        progress=False,
    ).fit()
    assert result.status == "time_limit" and result.steps == 0
    assert "time limit of 0s was reached after 0 of 5 steps" in result.message
