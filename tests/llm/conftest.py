"""Shared fixtures: scripted LLMs, an isolated cache directory and a fresh meter."""

from __future__ import annotations

import threading

import pytest

from tests.llm.fake_server import FakeServer
from trace_engine.llm import LLM, Completion, Meter, Usage, normalize_messages


class ScriptedLLM(LLM):
    """Answers from a function of (messages, options) and records every call."""

    backend = "scripted"

    def __init__(self, reply=None, model="m", price=0.0):
        self.model = model
        self.reply = reply or (lambda msgs, opts: f"echo:{msgs[-1]['content']}")
        self.calls: list[dict] = []
        self.price = price
        self._lock = threading.Lock()

    def cost_of(self, usage: Usage) -> float:
        return usage.total_tokens * self.price

    def complete(self, messages, **options) -> Completion:
        msgs = normalize_messages(messages)
        with self._lock:
            self.calls.append({"messages": msgs, **options})
        n = options.get("n", 1)
        texts = [self.reply(msgs, {**options, "index": i}) for i in range(n)]
        usage = Usage(10, 5 * n)
        parsed = None
        if options.get("json_schema") is not None:
            from trace_engine.llm.jsonparse import parse_samples

            parsed = parse_samples(texts)
        return Completion(
            texts=texts,
            usage=usage,
            cost=self.cost_of(usage),
            backend=self.backend,
            model=self.model,
            parsed=parsed,
        )


@pytest.fixture
def scripted():
    return ScriptedLLM


@pytest.fixture
def meter():
    return Meter()


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """Keep every test's completion cache out of the user's cache directory."""
    monkeypatch.setenv("TRACE_ENGINE_CACHE_DIR", str(tmp_path / "completions"))
    monkeypatch.delenv("TRACE_ENGINE_LLM", raising=False)


@pytest.fixture
def server():
    """A loopback OpenAI-compatible server scripted by the test (see fake_server.py)."""
    s = FakeServer()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
