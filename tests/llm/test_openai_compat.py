"""The OpenAI-compatible backend over real HTTP, against a loopback test server."""

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from trace_engine.llm import LLMError, SpecError, get_llm, get_meter
from trace_engine.llm.openai_compat import OpenAICompatible
from trace_engine.llm.pricing import set_price

pytest.importorskip("openai")


class QuietServer(ThreadingHTTPServer):
    """Does not print the broken pipes of clients that timed out on purpose."""

    def handle_error(self, request, client_address):
        pass


class FakeServer:
    """Speaks /v1/chat/completions; each request consumes the next scripted behaviour."""

    def __init__(self):
        self.script = []
        self.requests = []
        self.default = ("ok", "default answer")
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                kind, *args = server.script.pop(0) if server.script else server.default
                if kind == "sleep":
                    time.sleep(args[0])
                    kind, args = "ok", ["late"]
                if kind == "ok":
                    choices = args[1] if len(args) > 1 else max(1, body.get("n", 1))
                    self._send(200, _chat(args[0], choices))
                elif kind == "status":
                    status, headers, payload = args
                    self._send(status, payload, headers)
                elif kind == "raw":
                    self._send_bytes(200, args[0])

            def _send(self, status, payload, headers=None):
                self._send_bytes(status, json.dumps(payload).encode(), headers)

            def _send_bytes(self, status, data, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def spec(self, model="tiny"):
        return f"openai-compatible:{self.url}#{model}"


def _chat(text, choices=1):
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "tiny",
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            for i in range(choices)
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }


def _error(message):
    return {"error": {"message": message, "type": "invalid_request_error"}}


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


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
        ("status", 429, {"Retry-After": "1"}, _error("slow down")),
        ("ok", "after wait"),
    ]
    start = time.perf_counter()
    c = fast(server).complete("hi")
    assert c.text == "after wait" and len(server.requests) == 2
    assert time.perf_counter() - start >= 1.0


def test_5xx_is_retried(server):
    server.script = [
        ("status", 500, {}, _error("oops")),
        ("status", 503, {}, _error("busy")),
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
    server.script = [("status", 401, {}, _error("bad key")), ("ok", "never")]
    with pytest.raises(
        LLMError, match=r"authentication failed \(401\): bad key; check OPENAI_API_KEY"
    ) as info:
        fast(server).complete("hi")
    assert len(server.requests) == 1 and info.value.status == 401


def test_400_fails_at_once(server):
    server.script = [("status", 400, {}, _error("context too long"))]
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


def test_schema_falls_back_from_json_schema_to_json_mode(server):
    server.script = [
        ("status", 400, {}, _error("response_format json_schema is not supported")),
        ("ok", '```json\n{"answer": 4}\n```'),
        ("ok", '{"answer": 5}'),
    ]
    llm = fast(server)
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    assert llm.complete("2+2?", json_schema=schema).json == {"answer": 4}
    assert llm.complete("2+3?", json_schema=schema).json == {"answer": 5}
    formats = [r["body"].get("response_format", {}).get("type") for r in server.requests]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert "JSON schema" in server.requests[1]["body"]["messages"][0]["content"]


def test_schema_falls_back_to_instructions_only(server):
    reject = ("status", 400, {}, _error("unsupported response_format"))
    server.script = [reject, reject, ("ok", "Sure: {'answer': 4}")]
    c = OpenAICompatible("m", base_url=server.url, backend="openai-compatible").complete(
        "2+2?", json_schema={"type": "object"}
    )
    assert c.json == {"answer": 4}
    assert "response_format" not in server.requests[2]["body"]


def test_missing_samples_are_requested_again(server):
    server.default = ("ok", "one", 1)
    c = fast(server).complete("hi", n=3, temperature=0.9)
    assert c.texts == ["one"] * 3 and len(server.requests) == 3
    assert c.usage.completion_tokens == 9


def test_async_client(server):
    server.script = [("status", 500, {}, _error("x")), ("ok", "async hello")]
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
        ("status", 400, {}, _error("json_schema unsupported")),
        ("status", 502, {}, _error("bad gateway")),
        ("ok", '{"a": 1}'),
    ]
    c = fast(server, retries=2).complete("q", json_schema={"type": "object"})
    assert c.json == {"a": 1}
    formats = [r["body"].get("response_format", {}).get("type") for r in server.requests]
    assert formats == ["json_schema", "json_object", "json_schema"]
