"""Errors of the LLM layer.

Backends translate their library's exceptions into :class:`LLMError` so that the
retry wrapper and callers see one vocabulary: which backend failed, why, whether
trying again can help and how long the server asked us to wait.
"""

from __future__ import annotations


class LLMError(RuntimeError):
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


class MissingDependency(LLMError, ImportError):
    """An optional library a backend needs is not installed."""


def require(module: str, *, package: str, extra: str | None = None, backend: str = ""):
    """Import ``module`` or raise :class:`MissingDependency` with an install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = f"pip install 'trace-engine[{extra}]'" if extra else f"pip install {package}"
        raise MissingDependency(
            f"this backend needs the '{package}' package, which is not installed ({exc}); "
            f"install it with: {hint}",
            backend=backend,
        ) from exc
