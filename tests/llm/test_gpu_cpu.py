"""The transformers backend on the CPU, with a tiny random Qwen2 model and tokenizer made here.

Nothing is downloaded: the tokenizer is a byte-level BPE (as Qwen2's) trained on a
few strings, with a chat template; the model is two layers of a Qwen2 config with random
weights, saved to a temporary directory and loaded through ``get_llm``.
Run alone with ``pytest -m transformers`` (needs ``pip install -e ".[gpu]"``).
"""

from __future__ import annotations

import logging
import sys

import pytest

from tests.llm.tiny_transformers import build_tiny_model
from trace_engine.llm import LLMUnavailable, MissingDependency, get_llm, parse_json_lenient
from trace_engine.llm.gpu import TransformersLLM

pytestmark = pytest.mark.transformers


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"))


def test_generates_greedily_on_the_cpu_with_a_warning(tiny, caplog):
    with caplog.at_level(logging.WARNING, logger="trace_engine.llm.gpu"):
        llm = get_llm(f"transformers:{tiny}", cache=False)
        first = llm.complete("hello world", max_tokens=6)
    assert "no CUDA device; running on the CPU" in caplog.text
    assert llm.unwrap().loaded().device == "cpu"
    assert first.backend == "transformers" and isinstance(first.text, str)
    assert 1 <= first.usage.completion_tokens <= 6 and first.usage.prompt_tokens > 4
    assert llm.complete("hello world", max_tokens=6).text == first.text


def test_an_explicit_cpu_device_loads_without_the_warning(tiny, caplog):
    with caplog.at_level(logging.WARNING, logger="trace_engine.llm.gpu"):
        llm = TransformersLLM(tiny, device="cpu")
        assert llm.complete("the answer", max_tokens=3).usage.completion_tokens >= 1
    assert "no CUDA" not in caplog.text


def test_cuda_asked_for_without_cuda_is_a_clear_error(tiny):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(LLMUnavailable, match="device 'cuda' was asked for but torch sees no CUDA"):
        get_llm(f"transformers:{tiny}", cache=False, device="cuda").complete("hi")


def test_concurrent_calls_are_batched_and_answer_each_caller(tiny):
    llm = TransformersLLM(tiny, device="cpu", max_batch=4)
    prompts = ["hello world", "def add a b", "write a python function", "the answer is"]
    alone = [llm.complete(p, max_tokens=5).text for p in prompts]
    sizes_before = len(llm.loaded().batcher.batch_sizes)
    together = llm.complete_many(prompts, max_tokens=5)
    assert [c.text for c in together] == alone
    assert sum(llm.loaded().batcher.batch_sizes[sizes_before:]) == 4


def test_samples_at_temperature_run_as_one_batch(tiny):
    llm = TransformersLLM(tiny, device="cpu", max_batch=8)
    batcher = llm.loaded().batcher
    before = len(batcher.batch_sizes)
    c = llm.complete("hello world", max_tokens=4, n=3, temperature=0.9, seed=1)
    assert len(c.texts) == 3 and batcher.batch_sizes[before:] == [3]
    again = llm.complete("hello world", max_tokens=4, n=3, temperature=0.9, seed=1)
    assert again.texts == c.texts


def test_the_cache_serves_a_repeat_without_generating(tiny, tmp_path):
    llm = get_llm(f"transformers:{tiny}", cache_dir=str(tmp_path / "cache"), device="cpu")
    batcher = llm.unwrap().loaded().batcher
    first = llm.complete("def add a b", max_tokens=5)
    generated = len(batcher.batch_sizes)
    again = llm.complete("def add a b", max_tokens=5)
    assert again.cached and not first.cached and again.text == first.text
    assert len(batcher.batch_sizes) == generated


def test_a_schema_goes_into_the_prompt_and_a_non_json_answer_is_reported(tiny):
    llm = TransformersLLM(tiny, device="cpu")
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    plain = llm.complete("hello world", max_tokens=5)
    asked = llm.complete("hello world", max_tokens=5, json_schema=schema)
    assert asked.usage.prompt_tokens > plain.usage.prompt_tokens  # the schema instruction
    assert asked.parsed == [None] and asked.json is None
    with pytest.raises(ValueError, match="no JSON"):
        parse_json_lenient(asked.text)


def test_a_prompt_longer_than_the_context_is_refused(tiny):
    from trace_engine.llm import ContextWindowExceeded

    with pytest.raises(ContextWindowExceeded, match="512-token context"):
        TransformersLLM(tiny, device="cpu").complete("hello " * 600, max_tokens=5)


def test_a_missing_path_is_a_clear_error(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    with pytest.raises(LLMUnavailable, match="does not exist; give a model directory"):
        get_llm(f"transformers:{tmp_path / 'nowhere'}", cache=False).complete("hi")
    with pytest.raises(LLMUnavailable, match="has no config.json"):
        get_llm(f"transformers:{tmp_path}", cache=False).complete("hi")


def test_missing_torch_gives_an_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingDependency, match="pip install torch"):
        TransformersLLM(str(tmp_path / "any-model")).complete("hi")
