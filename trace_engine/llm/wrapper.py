"""Base class of the wrappers (cache, retry, meter): an LLM around an LLM."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from trace_engine.llm.base import LLM, Message, Usage


class LLMWrapper(LLM):
    """Delegates identity and pricing to the wrapped LLM so wrapping is transparent."""

    def __init__(self, inner: LLM):
        if not isinstance(inner, LLM):
            raise TypeError(f"expected an LLM to wrap, got {type(inner).__name__}")
        self.inner = inner

    @property
    def backend(self) -> str:  # type: ignore[override]
        return self.inner.backend

    @property
    def model(self) -> str:  # type: ignore[override]
        return self.inner.model

    @property
    def id(self) -> str:
        return self.inner.id

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def cost_of(self, usage: Usage) -> float:
        return self.inner.cost_of(usage)

    @property
    def priced(self) -> bool:
        return self.inner.priced

    @property
    def max_concurrency(self) -> int:
        return self.inner.max_concurrency

    def unwrap(self) -> LLM:
        """The innermost backend under all wrappers."""
        inner = self.inner
        while isinstance(inner, LLMWrapper):
            inner = inner.inner
        return inner

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"


def token_counter(llm: LLM) -> Callable[[str | Sequence[Message]], int] | None:
    """The backend's own count of a call's prompt tokens (``messages -> tokens``, chat
    template included), looked up under any wrappers; ``None`` when it has no tokenizer."""
    inner = llm.unwrap() if isinstance(llm, LLMWrapper) else llm
    return getattr(inner, "count_tokens", None)
