"""In-process llama.cpp backends: the embedded default model and any GGUF file.

A model file is loaded once per process (per context size and GPU setting) and
shared by every backend object that uses it; a lock serializes calls to it, so
threads may share an LLM freely. The prompt is rendered with the chat template
stored in the GGUF, its length checked against the context window before any
work, and a ``json_schema`` is compiled into a llama.cpp grammar so the output
is JSON of the requested shape (unless cut off by ``max_tokens``).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trace_engine.llm.base import LLM, Completion, Message, Usage, normalize_messages
from trace_engine.llm.errors import (
    ContextWindowExceeded,
    LLMError,
    SchemaNotSupported,
    SpecError,
    require,
)
from trace_engine.llm.jsonparse import parse_samples

DEFAULT_N_CTX = 8192
_GRAMMAR_CACHE_SIZE = 64


@dataclass
class LoadedModel:
    """One ``llama_cpp.Llama`` with what is needed to prompt it, shared per process."""

    llama: Any
    formatter: Any
    lock: threading.Lock
    n_ctx: int
    grammars: OrderedDict


_loaded: dict[tuple, LoadedModel] = {}
_load_lock = threading.Lock()


def gpu_offload_supported() -> bool:
    """Whether the installed llama.cpp was built with GPU support."""
    llama_cpp = require("llama_cpp", package="llama-cpp-python", extra="local")
    return bool(llama_cpp.llama_supports_gpu_offload())


def load_model(
    path: Path, n_ctx: int = DEFAULT_N_CTX, n_gpu_layers: int | None = None
) -> LoadedModel:
    """Load ``path`` once per process (per ``n_ctx``/``n_gpu_layers``) and share it."""
    layers = n_gpu_layers if n_gpu_layers is not None else (-1 if gpu_offload_supported() else 0)
    key = (str(Path(path).resolve()), n_ctx, layers)
    with _load_lock:
        loaded = _loaded.get(key)
        if loaded is None:
            loaded = _load(Path(path), n_ctx, layers)
            _loaded[key] = loaded
        return loaded


def _load(path: Path, n_ctx: int, layers: int) -> LoadedModel:
    llama_cpp = require("llama_cpp", package="llama-cpp-python", extra="local")
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    if not path.is_file():
        raise SpecError(f"GGUF model file not found: {path}", backend="llamacpp")
    threads = os.cpu_count() or 1
    try:
        llama = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=layers,
            verbose=False,
        )
    except (ValueError, RuntimeError) as exc:
        raise LLMError(
            f"llama.cpp could not load {path.name} ({exc}); is it a valid GGUF file?",
            backend="llamacpp",
        ) from exc
    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise SpecError(
            f"{path.name} has no chat template (tokenizer.chat_template) in its metadata; "
            "use a chat/instruct GGUF model",
            backend="llamacpp",
        )
    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=_token_text(llama, llama.token_eos()),
        bos_token=_token_text(llama, llama.token_bos()),
    )
    return LoadedModel(llama, formatter, threading.Lock(), n_ctx, OrderedDict())


def _token_text(llama: Any, token: int) -> str:
    if token < 0:
        return ""
    return llama.detokenize([token], special=True).decode("utf-8", errors="replace")


class LlamaCppLLM(LLM):
    """A GGUF chat model run in-process by llama.cpp (``llamacpp:PATH.gguf``).

    ``n_threads`` is every core; all layers go to the GPU when llama.cpp was
    built with GPU support (``n_gpu_layers=None``). Cost is always 0.
    """

    backend = "llamacpp"

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_gpu_layers: int | None = None,
    ):
        self.path = Path(path).expanduser()
        self.model = self.path.name
        self.n_ctx = n_ctx
        self.n_gpu_layers = n_gpu_layers

    @property
    def fingerprint(self) -> str:
        path = self.model_path()
        try:
            st = path.stat()
            return f"{self.id}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        except OSError:
            return f"{self.id}|{path}"

    def model_path(self) -> Path:
        """The GGUF file this backend runs."""
        return self.path

    def loaded(self) -> LoadedModel:
        """The shared, loaded model (loads it on first use)."""
        return load_model(self.model_path(), self.n_ctx, self.n_gpu_layers)

    def count_tokens(self, messages: str | Sequence[Message]) -> int:
        """Exact number of prompt tokens ``messages`` take with this model's template."""
        m = self.loaded()
        with m.lock:
            return len(self._prompt_tokens(m, normalize_messages(messages)))

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
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        m = self.loaded()
        start = time.perf_counter()
        with m.lock:
            tokens = self._prompt_tokens(m, msgs)
            budget = self._check_context(m, len(tokens), max_tokens)
            grammar = self._grammar(m, json_schema) if json_schema is not None else None
            # Greedy decoding is deterministic: one generation serves every sample.
            draws = 1 if temperature <= 0 else n
            base_seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
            texts, usage = [], Usage()
            for i in range(draws):
                out = m.llama.create_completion(
                    prompt=tokens,
                    max_tokens=budget,
                    temperature=max(0.0, temperature),
                    seed=base_seed + i,
                    stop=list(stop or []),
                    grammar=grammar,
                )
                texts.append(out["choices"][0]["text"])
                usage = usage + Usage(
                    out["usage"]["prompt_tokens"], out["usage"]["completion_tokens"]
                )
        texts = texts * n if draws == 1 else texts
        return Completion(
            texts=texts,
            usage=usage,
            cost=0.0,
            latency=time.perf_counter() - start,
            backend=self.backend,
            model=self.model,
            parsed=parse_samples(texts) if json_schema is not None else None,
        )

    @staticmethod
    def _prompt_tokens(m: LoadedModel, msgs: list[Message]) -> list[int]:
        prompt = m.formatter(messages=msgs).prompt
        return m.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def _check_context(self, m: LoadedModel, prompt_tokens: int, max_tokens: int | None) -> int:
        """Raise before any work when the call cannot fit; return the completion budget."""
        wanted = max_tokens if max_tokens is not None else 1
        if prompt_tokens + wanted > m.n_ctx:
            asked = f" plus max_tokens={max_tokens}" if max_tokens is not None else ""
            raise ContextWindowExceeded(
                f"the prompt is {prompt_tokens} tokens{asked}, more than the context window of "
                f"{m.n_ctx} tokens; shorten the prompt or load the model with a larger n_ctx "
                f"(get_llm(..., n_ctx=...) or TRACE_ENGINE_N_CTX)",
                backend=self.id,
            )
        return max_tokens if max_tokens is not None else m.n_ctx - prompt_tokens

    def _grammar(self, m: LoadedModel, schema: dict) -> Any:
        key = json.dumps(schema, sort_keys=True)
        grammar = m.grammars.get(key)
        if grammar is None:
            from llama_cpp import LlamaGrammar

            try:
                grammar = LlamaGrammar.from_json_schema(key, verbose=False)
            except Exception as exc:  # the converter raises assorted types
                raise SchemaNotSupported(
                    f"llama.cpp cannot turn this JSON schema into a grammar ({exc}); simplify "
                    "the schema (plain objects, arrays, strings, numbers, enums work) or pass "
                    "json_schema=None and parse the text with parse_json_lenient",
                    backend=self.id,
                ) from exc
            m.grammars[key] = grammar
            if len(m.grammars) > _GRAMMAR_CACHE_SIZE:
                m.grammars.popitem(last=False)
        return grammar

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, n_ctx={self.n_ctx})"


class EmbeddedLLM(LlamaCppLLM):
    """The default model (``local``): Qwen2.5-Coder-1.5B-Instruct, Q4_K_M.

    Its GGUF file is assembled from the installed weight packages on first use
    (see :mod:`trace_engine.llm.weights`); constructing this object is cheap.
    """

    backend = "local"

    def __init__(self, *, n_ctx: int = DEFAULT_N_CTX, n_gpu_layers: int | None = None):
        from trace_engine.llm import weights

        self.spec = weights.EMBEDDED
        super().__init__(
            weights.model_dir() / self.spec.filename, n_ctx=n_ctx, n_gpu_layers=n_gpu_layers
        )
        self.model = self.spec.name
        self._verified = False

    @property
    def fingerprint(self) -> str:
        return f"{self.id}|sha256:{self.spec.sha256}"

    def model_path(self) -> Path:
        """The verified model file, assembled on first use (checked once per object)."""
        if not self._verified:
            from trace_engine.llm.weights import ensure_model

            self.path = ensure_model(self.spec, self.path.parent)
            self._verified = True
        return self.path

    def __repr__(self) -> str:
        return f"EmbeddedLLM({self.model!r}, n_ctx={self.n_ctx})"
