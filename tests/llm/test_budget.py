import threading
import time

import pytest

from trace_engine.llm import Budget, BudgetExceeded, Cached, LLMError, Metered


def test_call_budget_refuses_before_calling(scripted, meter):
    inner = scripted()
    llm = Metered(inner, meter=meter, budget=Budget(max_calls=2))
    llm.complete("1")
    llm.complete("2")
    with pytest.raises(BudgetExceeded, match="2 calls"):
        llm.complete("3")
    assert len(inner.calls) == 2


def test_token_budget_counts_max_tokens_before_the_call(scripted):
    inner = scripted()
    budget = Budget(max_tokens=100)
    llm = Metered(inner, budget=budget)
    llm.complete("hi", max_tokens=10)  # spends 15 tokens
    assert budget.spent.total_tokens == 15
    with pytest.raises(BudgetExceeded, match="token budget"):
        llm.complete("hi", max_tokens=90)
    assert len(inner.calls) == 1
    llm.complete("hi", max_tokens=20)
    assert budget.remaining["tokens"] == 70


def test_usd_budget(scripted):
    inner = scripted(price=0.01)  # 15 tokens -> $0.15 per call
    budget = Budget(max_usd=0.35)
    llm = Metered(inner, budget=budget)
    llm.complete("a", max_tokens=5)
    llm.complete("b", max_tokens=5)
    with pytest.raises(BudgetExceeded, match="USD budget"):
        llm.complete("c", max_tokens=5)
    assert budget.spent.cost == pytest.approx(0.30)


def test_budget_exceeded_is_not_an_llm_error():
    assert not issubclass(BudgetExceeded, LLMError)


def test_cache_hits_do_not_count_against_the_budget(scripted, tmp_path, meter):
    inner = scripted()
    llm = Cached(Metered(inner, meter=meter, budget=Budget(max_calls=1)), tmp_path, meter=meter)
    llm.complete("same")
    for _ in range(3):
        assert llm.complete("same").cached
    assert meter.total.cache_hits == 3 and meter.total.calls == 1
    with pytest.raises(BudgetExceeded):
        llm.complete("different")


def test_active_budget_applies_to_every_metered_call_in_the_block(scripted):
    llm = Metered(scripted())
    with Budget(max_calls=1).active():
        llm.complete("a")
        with pytest.raises(BudgetExceeded):
            llm.complete("b")
    llm.complete("c")


def test_concurrent_calls_cannot_overshoot(scripted):
    def slow(msgs, opts):
        time.sleep(0.05)
        return "ok"

    inner = scripted(reply=slow)
    llm = Metered(inner, budget=Budget(max_calls=5))
    refused = []

    def worker():
        try:
            llm.complete("q")
        except BudgetExceeded:
            refused.append(1)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(inner.calls) == 5 and len(refused) == 7


def test_failed_calls_release_their_reservation():
    from trace_engine.llm import as_llm

    def fail(msgs):
        raise LLMError("down")

    budget = Budget(max_calls=1)
    llm = Metered(as_llm(fail), budget=budget)
    for _ in range(3):
        with pytest.raises(LLMError):
            llm.complete("q")
    assert budget.remaining["calls"] == 1


def test_negative_limits_are_rejected():
    with pytest.raises(ValueError, match="max_usd"):
        Budget(max_usd=-1)


@pytest.mark.parametrize("limit", [float("nan"), float("inf"), -1.0])
def test_limits_that_would_never_stop_anything_are_refused(limit):
    for name in ("max_usd", "max_tokens", "max_calls"):
        with pytest.raises(ValueError, match="finite number >= 0"):
            Budget(**{name: limit})


def test_spending_from_earlier_sessions_counts_against_the_limits(scripted):
    budget = Budget(max_calls=3)
    budget.add_spent(calls=3, prompt_tokens=10, completion_tokens=5, cost=0.5)
    assert budget.remaining == {"usd": None, "tokens": None, "calls": 0}
    with budget.active(), pytest.raises(BudgetExceeded):
        Metered(scripted("hi")).complete("x")
