"""The OpenAI-compatible backend over real HTTP, against a loopback test server."""

import asyncio
import time

import pytest

from tests.llm.fake_server import error_body
from trace_engine.llm import LLMError, SpecError, get_llm, get_meter
from trace_engine.llm.openai_compat import OpenAICompatible
from trace_engine.llm.pricing import set_price

pytest.importorskip("openai")


def fast(server, **kw):
    options = {
        "cache": False,
        "retries": 3,
        "min_wait": 0.01,
        "max_wait": 2.0,
        "timeout": 5.0,
        **kw,
    }
    return get_llm(server.spec(), **options)


def test_plain_call_reads_text_and_usage(server):
    server.script = [("ok", "hello")]
    c = fast(server).complete(
        [{"role": "user", "content": "hi"}], max_tokens=7, seed=3, stop=["\n"]
    )
    assert c.text == "hello" and c.usage.prompt_tokens == 12 and c.usage.completion_tokens == 3
    assert c.backend == "openai-compatible" and c.model == "tiny" and c.cost == 0.0
    sent = server.requests[0]["body"]
    assert sent["max_tokens"] == 7 and sent["seed"] == 3 and sent["stop"] == ["\n"]
    assert server.requests[0]["path"] == "/v1/chat/completions"


def test_cost_from_a_user_price(server):
    set_price("priced-model", 1.0, 2.0)
    c = get_llm(server.spec("priced-model"), cache=False).complete("hi")
    assert c.cost == pytest.approx((12 * 1.0 + 3 * 2.0) / 1e6)


def test_429_with_retry_after_is_honored(server):
    server.script = [
        ("status", 429, {"Retry-After": "1"}, error_body("slow down")),
        ("ok", "after wait"),
    ]
    start = time.perf_counter()
    c = fast(server).complete("hi")
    assert c.text == "after wait" and len(server.requests) == 2
    assert time.perf_counter() - start >= 1.0


def test_5xx_is_retried(server):
    server.script = [
        ("status", 500, {}, error_body("oops")),
        ("status", 503, {}, error_body("busy")),
        ("ok", "third time"),
    ]
    assert fast(server).complete("hi").text == "third time"
    assert len(server.requests) == 3


def test_timeout_is_retried_then_reported(server):
    server.script = [("sleep", 1.0), ("ok", "quick")]
    assert fast(server, timeout=0.3).complete("hi").text == "quick"
    server.script = [("sleep", 1.0)] * 2
    with pytest.raises(LLMError, match=r"gave up after 2 attempts.*timeout"):
        fast(server, timeout=0.3, retries=2).complete("hi")


def test_401_fails_at_once_with_a_fix(server):
    server.script = [("status", 401, {}, error_body("bad key")), ("ok", "never")]
    with pytest.raises(
        LLMError, match=r"authentication failed \(401\): bad key; check TRACE_ENGINE_API_KEY"
    ) as info:
        fast(server).complete("hi")
    assert len(server.requests) == 1 and info.value.status == 401


def test_400_fails_at_once(server):
    server.script = [("status", 400, {}, error_body("context too long"))]
    with pytest.raises(LLMError, match="request rejected .400.: context too long"):
        fast(server).complete("hi")
    assert len(server.requests) == 1


def test_malformed_json_is_retried_then_reported(server):
    server.script = [("raw", b"{not json"), ("ok", "recovered")]
    assert fast(server).complete("hi").text == "recovered"
    server.script = [("raw", b"{not json")] * 3
    with pytest.raises(LLMError, match="malformed response"):
        fast(server).complete("hi")


def test_server_down_names_the_cause(server):
    url = server.url
    server.httpd.shutdown()
    server.httpd.server_close()
    llm = get_llm(
        f"openai-compatible:{url}#tiny", cache=False, retries=2, min_wait=0.01, max_wait=0.02
    )
    with pytest.raises(LLMError, match="cannot reach the server"):
        llm.complete("hi")


def _formats(server):
    return [
        (r["body"].get("response_format") or {}).get("type", "prompt")
        + ("+schema" if "schema" in (r["body"].get("response_format") or {}) else "")
        for r in server.requests
    ]


SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}}


def test_schema_falls_back_from_json_schema_to_json_mode(server):
    server.script = [
        ("status", 400, {}, error_body("response_format json_schema is not supported")),
        ("ok", '```json\n{"answer": 4}\n```'),
        ("ok", '{"answer": 5}'),
    ]
    llm = fast(server)
    assert llm.complete("2+2?", json_schema=SCHEMA).json == {"answer": 4}
    assert llm.complete("2+3?", json_schema=SCHEMA).json == {"answer": 5}
    assert _formats(server) == ["json_schema", "json_object+schema", "json_object+schema"]
    assert server.requests[1]["body"]["response_format"]["schema"] == SCHEMA
    assert "JSON schema" in server.requests[1]["body"]["messages"][0]["content"]


def test_schema_falls_back_to_instructions_only(server):
    reject = ("status", 400, {}, error_body("unsupported response_format"))
    server.script = [reject, reject, reject, ("ok", "Sure: {'answer': 4}"), ("ok", "{}")]
    llm = OpenAICompatible("m", base_url=server.url, backend="openai-compatible")
    c = llm.complete("2+2?", json_schema={"type": "object"})
    assert c.json == {"answer": 4}
    llm.complete("again", json_schema={"type": "object"})
    assert _formats(server) == [
        "json_schema",
        "json_object+schema",
        "json_object",
        "prompt",
        "prompt",
    ]
    assert llm.schema_mode == "prompt"


LLAMA_CPP_500 = {
    "error": {
        "message": "1 validation error for CreateChatCompletionRequest\nresponse_format.type\n"
        "  Input should be 'text' or 'json_object' [type=literal_error, input_value='json_schema']",
        "type": "internal_server_error",
    }
}


def test_a_500_naming_response_format_is_a_refusal_not_retried(server):
    server.script = [("status", 500, {}, LLAMA_CPP_500), ("ok", '{"answer": 1}')]
    c = fast(server, retries=4).complete("q", json_schema=SCHEMA)
    assert c.json == {"answer": 1}
    assert _formats(server) == ["json_schema", "json_object+schema"]


def test_a_422_validation_error_is_a_refusal(server):
    detail = {"detail": [{"loc": ["body", "response_format", "type"], "msg": "bad value"}]}
    server.script = [("status", 422, {}, detail), ("ok", '{"answer": 2}')]
    assert fast(server).complete("q", json_schema=SCHEMA).json == {"answer": 2}
    assert _formats(server) == ["json_schema", "json_object+schema"]


def test_a_server_refusing_the_schema_key_gets_plain_json_mode(server):
    server.script = [
        ("status", 400, {}, error_body("json_schema is not supported")),
        ("status", 400, {}, error_body("response_format.schema: extra inputs are not permitted")),
        ("ok", '{"answer": 3}'),
        ("ok", '{"answer": 4}'),
    ]
    llm = fast(server)
    assert llm.complete("q", json_schema=SCHEMA).json == {"answer": 3}
    assert llm.complete("q2", json_schema=SCHEMA).json == {"answer": 4}
    assert _formats(server) == ["json_schema", "json_object+schema", "json_object", "json_object"]


def test_a_500_not_about_the_format_is_retried_in_the_same_form(server):
    server.script = [("status", 500, {}, error_body("out of memory")), ("ok", '{"answer": 1}')]
    assert fast(server).complete("q", json_schema=SCHEMA).json == {"answer": 1}
    assert _formats(server) == ["json_schema", "json_schema"]


def test_a_400_about_something_else_fails_and_keeps_the_form(server):
    server.script = [("status", 400, {}, error_body("maximum context length is 4096 tokens"))]
    llm = OpenAICompatible("m", base_url=server.url, backend="openai-compatible")
    with pytest.raises(LLMError, match="maximum context length"):
        llm.complete("q", json_schema=SCHEMA)
    assert _formats(server) == ["json_schema"] and llm.schema_mode == "json_schema"


def test_async_calls_remember_refusals_too(server):
    server.script = [("status", 500, {}, LLAMA_CPP_500), ("ok", '{"answer": 1}'), ("ok", "{}")]
    llm = OpenAICompatible("m", base_url=server.url, backend="openai-compatible")
    assert asyncio.run(llm.acomplete("q", json_schema=SCHEMA)).json == {"answer": 1}
    asyncio.run(llm.acomplete("q2", json_schema=SCHEMA))
    assert _formats(server) == ["json_schema", "json_object+schema", "json_object+schema"]


def test_what_a_server_accepts_is_remembered_per_backend_object(server):
    server.script = [("status", 500, {}, LLAMA_CPP_500), ("ok", "{}"), ("ok", "{}")]
    first = OpenAICompatible("m", base_url=server.url, backend="openai-compatible")
    first.complete("q", json_schema=SCHEMA)
    OpenAICompatible("m", base_url=server.url, backend="openai-compatible").complete(
        "q", json_schema=SCHEMA
    )
    assert _formats(server) == ["json_schema", "json_object+schema", "json_schema"]


def test_missing_samples_are_requested_again(server):
    server.default = ("ok", "one", 1)
    c = fast(server).complete("hi", n=3, temperature=0.9)
    assert c.texts == ["one"] * 3 and len(server.requests) == 3
    assert c.usage.completion_tokens == 9


def test_async_client(server):
    server.script = [("status", 500, {}, error_body("x")), ("ok", "async hello")]
    c = asyncio.run(fast(server).acomplete("hi"))
    assert c.text == "async hello"


def test_full_chain_caches_and_meters(server, tmp_path):
    llm = get_llm(server.spec("cached-model"), cache_dir=str(tmp_path))
    before = get_meter().by_backend().get("openai-compatible:cached-model")
    assert not llm.complete("hi").cached
    assert llm.complete("hi").cached
    assert len(server.requests) == 1
    after = get_meter().by_backend()["openai-compatible:cached-model"]
    assert after.calls == (before.calls if before else 0) + 1
    assert after.cache_hits == (before.cache_hits if before else 0) + 1


def test_openai_needs_a_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(SpecError, match="OPENAI_API_KEY is not set"):
        get_llm("openai:gpt-4o-mini")


def test_openai_uses_key_and_base_url_from_env(monkeypatch, server):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    c = get_llm("openai:gpt-4o-mini", cache=False).complete("hi", max_tokens=4)
    assert server.requests[0]["auth"] == "Bearer sk-test"
    assert server.requests[0]["body"]["max_completion_tokens"] == 4
    assert c.cost == pytest.approx((12 * 0.15 + 3 * 0.60) / 1e6)


def test_a_transient_error_after_a_schema_rejection_is_still_retried(server):
    server.script = [
        ("status", 400, {}, error_body("json_schema unsupported")),
        ("status", 502, {}, error_body("bad gateway")),
        ("ok", '{"a": 1}'),
    ]
    c = fast(server, retries=2).complete("q", json_schema={"type": "object"})
    assert c.json == {"a": 1}
    assert _formats(server) == ["json_schema", "json_object+schema", "json_object+schema"]
