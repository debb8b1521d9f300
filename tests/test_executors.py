"""The thread executor: order, the caller's context inside the calls, failures, progress."""

from __future__ import annotations

import contextvars
import threading

import pytest

from trace_engine.executors import ThreadExecutor, as_executor, make_executor
from trace_engine.llm import Budget, BudgetExceeded, Metered, as_llm, get_meter

_var: contextvars.ContextVar[str] = contextvars.ContextVar("test_executors_var", default="unset")


def test_results_come_back_in_item_order_even_when_they_finish_in_reverse():
    gates = [threading.Event() for _ in range(4)]
    finished: list[int] = []

    def work(i: int) -> int:
        # item i waits until item i+1 has finished: they complete 3, 2, 1, 0
        if i + 1 < len(gates):
            assert gates[i + 1].wait(10)
        finished.append(i)
        gates[i].set()
        return i * 10

    with make_executor("thread", workers=4) as ex:
        assert ex.map(work, range(4)) == [0, 10, 20, 30]
    assert finished == [3, 2, 1, 0]


def test_calls_run_in_a_copy_of_the_callers_context():
    token = _var.set("caller")
    try:
        seen = make_executor("thread", workers=3).map(lambda _: _var.get(), range(3))
    finally:
        _var.reset(token)
    assert seen == ["caller"] * 3


def test_the_callers_budget_and_meter_tag_apply_inside_the_calls():
    llm = Metered(as_llm(lambda m: "ok"))
    budget = Budget(max_calls=2)
    with (
        budget.active(),
        get_meter().tag("executor-test") as used,
        pytest.raises(BudgetExceeded),
    ):
        make_executor("thread", workers=3).map(lambda _: llm.complete("hi"), range(3))
    assert budget.spent.calls == 2
    assert used.calls == 2


def test_the_lowest_failing_index_is_raised_with_its_type_and_index():
    def work(i: int) -> int:
        if i in (2, 3):
            raise KeyError(f"item {i}")
        return i

    with pytest.raises(KeyError, match="item 2") as info:
        ThreadExecutor(workers=4).map(work, range(4))
    assert info.value.task_index == 2
    assert "task 2 of 4" in "".join(info.value.__notes__)


def test_after_a_failure_calls_not_yet_started_are_cancelled():
    started: list[int] = []

    def work(i: int) -> int:
        started.append(i)
        if i == 0:
            raise ValueError("first fails")
        return i

    with pytest.raises(ValueError):
        ThreadExecutor(workers=1).map(work, range(20))
    assert started == [0]
    started.clear()
    with pytest.raises(ValueError):
        ThreadExecutor(workers=2).map(work, range(20))
    assert len(started) < 20


def test_a_cause_set_by_the_call_is_kept():
    def work(_):
        try:
            raise OSError("inner")
        except OSError as exc:
            raise RuntimeError("outer") from exc

    for workers in (1, 2):
        with pytest.raises(RuntimeError) as info:
            ThreadExecutor(workers=workers).map(work, range(2))
        assert isinstance(info.value.__cause__, OSError)


def test_on_result_sees_every_result_with_its_index_in_the_callers_thread():
    got: dict[int, int] = {}
    caller = threading.get_ident()
    threads = set()

    def record(i: int, r: int) -> None:
        threads.add(threading.get_ident())
        got[i] = r

    for workers in (1, 4):
        got.clear()
        ThreadExecutor(workers).map(lambda x: x * x, range(6), on_result=record)
        assert got == {i: i * i for i in range(6)}
    assert threads == {caller}


def test_empty_input_gives_an_empty_list():
    assert ThreadExecutor().map(lambda x: x, []) == []


def test_bad_settings_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        make_executor("dask")
    with pytest.raises(ValueError, match="workers must be"):
        make_executor("thread", workers=0)
    with pytest.raises(ValueError, match="address is for the ray executor"):
        make_executor("thread", address="127.0.0.1:6379")


def test_as_executor_accepts_an_executor_a_kind_or_none():
    ex = ThreadExecutor(3)
    assert as_executor(ex) is ex
    assert as_executor(None, workers=2).workers == 2
    assert as_executor("thread").kind == "thread"
    with pytest.raises(TypeError, match="expected an executor"):
        as_executor(42)
