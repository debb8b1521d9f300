"""``litellm:PROVIDER/MODEL``: Anthropic, Gemini, Mistral, Bedrock, ... through LiteLLM.

LiteLLM (the ``litellm`` extra) speaks each provider's API and reads the
provider's key from its usual environment variable (``ANTHROPIC_API_KEY``,
``GEMINI_API_KEY``, ...). This backend is wrapped like every other one by
:func:`~trace_engine.llm.get_llm`, so the cache, retries, meter and budgets
apply unchanged; LiteLLM's own retries are off so that
:class:`~trace_engine.llm.retry.Retrying` alone decides. Async calls run the
sync call in a worker thread (the :class:`LLM` default). A ``json_schema`` is
sent as a response format where LiteLLM says the model supports one, else as an
instruction in the prompt (and so after a server refuses the format once).
Prices come from LiteLLM's table (see :mod:`trace_engine.llm.pricing`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from trace_engine.llm import pricing
from trace_engine.llm.base import LLM, Completion, Message, Usage, normalize_messages
from trace_engine.llm.errors import LLMError, LLMUnavailable, SpecError, http_error, require
from trace_engine.llm.jsonparse import parse_samples, with_schema_instruction
from trace_engine.llm.openai_compat import read_chat_response, refuses_format

DEFAULT_TIMEOUT = 120.0


class LiteLLM(LLM):
    """One model reached through ``litellm.completion`` / ``litellm.acompletion``."""

    backend = "litellm"

    def __init__(self, model: str, *, timeout: float = DEFAULT_TIMEOUT):
        if "/" not in model.strip("/"):
            raise SpecError(
                f"litellm needs PROVIDER/MODEL, e.g. anthropic/claude-3-5-haiku-latest, got {model!r}",
                backend=self.backend,
            )
        self.model = model
        self.timeout = timeout
        self._schema_refused = False

    def _litellm(self):
        return require("litellm", package="litellm", extra="litellm", backend=self.id)

    def cost_of(self, usage: Usage) -> float:
        return pricing.cost_of(self.model, usage, "litellm")

    @property
    def priced(self) -> bool:
        return pricing.price_for(self.model, "litellm") is not None

    def preflight(self, timeout: float) -> None:
        """LiteLLM installed and the provider's key variables set (no call is made)."""
        litellm = self._litellm()
        found = litellm.validate_environment(model=self.model)
        if not found.get("keys_in_environment", False):
            missing = ", ".join(found.get("missing_keys") or []) or "the provider's API key"
            raise LLMUnavailable(
                f"set {missing} in the environment for {self.model}", backend=self.id
            )

    def complete(
        self, messages: str | Sequence[Message], *, n: int = 1, **options: Any
    ) -> Completion:
        msgs = normalize_messages(messages)
        litellm = self._litellm()
        start = time.perf_counter()
        while True:
            schema_format = self._uses_schema_format(litellm, options)
            try:
                resp = litellm.completion(**self._request(msgs, n, options, schema_format))
                break
            except Exception as exc:
                self._handle(exc, schema_format)
        return self._completion(resp, msgs, start, options)

    def _uses_schema_format(self, litellm: Any, options: dict) -> bool:
        if options.get("json_schema") is None or self._schema_refused:
            return False
        try:
            return bool(litellm.supports_response_schema(model=self.model))
        except Exception:  # unmapped models: LiteLLM cannot say
            return False

    def _handle(self, exc: Exception, schema_format: bool) -> None:
        """Raise ``exc`` as an :class:`LLMError`, unless it refused the schema format
        (then remember that and return, so the call is made again with the prompt)."""
        error = translate_litellm_error(exc, self.id)
        if not (schema_format and refuses_format(error)):
            raise error from exc
        self._schema_refused = True

    def _request(self, msgs: list[Message], n: int, options: dict, schema_format: bool) -> dict:
        schema = options.get("json_schema")
        if schema is not None and not schema_format:
            msgs = with_schema_instruction(msgs, schema)
        req: dict[str, Any] = {
            "model": self.model,
            "messages": msgs,
            "timeout": self.timeout,
            "num_retries": 0,
            "drop_params": True,
        }
        if n > 1:
            req["n"] = n
        for key in ("temperature", "max_tokens", "seed"):
            if options.get(key) is not None:
                req[key] = options[key]
        if options.get("stop"):
            req["stop"] = list(options["stop"])
        if schema_format:
            req["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": schema},
            }
        return req

    def _completion(self, resp: Any, msgs: list[Message], start: float, options: dict):
        texts, usage = read_chat_response(resp, msgs, self.id)
        if not self.priced:
            pricing.warn_unpriced(self.id, self.model, paid=True)
        return Completion(
            texts=texts,
            usage=usage,
            cost=self.cost_of(usage),
            latency=time.perf_counter() - start,
            backend=self.backend,
            model=self.model,
            parsed=parse_samples(texts) if options.get("json_schema") is not None else None,
        )

    def __repr__(self) -> str:
        return f"LiteLLM({self.model!r})"


def translate_litellm_error(exc: Exception, backend: str) -> LLMError:
    """LiteLLM's exceptions carry the provider's HTTP status: map it like any HTTP error."""
    if isinstance(exc, LLMError):
        return exc
    status = getattr(exc, "status_code", None)
    detail = " ".join(str(getattr(exc, "message", None) or exc).split())
    if isinstance(status, int):
        return http_error(
            status, detail, backend=backend, key_hint="the provider's API key variable"
        )
    return LLMError(f"{type(exc).__name__}: {detail}", backend=backend)
