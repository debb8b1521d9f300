"""Concurrent calls to an OpenAI-compatible server: bounded, ordered, cached, metered, budgeted."""

import asyncio
import threading

import pytest

from tests.llm.fake_server import error_body
from trace_engine.llm import Budget, BudgetExceeded, LLMError, Meter, SpecError, get_llm
from trace_engine.llm.config import parse_spec

pytest.importorskip("openai")


def llm_for(server, **kw):
    return get_llm(server.spec(), **{"cache": False, "retries": 1, "timeout": 10.0, **kw})


def test_complete_many_keeps_order_and_fills_the_bound(server):
    server.default = ("echo", 0.3)
    llm = llm_for(server, max_concurrency=3)
    got = llm.complete_many([f"q{i}" for i in range(9)], max_tokens=5)
    assert [c.text for c in got] == [f"re:q{i}" for i in range(9)]
    assert server.max_in_flight == 3 and len(server.requests) == 9


def test_threads_calling_complete_share_one_bound(server):
    server.default = ("echo", 0.3)
    llm = llm_for(server, max_concurrency=2)
    out = {}
    threads = [
        threading.Thread(target=lambda i=i: out.__setitem__(i, llm.complete(f"t{i}").text))
        for i in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {i: f"re:t{i}" for i in range(6)}
    assert server.max_in_flight == 2


def test_async_calls_are_bounded_too(server):
    server.default = ("echo", 0.3)
    llm = llm_for(server, max_concurrency=2)

    async def main():
        return await asyncio.gather(*(llm.acomplete(f"a{i}") for i in range(5)))

    got = asyncio.run(main())
    assert [c.text for c in got] == [f"re:a{i}" for i in range(5)]
    assert server.max_in_flight == 2


def test_identical_conversations_are_asked_once(server):
    server.default = ("echo", 0.0)
    got = llm_for(server).complete_many(["a", "b", "a", [{"role": "user", "content": "b"}]])
    assert [c.text for c in got] == ["re:a", "re:b", "re:a", "re:b"]
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "limit, max_tokens, refusal, sent",
    [
        ({"max_calls": 3}, 5, "call budget", 3),
        # ~3 prompt tokens + 100 reserved per call: two fit in 250, a third does not
        ({"max_tokens": 250}, 100, "token budget", 2),
    ],
)
def test_a_budget_is_not_overshot_by_concurrent_calls(server, limit, max_tokens, refusal, sent):
    server.default = ("echo", 0.3)
    budget = Budget(**limit)
    llm = llm_for(server, budget=budget, max_concurrency=8)
    with pytest.raises(BudgetExceeded, match=refusal):
        llm.complete_many([f"q{i}" for i in range(8)], max_tokens=max_tokens)
    assert len(server.requests) == sent and budget.spent.calls == sent
    assert budget.max_tokens is None or budget.spent.total_tokens <= budget.max_tokens


def test_cache_and_meter_stay_right_under_concurrency(server, tmp_path):
    server.default = ("echo", 0.1)
    meter = Meter()
    llm = llm_for(server, cache=True, cache_dir=str(tmp_path / "c"), meter=meter)
    prompts = [f"p{i}" for i in range(6)]
    first = llm.complete_many(prompts)
    again = llm.complete_many(prompts)
    assert [c.text for c in again] == [c.text for c in first]
    assert all(c.cached for c in again) and not any(c.cached for c in first)
    assert len(server.requests) == 6
    total = meter.total
    assert total.calls == 6 and total.prompt_tokens == 6 * 12


def test_a_failure_is_raised_and_other_answers_stay_cached(server, tmp_path):
    server.script = [("status", 400, {}, error_body("bad request"))]
    server.default = ("echo", 0.0)
    llm = llm_for(server, cache=True, cache_dir=str(tmp_path / "c"), max_concurrency=1)
    with pytest.raises(LLMError, match="bad request"):
        llm.complete_many(["x", "y"])
    assert [c.text for c in llm.complete_many(["x", "y"])] == ["re:x", "re:y"]
    asked = [r["body"]["messages"][-1]["content"] for r in server.requests]
    assert sorted(asked) == ["x", "x", "y"]  # y, whenever it was answered, was kept


def test_max_concurrency_in_the_spec(server):
    spec = f"{server.spec()}?max_concurrency=2"
    assert parse_spec(spec).max_concurrency == 2
    assert get_llm(spec, cache=False).max_concurrency == 2
    assert get_llm(server.spec(), cache=False, max_concurrency=5).max_concurrency == 5
    with pytest.raises(SpecError, match="max_concurrency=N"):
        parse_spec(f"{server.spec()}?max_concurrency=0")
    with pytest.raises(SpecError, match="max_concurrency"):
        get_llm(server.spec(), max_concurrency=0)


def test_a_plain_callable_is_called_one_at_a_time():
    active, most = [0], [0]
    lock = threading.Lock()

    def reply(msgs):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        with lock:
            active[0] -= 1
        return msgs[-1]["content"].upper()

    from trace_engine.llm import as_llm

    got = as_llm(reply).complete_many(["a", "b", "c"])
    assert [c.text for c in got] == ["A", "B", "C"] and most[0] == 1


def test_concurrent_calls_retry_on_their_own_and_are_metered_once_each(server):
    server.script = [("status", 503, {}, error_body("busy"))] * 2
    server.default = ("echo", 0.05)
    meter = Meter()
    llm = llm_for(server, retries=3, min_wait=0.01, max_wait=0.1, max_concurrency=2, meter=meter)
    got = llm.complete_many([f"r{i}" for i in range(4)])
    assert [c.text for c in got] == [f"re:r{i}" for i in range(4)]
    assert len(server.requests) == 6 and server.max_in_flight <= 2
    assert meter.total.calls == 4 and meter.total.errors == 2
