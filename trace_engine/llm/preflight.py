"""``check_llm``: is this LLM usable, before any work starts?

Commands and scripts call it once, before a run, so that a missing model, a
missing or rejected key, or a dead server stops the run at once with one line
saying what is wrong and how to fix it, instead of every step failing quietly::

    from trace_engine.llm import check_llm, LLMError
    try:
        check_llm(spec)              # a spec string, an LLM (wrapped or not), or None
    except LLMError as exc:
        print(exc); raise SystemExit(2)

What is checked, per backend (nothing is generated and the model is not loaded):

* ``local``: llama-cpp-python is installed and the embedded model's weights are
  there (the assembled file, or all of its weight packages);
* ``llamacpp:PATH.gguf``: llama-cpp-python is installed and the file exists;
* ``transformers:``: torch and transformers are installed;
* ``openai:`` and ``openai-compatible:``: a key where one is needed, and the
  server answers a models listing within ``timeout`` seconds with the key
  accepted (a server without a models listing gets one 1-token chat call);
* ``litellm:``: litellm is installed and the provider's key variables are set;
* with ``budget``: a USD limit needs a model whose price is known;
* a plain callable (scripted answers): nothing to check;
* any other LLM: its own ``preflight(timeout)`` method, if it has one.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from trace_engine.llm.base import LLM
from trace_engine.llm.errors import LLMError, LLMUnavailable, SpecError
from trace_engine.llm.meter import Budget, unpriced_budget_message

DEFAULT_TIMEOUT = 5.0
_SWITCH = "or choose another model with --llm / TRACE_ENGINE_LLM"


def check_llm(
    llm: LLM | str | Callable | None = None,
    *,
    budget: Budget | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Raise :class:`LLMError` (one line: what is wrong, how to fix it) if ``llm`` is unusable.

    ``llm`` is a spec string, an :class:`LLM` (wrappers are looked through), a
    plain callable, or ``None`` for the configured default (``$TRACE_ENGINE_LLM``,
    else ``local``). A bad spec, or a ``budget`` with a USD limit on a model whose
    price is unknown, raises :class:`SpecError`; anything else that makes the
    model unusable raises :class:`LLMUnavailable`. Returns ``None`` when usable.
    """
    backend = _backend_of(llm)
    if budget is not None and budget.max_usd is not None and not backend.priced:
        raise SpecError(unpriced_budget_message(backend.id, backend.model))
    _check(backend, timeout)


def _backend_of(llm: Any) -> LLM:
    from trace_engine.llm.base import as_llm
    from trace_engine.llm.wrapper import LLMWrapper

    if llm is None or isinstance(llm, str):
        from trace_engine.llm.config import make_config
        from trace_engine.llm.registry import backend_for, default_spec

        return backend_for(make_config(spec=llm if llm is not None else default_spec()))
    backend = as_llm(llm)
    return backend.unwrap() if isinstance(backend, LLMWrapper) else backend


def _check(backend: LLM, timeout: float) -> None:
    from trace_engine.llm.gpu import TransformersLLM
    from trace_engine.llm.local import EmbeddedLLM, LlamaCppLLM
    from trace_engine.llm.openai_compat import OpenAICompatible

    if isinstance(backend, EmbeddedLLM):
        _check_embedded(backend)
    elif isinstance(backend, LlamaCppLLM):
        _check_gguf(backend)
    elif isinstance(backend, OpenAICompatible):
        _check_server(backend, timeout)
    elif isinstance(backend, TransformersLLM):
        _require_module("torch", "torch", "gpu", backend.id)
        _require_module("transformers", "transformers", "gpu", backend.id)
    elif callable(getattr(backend, "preflight", None)):
        backend.preflight(timeout)


def _require_module(module: str, package: str, extra: str, backend: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise LLMUnavailable(
            f"the '{package}' package is not installed; install it with "
            f"pip install 'trace-engine[{extra}]' {_SWITCH}",
            backend=backend,
        )


def _check_embedded(backend: Any) -> None:
    from trace_engine.llm.weights import model_status

    _require_module("llama_cpp", "llama-cpp-python", "local", backend.id)
    status = model_status(directory=backend.path.parent)
    if status["verified"] or status["parts_installed"] == status["parts_total"]:
        return
    if status["assembled"] and status["size_bytes"] == backend.spec.size:
        return  # its hash is checked when it is loaded
    missing = status["parts_total"] - status["parts_installed"]
    raise LLMUnavailable(
        f"the embedded model is not installed ({missing} of its {status['parts_total']} weight "
        f"packages are missing and {status['path']} does not exist); install it with "
        f"pip install 'trace-engine[local]' {_SWITCH}",
        backend=backend.id,
    )


def _check_gguf(backend: Any) -> None:
    _require_module("llama_cpp", "llama-cpp-python", "local", backend.id)
    if not backend.path.is_file():
        raise LLMUnavailable(
            f"the model file {backend.path} does not exist; fix the path in --llm llamacpp:PATH.gguf",
            backend=backend.id,
        )


def _check_server(backend: Any, timeout: float) -> None:
    url = backend.base_url or "https://api.openai.com/v1"
    try:
        backend.probe(timeout)
    except LLMError as exc:
        raise _unavailable(exc, backend, url, timeout) from exc


def _unavailable(exc: LLMError, backend: Any, url: str, timeout: float) -> LLMUnavailable:
    """The one-line message for a server that failed the check."""
    text = " ".join(str(exc).split())
    text = text.removeprefix(f"{exc.backend}: ")
    if exc.status == 401:
        key = (
            "OPENAI_API_KEY"
            if backend.backend == "openai"
            else "TRACE_ENGINE_API_KEY (or the variable the spec names with ?key_env=VAR)"
        )
        why = f"the server at {url} rejected the API key (401); check {key}"
    elif exc.status == 403:
        why = (
            f"the server at {url} refused access (403); check that the key may use {backend.model}"
        )
    elif exc.status == 404:
        why = (
            f"nothing at {url} answers OpenAI's API (404); check the base URL in --llm "
            "(it often ends in /v1) and the model name"
        )
    elif exc.status is not None:
        why = f"the server at {url} answered HTTP {exc.status} to a test call: {text}"
    elif "refused" in text.lower():
        why = f"nothing listening at {url}; start the server or fix --llm"
    elif "timeout" in text.lower() or "within the" in text:
        why = f"no answer from {url} within {timeout:g}s; check that the server is up and the URL is right"
    else:
        why = f"cannot reach {url} ({text}); start the server or fix --llm"
    return LLMUnavailable(why, backend=backend.id, status=exc.status)
