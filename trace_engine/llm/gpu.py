"""Hugging Face ``transformers`` backend for a local GPU (``transformers:PATH_OR_ID``).

Loads a model directory, a hub id or a ``.gguf`` file (``transformers:local`` is
the embedded model's) once per process; a GGUF goes through transformers' GGUF
loading, which needs the ``gguf`` and ``accelerate`` packages and dequantizes the
weights. It runs on CUDA when available, else on the CPU with a
warning (``device`` chooses: ``cuda``, ``cuda:1``, ``cpu``). Concurrent calls are
gathered by a :class:`~trace_engine.llm.batching.Batcher` into padded batches for
``generate``. ``json_schema`` is not enforced here (no grammar support): the schema
goes into the prompt and the answer is parsed leniently. ``torch`` and
``transformers`` are imported on first use only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trace_engine.llm.base import LLM, Completion, Message, Usage, normalize_messages
from trace_engine.llm.batching import Batcher
from trace_engine.llm.errors import ContextWindowExceeded, LLMUnavailable, require
from trace_engine.llm.jsonparse import parse_samples, with_schema_instruction

DEFAULT_MAX_NEW_TOKENS = 1024
log = logging.getLogger(__name__)


@dataclass
class _Loaded:
    torch: Any
    tokenizer: Any
    model: Any
    device: str
    max_context: int
    batcher: Batcher | None = None


_models: dict[tuple, _Loaded] = {}
_models_lock = threading.Lock()


def _load(source: str, device: str | None, backend: str) -> _Loaded:
    torch = require("torch", package="torch", backend=backend)
    transformers = require("transformers", package="transformers", backend=backend)
    device = _device(torch, device, backend)
    where, kwargs = _where(source, backend)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(where, **kwargs)
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        model = transformers.AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LLMUnavailable(
            f"cannot load a causal LM and its tokenizer from {source!r}: {first}",
            backend=backend,
        ) from exc
    model.to(device).eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    max_context = getattr(model.config, "max_position_embeddings", None) or 4096
    return _Loaded(torch, tokenizer, model, device, max_context)


def _device(torch: Any, device: str | None, backend: str) -> str:
    """``device`` as asked (refused if it names CUDA and there is none), else CUDA when
    present, else the CPU with a warning: a model meant for a GPU runs slowly there."""
    cuda = torch.cuda.is_available()
    if device is None:
        if not cuda:
            log.warning("%s: no CUDA device; running on the CPU (slow for large models)", backend)
        return "cuda" if cuda else "cpu"
    if device.startswith("cuda") and not cuda:
        raise LLMUnavailable(
            f"device {device!r} was asked for but torch sees no CUDA device; "
            "use device='cpu' or run on a machine with a CUDA GPU",
            backend=backend,
        )
    return device


def _where(source: str, backend: str) -> tuple[str, dict[str, Any]]:
    """The directory or hub id to load, and ``gguf_file`` for a ``.gguf`` file.

    A source that names a local path must exist (else a hub id is assumed; it is
    downloaded by transformers only if the user's Hugging Face settings allow).
    ``local`` is the embedded model's GGUF file (assembled from its packages if needed)."""
    if source == "local":
        from trace_engine.llm.weights import ensure_model

        source = str(ensure_model())
    path = Path(source).expanduser()
    looks_local = path.is_absolute() or source.startswith((".", "~")) or path.suffix == ".gguf"
    if looks_local and not path.exists():
        raise LLMUnavailable(
            f"{source} does not exist; give a model directory (config.json, weights, "
            "tokenizer), a .gguf file, or a Hugging Face model id",
            backend=backend,
        )
    if path.suffix == ".gguf":
        require("gguf", package="gguf", backend=backend)
        require("accelerate", package="accelerate", backend=backend)
        return str(path.parent), {"gguf_file": path.name}
    if path.is_dir() and not (path / "config.json").is_file():
        raise LLMUnavailable(
            f"{source} has no config.json; give a directory saved with save_pretrained "
            "or a .gguf file",
            backend=backend,
        )
    return str(path) if path.exists() else source, {}


class TransformersLLM(LLM):
    """A causal LM from Hugging Face run with ``generate`` on CUDA (or the CPU)."""

    backend = "transformers"

    def __init__(self, source: str, *, device: str | None = None, max_batch: int = 8):
        self.source = source
        self.model = source
        self.device = device
        self.max_batch = max_batch

    @property
    def max_concurrency(self) -> int:
        """``complete_many`` sends a batch's worth at once, for the batcher to gather."""
        return self.max_batch

    def loaded(self) -> _Loaded:
        """The shared, loaded model (loads it on first use)."""
        key = (self.source, self.device)
        with _models_lock:
            m = _models.get(key)
            if m is None:
                m = _load(self.source, self.device, self.id)
                m.batcher = Batcher(lambda k, reqs: _generate(m, k, reqs), self.max_batch)
                _models[key] = m
            return m

    def complete(
        self,
        messages: str | Sequence[Message],
        *,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        n: int = 1,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        json_schema: dict | None = None,
    ) -> Completion:
        msgs = normalize_messages(messages)
        if json_schema is not None:
            msgs = with_schema_instruction(msgs, json_schema)
        m = self.loaded()
        start = time.perf_counter()
        prompt = m.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        length = len(m.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        new_tokens = max_tokens if max_tokens is not None else DEFAULT_MAX_NEW_TOKENS
        if length + new_tokens > m.max_context:
            raise ContextWindowExceeded(
                f"the prompt is {length} tokens plus {new_tokens} new tokens, more than the "
                f"model's {m.max_context}-token context; shorten the prompt or lower max_tokens",
                backend=self.id,
            )
        key = (float(temperature), new_tokens, seed, tuple(stop or ()))
        draws = 1 if temperature <= 0 else n
        results = m.batcher.submit(key, [prompt] * draws)
        texts = [text for text, _ in results] * (n if draws == 1 else 1)
        usage = Usage(
            sum(u.prompt_tokens for _, u in results), sum(u.completion_tokens for _, u in results)
        )
        return Completion(
            texts=texts,
            usage=usage,
            latency=time.perf_counter() - start,
            backend=self.backend,
            model=self.model,
            parsed=parse_samples(texts) if json_schema is not None else None,
        )


def _generate(m: _Loaded, key: tuple, prompts: list[str]) -> list[tuple[str, Usage]]:
    """One padded ``generate`` call for a batch of prompts sharing settings ``key``."""
    temperature, new_tokens, seed, stop = key
    torch, tok = m.torch, m.tokenizer
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(m.device)
    if seed is not None:
        torch.manual_seed(seed)
    options: dict[str, Any] = {"max_new_tokens": new_tokens, "pad_token_id": tok.pad_token_id}
    if temperature > 0:
        options.update(do_sample=True, temperature=temperature)
    else:
        options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    if stop:
        options.update(stop_strings=list(stop), tokenizer=tok)
    with torch.inference_mode():
        out = m.model.generate(**enc, **options)
    width = enc["input_ids"].shape[1]
    results = []
    eos = {tok.eos_token_id, tok.pad_token_id} - {None}
    for row, mask in zip(out, enc["attention_mask"]):
        generated = row[width:].tolist()
        used = next((i + 1 for i, t in enumerate(generated) if t in eos), len(generated))
        text = tok.decode(generated[:used], skip_special_tokens=True)
        for s in stop:
            cut = text.find(s)
            if cut >= 0:
                text = text[:cut]
        results.append((text, Usage(int(mask.sum()), used)))
    return results
