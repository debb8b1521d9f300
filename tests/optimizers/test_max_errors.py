"""Failed steps are loud: each is logged, and max_errors in a row raise."""

import logging

import pytest

from optimizers import BeamSearch, OptoPrime, TooManyFailedSteps
from trace_engine import node
from trace_engine.llm import LLMError


def _problem(name):
    x = node(3, trainable=True, name=name)
    return x, x * 2


def _down(messages):
    raise LLMError("connection refused", backend="test")


def test_failed_steps_are_logged_and_the_max_errors_th_in_a_row_raises(caplog):
    x, y = _problem("me_x")
    opt = OptoPrime([x], _down, max_errors=3)
    caplog.set_level(logging.WARNING, logger="optimizers")
    for _ in range(2):
        opt.zero_feedback()
        opt.backward(y, "more")
        assert not opt.step().ok
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    assert "connection refused" in caplog.records[0].getMessage()
    opt.zero_feedback()
    opt.backward(y, "more")
    with pytest.raises(TooManyFailedSteps, match="3 steps of OptoPrime failed in a row") as info:
        opt.step()
    assert "connection refused" in str(info.value) and info.value.result.error_type == "LLMError"
    assert x.data == 3 and len(opt.history) == 3


def test_a_successful_step_resets_the_count(scripted, suggest_reply):
    x, _ = _problem("reset_x")
    script = [_down, _down, suggest_reply(reset_x=4), _down, _down]
    opt = OptoPrime([x], scripted(*script), max_errors=3, resample=0)
    for _ in script:
        opt.zero_feedback()
        opt.backward(x * 2, "more")
        opt.step()
    assert [r.ok for r in opt.history] == [False, False, True, False, False]
    assert x.data == 4


def test_max_errors_none_never_raises_and_bad_values_are_refused():
    x, y = _problem("none_x")
    opt = OptoPrime([x], _down, max_errors=None)
    for _ in range(7):
        opt.zero_feedback()
        opt.backward(y, "more")
        opt.step()
    assert len(opt.history) == 7
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_errors"):
            OptoPrime([x], _down, max_errors=bad)


def test_the_step_result_says_it_failed_and_why():
    x, y = _problem("str_x")
    opt = OptoPrime([x], _down)
    opt.backward(y, "more")
    text = str(opt.step())
    assert text.startswith("step failed, nothing changed (LLMError)")
    assert "connection refused" in text


def test_beam_search_rounds_in_which_every_candidate_failed_count_as_failures():
    x, _ = _problem("beam_x")
    opt = OptoPrime([x], _down, max_errors=2)
    search = BeamSearch(opt, run=lambda: (x * 2, "more"), score=lambda v: -abs(v["beam_x"] - 5))
    first = search.step()
    assert not first.ok and "every candidate" in first.error
    with pytest.raises(TooManyFailedSteps, match="BeamSearch"):
        search.step()
