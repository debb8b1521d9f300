"""check_llm: an unusable LLM is refused before any work, with one line naming the fix."""

import importlib.util
import socket

import pytest

from tests.llm.fake_server import error_body
from trace_engine.llm import LLMError, LLMUnavailable, SpecError, check_llm, get_llm, weights
from trace_engine.llm.local import EmbeddedLLM, LlamaCppLLM

pytest.importorskip("openai")


def _one_line_error(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_listed_server_passes_without_generating(server):
    server.models = ("ok", ["tiny"])
    check_llm(server.spec())
    assert [r["path"] for r in server.requests] == ["/v1/models"]


def test_a_server_without_models_listing_gets_one_token_call(server):
    check_llm(server.spec())
    paths = [r["path"] for r in server.requests]
    assert paths == ["/v1/models", "/v1/chat/completions"]
    assert server.requests[1]["body"]["max_tokens"] == 1


def test_nothing_listening(monkeypatch):
    url = f"http://127.0.0.1:{_dead_port()}/v1"
    with pytest.raises(LLMUnavailable) as excinfo:
        check_llm(f"openai-compatible:{url}#m")
    text = _one_line_error(excinfo)
    assert f"nothing listening at {url}; start the server or fix --llm" in text


def test_rejected_key(server):
    server.models = ("status", 401, {}, error_body("Incorrect API key provided"))
    with pytest.raises(LLMUnavailable) as excinfo:
        check_llm(server.spec())
    text = _one_line_error(excinfo)
    assert "rejected the API key (401)" in text
    assert excinfo.value.status == 401


def test_rejected_openai_key_names_the_variable(monkeypatch, server):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    server.models = ("status", 401, {}, error_body("Incorrect API key provided"))
    with pytest.raises(LLMUnavailable, match="check OPENAI_API_KEY"):
        check_llm("openai:gpt-4o-mini")
    assert server.requests[0]["auth"] == "Bearer sk-wrong"


def test_wrong_path_is_a_404_hint(server):
    server.models = ("status", 404, {}, error_body("not found"))
    server.script = [("status", 404, {}, error_body("not found"))]
    with pytest.raises(LLMUnavailable, match="often ends in /v1"):
        check_llm(server.spec())


def test_a_broken_server_is_refused_not_retried(server):
    server.script = [("status", 500, {}, error_body("model crashed"))] * 5
    with pytest.raises(
        LLMUnavailable,
        match=r"answered HTTP 500 to a test call: server error \(500\): model crashed",
    ) as excinfo:
        check_llm(server.spec())
    _one_line_error(excinfo)
    assert len(server.requests) == 2


def test_missing_openai_key_is_a_spec_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(SpecError, match="OPENAI_API_KEY is not set") as excinfo:
        check_llm("openai:gpt-4o-mini")
    _one_line_error(excinfo)


def test_wrapped_llm_is_checked_through_its_wrappers():
    url = f"http://127.0.0.1:{_dead_port()}/v1"
    llm = get_llm(f"openai-compatible:{url}#m", cache=True)
    with pytest.raises(LLMUnavailable, match="nothing listening"):
        check_llm(llm)


def test_default_spec_comes_from_the_environment(monkeypatch):
    url = f"http://127.0.0.1:{_dead_port()}/v1"
    monkeypatch.setenv("TRACE_ENGINE_LLM", f"openai-compatible:{url}#m")
    with pytest.raises(LLMUnavailable, match="nothing listening"):
        check_llm()


def test_scripted_callable_needs_no_check():
    check_llm(lambda messages: "ok")


def test_bad_spec():
    with pytest.raises(SpecError, match="unknown backend"):
        check_llm("gemini-pro")


def test_missing_local_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACE_ENGINE_MODEL_DIR", str(tmp_path / "models"))

    def not_installed(spec, i):
        raise weights.ModelFilesError(f"package part{i} is not installed")

    monkeypatch.setattr(weights, "_find_part", not_installed)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    with pytest.raises(LLMUnavailable) as excinfo:
        check_llm(EmbeddedLLM())
    text = _one_line_error(excinfo)
    assert "22 of its 22 weight packages are missing" in text
    assert "pip install 'trace-engine[local]'" in text


def test_local_model_without_llama_cpp(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name)
    )
    with pytest.raises(LLMUnavailable, match=r"llama-cpp-python.*trace-engine\[local\]"):
        check_llm("local")


def test_installed_local_parts_pass(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACE_ENGINE_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setattr(weights, "_find_part", lambda spec, i: None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    check_llm(EmbeddedLLM())


def test_missing_gguf_file(tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    with pytest.raises(LLMUnavailable, match="does not exist"):
        check_llm(LlamaCppLLM(tmp_path / "gone.gguf"))


def test_all_errors_are_llm_errors():
    assert issubclass(LLMUnavailable, LLMError) and issubclass(SpecError, LLMError)
