"""``transformers:PATH.gguf`` loads a GGUF file (the form the embedded model ships in)."""

from __future__ import annotations

import pytest

from tests.llm.tiny_transformers import build_tiny_model, write_tiny_gguf
from trace_engine.llm import get_llm
from trace_engine.llm.gpu import TransformersLLM

pytestmark = pytest.mark.transformers


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-gguf")
    hf_dir = build_tiny_model(root / "hf")
    (root / "gguf").mkdir()
    return hf_dir, write_tiny_gguf(hf_dir, root / "gguf" / "tiny.gguf")


def test_a_gguf_file_loads_with_its_weights_and_tokenizer(tiny_gguf):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    hf_dir, path = tiny_gguf
    loaded = TransformersLLM(path, device="cpu").loaded()
    original = transformers.AutoModelForCausalLM.from_pretrained(hf_dir).state_dict()
    got = loaded.model.state_dict()
    assert set(got) == set(original)
    assert all(torch.equal(got[k], original[k]) for k in original)
    prompt = "hello world"
    hf_tok = transformers.AutoTokenizer.from_pretrained(hf_dir)
    assert loaded.tokenizer(prompt)["input_ids"] == hf_tok(prompt)["input_ids"]
    from_gguf = get_llm(f"transformers:{path}", cache=False, device="cpu")
    from_dir = get_llm(f"transformers:{hf_dir}", cache=False, device="cpu")
    assert (
        from_gguf.complete(prompt, max_tokens=6).text
        == from_dir.complete(prompt, max_tokens=6).text
    )


def test_transformers_local_is_the_embedded_models_gguf(tiny_gguf, monkeypatch):
    from trace_engine.llm import weights

    hf_dir, path = tiny_gguf
    monkeypatch.setattr(weights, "ensure_model", lambda: path)
    llm = get_llm("transformers:local", cache=False, device="cpu")
    assert llm.id == "transformers:local"
    from_dir = get_llm(f"transformers:{hf_dir}", cache=False, device="cpu")
    assert (
        llm.complete("def add", max_tokens=5).text
        == from_dir.complete("def add", max_tokens=5).text
    )
