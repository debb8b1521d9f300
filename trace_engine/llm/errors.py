"""Errors of the LLM layer.

Backends translate their library's exceptions into :class:`LLMError` so that the
retry wrapper and callers see one vocabulary: which backend failed, why, whether
trying again can help and how long the server asked us to wait.
"""

from __future__ import annotations

from trace_engine.errors import TraceEngineError
from trace_engine.extras import MissingExtra


class LLMError(TraceEngineError, RuntimeError):
    """A model call failed. ``retryable`` says whether trying again may succeed."""

    def __init__(
        self,
        message: str,
        *,
        backend: str = "",
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ):
        super().__init__(f"{backend}: {message}" if backend else message)
        self.backend = backend
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class SpecError(LLMError, ValueError):
    """An LLM spec or configuration that cannot be understood."""


class ContextWindowExceeded(LLMError, ValueError):
    """The prompt (plus the tokens asked for) does not fit the model's context window."""


class SchemaNotSupported(LLMError, ValueError):
    """A JSON schema the backend cannot turn into a constraint."""


class ModelFilesError(LLMError):
    """The embedded model's weight parts are missing or corrupt."""


class LLMUnavailable(LLMError):
    """The LLM cannot be used as configured: no model files, no or a rejected key,
    no server at the URL. Raised by :func:`~trace_engine.llm.preflight.check_llm`
    before any work starts; the message is one line with the fix."""


class MissingDependency(LLMError, MissingExtra):
    """An optional library a backend needs is not installed."""


def require(module: str, *, package: str, extra: str | None = None, backend: str = ""):
    """Import ``module`` or raise :class:`MissingDependency` with an install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = f'pip install "trace-engine[{extra}]"' if extra else f"pip install {package}"
        raise MissingDependency(
            f"this backend needs the '{package}' package, which is not installed ({exc}); "
            f"install it with: {hint}",
            backend=backend,
        ) from exc


def http_error(
    status: int,
    detail: str,
    *,
    backend: str,
    retry_after: float | None = None,
    key_hint: str = "the API key",
) -> LLMError:
    """The :class:`LLMError` for an HTTP error status, with its retry hints and a fix.

    Rate limits, timeouts, conflicts and 5xx are retryable; the rest fail at once."""
    if status == 401:
        msg = f"authentication failed (401): {detail}; check {key_hint}"
    elif status == 403:
        msg = f"permission denied (403): {detail}"
    elif status == 404:
        msg = (
            f"not found (404): {detail}; check the model name and the base URL (often ends in /v1)"
        )
    elif status in (400, 422):
        msg = f"request rejected ({status}): {detail}"
    elif status == 429:
        msg = f"rate limited (429): {detail}"
    elif status >= 500:
        msg = f"server error ({status}): {detail}"
    else:
        msg = f"HTTP {status}: {detail}"
    retryable = status in (408, 409, 429) or status >= 500
    return LLMError(
        msg, backend=backend, retryable=retryable, retry_after=retry_after, status=status
    )
