"""Any OpenAI-compatible chat endpoint: OpenAI itself, vLLM, Ollama, llama.cpp's server, LM Studio.

A ``json_schema`` is asked for in the strongest form the server accepts, tried in
the order of :data:`SCHEMA_MODES`: OpenAI's ``json_schema`` response format; JSON
mode carrying the schema (``{"type": "json_object", "schema": ...}``, which
llama-cpp-python's server enforces with a grammar); plain JSON mode; the schema
as an instruction in the prompt only. A form counts as refused when the server
answers 400, 422 or 500 with a message naming the response format or schema
(llama-cpp-python's server answers ``json_schema`` with a 500 validation error);
the backend object then remembers it and never sends that form again. In every mode the text is
parsed leniently into ``Completion.parsed``. The SDK's own retries are off: :class:`~trace_engine.llm.retry.Retrying`
decides, from the :class:`LLMError` this backend raises (``retryable``, ``retry_after``).

Cost comes from :mod:`trace_engine.llm.pricing`: an ``openai`` model from the
price tables, an ``openai-compatible`` one only from prices the user gave. A
model without a known price counts $0 (a warning for OpenAI, which does charge)
and refuses a USD budget.

At most ``max_concurrency`` requests of one backend object are in flight at once,
whichever threads or tasks send them (the rest wait their turn): enough to let a
serving engine such as vLLM or SGLang batch them, bounded so that a server is
not flooded. :meth:`~trace_engine.llm.base.LLM.complete_many` sends that many at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from trace_engine.llm import pricing
from trace_engine.llm.base import LLM, Completion, Message, Usage, normalize_messages
from trace_engine.llm.errors import LLMError, SpecError, http_error, require
from trace_engine.llm.jsonparse import parse_samples, with_schema_instruction

log = logging.getLogger(__name__)

SCHEMA_MODES = ("json_schema", "json_object+schema", "json_object", "prompt")
_FORMAT_WORDS = ("response_format", "response format", "json_schema", "json_object", "schema")
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_CONCURRENCY = 8
_NO_KEY = "sk-no-key-required"


class OpenAICompatible(LLM):
    """Chat completions over HTTP with the ``openai`` SDK (sync and async clients).

    ``backend="openai"`` is OpenAI (``OPENAI_API_KEY`` required, ``OPENAI_BASE_URL``
    honored); ``backend="openai-compatible"`` is any server at ``base_url``, for
    which an API key is optional. Its key is ``api_key``, else the variable named
    by ``key_env``, else ``$TRACE_ENGINE_API_KEY``; ``OPENAI_API_KEY`` goes only
    to OpenAI's own host (``api.openai.com``), never to a server a URL names.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        key_env: str | None = None,
        price: tuple[float, float] | None = None,
        backend: str = "openai",
        timeout: float = DEFAULT_TIMEOUT,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ):
        if not model:
            raise SpecError("a model name is required", backend=backend)
        if max_concurrency < 1:
            raise SpecError(f"max_concurrency must be >= 1, got {max_concurrency}", backend=backend)
        self.backend = backend
        self.model = model
        if backend == "openai":
            base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
            api_key = api_key or os.environ.get("OPENAI_API_KEY")
            if not api_key:
                raise SpecError(
                    "OPENAI_API_KEY is not set; export it, or use "
                    "openai-compatible:URL#MODEL for a server that needs no key",
                    backend=self.id,
                )
        else:
            if not base_url:
                raise SpecError("a base URL is required", backend=backend)
            api_key = api_key or _compatible_key(base_url, key_env, self.id)
        self.base_url = base_url
        self._api_key = api_key
        self.price = price
        self.timeout = timeout
        self._mode = 0
        self._client = None
        self._client_lock = threading.Lock()
        self._async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._max_concurrency = max_concurrency
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._async_slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @property
    def max_concurrency(self) -> int:
        return self._max_concurrency

    @property
    def fingerprint(self) -> str:
        return f"{self.id}|{self.base_url or 'https://api.openai.com/v1'}"

    @property
    def _price_table(self) -> str:
        """OpenAI's prices for OpenAI's API (also when named by URL); else only the user's."""
        return "openai" if self._charges else "user"

    @property
    def _charges(self) -> bool:
        return self.backend == "openai" or is_openai_host(self.base_url)

    def cost_of(self, usage: Usage) -> float:
        if self.price is not None:
            return pricing.usd(self.price, usage)
        return pricing.cost_of(self.model, usage, self._price_table)

    @property
    def priced(self) -> bool:
        return (
            self.price is not None or pricing.price_for(self.model, self._price_table) is not None
        )

    def _sdk(self):
        return require("openai", package="openai", backend=self.id)

    def _sync_client(self):
        with self._client_lock:
            if self._client is None:
                self._client = self._sdk().OpenAI(
                    api_key=self._api_key,
                    base_url=self.base_url,
                    timeout=self.timeout,
                    max_retries=0,
                )
            return self._client

    def _async_client(self):
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = self._sdk().AsyncOpenAI(
                api_key=self._api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0
            )
            self._async_clients[loop] = client
        return client

    def _async_slot(self) -> asyncio.Semaphore:
        """This event loop's bound on requests in flight (an asyncio lock is per loop)."""
        loop = asyncio.get_running_loop()
        slot = self._async_slots.get(loop)
        if slot is None:
            slot = asyncio.Semaphore(self._max_concurrency)
            self._async_slots[loop] = slot
        return slot

    def probe(self, timeout: float) -> None:
        """Raise :class:`LLMError` unless the server answers with the key accepted.

        Asks for the models listing (free); a server without one (404/405/501)
        gets a one-token chat call instead. No retries: this is a quick check.
        """
        client = self._sync_client().with_options(timeout=timeout, max_retries=0)
        try:
            client.models.list()
            return
        except Exception as exc:
            error = translate_error(exc, self.id, timeout)
            if error.status not in (404, 405, 501):
                raise error from exc
        try:
            client.chat.completions.create(
                **self._request(
                    [{"role": "user", "content": "Say OK."}], 1, {"max_tokens": 1}, None
                )
            )
        except Exception as exc:
            raise translate_error(exc, self.id, timeout) from exc

    def complete(
        self, messages: str | Sequence[Message], *, n: int = 1, **options: Any
    ) -> Completion:
        msgs = normalize_messages(messages)
        start = time.perf_counter()
        choices, usage = [], Usage()
        while len(choices) < n:
            texts, got = self._request_sync(msgs, n - len(choices), options)
            choices += texts
            usage = usage + got
        return self._completion(choices[:n], usage, start, options)

    async def acomplete(
        self, messages: str | Sequence[Message], *, n: int = 1, **options: Any
    ) -> Completion:
        msgs = normalize_messages(messages)
        start = time.perf_counter()
        choices, usage = [], Usage()
        while len(choices) < n:
            texts, got = await self._request_async(msgs, n - len(choices), options)
            choices += texts
            usage = usage + got
        return self._completion(choices[:n], usage, start, options)

    def _request_sync(self, msgs, n, options) -> tuple[list[str], Usage]:
        first_error = None
        for mode in self._modes(options):
            try:
                with self._slots:
                    resp = self._sync_client().chat.completions.create(
                        **self._request(msgs, n, options, mode)
                    )
            except Exception as exc:
                first_error = self._handle(exc, mode, first_error)
                continue
            return self._accept(resp, mode, msgs)
        raise first_error

    async def _request_async(self, msgs, n, options) -> tuple[list[str], Usage]:
        first_error = None
        for mode in self._modes(options):
            try:
                async with self._async_slot():
                    resp = await self._async_client().chat.completions.create(
                        **self._request(msgs, n, options, mode)
                    )
            except Exception as exc:
                first_error = self._handle(exc, mode, first_error)
                continue
            return self._accept(resp, mode, msgs)
        raise first_error

    @property
    def schema_mode(self) -> str:
        """The strongest form of asking for a schema not yet refused by this server."""
        return SCHEMA_MODES[self._mode]

    def _modes(self, options) -> Sequence[str | None]:
        return SCHEMA_MODES[self._mode :] if options.get("json_schema") is not None else (None,)

    def _handle(self, exc: Exception, mode, first_error) -> LLMError:
        """Translate ``exc``; raise it at once unless the server refused this schema form.

        A refused form is remembered (never sent again by this object); the first
        refusal is returned, to be reported if every form is refused."""
        error = translate_error(exc, self.id, self.timeout)
        if mode in (None, "prompt") or not refuses_format(error):
            raise error from exc
        self._mode = max(self._mode, SCHEMA_MODES.index(mode) + 1)
        log.info(
            "%s refused response_format %r (%s); using %r from now on",
            self.id,
            mode,
            error,
            SCHEMA_MODES[self._mode],
        )
        return first_error or error

    def _accept(self, resp, mode, msgs) -> tuple[list[str], Usage]:
        return read_chat_response(resp, msgs, self.id)

    def _request(self, msgs, n, options, mode) -> dict:
        schema = options.get("json_schema")
        if schema is not None and mode != "json_schema":
            msgs = with_schema_instruction(msgs, schema)
        req: dict[str, Any] = {"model": self.model, "messages": msgs}
        if n > 1:
            req["n"] = n
        if options.get("temperature") is not None:
            req["temperature"] = options["temperature"]
        if options.get("max_tokens") is not None:
            key = "max_completion_tokens" if self.backend == "openai" else "max_tokens"
            req[key] = options["max_tokens"]
        if options.get("seed") is not None:
            req["seed"] = options["seed"]
        if options.get("stop"):
            req["stop"] = list(options["stop"])
        if mode == "json_schema":
            req["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": schema},
            }
        elif mode == "json_object+schema":
            req["response_format"] = {"type": "json_object", "schema": schema}
        elif mode == "json_object":
            req["response_format"] = {"type": "json_object"}
        return req

    def _completion(self, texts, usage, start, options) -> Completion:
        cost = self.cost_of(usage)
        if not self.priced:
            pricing.warn_unpriced(self.id, self.model, paid=self._charges)
        return Completion(
            texts=texts,
            usage=usage,
            cost=cost,
            latency=time.perf_counter() - start,
            backend=self.backend,
            model=self.model,
            parsed=parse_samples(texts) if options.get("json_schema") is not None else None,
        )

    def __repr__(self) -> str:
        return f"OpenAICompatible({self.model!r}, base_url={self.base_url!r}, backend={self.backend!r})"


def refuses_format(error: LLMError) -> bool:
    """Whether ``error`` is a server refusing the requested response format.

    A 400, 422 or 500 (servers that validate the request inside their handler)
    whose message names the response format. Other 400s, such as a prompt too
    long for the context, are not: they must not switch the form off for good."""
    text = str(error).lower()
    return error.status in (400, 422, 500) and any(word in text for word in _FORMAT_WORDS)


def _compatible_key(base_url: str, key_env: str | None, backend: str) -> str:
    """The key sent to an OpenAI-compatible server (see :class:`OpenAICompatible`)."""
    if key_env:
        key = os.environ.get(key_env)
        if not key:
            raise SpecError(
                f"{key_env} is not set; the spec names it with ?key_env={key_env} as the "
                "variable holding the server's API key: export it, or drop ?key_env",
                backend=backend,
            )
        return key
    key = os.environ.get("TRACE_ENGINE_API_KEY")
    if key:
        return key
    if is_openai_host(base_url):
        return os.environ.get("OPENAI_API_KEY") or _NO_KEY
    return _NO_KEY


def is_openai_host(url: str | None) -> bool:
    """Whether ``url`` is an https address on OpenAI's API host, the one ``OPENAI_API_KEY`` is for."""
    try:
        parts = urlsplit(url or "")
        return parts.scheme == "https" and parts.hostname == "api.openai.com"
    except ValueError:
        return False


def read_chat_response(resp: Any, msgs: list[Message], backend: str) -> tuple[list[str], Usage]:
    """The texts and usage of a chat-completion response (OpenAI's shape, which LiteLLM
    also returns); a response without choices is a retryable :class:`LLMError`."""
    try:
        texts = [c.message.content or "" for c in resp.choices]
        if not texts:
            raise ValueError("no choices")
    except (AttributeError, TypeError, ValueError) as exc:
        raise LLMError(
            f"malformed response from the server (no choices/message content): {exc}",
            backend=backend,
            retryable=True,
        ) from exc
    got = getattr(resp, "usage", None)
    if got is not None:
        return texts, Usage(got.prompt_tokens or 0, got.completion_tokens or 0)
    return texts, estimated_usage(msgs, texts)


def estimated_usage(msgs: list[Message], texts: list[str]) -> Usage:
    """Servers that report no usage: estimate ~4 characters per token."""
    prompt = sum(len(m["content"]) for m in msgs) // 4 + 1
    return Usage(prompt, sum(len(t) for t in texts) // 4 + len(texts))


def translate_error(exc: Exception, backend: str, timeout: float) -> LLMError:
    """Map an ``openai`` SDK exception to an :class:`LLMError` with retry hints."""
    if isinstance(exc, LLMError):
        return exc
    openai = require("openai", package="openai", backend=backend)
    if isinstance(exc, openai.APITimeoutError):
        return LLMError(
            f"no answer within the {timeout:g}s timeout", backend=backend, retryable=True
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return LLMError(
            f"cannot reach the server ({cause}); is it running and is the URL right?",
            backend=backend,
            retryable=True,
        )
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, backend)
    if isinstance(exc, (openai.APIResponseValidationError, ValueError)):
        return LLMError(
            f"malformed response from the server (not valid chat-completion JSON): {exc}",
            backend=backend,
            retryable=True,
        )
    return LLMError(f"{type(exc).__name__}: {exc}", backend=backend)


def _status_error(exc: Any, backend: str) -> LLMError:
    return http_error(
        exc.status_code,
        _error_detail(exc),
        backend=backend,
        retry_after=_retry_after(exc.response.headers),
        key_hint=(
            "TRACE_ENGINE_API_KEY (or the variable named with ?key_env=VAR in the spec)"
            if backend.startswith("openai-compatible")
            else "OPENAI_API_KEY"
        ),
    )


def _error_detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if isinstance(body.get("detail"), (list, str)):
            return _validation_detail(body["detail"])
    return str(getattr(exc, "message", exc))


def _validation_detail(detail: list | str) -> str:
    """FastAPI's ``{"detail": [{"loc": [...], "msg": ...}]}`` as ``body.field: msg; ...``."""
    if isinstance(detail, str):
        return detail
    items = []
    for item in detail:
        if isinstance(item, dict):
            loc = ".".join(str(p) for p in item.get("loc", ()))
            items.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", item)))
        else:
            items.append(str(item))
    return "; ".join(items)


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
    except (AttributeError, ValueError):
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
