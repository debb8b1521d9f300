"""API keys go only where they belong: OPENAI_API_KEY never reaches a server a URL names."""

from __future__ import annotations

import pytest

from tests.workflows.scripted_server import ScriptedServer
from trace_engine.llm import SpecError, get_llm
from trace_engine.llm.openai_compat import is_openai_host

SECRET = "sk-openai-secret-13a"


def _authorization(spec_suffix: str = "") -> str | None:
    with ScriptedServer(lambda messages: "hi") as server:
        llm = get_llm(server.spec + spec_suffix, cache=False, retries=1)
        assert llm.complete("hello").texts == ["hi"]
        return server.authorizations[-1]


def test_the_openai_key_never_reaches_an_openai_compatible_server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("TRACE_ENGINE_API_KEY", raising=False)
    sent = _authorization()
    assert sent is None or SECRET not in sent


def test_trace_engine_api_key_is_the_key_of_an_openai_compatible_server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("TRACE_ENGINE_API_KEY", "tk-server")
    assert _authorization() == "Bearer tk-server"


def test_the_spec_can_name_the_variable_holding_the_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("TRACE_ENGINE_API_KEY", "tk-server")
    monkeypatch.setenv("MY_SERVER_KEY_13A", "mine")
    assert _authorization("?key_env=MY_SERVER_KEY_13A") == "Bearer mine"


def test_a_named_key_variable_that_is_not_set_is_an_error_naming_it(monkeypatch):
    monkeypatch.delenv("UNSET_KEY_13A", raising=False)
    with pytest.raises(SpecError, match="UNSET_KEY_13A is not set"):
        get_llm("openai-compatible:http://127.0.0.1:9/v1#m?key_env=UNSET_KEY_13A", cache=False)


@pytest.mark.parametrize("suffix", ["?key=abc", "?key_env=", "?key_env=1X", "?key_env=A&b=c"])
def test_only_key_env_may_follow_the_model(suffix):
    with pytest.raises(SpecError, match=r"only \?key_env=VAR .*may follow"):
        get_llm(f"openai-compatible:http://127.0.0.1:9/v1#m{suffix}", cache=False)


@pytest.mark.parametrize(
    "url, openai",
    [
        ("https://api.openai.com/v1", True),
        ("https://API.OPENAI.COM:443/v1", True),
        ("http://api.openai.com/v1", False),
        ("https://api.openai.com.attacker.example/v1", False),
        ("https://api.openai.com@attacker.example/v1", False),
        ("https://attacker.example/api.openai.com/v1", False),
        ("http://127.0.0.1:8000/v1", False),
    ],
)
def test_only_openai_s_own_host_gets_the_openai_key(url, openai):
    assert is_openai_host(url) is openai
