"""The Trainer's collaborators: per-task best values, parameter state through Module."""

from __future__ import annotations

import json
import re

import pytest

from tests.workflows.fakes import ScriptedOptimizer
from trace_engine import node
from trace_engine.modules import Module
from workflows.checkpoint import read_checkpoint
from workflows.trainer import Evaluation, Trainer, TrainingFailed


def two_task_job(values_by_step):
    """Tasks ``a`` and ``b``, each reading only its own parameter; both must become 3.

    The scripted optimizer sets, at step ``n``, each parameter to ``values_by_step[n]``.
    """
    a, b = node(0, trainable=True, name="a"), node(0, trainable=True, name="b")
    params = {"a": a, "b": b}

    def evaluate(task):
        out = params[task] + 0
        ok = out.data == 3
        return Evaluation(float(ok), "right" if ok else f"{task} must be 3", out)

    def llm(messages):
        text = messages[-1]["content"] if isinstance(messages, list) else str(messages)
        step, name = re.match(r"step (\d+) (\w+)=", text).groups()
        return str(values_by_step[int(step)][name])

    return a, b, evaluate, ScriptedOptimizer([a, b], llm, parse=int)


def test_tasks_with_independent_parameters_keep_each_tasks_best_values(tmp_path):
    # step 1 fixes a and breaks nothing of b's; step 2 fixes b but breaks a
    a, b, evaluate, opt = two_task_job([{"a": 3, "b": 5}, {"a": 7, "b": 3}])
    result = Trainer(
        [a, b],
        opt,
        ["a", "b"],
        val=["a", "b"],
        evaluate=evaluate,
        batch_size=2,
        epochs=2,
        shuffle=False,
        progress=False,
        plot=False,
        checkpoint_dir=tmp_path,
    ).fit()
    assert [r["val_score"] for r in result.history] == [0.0, 0.5, 0.5]
    assert (a.data, b.data) == (3, 3)  # a from step 1, b from step 2
    assert (result.best_score, result.best_step) == (1.0, 2)
    best = read_checkpoint(tmp_path)["best"]
    assert [(t["names"], t["step"]) for t in best["tasks"]] == [(["a"], 1), (["b"], 2)]
    assert json.loads((tmp_path / "parameters.json").read_text()) == {"a": 3, "b": 3}


def test_shared_parameters_are_one_task_as_before():
    a, b = node(0, trainable=True, name="a"), node(0, trainable=True, name="b")

    def evaluate(task):
        out = a + b
        return Evaluation(float(out.data == 3), "sum must be 3", out)

    replies = iter(["3", "0", "1", "1"])
    opt = ScriptedOptimizer([a, b], lambda m: next(replies), parse=int)
    result = Trainer(
        [a, b],
        opt,
        ["x"],
        val=["x", "y"],
        evaluate=evaluate,
        batch_size=1,
        epochs=2,
        perfect_score=None,
        progress=False,
        plot=False,
    ).fit()
    assert [r["val_score"] for r in result.history] == [0.0, 1.0, 0.0]
    assert (a.data + b.data, result.best_step) == (3, 1)


class Pair(Module):
    def __init__(self):
        self.pair = node((1, 2), trainable=True, name="pair")


def test_a_tuple_saved_as_json_is_restored_as_a_tuple_through_the_module():
    module = Pair()
    module.load_state_dict(json.loads(json.dumps({"pair": (3, 4)})))
    assert module.pair.data == (3, 4)


class RecordingExecutor:
    """Runs calls here, in order, recording what each ``map`` was given; the ``fail_at``-th
    ``map`` raises as a dead worker would."""

    kind = "recording"
    workers = 1

    def __init__(self, fail_at=None):
        self.maps = []
        self.fail_at = fail_at

    def map(self, fn, items, *, parameters=(), on_result=None):
        from trace_engine.executors import ExecutorError

        self.maps.append((list(items), list(parameters)))
        if len(self.maps) == self.fail_at:
            raise ExecutorError("the worker running task 0 died")
        return [fn(x) for x in self.maps[-1][0]]

    def close(self):
        pass


def test_evaluations_go_through_the_executor_with_the_trained_parameters():
    a, b, evaluate, opt = two_task_job([{"a": 3, "b": 3}])
    executor = RecordingExecutor()
    trainer = Trainer(
        [a, b],
        opt,
        ["a", "b"],
        val=["b"],
        evaluate=evaluate,
        executor=executor,
        shuffle=False,
        batch_size=2,
        max_steps=1,
        progress=False,
        plot=False,
    )
    trainer.fit()
    assert [[x for _, x in items] for items, _ in executor.maps] == [["b"], ["a", "b"], ["b"]]
    assert all(params == [a, b] for _, params in executor.maps)


def test_a_dead_worker_fails_the_run_with_the_last_checkpoint_intact(tmp_path):
    a, b, evaluate, opt = two_task_job([{"a": 3, "b": 5}, {"a": 3, "b": 3}])
    settings = {
        "val": ["a", "b"],
        "evaluate": evaluate,
        "batch_size": 2,
        "epochs": 2,
        "progress": False,
        "plot": False,
        "checkpoint_dir": tmp_path,
        "shuffle": False,
    }
    # map 1: baseline, 2: step 1's batch, 3: its validation, 4: step 2's batch dies
    trainer = Trainer([a, b], opt, ["a", "b"], executor=RecordingExecutor(fail_at=4), **settings)
    with pytest.raises(TrainingFailed) as info:
        trainer.fit()
    assert "the executor failed" in info.value.result.message
    saved = read_checkpoint(tmp_path)
    assert saved["step"] == 1 and saved["parameters"]["value"] == {"a": 3, "b": 5}
    resumed = Trainer([a, b], opt, ["a", "b"], resume=True, **settings).fit()
    assert resumed.steps == 2 and (a.data, b.data) == (3, 3)
