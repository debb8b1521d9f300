import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from trace_engine.llm import LLMError, Metered, get_meter, tagged


def test_records_calls_tokens_cost_per_backend(scripted, meter):
    a = Metered(scripted(model="a", price=0.001), meter=meter)
    b = Metered(scripted(model="b"), meter=meter)
    a.complete("x")
    a.complete("y", n=2)
    b.complete("z")
    total = meter.total
    assert total.calls == 3
    assert total.prompt_tokens == 30 and total.completion_tokens == 20
    assert total.cost == pytest.approx((15 + 20) * 0.001)
    per = meter.by_backend()
    assert per["scripted:a"].calls == 2 and per["scripted:b"].calls == 1
    assert "scripted:a" in meter.summary()


def test_tags_nest_and_yield_the_blocks_own_usage(scripted, meter):
    llm = Metered(scripted(), meter=meter)
    llm.complete("untagged")
    with meter.tag("trainer") as outer:
        llm.complete("t")
        with meter.tag("optoprime") as inner:
            llm.complete("o1")
            llm.complete("o2")
    assert inner.calls == 2 and outer.calls == 3
    assert inner.total_tokens == 30
    tags = meter.by_tag()
    assert tags["optoprime"].calls == 2 and tags["trainer"].calls == 1
    assert meter.total.calls == 4


def test_errors_are_counted_and_propagate(meter):
    from trace_engine.llm import as_llm

    def fail(msgs):
        raise LLMError("boom", backend="x")

    llm = Metered(as_llm(fail), meter=meter)
    with pytest.raises(LLMError, match="boom"):
        llm.complete("q")
    assert meter.total.errors == 1 and meter.total.calls == 0


def test_thread_safe_totals(scripted, meter):
    llm = Metered(scripted(), meter=meter)
    threads = [
        threading.Thread(target=lambda: [llm.complete("q") for _ in range(50)]) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert meter.total.calls == 400
    assert meter.total.prompt_tokens == 4000


def test_tagged_wrapper_tags_calls_in_worker_threads(scripted):
    llm = tagged(Metered(scripted()), "router")
    before = get_meter().by_tag().get("router")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: llm.complete(str(i)), range(8)))
    after = get_meter().by_tag()["router"]
    assert after.calls - (before.calls if before else 0) == 8


def test_reset(scripted, meter):
    Metered(scripted(), meter=meter).complete("q")
    meter.reset()
    assert meter.total.calls == 0 and meter.by_backend() == {}
