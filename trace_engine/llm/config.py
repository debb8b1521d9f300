"""Validated configuration of :func:`trace_engine.llm.get_llm` (pydantic)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trace_engine.llm.errors import SpecError

ACCEPTED_FORMS = (
    "local",
    "openai:MODEL",
    "openai-compatible:URL#MODEL",
    "llamacpp:PATH.gguf",
    "transformers:PATH_OR_ID",
)


def _default_n_ctx() -> int:
    raw = os.environ.get("TRACE_ENGINE_N_CTX")
    if not raw:
        return 8192
    try:
        return int(raw)
    except ValueError:
        raise SpecError(f"TRACE_ENGINE_N_CTX must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class ParsedSpec:
    """A spec split into its kind (``local``, ``openai``, ...) and target."""

    kind: str
    target: str = ""
    url: str = ""


def spec_error(spec: str, why: str) -> SpecError:
    return SpecError(
        f"bad LLM spec {spec!r}: {why}. Accepted forms: {' | '.join(ACCEPTED_FORMS)} "
        "(pass it to get_llm, --llm, or the TRACE_ENGINE_LLM environment variable)"
    )


def parse_spec(spec: str) -> ParsedSpec:
    """Split and check a spec string; raises :class:`SpecError` listing the accepted forms."""
    text = spec.strip()
    if text == "local":
        return ParsedSpec("local")
    kind, sep, rest = text.partition(":")
    rest = rest.strip()
    if not sep or kind not in ("openai", "openai-compatible", "llamacpp", "transformers"):
        return _raise(spec, "unknown backend")
    if not rest:
        return _raise(
            spec, f"{kind}: needs a {'path' if kind == 'llamacpp' else 'model'} after the colon"
        )
    if kind == "openai-compatible":
        url, hash_, model = rest.rpartition("#")
        if not hash_ or not url or not model:
            return _raise(
                spec, "openai-compatible needs URL#MODEL, e.g. http://localhost:8000/v1#qwen"
            )
        if not url.startswith(("http://", "https://")):
            return _raise(spec, f"the URL {url!r} must start with http:// or https://")
        return ParsedSpec(kind, model, url)
    if kind == "llamacpp":
        path = Path(rest).expanduser()
        if path.suffix.lower() != ".gguf":
            return _raise(spec, "llamacpp needs the path of a .gguf file")
        if not path.is_file():
            return _raise(spec, f"the file {path} does not exist")
        return ParsedSpec(kind, str(path))
    return ParsedSpec(kind, rest)


def _raise(spec: str, why: str) -> ParsedSpec:
    raise spec_error(spec, why)


class LLMConfig(BaseModel):
    """Everything that decides which backend :func:`get_llm` builds and how it is wrapped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: str = "local"
    cache: bool = True
    cache_dir: str | None = None
    retries: int = Field(4, ge=1, description="attempts per call, the first included")
    min_wait: float = Field(0.5, ge=0)
    max_wait: float = Field(30.0, gt=0)
    timeout: float = Field(120.0, gt=0, description="seconds per HTTP request")
    n_ctx: int = Field(default_factory=_default_n_ctx, ge=256)
    n_gpu_layers: int | None = None
    api_key: str | None = None
    base_url: str | None = None
    max_batch: int = Field(8, ge=1)

    @field_validator("spec")
    @classmethod
    def _check_spec(cls, value: str) -> str:
        parse_spec(value)
        return value.strip()


def make_config(**values) -> LLMConfig:
    """Build an :class:`LLMConfig`, turning validation errors into :class:`SpecError`."""
    try:
        return LLMConfig(**values)
    except ValidationError as exc:
        for err in exc.errors():
            cause = err.get("ctx", {}).get("error")
            if isinstance(cause, SpecError):
                raise cause from None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise SpecError(f"invalid LLM configuration: {problems}") from None
