"""The litellm: backend, against a fake ``litellm`` module: same cache, retries, meter, budgets."""

import asyncio
import importlib.machinery
import sys
import types
from types import SimpleNamespace

import pytest

from trace_engine.llm import (
    Budget,
    BudgetExceeded,
    BudgetNotEnforceable,
    LLMError,
    LLMUnavailable,
    MissingDependency,
    check_llm,
    get_llm,
    get_meter,
    pricing,
)

MODEL = "anthropic/claude-test"
SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}}


class ProviderError(Exception):
    """Like LiteLLM's exceptions: the provider's HTTP status in ``status_code``."""

    def __init__(self, status_code, message):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def _response(text, n):
    choice = SimpleNamespace(message=SimpleNamespace(content=text))
    return SimpleNamespace(
        choices=[choice] * n, usage=SimpleNamespace(prompt_tokens=100, completion_tokens=50)
    )


@pytest.fixture
def litellm(monkeypatch):
    """A stand-in ``litellm``: ``replies`` scripts completions (a str or an exception)."""
    mod = types.ModuleType("litellm")
    mod.__spec__ = importlib.machinery.ModuleSpec("litellm", None)
    mod.calls, mod.replies = [], []
    mod.schema_support, mod.keys = True, True
    mod.prices = {MODEL: {"input_cost_per_token": 3e-6, "output_cost_per_token": 15e-6}}

    def completion(**req):
        mod.calls.append(req)
        reply = mod.replies.pop(0) if mod.replies else '{"a": 1}'
        if isinstance(reply, Exception):
            raise reply
        return _response(reply, req.get("n", 1))

    async def acompletion(**req):
        return completion(**req)

    def get_model_info(model):
        if model not in mod.prices:
            raise Exception(f"model {model} isn't mapped yet")
        return mod.prices[model]

    mod.completion, mod.acompletion, mod.get_model_info = completion, acompletion, get_model_info
    mod.supports_response_schema = lambda model: mod.schema_support
    mod.validate_environment = lambda model: {
        "keys_in_environment": mod.keys,
        "missing_keys": [] if mod.keys else ["ANTHROPIC_API_KEY"],
    }
    monkeypatch.setitem(sys.modules, "litellm", mod)
    pricing.litellm_price.cache_clear()
    monkeypatch.setattr(pricing, "_warned", set())
    yield mod
    pricing.litellm_price.cache_clear()


def _llm(model=MODEL, **kw):
    return get_llm(f"litellm:{model}", min_wait=0.01, max_wait=0.05, **kw)


def test_call_is_metered_and_priced_from_litellms_table(litellm):
    before = get_meter().by_backend().get(f"litellm:{MODEL}")
    c = _llm(cache=False).complete("hi", max_tokens=9, temperature=0.5, seed=2, stop=["x"])
    assert c.text == '{"a": 1}' and c.backend == "litellm" and c.model == MODEL
    assert c.cost == pytest.approx(100 * 3e-6 + 50 * 15e-6)
    req = litellm.calls[0]
    assert req["model"] == MODEL and req["max_tokens"] == 9 and req["seed"] == 2
    assert req["num_retries"] == 0 and req["stop"] == ["x"]
    after = get_meter().by_backend()[f"litellm:{MODEL}"]
    assert after.calls == (before.calls if before else 0) + 1


def test_transient_errors_are_retried_and_auth_errors_are_not(litellm):
    litellm.replies = [ProviderError(503, "overloaded"), "fine"]
    assert _llm(cache=False).complete("q").text == "fine"
    litellm.replies = [ProviderError(401, "invalid x-api-key")]
    with pytest.raises(LLMError, match="authentication failed.*provider's API key"):
        _llm(cache=False).complete("q")
    assert len(litellm.calls) == 3


def test_answers_are_cached(litellm, tmp_path):
    llm = _llm(cache_dir=str(tmp_path))
    assert not llm.complete("same").cached
    assert llm.complete("same").cached
    assert len(litellm.calls) == 1


def test_usd_budget_stops_spending(litellm):
    llm = _llm(cache=False, budget=Budget(max_usd=0.002))
    llm.complete("one", max_tokens=10)
    with pytest.raises(BudgetExceeded):
        llm.complete("two", max_tokens=100)
    assert len(litellm.calls) == 1


def test_unpriced_model_refuses_a_usd_budget_and_warns_once(litellm, caplog):
    with pytest.raises(BudgetNotEnforceable):
        _llm("mystery/model-x", cache=False, budget=Budget(max_usd=1.0))
    llm = _llm("mystery/model-x", cache=False)
    llm.complete("a")
    llm.complete("b")
    warned = [r for r in caplog.records if "no price is known" in r.getMessage()]
    assert len(warned) == 1 and "mystery/model-x" in warned[0].getMessage()


def test_schema_as_response_format_where_supported(litellm):
    c = _llm(cache=False).complete("q", json_schema=SCHEMA)
    assert c.json == {"a": 1}
    fmt = litellm.calls[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == SCHEMA


def test_schema_in_the_prompt_where_not_supported(litellm):
    litellm.schema_support = False
    _llm(cache=False).complete("q", json_schema=SCHEMA)
    assert "response_format" not in litellm.calls[0]
    assert "JSON schema" in litellm.calls[0]["messages"][0]["content"]


def test_a_refused_response_format_is_not_sent_again(litellm):
    litellm.replies = [ProviderError(400, "response_format json_schema not supported"), '{"a": 2}']
    llm = _llm(cache=False)
    assert llm.complete("q", json_schema=SCHEMA).json == {"a": 2}
    llm.complete("q2", json_schema=SCHEMA)
    assert ["response_format" in c for c in litellm.calls] == [True, False, False]


def test_async_calls(litellm):
    assert asyncio.run(_llm(cache=False).acomplete("q")).text == '{"a": 1}'


def test_preflight_names_the_missing_key(litellm):
    check_llm(f"litellm:{MODEL}")
    litellm.keys = False
    with pytest.raises(LLMUnavailable, match="set ANTHROPIC_API_KEY"):
        check_llm(f"litellm:{MODEL}")


def test_missing_litellm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "litellm", None)
    with pytest.raises(MissingDependency, match=r"trace-engine\[litellm\]"):
        get_llm(f"litellm:{MODEL}", cache=False).complete("q")
