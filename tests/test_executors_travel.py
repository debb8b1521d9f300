"""What a call takes to another process and brings back, checked in this process (no Ray)."""

from __future__ import annotations

import pickle

import pytest

from trace_engine import bundle, node
from trace_engine.llm import Budget, Cached, CallableLLM, Meter, Metered, as_llm, get_llm, get_meter
from trace_engine.travel import Incoming, NotSendable, Outgoing


def send(outgoing: Outgoing, fn, item):
    """One call as the ray executor makes it, minus Ray: pickled out, run, pickled back."""
    fn_blob, item_blob = outgoing.send(fn, "fn"), outgoing.send(item, "item")
    return outgoing.read_reply(Incoming(outgoing.shared()).run(fn_blob, item_blob))


def test_returned_graphs_point_at_the_callers_parameters_not_at_copies():
    prompt = node("hello", trainable=True, name="prompt")
    other = node("not listed", trainable=True, name="other")

    @bundle()
    def join(a, b, c):
        return f"{a} {b} {c}"

    reply = send(Outgoing([prompt]), lambda x: join(prompt, other, x), "world")
    output = reply.value
    assert output.data == "hello not listed world"
    assert output.parents[0] is prompt
    assert output.parents[1] is not other  # not listed: comes back as a copy
    assert output in prompt.children  # linked, so feedback on it is found from the parameter


def test_usage_in_the_call_is_replayed_on_the_callers_meter_under_its_tags():
    own = Meter()
    llm = Metered(as_llm(lambda m: "ok"), meter=own)
    outgoing = Outgoing()

    def work(_):
        with own.tag("inside"):
            llm.complete("a")
        return llm.complete("b").text

    with own.tag("caller") as used:
        reply = send(outgoing, work, None)
        outgoing.settle(reply)
    assert reply.value == "ok"
    assert used.calls == 2
    assert own.total.calls == 2
    assert own.by_tag()["inside"].calls == 1
    assert own.by_tag()["caller"].calls == 1


def test_the_default_meter_in_the_worker_reports_to_the_callers_default_meter():
    llm = get_llm_free()
    before = get_meter().total.calls
    outgoing = Outgoing()
    outgoing.settle(send(outgoing, lambda q: llm.complete(q).text, "x"))
    # once when the call ran (same process here), once when replayed
    assert get_meter().total.calls == before + 2


def get_llm_free():
    return Metered(CallableLLM(lambda m: "ok", name="free"))


def test_a_budget_travels_as_what_was_left_and_its_spending_comes_back():
    budget = Budget(max_calls=5)
    budget.add_spent(calls=3)
    llm = Metered(as_llm(lambda m: "ok"), budget=budget)
    outgoing = Outgoing()

    def three_calls(_):
        return [llm.complete(str(i)).text for i in range(3)]

    reply = send(outgoing, three_calls, None)
    assert "call budget exhausted" in reply.error_text  # two were left, the third refused
    outgoing.settle(reply)
    assert budget.spent.calls == 5


def test_an_active_budget_of_the_caller_applies_in_the_call():
    budget = Budget(max_calls=0)
    llm = Metered(as_llm(lambda m: "ok"))
    with budget.active():
        outgoing = Outgoing()
        reply = send(outgoing, lambda q: llm.complete(q).text, "x")
    assert type(reply.error).__name__ == "BudgetExceeded"


def test_an_error_comes_back_as_itself_with_the_workers_traceback():
    def fail(x):
        raise KeyError(x)

    reply = send(Outgoing(), fail, "k")
    assert isinstance(reply.error, KeyError)
    assert "in fail" in reply.error_text


def test_an_error_that_does_not_pickle_comes_back_as_text():
    class Unpicklable(Exception):
        def __reduce__(self):
            raise TypeError("no")

    def fail(_):
        raise Unpicklable("deep trouble")

    reply = send(Outgoing(), fail, None)
    assert reply.error is None
    assert "could not be sent back" in reply.error_text
    assert "deep trouble" in reply.error_text


def test_something_that_cannot_travel_is_refused_before_anything_runs():
    import threading

    lock = threading.Lock()
    with pytest.raises(NotSendable, match="the function given to map cannot be sent"):
        Outgoing().send(lambda x: lock, "the function given to map")


def test_a_backend_built_from_a_spec_pickles_as_its_spec_and_a_cached_llm_reopens(tmp_path):
    llm = get_llm("openai-compatible:http://127.0.0.1:9/v1#m", cache_dir=str(tmp_path / "c"))
    copy = pickle.loads(pickle.dumps(llm))
    assert isinstance(copy, Cached)
    assert copy.directory == tmp_path / "c"
    assert copy.unwrap() is llm.unwrap()  # same process: the shared backend itself


def test_a_code_repair_evaluation_travels_and_its_output_reaches_the_callers_code():
    from workflows.jobs import build_job

    job = build_job("code_repair", task="0")
    code = job.module.parameters()
    outgoing = Outgoing(code)
    reply = send(outgoing, job.evaluate, job.train[0])
    assert reply.error is None, reply.error_text
    assert reply.value.score == 0.0 and "no implementation yet" in reply.value.feedback
    assert code[0] in reply.value.output.parents
