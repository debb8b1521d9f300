"""The embedded model, for real (llama.cpp on the CPU). Few, short calls: CI time is shared."""

import pytest

from trace_engine.llm import (
    ContextWindowExceeded,
    SchemaNotSupported,
    cache_stats,
    get_llm,
    get_meter,
)

pytestmark = pytest.mark.local_model

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "languages": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 2},
    },
    "required": ["name", "age", "languages"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    pytest.importorskip("llama_cpp")
    return get_llm("local", cache_dir=str(tmp_path_factory.mktemp("completions")))


def test_chat_answer_usage_and_cache(llm):
    messages = [{"role": "user", "content": "What is the capital of France? Answer with one word."}]
    first = llm.complete(messages, max_tokens=8)
    assert "paris" in first.text.lower()
    assert not first.cached and first.cost == 0.0
    assert first.backend == "local" and first.model == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert 20 < first.usage.prompt_tokens < 60
    assert 1 <= first.usage.completion_tokens <= 8
    assert first.usage.prompt_tokens == llm.unwrap().count_tokens(messages)

    hits = get_meter().total.cache_hits
    second = llm.complete(messages, max_tokens=8)
    assert second.cached and second.text == first.text and second.latency < 0.05
    assert get_meter().total.cache_hits == hits + 1


def test_schema_constrained_json_validates(llm):
    c = llm.complete(
        "Invent a programmer. Give name, age and up to two programming languages as JSON.",
        max_tokens=60,
        json_schema=PERSON,
    )
    person = c.json
    assert isinstance(person, dict), c.text
    assert set(person) == {"name", "age", "languages"}
    assert isinstance(person["name"], str) and 0 < len(person["name"]) <= 20
    assert isinstance(person["age"], int) and 0 <= person["age"] <= 120
    assert isinstance(person["languages"], list) and len(person["languages"]) <= 2
    assert all(isinstance(x, str) for x in person["languages"])


def test_too_long_prompts_fail_before_the_call(llm):
    n_ctx = llm.unwrap().n_ctx
    with pytest.raises(ContextWindowExceeded, match=f"context window of {n_ctx} tokens"):
        llm.complete("word " * (n_ctx + 100), max_tokens=4)
    with pytest.raises(ContextWindowExceeded, match=f"max_tokens={n_ctx}"):
        llm.complete("hi", max_tokens=n_ctx)


def test_unenforceable_schema_is_a_clear_error_and_not_cached(llm):
    entries = cache_stats(llm.directory)["entries"]
    with pytest.raises(SchemaNotSupported, match="simplify the schema"):
        llm.complete("hi", max_tokens=4, json_schema={"type": "frobnicate"})
    assert cache_stats(llm.directory)["entries"] == entries


def test_threads_share_the_model_safely(llm):
    from concurrent.futures import ThreadPoolExecutor

    base = llm.unwrap()
    questions = ["Reply with the digit 1.", "Reply with the digit 2."]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda q: base.complete(q, max_tokens=2).text, questions))
    assert "1" in answers[0] and "2" in answers[1]
