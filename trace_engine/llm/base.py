"""The one protocol every model backend speaks.

Everything outside ``trace_engine/llm`` talks to models through :class:`LLM`.
A plain callable ``messages -> str`` is accepted wherever an ``LLM`` is, so tests
and users can script responses without a model.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, str]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""


@dataclass(frozen=True)
class Usage:
    """Token counts of one call (summed over its samples)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass
class Completion:
    """What a backend returns: one text per requested sample, plus accounting.

    ``usage`` and ``cost`` are what producing these samples cost. A completion
    served from the cache (``cached=True``) repeats the original call's figures
    although nothing was spent now; the :class:`~trace_engine.llm.meter.Meter`
    counts it as a cache hit, not as spending. ``latency`` is the time this call took.
    """

    texts: list[str]
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    latency: float = 0.0
    backend: str = ""
    model: str = ""
    cached: bool = False
    parsed: list[Any] | None = None
    """One parsed JSON value per sample when ``json_schema`` was given; ``None`` for
    a sample whose text did not parse (e.g. cut off by ``max_tokens``)."""

    @property
    def text(self) -> str:
        """The first sample's text."""
        return self.texts[0] if self.texts else ""

    @property
    def json(self) -> Any:
        """The first sample parsed as JSON, when a schema was asked for and it parsed."""
        return self.parsed[0] if self.parsed else None


def normalize_messages(messages: str | Sequence[Message]) -> list[Message]:
    """Accept a bare prompt string or a list of messages; validate the shape."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise TypeError(f"message {i} must be a dict with 'role' and 'content', got {m!r}")
        if m["role"] not in ("system", "user", "assistant", "tool"):
            raise ValueError(f"message {i} has unknown role {m['role']!r}")
        out.append({"role": m["role"], "content": str(m["content"])})
    if not out:
        raise ValueError("messages is empty: give at least one message")
    return out


class LLM(ABC):
    """A model backend. Wrappers (cache, retry, meter) are LLMs around an LLM."""

    backend: str = "llm"
    model: str = ""
    built_from: Any = None
    """The :class:`~trace_engine.llm.config.LLMConfig` it was built from by ``get_llm``."""

    def __reduce_ex__(self, protocol):
        """A backend built from a spec travels as that spec, to be built again where it
        lands (model weights and HTTP clients do not pickle); any other LLM pickles as
        itself (a scripted callable travels with cloudpickle)."""
        if self.built_from is not None:
            from trace_engine.llm.registry import backend_for

            return (backend_for, (self.built_from,))
        return super().__reduce_ex__(protocol)

    @property
    def id(self) -> str:
        """``backend:model``, used in cache keys and meter reports."""
        return f"{self.backend}:{self.model}" if self.model else self.backend

    @property
    def fingerprint(self) -> str:
        """What identifies this model's answers in cache keys (defaults to :attr:`id`).

        Backends whose answers depend on more than the id (a server URL, a weights
        file) include that here so that changing it does not serve stale answers.
        """
        return self.id

    def cost_of(self, usage: Usage) -> float:
        """USD price of ``usage`` on this backend: 0 unless the backend knows a price."""
        return 0.0

    @property
    def priced(self) -> bool:
        """Whether :meth:`cost_of` is what calls really cost. ``False`` for a backend
        that may charge but whose price is unknown: it counts $0, so a USD budget
        on it is refused rather than silently never reached."""
        return True

    @abstractmethod
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
        """Return ``n`` samples for ``messages``."""

    async def acomplete(self, messages: str | Sequence[Message], **options: Any) -> Completion:
        """Async twin of :meth:`complete`; backends with native async override it."""
        return await asyncio.to_thread(self.complete, messages, **options)

    @property
    def max_concurrency(self) -> int:
        """How many calls :meth:`complete_many` keeps in flight at once.

        1 (one call after another) unless the backend can serve concurrent calls:
        an OpenAI-compatible server (whose own engine, e.g. vLLM, batches them) or
        the transformers backend (which batches them into one ``generate``)."""
        return 1

    def complete_many(
        self, batch: Sequence[str | Sequence[Message]], **options: Any
    ) -> list[Completion]:
        """:meth:`complete` for every conversation of ``batch`` (same ``options``), in order.

        Up to :attr:`max_concurrency` calls run at once, each through this object
        (so a wrapped LLM caches, retries, meters and checks budgets per call);
        identical conversations are asked once. The first failure cancels the calls
        not yet started and is raised once the running ones end; completions that
        were stored in the cache are served from it on the next attempt.
        """
        from trace_engine.llm.concurrency import run_many

        return run_many(self.complete, batch, options, self.max_concurrency)


class CallableLLM(LLM):
    """Adapts a plain ``messages -> str`` callable (scripted responses, user glue code)."""

    backend = "callable"

    def __init__(self, fn: Callable[[list[Message]], Any], name: str | None = None):
        if not callable(fn):
            raise TypeError(f"expected a callable messages -> str, got {type(fn).__name__}")
        self.fn = fn
        self.model = name or getattr(fn, "__name__", type(fn).__name__)

    def complete(self, messages, *, n: int = 1, json_schema: dict | None = None, **_: Any):
        msgs = normalize_messages(messages)
        start = time.perf_counter()
        texts = []
        for _i in range(n):
            reply = self.fn(msgs)
            if isinstance(reply, Completion):
                texts.extend(reply.texts)
            elif isinstance(reply, str):
                texts.append(reply)
            else:
                raise TypeError(
                    f"scripted LLM {self.model!r} returned {type(reply).__name__}; it must return str"
                )
        parsed = None
        if json_schema is not None:
            from trace_engine.llm.jsonparse import parse_samples

            parsed = parse_samples(texts)
        return Completion(
            texts=texts[:n] if n else texts,
            usage=Usage(sum(len(m["content"]) for m in msgs) // 4, sum(len(t) for t in texts) // 4),
            latency=time.perf_counter() - start,
            backend=self.backend,
            model=self.model,
            parsed=parsed,
        )


def as_llm(obj: LLM | Callable | None) -> LLM:
    """Turn ``None`` (the configured default), an ``LLM`` or a plain callable into an ``LLM``."""
    if obj is None:
        from trace_engine.llm.registry import get_llm

        return get_llm()
    if isinstance(obj, LLM):
        return obj
    if isinstance(obj, str):
        from trace_engine.llm.registry import get_llm

        return get_llm(obj)
    if callable(obj):
        return CallableLLM(obj)
    raise TypeError(f"expected an LLM, a spec string or a callable messages -> str, got {obj!r}")
