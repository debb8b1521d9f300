"""Retries with exponential backoff and jitter (``tenacity``).

Only errors a backend marks ``retryable`` are retried: rate limits, timeouts,
connection failures, 5xx and malformed responses; authentication and bad
requests fail at once. A server's ``Retry-After`` is waited out exactly; if it
asks for longer than ``max_wait``, the call fails at once rather than hang. Each
retry is logged at INFO. When the attempts are spent, an :class:`LLMError` names
the backend, the number of attempts and the last cause.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from trace_engine.llm.base import LLM, Completion, Message
from trace_engine.llm.errors import LLMError, require
from trace_engine.llm.wrapper import LLMWrapper

log = logging.getLogger(__name__)


class Retrying(LLMWrapper):
    """Retries retryable :class:`LLMError` failures of the wrapped LLM.

    ``attempts`` counts the first try. Waits grow as ``min_wait * 2**k`` with full
    jitter, capped at ``max_wait`` seconds.
    """

    def __init__(
        self, inner: LLM, attempts: int = 4, min_wait: float = 0.5, max_wait: float = 30.0
    ):
        super().__init__(inner)
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        if min_wait < 0 or max_wait < min_wait:
            raise ValueError(f"need 0 <= min_wait <= max_wait, got {min_wait}, {max_wait}")
        self.attempts = attempts
        self.min_wait = min_wait
        self.max_wait = max_wait

    def _policy(self) -> dict:
        tenacity = require("tenacity", package="tenacity")
        jitter = tenacity.wait_random_exponential(multiplier=self.min_wait, max=self.max_wait)

        def wait(state) -> float:
            exc = state.outcome.exception()
            if getattr(exc, "retry_after", None) is not None:
                return exc.retry_after
            return max(self.min_wait, jitter(state))

        def stop(state) -> bool:
            exc = state.outcome.exception()
            too_long = (
                getattr(exc, "retry_after", None) is not None and exc.retry_after > self.max_wait
            )
            return state.attempt_number >= self.attempts or too_long

        def before_sleep(state) -> None:
            log.info(
                "%s: attempt %d/%d failed (%s); retrying in %.2fs",
                self.id,
                state.attempt_number,
                self.attempts,
                state.outcome.exception(),
                state.next_action.sleep,
            )

        return {
            "retry": tenacity.retry_if_exception(lambda e: isinstance(e, LLMError) and e.retryable),
            "wait": wait,
            "stop": stop,
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def _final(self, exc: LLMError, attempts: int) -> LLMError:
        if exc.retry_after is not None and exc.retry_after > self.max_wait:
            why = f"the server asked to wait {exc.retry_after:g}s, more than max_wait={self.max_wait:g}s"
        else:
            why = f"gave up after {attempts} attempt{'s' if attempts > 1 else ''}"
        cause = str(exc)
        prefix = f"{exc.backend}: "
        if exc.backend and cause.startswith(prefix):
            cause = cause[len(prefix) :]
        return LLMError(
            f"{why}; last error: {cause}",
            backend=exc.backend or self.id,
            retry_after=exc.retry_after,
            status=exc.status,
        )

    def complete(self, messages: str | Sequence[Message], **options: Any) -> Completion:
        tenacity = require("tenacity", package="tenacity")
        retrying = tenacity.Retrying(**self._policy())
        try:
            return retrying(self.inner.complete, messages, **options)
        except LLMError as exc:
            if not exc.retryable:
                raise
            raise self._final(exc, retrying.statistics.get("attempt_number", 1)) from exc

    async def acomplete(self, messages: str | Sequence[Message], **options: Any) -> Completion:
        tenacity = require("tenacity", package="tenacity")
        retrying = tenacity.AsyncRetrying(**self._policy())
        try:
            return await retrying(self.inner.acomplete, messages, **options)
        except LLMError as exc:
            if not exc.retryable:
                raise
            raise self._final(exc, retrying.statistics.get("attempt_number", 1)) from exc
