"""A trainer over a list of parameters matches saved values by label, never by position."""

from __future__ import annotations

import pytest

from tests.workflows.fakes import ScriptedOptimizer
from trace_engine import StateError, node
from workflows.trainer import Evaluation, Trainer


def _trainer(params):
    def evaluate(example):
        out = params[0] + example
        return Evaluation(score=0.0, feedback="fb", output=out)

    return Trainer(
        params,
        ScriptedOptimizer(params, lambda m: "0"),
        [1, 2],
        evaluate=evaluate,
        progress=False,
    )


def test_parameters_sharing_a_label_are_numbered_and_restored_by_label():
    a, b = node(1, trainable=True), node(2, trainable=True)
    trainer = _trainer([a, b])
    assert trainer.parameter_values() == {"int": 1, "int_1": 2}
    trainer.load_parameter_values({"int_1": 20, "int": 10})
    assert (a.data, b.data) == (10, 20)


def test_values_under_other_labels_are_refused_even_when_the_count_fits():
    a, b = node(1, trainable=True, name="alpha"), node(2, trainable=True, name="beta")
    trainer = _trainer([a, b])
    with pytest.raises(StateError, match="missing alpha, beta"):
        trainer.load_parameter_values({"int": 10, "int_1": 20})
    assert (a.data, b.data) == (1, 2)
