"""``transformers:PATH.gguf`` loads a GGUF file (the form the embedded model ships in)."""

from __future__ import annotations

import pytest

from tests.llm.tiny_transformers import build_tiny_model, write_tiny_gguf
from trace_engine.llm import get_llm
from trace_engine.llm.gpu import TransformersLLM

pytestmark = pytest.mark.transformers


def test_a_gguf_file_loads_with_its_weights_and_tokenizer(tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    hf_dir = build_tiny_model(tmp_path / "hf")
    (tmp_path / "gguf").mkdir()
    path = write_tiny_gguf(hf_dir, tmp_path / "gguf" / "tiny.gguf")
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
