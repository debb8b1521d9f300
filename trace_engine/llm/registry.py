"""``get_llm``: from a spec string to a ready, wrapped LLM.

The chain is ``Cached(Retrying(Metered(backend)))``: a cache hit returns before
any budget check or spending and is recorded as a hit; a miss is retried as
needed, and each attempt is checked against the budgets and metered. Backends
are shared: asking twice for the same spec and settings reuses one backend
object, and the local model's weights are loaded once per process. A backend
built here is pickled as its configuration (see :meth:`LLM.__reduce_ex__`): sent
to another process, e.g. a Ray worker, it is built there again from the same spec.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from trace_engine.llm.base import LLM
from trace_engine.llm.meter import Budget, Meter

_backends: dict[tuple, LLM] = {}
_lock = threading.Lock()


def get_llm(
    spec: str | None = None,
    *,
    cache: bool = True,
    retries: int = 4,
    budget: Budget | None = None,
    meter: Meter | None = None,
    **options: Any,
) -> LLM:
    """Return the LLM for ``spec`` (default: ``$TRACE_ENGINE_LLM``, else ``"local"``).

    Specs: ``local`` (embedded Qwen2.5-Coder-1.5B via llama.cpp), ``openai:MODEL``
    (or ``openai/MODEL``), ``openai-compatible:URL#MODEL[?key_env=VAR&price=IN,OUT&max_concurrency=N]``, ``litellm:PROVIDER/MODEL``
    (Anthropic, Gemini, ... through LiteLLM), ``llamacpp:PATH.gguf``,
    ``transformers:PATH_OR_ID``.
    ``cache=False`` skips the disk cache; ``retries`` is the number of attempts;
    ``budget`` limits this LLM's spending; ``meter`` defaults to the process-wide one.
    Other options (validated): ``cache_dir``, ``min_wait``, ``max_wait``, ``timeout``,
    ``n_ctx``, ``n_gpu_layers``, ``api_key``, ``base_url``, ``max_batch``,
    ``max_concurrency`` (requests in flight at once to an OpenAI-compatible server;
    also ``URL#MODEL?max_concurrency=N`` in the spec), ``device`` (transformers).

    Reading what your own calls spent: each ``Completion`` has ``usage``, ``cost``,
    ``latency`` and ``cached`` (a cached one spent nothing now); for a block of
    code use ``with get_meter().tag("name") as used: ...`` (see :mod:`.meter`).
    """
    from trace_engine.llm.cache import Cached
    from trace_engine.llm.config import make_config
    from trace_engine.llm.metered import Metered
    from trace_engine.llm.retry import Retrying

    if spec is None:
        spec = default_spec()
    config = make_config(spec=spec, cache=cache, retries=retries, **options)
    llm: LLM = Metered(backend_for(config), meter=meter, budget=budget)
    llm = Retrying(llm, config.retries, config.min_wait, config.max_wait)
    if config.cache:
        llm = Cached(llm, directory=config.cache_dir, meter=meter)
    return llm


def default_spec() -> str:
    """The spec used when none is given: ``$TRACE_ENGINE_LLM``, else ``"local"``."""
    return os.environ.get("TRACE_ENGINE_LLM") or "local"


def backend_for(config) -> LLM:
    """The shared, unwrapped backend object for ``config`` (built on first request)."""
    from trace_engine.llm.config import parse_spec

    parsed = parse_spec(config.spec)
    names = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TRACE_ENGINE_API_KEY", parsed.key_env)
    env = tuple(os.environ.get(k) if k else None for k in names)
    key = (
        parsed,
        env,
        *config.model_dump(
            exclude={"spec", "cache", "cache_dir", "retries", "min_wait", "max_wait"}
        ).items(),
    )
    with _lock:
        backend = _backends.get(key)
        if backend is None:
            backend = _build(parsed, config)
            backend.built_from = config
            _backends[key] = backend
        return backend


def _build(parsed, config) -> LLM:
    if parsed.kind == "local":
        from trace_engine.llm.local import EmbeddedLLM

        return EmbeddedLLM(n_ctx=config.n_ctx, n_gpu_layers=config.n_gpu_layers)
    if parsed.kind == "llamacpp":
        from trace_engine.llm.local import LlamaCppLLM

        return LlamaCppLLM(parsed.target, n_ctx=config.n_ctx, n_gpu_layers=config.n_gpu_layers)
    if parsed.kind == "transformers":
        from trace_engine.llm.gpu import TransformersLLM

        return TransformersLLM(parsed.target, max_batch=config.max_batch, device=config.device)
    if parsed.kind == "litellm":
        from trace_engine.llm.litellm_backend import LiteLLM

        return LiteLLM(parsed.target, timeout=config.timeout)
    from trace_engine.llm.openai_compat import OpenAICompatible

    return OpenAICompatible(
        parsed.target,
        base_url=parsed.url or config.base_url,
        api_key=config.api_key,
        key_env=parsed.key_env or None,
        price=parsed.price,
        backend=parsed.kind,
        timeout=config.timeout,
        max_concurrency=parsed.max_concurrency or config.max_concurrency,
    )
