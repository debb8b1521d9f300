import pytest

from trace_engine.llm import Budget, BudgetExceeded, Cached, Metered, Retrying, SpecError, get_llm
from trace_engine.llm.config import parse_spec
from trace_engine.llm.local import EmbeddedLLM, LlamaCppLLM
from trace_engine.llm.openai_compat import OpenAICompatible

FORMS = (
    "local | openai:MODEL (or openai/MODEL) | openai-compatible:URL#MODEL | "
    "litellm:PROVIDER/MODEL | llamacpp:PATH.gguf | transformers:PATH_OR_ID"
)


@pytest.mark.parametrize(
    "spec, why",
    [
        ("gpt4", "unknown backend"),
        ("ollama:qwen", "unknown backend"),
        ("openai:", "needs a model"),
        ("openai-compatible:http://x/v1", "URL#MODEL"),
        ("openai-compatible:localhost:8000#m", "must start with http"),
        ("llamacpp:model.bin", ".gguf file"),
        ("llamacpp:/no/such/model.gguf", "does not exist"),
    ],
)
def test_bad_specs_list_the_accepted_forms(spec, why):
    with pytest.raises(SpecError) as info:
        get_llm(spec)
    assert why in str(info.value) and FORMS in str(info.value)


def test_spec_parsing():
    assert parse_spec("openai-compatible:http://h:8000/v1#org/model") == parse_spec(
        " openai-compatible:http://h:8000/v1#org/model "
    )
    p = parse_spec("openai-compatible:http://h:8000/v1#org/model")
    assert (p.kind, p.url, p.target) == ("openai-compatible", "http://h:8000/v1", "org/model")
    assert parse_spec("transformers:Qwen/Qwen2.5-0.5B").target == "Qwen/Qwen2.5-0.5B"


def test_default_is_the_embedded_model_wrapped_cached_retrying_metered():
    llm = get_llm()
    assert isinstance(llm, Cached) and isinstance(llm.inner, Retrying)
    assert isinstance(llm.inner.inner, Metered) and isinstance(llm.unwrap(), EmbeddedLLM)
    assert llm.id == "local:qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert not isinstance(get_llm(cache=False), Cached)


def test_env_var_selects_the_backend(monkeypatch):
    monkeypatch.setenv("TRACE_ENGINE_LLM", "openai-compatible:http://127.0.0.1:9/v1#envmodel")
    llm = get_llm()
    assert isinstance(llm.unwrap(), OpenAICompatible) and llm.model == "envmodel"


def test_backends_are_shared_between_calls(tmp_path):
    assert get_llm().unwrap() is get_llm(retries=2).unwrap()
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    a = get_llm(f"llamacpp:{gguf}").unwrap()
    assert isinstance(a, LlamaCppLLM) and a is get_llm(f"llamacpp:{gguf}").unwrap()
    assert a is not get_llm(f"llamacpp:{gguf}", n_ctx=2048).unwrap()


@pytest.mark.parametrize(
    "options, message",
    [({"retries": 0}, "retries"), ({"bogus": 1}, "bogus"), ({"n_ctx": 10}, "n_ctx")],
)
def test_invalid_options_are_reported(options, message):
    with pytest.raises(SpecError, match=message):
        get_llm("local", **options)


def test_budget_passed_to_get_llm_is_enforced():
    llm = get_llm(
        "openai-compatible:http://127.0.0.1:9/v1#m", cache=False, budget=Budget(max_calls=0)
    )
    with pytest.raises(BudgetExceeded):
        llm.complete("hi")


def test_n_ctx_from_environment(monkeypatch):
    monkeypatch.setenv("TRACE_ENGINE_N_CTX", "4096")
    assert get_llm(cache=False).unwrap().n_ctx == 4096
    monkeypatch.setenv("TRACE_ENGINE_N_CTX", "big")
    with pytest.raises(SpecError, match="TRACE_ENGINE_N_CTX"):
        get_llm()
