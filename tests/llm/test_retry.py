import asyncio
import logging
import time

import pytest

from trace_engine.llm import LLMError, Retrying, as_llm


def script(*outcomes):
    """A callable LLM that raises or returns the given outcomes in turn."""
    calls = []

    def fn(msgs):
        outcome = outcomes[len(calls)]
        calls.append(outcome)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return as_llm(fn), calls


def test_retries_transient_errors_then_succeeds(caplog):
    llm, calls = script(LLMError("rate limited", backend="b", retryable=True), "ok")
    with caplog.at_level(logging.INFO, logger="trace_engine.llm.retry"):
        c = Retrying(llm, attempts=3, min_wait=0.01, max_wait=0.05).complete("q")
    assert c.text == "ok" and len(calls) == 2
    assert any("attempt 1/3 failed" in r.message for r in caplog.records)


def test_does_not_retry_permanent_errors():
    llm, calls = script(LLMError("authentication failed (401)", backend="b", status=401), "ok")
    with pytest.raises(LLMError, match="401"):
        Retrying(llm, attempts=3, min_wait=0.01).complete("q")
    assert len(calls) == 1


def test_gives_up_with_an_error_naming_backend_and_cause():
    err = LLMError("server error (500)", backend="openai:x", retryable=True, status=500)
    llm, calls = script(err, err, err)
    with pytest.raises(LLMError) as info:
        Retrying(llm, attempts=3, min_wait=0.01, max_wait=0.02).complete("q")
    assert len(calls) == 3
    message = str(info.value)
    assert (
        message.startswith("openai:x: gave up after 3 attempts") and "server error (500)" in message
    )
    assert not info.value.retryable


def test_retry_after_is_waited_out():
    llm, calls = script(LLMError("429", retryable=True, retry_after=0.3), "ok")
    start = time.perf_counter()
    Retrying(llm, attempts=2, min_wait=0.0, max_wait=5).complete("q")
    assert time.perf_counter() - start >= 0.3


def test_retry_after_longer_than_max_wait_fails_at_once():
    llm, calls = script(LLMError("429", backend="b", retryable=True, retry_after=3600), "ok")
    with pytest.raises(LLMError, match="asked to wait 3600s"):
        Retrying(llm, attempts=5, max_wait=10).complete("q")
    assert len(calls) == 1


def test_async_retries():
    llm, calls = script(LLMError("timeout", retryable=True), "ok")
    c = asyncio.run(Retrying(llm, attempts=2, min_wait=0.01, max_wait=0.02).acomplete("q"))
    assert c.text == "ok" and len(calls) == 2


def test_bad_settings_are_rejected():
    llm, _ = script("ok")
    with pytest.raises(ValueError):
        Retrying(llm, attempts=0)
    with pytest.raises(ValueError):
        Retrying(llm, min_wait=5, max_wait=1)
