"""Prices: exact names and dated snapshots, user prices, and USD budgets that cannot apply."""

import logging

import pytest

from trace_engine.llm import (
    Budget,
    BudgetNotEnforceable,
    SpecError,
    Usage,
    check_llm,
    get_llm,
    pricing,
    set_price,
)
from trace_engine.llm.config import parse_spec
from trace_engine.llm.openai_compat import OpenAICompatible


@pytest.fixture(autouse=True)
def _clean_prices(monkeypatch):
    monkeypatch.setattr(pricing, "_overrides", {})
    monkeypatch.setattr(pricing, "_warned", set())
    monkeypatch.delenv("TRACE_ENGINE_PRICES", raising=False)
    monkeypatch.setattr(pricing, "litellm_price", lambda model: None)


@pytest.mark.parametrize(
    "model, price",
    [
        ("gpt-4o", (2.50, 10.00)),
        ("gpt-4o-2024-08-06", (2.50, 10.00)),
        ("gpt-4o-2024-05-13", (5.00, 15.00)),
        ("gpt-4o-mini-2024-07-18", (0.15, 0.60)),
        ("o3", (2.00, 8.00)),
        ("o3-pro", (20.00, 80.00)),
        ("o3-pro-2025-06-10", (20.00, 80.00)),
    ],
)
def test_built_in_table_matches_exactly_or_by_date(model, price):
    assert pricing.price_for(model) == price


@pytest.mark.parametrize("model", ["o3-deep-research", "gpt-4o-mini-tts", "gpt-4o-audio-preview"])
def test_a_longer_name_is_not_priced_as_its_prefix(model):
    assert pricing.price_for(model) is None


def test_user_prices_come_first_and_cover_dated_names(monkeypatch):
    set_price("gpt-4o", 1.0, 2.0)
    assert pricing.price_for("gpt-4o-2024-08-06") == (1.0, 2.0)
    monkeypatch.setenv("TRACE_ENGINE_PRICES", '{"qwen": [0.5, 1.5]}')
    assert pricing.price_for("qwen", "user") == (0.5, 1.5)


@pytest.mark.parametrize("raw", ['{"q": [1]}', "[1, 2]", '{"q": [-1, 2]}', '{"q": ["x", 1]}'])
def test_bad_env_prices_are_one_line_errors(monkeypatch, raw):
    monkeypatch.setenv("TRACE_ENGINE_PRICES", raw)
    with pytest.raises(SpecError, match="TRACE_ENGINE_PRICES") as info:
        pricing.price_for("q")
    assert "\n" not in str(info.value)


def test_litellm_table_is_used_when_installed(monkeypatch):
    monkeypatch.setattr(
        pricing, "litellm_price", lambda m: (3.0, 4.0) if m == "openai/o3-pro" else None
    )
    assert pricing.price_for("o3-pro") == (3.0, 4.0)
    assert pricing.price_for("gpt-4o") == (2.50, 10.00)


def test_openai_compatible_models_are_priced_only_by_the_user():
    local = OpenAICompatible(
        "gpt-4o", base_url="http://127.0.0.1:9/v1", backend="openai-compatible"
    )
    assert not local.priced and local.cost_of(Usage(1000, 1000)) == 0.0
    set_price("gpt-4o", 1.0, 1.0)
    assert local.priced and local.cost_of(Usage(1_000_000, 0)) == pytest.approx(1.0)


def test_openai_named_by_url_is_priced_as_openai():
    hosted = OpenAICompatible(
        "gpt-4o-mini", base_url="https://api.openai.com/v1", backend="openai-compatible"
    )
    assert hosted.priced and hosted.cost_of(Usage(1_000_000, 0)) == pytest.approx(0.15)


def test_usd_budget_on_an_unpriced_model_is_refused():
    spec = "openai-compatible:http://127.0.0.1:9/v1#qwen"
    with pytest.raises(BudgetNotEnforceable, match="TRACE_ENGINE_PRICES") as info:
        get_llm(spec, cache=False, budget=Budget(max_usd=1.0))
    assert "\n" not in str(info.value)
    llm = get_llm(spec, cache=False)
    with Budget(max_usd=1.0).active(), pytest.raises(BudgetNotEnforceable):
        llm.complete("hi")
    with pytest.raises(SpecError, match="cannot be enforced"):
        check_llm(spec, budget=Budget(max_usd=1.0))


def test_token_budgets_and_priced_models_still_work():
    spec = "openai-compatible:http://127.0.0.1:9/v1#qwen"
    get_llm(spec, cache=False, budget=Budget(max_tokens=100))
    set_price("qwen", 0.1, 0.2)
    get_llm(spec, cache=False, budget=Budget(max_usd=1.0))


def test_paid_model_without_price_warns_once(monkeypatch, caplog, server):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    llm = get_llm("openai:gpt-9-experimental", cache=False)
    with caplog.at_level(logging.WARNING, logger="trace_engine.llm.pricing"):
        llm.complete("a")
        llm.complete("b")
    warnings = [r for r in caplog.records if "no price is known" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_a_price_in_the_spec_prices_that_server(server):
    spec = f"{server.spec('qwen')}?price=1,2"
    assert parse_spec(spec).price == (1.0, 2.0)
    llm = get_llm(spec, cache=False, budget=Budget(max_usd=1.0))
    assert llm.complete("hi").cost == pytest.approx((12 * 1.0 + 3 * 2.0) / 1e6)
    both = parse_spec(f"{server.spec('qwen')}?key_env=MY_KEY&price=0.5,1.5")
    assert (both.key_env, both.price) == ("MY_KEY", (0.5, 1.5))


@pytest.mark.parametrize("price", ["1", "x,1", "-1,2", "inf,1", "1,2,3"])
def test_a_bad_price_in_the_spec_is_refused(price):
    with pytest.raises(SpecError, match=r"\?price=IN,OUT"):
        parse_spec(f"openai-compatible:http://127.0.0.1:9/v1#m?price={price}")
