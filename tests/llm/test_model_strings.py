"""Model strings people type: LiteLLM-style provider/model, bare OpenAI names."""

import pytest

from trace_engine.llm import SpecError, get_llm
from trace_engine.llm.config import ParsedSpec, parse_spec
from trace_engine.llm.litellm_backend import LiteLLM


def test_openai_slash_model_is_the_openai_backend(monkeypatch):
    assert parse_spec("openai/gpt-4o-mini") == ParsedSpec("openai", "gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    llm = get_llm("openai/gpt-4o-mini", cache=False)
    assert llm.id == "openai:gpt-4o-mini"


@pytest.mark.parametrize(
    "spec, suggestion",
    [
        ("anthropic/claude-3-5-sonnet-latest", "use litellm:anthropic/claude-3-5-sonnet-latest"),
        ("gemini/gemini-2.0-flash", "use litellm:gemini/gemini-2.0-flash"),
        ("ollama/llama3:8b", "use openai-compatible:http://localhost:11434/v1#llama3:8b"),
        ("gpt-4o-mini", "write openai:gpt-4o-mini"),
        ("o3-pro", "write openai:o3-pro"),
    ],
)
def test_other_strings_get_the_right_spec_in_one_line(spec, suggestion):
    with pytest.raises(SpecError) as info:
        get_llm(spec)
    assert suggestion in str(info.value) and "\n" not in str(info.value)


def test_litellm_spec():
    assert parse_spec("litellm:anthropic/claude-3-5-haiku-latest") == ParsedSpec(
        "litellm", "anthropic/claude-3-5-haiku-latest"
    )
    llm = get_llm("litellm:anthropic/claude-3-5-haiku-latest", cache=False)
    assert isinstance(llm.unwrap(), LiteLLM)
    assert llm.id == "litellm:anthropic/claude-3-5-haiku-latest"


@pytest.mark.parametrize("spec", ["litellm:claude", "litellm:", "openai/"])
def test_incomplete_strings_are_refused(spec):
    with pytest.raises(SpecError):
        parse_spec(spec)


def test_colon_specs_with_slashes_keep_their_backend():
    assert parse_spec("transformers:Qwen/Qwen2.5-0.5B").kind == "transformers"
    assert parse_spec("openai-compatible:http://h/v1#org/m").kind == "openai-compatible"
